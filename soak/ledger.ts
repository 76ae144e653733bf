/**
 * The soak's bookkeeping, shared by the clients (parent process) and the
 * server (child process): compact records of what was sent, received and
 * run, and the exact checks that compare the two sides of a connection.
 *
 * Everything here is plain data that crosses the IPC channel (advanced
 * serialization: typed arrays and Maps go as they are).
 */

/** A run of consecutive numbers, `[first, last]`. */
export type Run = [number, number]

/**
 * A stream of numbers as it arrived, kept as runs of consecutive numbers in
 * arrival order: `1,2,3,5,6,3` is `[1,3],[5,6],[3,3]`. Exact (expanding it
 * gives the arrival order back) and small while the stream is in order.
 */
export class Runs {
  readonly runs: Array<Run> = []
  count = 0

  add(n: number): void {
    this.count++
    const tail = this.runs[this.runs.length - 1]
    if (tail !== undefined && n === tail[1] + 1) tail[1] = n
    else this.runs.push([n, n])
  }

  /** The runs `1..n`, what a sender that numbered from 1 sent. */
  static upTo(n: number): Array<Run> {
    return n > 0 ? [[1, n]] : []
  }
}

/** Counts per sequence number (from 1), saturating at 255. */
export class Counts {
  data = new Uint8Array(64)
  /** The highest number counted. */
  max = 0

  add(seq: number): void {
    if (seq >= this.data.length) this.data = grow(this.data, seq)
    if (this.data[seq]! < 255) this.data[seq]!++
    if (seq > this.max) this.max = seq
  }

  /** The counts, index = sequence number, trimmed to `max`. */
  snapshot(): Uint8Array {
    return this.data.slice(0, this.max + 1)
  }
}

const grow = <T extends Uint8Array | Uint16Array>(array: T, index: number): T => {
  let length = array.length
  while (length <= index) length *= 2
  const next = new (array.constructor as new(length: number) => T)(length)
  next.set(array)
  return next
}

/** How a call ended, as the caller saw it. */
export const Outcome = {
  Pending: 0,
  /** Answered with a result. */
  Ok: 1,
  /** ERR_CALLBACK_LOST (-1): the peer got it, its answer was lost with a link. */
  Lost: 2,
  /** The connection (its session) ended for good before an answer. */
  Closed: 3,
  /** Any other failure (its text is counted in `failures`). */
  Failed: 4
} as const
export type Outcome = typeof Outcome[keyof typeof Outcome]

/** What a caller recorded of its calls, as it crosses IPC. */
export interface CallRecord {
  readonly issued: number
  /** Per sequence number (from 1): an `Outcome`. */
  readonly outcome: Uint8Array
  /** Per sequence number: 1 if made with resend (callWithResend / callMethodWithResend). */
  readonly resend: Uint8Array
  /**
   * Per sequence number: how many restores the caller went through while the
   * call was outstanding. A call with resend may legitimately run once more
   * per restore (its answer lost each time); a plain one, once.
   */
  readonly span: Uint8Array
  /** Failures other than -1 and Closed, by text. */
  readonly failures: Record<string, number>
  /** Answers that came for a call already settled (a callback called twice). */
  readonly settledTwice: number
}

/** A caller's log of its calls, numbered from 1. */
export class CallLedger {
  private outcome = new Uint8Array(64)
  private resend = new Uint8Array(64)
  private started = new Uint16Array(64)
  private span = new Uint8Array(64)
  private readonly failures: Record<string, number> = {}
  issued = 0
  pending = 0
  settledTwice = 0
  private settledWaiters: Array<() => void> = []

  /** A new call; returns its sequence number. `restores` is the caller's restore count now. */
  issue(resend: boolean, restores: number): number {
    const seq = ++this.issued
    if (seq >= this.outcome.length) {
      this.outcome = grow(this.outcome, seq)
      this.resend = grow(this.resend, seq)
      this.started = grow(this.started, seq)
      this.span = grow(this.span, seq)
    }
    this.resend[seq] = resend ? 1 : 0
    this.started[seq] = restores & 0xffff
    this.pending++
    return seq
  }

