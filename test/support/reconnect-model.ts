/**
 * A model of session restore over the in-memory transport, for the property
 * tests of test/reconnect.property.test.ts (protocol.md §4, §8).
 *
 * A client and a server engine keep one session across a series of
 * transport connections ("hops"). Each hop is two `MemoryWire`s in manual
 * delivery, one per direction, so that either direction can be delivered
 * independently (as over TCP). A script of `Op`s drives them: calls, events
 * and pings either way, deliveries, handler answers, link drops and
 * restores. A drop cuts the hop (what is in flight is lost) and detaches the
 * engines as a host would; a restore opens a new hop, the client
 * `reattach`es, and the server end of the new hop runs a fresh engine whose
 * `onHandshake` transfers the link to the session's engine with `adopt`, as
 * src/Server.ts does. At the end the model restores (if dropped), answers
 * every handler and delivers everything until the wires are quiet, then
 * pings each way and delivers again.
 *
 * Everything is synchronous and deterministic: no timers, no microtasks.
 */
import { FastCheck as fc } from "effect"
import type { Dispatcher, Link, Reply } from "../../src/engine/Engine.js"
import { BufferFullError, Engine } from "../../src/engine/Engine.js"
import * as ErrorPayload from "../../src/engine/ErrorPayload.js"
import { ERR_AUTH_FAILED, ERR_CALLBACK_LOST, ERR_NO_HANDSHAKE_RESPONSE } from "../../src/wire/ErrorCode.js"
import * as Message from "../../src/wire/Message.js"
import { accept, type End, MemoryWire, other, type Receiver, SESSION_ID } from "./memory-link.js"

// ------------------------------------------------------------------ script

/** One step of a script. Steps that do not apply in the current state do nothing. */
export type Op =
  /** `from` calls the peer's `svc.work`; with `resend`, re-issued on -1 until it gets a result. */
  | { readonly _tag: "Call"; readonly from: End; readonly resend: boolean }
  /** `from` emits the next event of its sequence. */
  | { readonly _tag: "Emit"; readonly from: End }
  /** `from` pings (acknowledging everything up to the ping once ponged). */
  | { readonly _tag: "Ping"; readonly from: End }
  /** Delivers up to `count` texts `from` sent on the current hop. */
  | { readonly _tag: "Deliver"; readonly from: End; readonly count: number }
  /** `side`'s handler answers one of the calls it has not answered yet (by `pick`). */
  | { readonly _tag: "Answer"; readonly side: End; readonly pick: number }
  /**
   * The current hop drops: nothing more is delivered, and the client's host
   * detaches. The server's host notices now (first or second), or not until
   * a `Notice` or the restore.
   */
  | { readonly _tag: "Drop"; readonly serverNotices: boolean; readonly serverFirst: boolean }
  /** If dropped: a new hop, and the client reattaches (its handshake still to be delivered). */
  | { readonly _tag: "Restore" }
  /** The server's host notices the end of every dropped hop (stale for the links it no longer uses). */
  | { readonly _tag: "Notice" }

const end: fc.Arbitrary<End> = fc.constantFrom<End>("client", "server")

/** One op, weighted towards traffic and deliveries. */
export const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("Call" as const), from: end, resend: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Emit" as const), from: end }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Ping" as const), from: end }) },
  {
    weight: 10,
    arbitrary: fc.record({ _tag: fc.constant("Deliver" as const), from: end, count: fc.integer({ min: 1, max: 3 }) })
  },
  {
    weight: 4,
    arbitrary: fc.record({ _tag: fc.constant("Answer" as const), side: end, pick: fc.nat({ max: 7 }) })
  },
  {
    weight: 2,
    arbitrary: fc.record({ _tag: fc.constant("Drop" as const), serverNotices: fc.boolean(), serverFirst: fc.boolean() })
  },
  { weight: 2, arbitrary: fc.constant<Op>({ _tag: "Restore" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ _tag: "Notice" }) }
)

/**
 * A script: engine options, how the host re-issues a call with resend, and
 * a run of ops.
 */
export interface Script {
  /** The engines' `maxBuffered` (undefined: the default, 10,000). */
  readonly maxBuffered: number | undefined
  /**
   * Re-issue a lost call with resend from inside its reply (re-entrantly,
   * during the engine's restore), rather than before the next step (as the
   * Effect API's `callWithResend` does, from its fiber).
   */
  readonly syncRetry: boolean
  readonly ops: ReadonlyArray<Op>
}

/** Scripts of up to 80 ops (of any length up to that, not only short ones), with engines of `maxBuffered`. */
export const script = (maxBuffered: fc.Arbitrary<number | undefined>): fc.Arbitrary<Script> =>
  fc.record({
    maxBuffered,
    syncRetry: fc.boolean(),
    ops: fc.array(op, { minLength: 1, maxLength: 80, size: "max" })
  })

// ------------------------------------------------------------ applications

/** A reply a caller got. */
export interface Got {
  readonly error: Message.ErrorPayload | undefined
  readonly values: ReadonlyArray<unknown>
}

/** One `engine.call` of a logical call: its id and what its reply got. */
export interface Attempt {
  readonly call: LogicalCall
  readonly a: number
  readonly id: number
  readonly got: Array<Got>
  /** For a -1: whether the peer's handler had received this attempt when it came. */
  lostAfterReceipt: Array<boolean>
  /** Not yet received by the peer when a restore began. */
  crossedRestore: boolean
}

/** A call as its caller sees it: one attempt, or several with resend. */
export interface LogicalCall {
  readonly k: number
  readonly from: End
  readonly resend: boolean
  readonly attempts: Array<Attempt>
  /** An attempt (the first, or a re-issue) threw `BufferFullError`: the call was not made. */
  refused: boolean
}

/** A call a handler received; it answers later, when the script says. */
export interface Handled {
  readonly k: number
  readonly a: number
  readonly reply: Reply
  answered: boolean
}

/** The value a handler answers attempt `a` of call `k` with. */
export const resultOf = (k: number, a: number): string => `ok:${k}:${a}`

const key = (k: number, a: number): string => `${k}:${a}`

/** One side's application: records calls (answered later) and events. */
export class App {
  readonly handled: Array<Handled> = []
  /** How many times each attempt ran, by `k:a`. */
  readonly runs = new Map<string, number>()
  readonly events: Array<number> = []
  readonly dispatcher: Dispatcher = {
    call: (_iface, _method, args, reply) => {
      const [k, a] = args as [number, number]
      this.runs.set(key(k, a), (this.runs.get(key(k, a)) ?? 0) + 1)
      this.handled.push({ k, a, reply, answered: false })
    },
    methods: () => undefined,
    event: (_iface, _event, args) => void this.events.push(args[0] as number)
  }

  ran(k: number, a: number): number {
    return this.runs.get(key(k, a)) ?? 0
  }

  unanswered(): Array<Handled> {
    return this.handled.filter((handled) => !handled.answered)
  }
}

// ------------------------------------------------------------------- hops

/** One transport connection: a wire per direction. */
export interface Hop {
  readonly index: number
  /** Client → server: the client end sends, the server end receives. */
  readonly up: MemoryWire
  /** Server → client. */
  readonly down: MemoryWire
  readonly clientLink: Link
  readonly serverLink: Link
  dropped: boolean
}

const inert: Receiver = { receive: () => {}, linkClosed: () => {} }

// ------------------------------------------------------------- simulation

/** A session's life over a script; `run` plays it, then the checks read the state. */
export class Simulation {
  readonly apps = { client: new App(), server: new App() }
  readonly client: Engine
  readonly server: Engine
  readonly hops: Array<Hop> = []
  readonly calls: Array<LogicalCall> = []
  readonly attempts: Array<Attempt> = []
  /** Events emitted, per side. */
  readonly emitted = { client: 0, server: 0 }
  /** Anything a host would not expect: closes, handshake failures. */
  readonly anomalies: Array<string> = []
  /** What the reattach `done`s got. */
  readonly restores: Array<Got & { readonly ok: string | number | undefined }> = []
  /** Statistics for the curious. */
  readonly stats = { drops: 0, restores: 0, dropsWhileRestoring: 0, lost: 0, reissued: 0, crossed: 0, refused: 0 }
  /** Final pings that could not be sent (the buffer was full). */
  readonly finalPingsRefused: Array<End> = []
  /** Calls with resend to re-issue before the next step (asynchronous retry). */
  private readonly retries: Array<LogicalCall> = []