  /** The call `seq` ended; a second settlement of one call is counted as a failure ("settled twice"). */
  settle(seq: number, outcome: Outcome, restores: number, failure?: string): void {
    if (this.outcome[seq] !== Outcome.Pending) {
      this.settledTwice++
      return
    }
    this.outcome[seq] = outcome
    this.span[seq] = Math.min(255, ((restores & 0xffff) - this.started[seq]! + 0x10000) & 0xffff)
    if (outcome === Outcome.Failed) this.fail(failure ?? "unknown")
    this.pending--
    if (this.pending === 0) for (const waiter of this.settledWaiters.splice(0)) waiter()
  }

  private fail(text: string): void {
    this.failures[text] = (this.failures[text] ?? 0) + 1
  }

  /** Resolves once no call is pending. */
  allSettled(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((resolve) => this.settledWaiters.push(resolve))
  }

  count(outcome: Outcome): number {
    let n = 0
    for (let seq = 1; seq <= this.issued; seq++) if (this.outcome[seq] === outcome) n++
    return n
  }

  record(): CallRecord {
    const length = this.issued + 1
    return {
      issued: this.issued,
      outcome: this.outcome.slice(0, length),
      resend: this.resend.slice(0, length),
      span: this.span.slice(0, length),
      failures: { ...this.failures },
      settledTwice: this.settledTwice
    }
  }
}

/** The kinds of anomaly counted. */
export const anomalyKinds = [
  /** Expected by the receiver and never received (a gap). */
  "lost",
  /** Received more than once. */
  "duplicated",
  /** Received after a later one. */
  "reordered",
  /** Received, or run, though never sent / never issued. */
  "phantom",
  /** A call that never settled. */
  "unanswered",
  /** A call run more often than its kind allows. */
  "runTooOften",
  /** A call answered -1 or Ok that never ran. */
  "notRun",
  /** A call that failed otherwise (not -1, not an ended session). */
  "failed",
  /** A gap in what a receiver got, and its session was not ended (or not told). */
  "untoldGap",
  /** A session the server ended whose client was never told, or a client told of an end that did not happen. */
  "endMismatch",
  /** A client that did not finish the drain (sync) in time. */
  "unfinished"
] as const
export type AnomalyKind = typeof anomalyKinds[number]
export type Anomalies = Record<AnomalyKind, number>

export const noAnomalies = (): Anomalies =>
  Object.fromEntries(anomalyKinds.map((kind) => [kind, 0])) as Anomalies

export const addAnomalies = (into: Anomalies, from: Anomalies): void => {
  for (const kind of anomalyKinds) into[kind] += from[kind]
}

export const totalAnomalies = (anomalies: Anomalies): number =>
  anomalyKinds.reduce((sum, kind) => sum + anomalies[kind], 0)

/** How a received stream compares with what was sent to that receiver. */
export interface StreamComparison {
  readonly expected: number
  readonly received: number
  /** Distinct expected numbers never received. */
  readonly lost: number
  readonly duplicated: number
  readonly reordered: number
  readonly phantom: number
  /** What was received is, in order and once each, the first `received` of the expected. */
  readonly prefix: boolean
  /** Received exactly what was expected, in order, once each. */
  readonly exact: boolean
}

const expand = (runs: ReadonlyArray<Run>): Array<number> => {
  const out: Array<number> = []
  for (const [first, last] of runs) for (let n = first; n <= last; n++) out.push(n)
  return out
}

const sameRuns = (a: ReadonlyArray<Run>, b: ReadonlyArray<Run>): boolean =>
  a.length === b.length && a.every((run, i) => run[0] === b[i]![0] && run[1] === b[i]![1])