  constructor(readonly options: { readonly maxBuffered?: number | undefined; readonly syncRetry?: boolean } = {}) {
    const hop = this.makeHop()
    this.server = new Engine({
      role: "server",
      link: hop.serverLink,
      maxBuffered: options.maxBuffered,
      // The model checks a full buffer refusing requests, on both sides.
      onBufferFull: "fail",
      onHandshake: accept(this.apps.server.dispatcher),
      onClose: (reason) => void this.anomalies.push(`server closed: ${reason}`)
    })
    this.client = new Engine({
      role: "client",
      link: hop.clientLink,
      application: this.apps.client.dispatcher,
      maxBuffered: options.maxBuffered,
      onClose: (reason) => void this.anomalies.push(`client closed: ${reason}`)
    })
    hop.up.attach("server", this.hostOf("server", this.server))
    hop.down.attach("client", this.hostOf("client", this.client))
    this.hops.push(hop)
    let answer: string | number | undefined
    this.client.handshake("app", undefined, { _tag: "Anonymous" }, (error, ok) => {
      if (error !== undefined) this.anomalies.push(`handshake failed: ${error.code}`)
      answer = ok
    })
    this.flushAll()
    if (answer !== SESSION_ID) this.anomalies.push(`handshake answered ${String(answer)}`)
  }

  get current(): Hop {
    return this.hops[this.hops.length - 1]!
  }

  engine(side: End): Engine {
    return side === "client" ? this.client : this.server
  }

  /** Plays `ops`, then settles (restore if dropped, answer and deliver everything, ping each way). */
  run(ops: ReadonlyArray<Op>): this {
    for (const step of ops) this.step(step)
    this.settle()
    return this
  }

  step(step: Op): void {
    this.retry()
    switch (step._tag) {
      case "Call":
        return this.call(step.from, step.resend)
      case "Emit":
        // An event refused (buffer full) is not counted: it must not arrive.
        if (this.refusable(() => this.engine(step.from).emit("svc", "tick", [this.emitted[step.from]]))) {
          this.emitted[step.from]++
        }
        return
      case "Ping":
        this.refusable(() => this.engine(step.from).ping())
        return
      case "Deliver": {
        const wire = step.from === "client" ? this.current.up : this.current.down
        for (let i = 0; i < step.count; i++) wire.deliverNext()
        return
      }
      case "Answer": {
        const open = this.apps[step.side].unanswered()
        const chosen = open[step.pick % Math.max(open.length, 1)]
        if (chosen !== undefined) this.answer(chosen)
        return
      }
      case "Drop":
        return this.drop(step.serverNotices, step.serverFirst)
      case "Restore":
        return this.restore()
      case "Notice":
        for (const hop of this.hops) if (hop.dropped) this.server.detach("PeerClosed", undefined, hop.serverLink)
        return
    }
  }

  /** Runs a request; false if it threw `BufferFullError` (anything else is rethrown). */
  private refusable(request: () => void): boolean {
    try {
      request()
      return true
    } catch (error) {
      if (!(error instanceof BufferFullError)) throw error
      this.stats.refused++
      return false
    }
  }

  private retry(): number {
    const due = this.retries.splice(0)
    for (const call of due) this.attempt(call)
    return due.length
  }

  // A logical call: attempt 0, and with resend a new attempt on each -1.
  private call(from: End, resend: boolean): void {
    const call: LogicalCall = { k: this.calls.length, from, resend, attempts: [], refused: false }
    this.calls.push(call)
    this.attempt(call)
  }