/**
 * Compares what a receiver got (in arrival order) with what its sender sent
 * it (in sending order; numbers increase).
 */
export const compareStreams = (expectedRuns: ReadonlyArray<Run>, receivedRuns: ReadonlyArray<Run>): StreamComparison => {
  const countOf = (runs: ReadonlyArray<Run>) => runs.reduce((sum, [first, last]) => sum + last - first + 1, 0)
  const expectedCount = countOf(expectedRuns)
  if (sameRuns(expectedRuns, receivedRuns)) {
    return { expected: expectedCount, received: expectedCount, lost: 0, duplicated: 0, reordered: 0, phantom: 0, prefix: true, exact: true }
  }
  const expected = expand(expectedRuns)
  const received = expand(receivedRuns)
  const expectedSet = new Set(expected)
  const seen = new Set<number>()
  let duplicated = 0
  let reordered = 0
  let phantom = 0
  let highest = -Infinity
  for (const n of received) {
    if (!expectedSet.has(n)) {
      phantom++
      continue
    }
    if (seen.has(n)) {
      duplicated++
      continue
    }
    seen.add(n)
    if (n < highest) reordered++
    else highest = n
  }
  const lost = expected.length - seen.size
  const prefix = duplicated === 0 && phantom === 0 && received.length <= expected.length &&
    received.every((n, i) => n === expected[i])
  return {
    expected: expected.length,
    received: received.length,
    lost,
    duplicated,
    reordered,
    phantom,
    prefix,
    exact: prefix && received.length === expected.length
  }
}

/** The verdict on one caller's calls against the callee's run counts. */
export interface CallCheck {
  readonly anomalies: Anomalies
  readonly ok: number
  readonly lost: number
  readonly closed: number
  readonly failed: number
  readonly pending: number
  /** Calls with resend, by how many times they ran: [0, 1, 2, 3+]. */
  readonly resendRuns: [number, number, number, number]
  /** Failures (other than -1 and Closed), by text. */
  readonly failures: Record<string, number>
}

/**
 * Checks every call of `calls` against `runs` (how often the callee ran
 * each). A plain call runs once, answered or lost (-1); a call with resend
 * runs at least once and at most once more per restore it went through. A
 * call may fail with Closed only if `ended` (its session was ended and its
 * caller told): then it ran at most as often as above.
 */
export const checkCalls = (calls: CallRecord, runs: Uint8Array, ended: boolean): CallCheck => {
  const anomalies = noAnomalies()
  const resendRuns: [number, number, number, number] = [0, 0, 0, 0]
  let ok = 0
  let lost = 0
  let closed = 0
  let failed = 0
  let pending = 0
  for (let seq = 1; seq <= calls.issued; seq++) {
    const outcome = calls.outcome[seq] as Outcome
    const ran = runs[seq] ?? 0
    const resend = calls.resend[seq] === 1
    const allowed = resend ? 1 + calls.span[seq]! : 1
    if (resend) resendRuns[Math.min(3, ran)]!++
    switch (outcome) {
      case Outcome.Pending:
        pending++
        anomalies.unanswered++
        break
      case Outcome.Ok:
      case Outcome.Lost:
        if (outcome === Outcome.Ok) ok++
        else lost++
        if (ran === 0) anomalies.notRun++
        else if (ran > allowed) anomalies.runTooOften++
        break
      case Outcome.Closed:
        closed++
        if (!ended) anomalies.failed++
        else if (ran > allowed) anomalies.runTooOften++
        break
      default:
        failed++
        anomalies.failed++
        if (ran > allowed) anomalies.runTooOften++
    }
  }
  for (let seq = calls.issued + 1; seq < runs.length; seq++) if (runs[seq]! > 0) anomalies.phantom++
  anomalies.duplicated += calls.settledTwice
  return { anomalies, ok, lost, closed, failed, pending, resendRuns, failures: calls.failures }
}