  private attempt(call: LogicalCall): void {
    const a = call.attempts.length
    const peer = this.apps[other(call.from)]
    const got: Array<Got> = []
    const lostAfterReceipt: Array<boolean> = []
    let id = 0
    const made = this.refusable(() => {
      id = this.engine(call.from).call("svc", "work", [call.k, a], (error, values) => {
        got.push({ error, values })
        if (error === undefined) return
        lostAfterReceipt.push(peer.ran(call.k, a) > 0)
        this.stats.lost++
        if (call.resend && error.code === ERR_CALLBACK_LOST && error !== ErrorPayload.connectionClosed) {
          this.stats.reissued++
          if (this.options.syncRetry === true) this.attempt(call)
          else this.retries.push(call)
        }
      })
    })
    if (!made) {
      call.refused = true
      return
    }
    const attempt: Attempt = { call, a, id, got, lostAfterReceipt, crossedRestore: false }
    call.attempts.push(attempt)
    this.attempts.push(attempt)
  }

  private answer(handled: Handled): void {
    handled.answered = true
    handled.reply(undefined, [resultOf(handled.k, handled.a)])
  }

  private drop(serverNotices: boolean, serverFirst: boolean): void {
    const hop = this.current
    if (hop.dropped) return
    hop.dropped = true
    this.stats.drops++
    if (this.client.phase === "Handshaking") this.stats.dropsWhileRestoring++
    hop.up.cut()
    hop.down.cut()
    const detachServer = () => {
      if (serverNotices) this.server.detach("PeerClosed", undefined, hop.serverLink)
    }
    if (serverFirst) detachServer()
    this.client.detach("PeerClosed", undefined, hop.clientLink)
    if (!serverFirst) detachServer()
  }

  private restore(): void {
    if (this.client.phase !== "Detached") return
    this.stats.restores++
    for (const attempt of this.attempts) {
      if (this.apps[other(attempt.call.from)].ran(attempt.call.k, attempt.a) === 0 && !attempt.crossedRestore) {
        attempt.crossedRestore = true
        this.stats.crossed++
      }
    }
    const hop = this.makeHop()
    // The server end: a fresh engine per connection, whose handshake hands
    // the link to the session's engine (src/Server.ts, outcome Transferred).
    let target: Engine | undefined
    const fresh: Engine = new Engine({
      role: "server",
      link: hop.serverLink,
      onHandshake: (request, done) => {
        if (request.auth._tag !== "Session" || request.auth.sessionId !== SESSION_ID) {
          this.anomalies.push(`restore handshake without the session: ${request.auth._tag}`)
          return done({ _tag: "Rejected", error: ErrorPayload.make(ERR_AUTH_FAILED) })
        }
        done({ _tag: "Transferred" })
        target = this.server
        this.server.adopt(hop.serverLink, request.auth.receivedCount)
      }
    })
    hop.up.attach("server", {
      receive: (text) => (target ?? fresh).receive(text),
      linkClosed: () => void this.anomalies.push(`hop ${hop.index}: the server end saw a close`)
    })
    hop.down.attach("client", this.hostOf("client", this.client))
    this.hops.push(hop)
    this.client.reattach(hop.clientLink, "app", undefined, (error, ok) => {
      this.restores.push({ error, values: [], ok })
      if (error !== undefined && error.code !== ERR_NO_HANDSHAKE_RESPONSE) {
        this.anomalies.push(`restore failed: ${error.code}`)
      }
    })
  }

  private makeHop(): Hop {
    const up = new MemoryWire({ delivery: "manual" })
    const down = new MemoryWire({ delivery: "manual" })
    up.attach("client", inert)
    down.attach("server", inert)
    return {
      index: this.hops.length,
      up,
      down,
      clientLink: {
        send: (text) => up.client.send(text),
        close: () => {
          up.client.close()
          down.client.close()
        }
      },
      serverLink: {
        send: (text) => down.server.send(text),
        close: () => {
          down.server.close()
          up.server.close()
        }
      },
      dropped: false
    }
  }

  // What a wire delivers to: the engine, with closes noted (a host would detach).
  private hostOf(side: End, engine: Engine): Receiver {
    return {
      receive: (text) => engine.receive(text),
      linkClosed: () => void this.anomalies.push(`${side} saw a close`)
    }
  }

  private flushAll(): number {
    let total = 0
    for (;;) {
      const count = this.current.up.flush() + this.current.down.flush()
      if (count === 0) return total
      total += count
    }
  }

  /** Restores if dropped, then answers and delivers until quiet; then a ping each way, delivered. */
  settle(): void {
    if (this.client.phase === "Detached") this.restore()
    const quiesce = () => {
      for (let round = 0; round < 10_000; round++) {
        let progress = this.retry() + this.flushAll()
        for (const side of ["client", "server"] as const) {
          for (const handled of this.apps[side].unanswered()) {
            this.answer(handled)
            progress++
          }
        }
        if (progress === 0) return
      }
      this.anomalies.push("never quiet")
    }
    quiesce()
    for (const side of ["client", "server"] as const) {
      if (!this.refusable(() => this.engine(side).ping())) this.finalPingsRefused.push(side)
    }
    quiesce()
  }
}

/** Plays a script on a new simulation. */
export const play = (script: Script): Simulation =>
  new Simulation({ maxBuffered: script.maxBuffered, syncRetry: script.syncRetry }).run(script.ops)

// ------------------------------------------------------------------ checks

const sameValues = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): boolean =>
  a.length === b.length && a.every((value, i) => value === b[i])

const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

/** Nothing a host would not expect: no close, handshakes answered, both engines open. */
export const checkHosts = (sim: Simulation): Array<string> => {
  const problems = [...sim.anomalies]
  for (const restore of sim.restores) {
    if (restore.error === undefined && typeof restore.ok !== "number") problems.push(`a restore answered ok: ${String(restore.ok)}`)
  }
  if (sim.client.phase !== "Open") problems.push(`client ends ${sim.client.phase}`)
  if (sim.server.phase !== "Open") problems.push(`server ends ${sim.server.phase}`)
  return problems
}

/** 1. Every event arrives exactly once and in order, each way. */
export const checkEvents = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const side of ["client", "server"] as const) {
    const expected = range(sim.emitted[other(side)])
    const got = sim.apps[side].events
    if (!sameValues(got, expected)) problems.push(`${side} got events [${got.join(",")}], sent [${expected.join(",")}]`)
  }
  return problems
}

const describeGot = (got: Got): string =>
  got.error === undefined ? `ok ${JSON.stringify(got.values)}` : `error ${got.error.code}${got.error === ErrorPayload.connectionClosed ? " (connection closed)" : ""}`

const name = (attempt: Attempt): string =>
  `call ${attempt.call.k} (${attempt.call.from}→${other(attempt.call.from)}, id ${attempt.id}, attempt ${attempt.a}${attempt.call.resend ? ", resend" : ""})`

/**
 * 2. Every call's reply fires exactly once: with its own result, or with -1
 * (`callbackLost`) only once the peer's handler had received it.
 */
export const checkReplies = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const attempt of sim.attempts) {
    if (attempt.got.length !== 1) {
      problems.push(`${name(attempt)}: replied ${attempt.got.length} times [${attempt.got.map(describeGot).join("; ")}]`)
      continue
    }
    const got = attempt.got[0]!
    if (got.error === undefined) {
      if (!sameValues(got.values, [resultOf(attempt.call.k, attempt.a)])) problems.push(`${name(attempt)}: ${describeGot(got)}`)
    } else if (got.error.code !== ERR_CALLBACK_LOST || got.error === ErrorPayload.connectionClosed) {
      problems.push(`${name(attempt)}: ${describeGot(got)}`)
    } else if (attempt.lostAfterReceipt[0] !== true) {
      problems.push(`${name(attempt)}: -1 before the peer received it`)
    }
  }
  return problems
}

/** 3. A call the peer had not received when a restore began runs exactly once. */
export const checkCrossed = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const attempt of sim.attempts) {
    if (!attempt.crossedRestore) continue
    const runs = sim.apps[other(attempt.call.from)].ran(attempt.call.k, attempt.a)
    if (runs !== 1) problems.push(`${name(attempt)}, unreceived at a restore: ran ${runs} times`)
  }
  return problems
}

/**
 * 4. A call with resend ends with a result: every attempt but the last got
 * -1, the last its result (or, with a full buffer, a re-issue was refused).
 */
export const checkResend = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const call of sim.calls) {
    if (!call.resend || call.attempts.length === 0) continue
    const outcomes = call.attempts.map((attempt) => attempt.got.map(describeGot).join("|") || "nothing")
    const lost = (attempt: Attempt) => attempt.got.length === 1 && attempt.got[0]!.error?.code === ERR_CALLBACK_LOST
    const last = call.attempts[call.attempts.length - 1]!
    const done = call.refused
      ? call.attempts.every(lost)
      : last.got.length === 1 && last.got[0]!.error === undefined && call.attempts.slice(0, -1).every(lost)
    if (!done) {
      problems.push(`call ${call.k} (${call.from}, resend): attempts got [${outcomes.join("; ")}]${call.refused ? ", then refused" : ""}`)
    }
  }
  return problems
}

/** 5. No handler runs twice: each attempt runs exactly once (a resend's attempts are distinct calls). */
export const checkRunsOnce = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const attempt of sim.attempts) {
    const runs = sim.apps[other(attempt.call.from)].ran(attempt.call.k, attempt.a)
    if (runs !== 1) problems.push(`${name(attempt)}: ran ${runs} times`)
  }
  for (const side of ["client", "server"] as const) {
    for (const [attempt, runs] of sim.apps[side].runs) {
      const [k, a] = attempt.split(":").map(Number) as [number, number]
      if (sim.calls[k]?.attempts[a] === undefined) problems.push(`${side} ran an attempt never made: ${attempt} (${runs} times)`)
    }
  }
  return problems
}

/** 6. Once everything is acknowledged, both buffers are empty and nothing is pending. */
export const checkDrained = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const side of ["client", "server"] as const) {
    const engine = sim.engine(side)
    const buffered = [...(engine.session?.buffer.keys() ?? [])]
    if (buffered.length > 0) problems.push(`${side} buffer holds |ids| [${buffered.join(",")}]`)
    if (sim.finalPingsRefused.includes(side)) problems.push(`${side}: the final ping was refused (buffer full)`)
    if (engine.pendingCount !== 0) {
      const stuck = sim.attempts.filter((attempt) => attempt.call.from === side && attempt.got.length === 0).map(name)
      problems.push(`${side} has ${engine.pendingCount} pending [${stuck.join("; ")}]`)
    }
  }
  return problems
}

const isRequest = (message: Message.Message): message is Message.Call | Message.Event | Message.Inspect | Message.Ping =>
  message._tag === "Call" || message._tag === "Event" || message._tag === "Inspect" || message._tag === "Ping"

/**
 * 7. Ids: each side numbers its requests 1, 2, ... (server: -1, -2, ...) in
 * the order it first sends them, never giving one id to two messages: an id
 * seen again is a resend of the same text, on a later hop. Handshakes use 0.
 */
export const checkIds = (sim: Simulation): Array<string> => {
  const problems: Array<string> = []
  for (const side of ["client", "server"] as const) {
    const step = side === "client" ? 1 : -1
    const texts = new Map<number, string>()
    const order: Array<number> = []
    for (const hop of sim.hops) {
      const onHop = new Set<number>()
      const sent = side === "client" ? hop.up.texts("client") : hop.down.texts("server")
      for (const text of sent) {
        const message = Message.deserialize(text)
        if (message._tag === "HandshakeRequest" || message._tag === "HandshakeOk" || message._tag === "HandshakeError") {
          if (message.id !== 0) problems.push(`${side}, hop ${hop.index}: handshake with id ${message.id}`)
          continue
        }
        if (!isRequest(message)) continue
        const id = message.id
        if (onHop.has(id)) problems.push(`${side}, hop ${hop.index}: id ${id} sent twice`)
        onHop.add(id)
        const before = texts.get(id)
        if (before === undefined) {
          texts.set(id, text)
          order.push(id)
        } else if (before !== text) {
          problems.push(`${side}: id ${id} names two messages: ${before} and ${text}`)
        }
      }
    }
    const expected = range(order.length).map((i) => (i + 1) * step)
    if (!sameValues(order, expected)) problems.push(`${side} ids in order of first sending: [${order.join(",")}]`)
  }
  return problems
}
