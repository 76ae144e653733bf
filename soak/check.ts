/**
 * The verdict on each connection: what its client recorded against what the
 * server recorded of it, exactly, both ways; and the totals per kind of
 * client. For 2.3.0's clients, the anomalies that its own known bugs
 * explain are set apart (reported, not failing the run).
 */
import type { SoakClient, Kind } from "./clients/base.js"
import {
  addAnomalies,
  type Anomalies,
  type CallCheck,
  checkCalls,
  compareStreams,
  noAnomalies,
  type Run,
  Runs,
  type StreamComparison,
  totalAnomalies
} from "./ledger.js"
import type { KeyReport } from "./protocol.js"

export interface CallTotals {
  issued: number
  ok: number
  lost: number
  closed: number
  failed: number
  pending: number
  resendRuns: [number, number, number, number]
  failures: Record<string, number>
}

export interface KindTotals {
  readonly kind: Kind
  connections: number
  calls: CallTotals
  serverCalls: CallTotals
  upSent: number
  upReceived: number
  ticksExpected: number
  ticksReceived: number
  directSent: number
  directReceived: number
  restores: number
  drops: number
  /** Anomalies of ours (or not explained): they fail the run. */
  anomalies: Anomalies
  /** 2.3.0 only: anomalies its own known bugs explain, by bug. */
  reference: Record<string, number>
  /** A few connections' details, for the report. */
  examples: Array<string>
}

const callTotals = (): CallTotals => ({
  issued: 0,
  ok: 0,
  lost: 0,
  closed: 0,
  failed: 0,
  pending: 0,
  resendRuns: [0, 0, 0, 0],
  failures: {}
})

const addCalls = (into: CallTotals, check: CallCheck, issued: number) => {
  into.issued += issued
  into.ok += check.ok
  into.lost += check.lost
  into.closed += check.closed
  into.failed += check.failed
  into.pending += check.pending
  check.resendRuns.forEach((n, i) => into.resendRuns[i]! += n)
  for (const [text, n] of Object.entries(check.failures)) into.failures[text] = (into.failures[text] ?? 0) + n
}

export const kindTotals = (kind: Kind): KindTotals => ({
  kind,
  connections: 0,
  calls: callTotals(),
  serverCalls: callTotals(),
  upSent: 0,
  upReceived: 0,
  ticksExpected: 0,
  ticksReceived: 0,
  directSent: 0,
  directReceived: 0,
  restores: 0,
  drops: 0,
  anomalies: noAnomalies(),
  reference: {},
  examples: []
})

/** Runs clipped to the numbers above `base`. */
const above = (runs: ReadonlyArray<Run>, base: number): Array<Run> =>
  runs.flatMap(([first, last]): Array<Run> => last <= base ? [] : [[Math.max(first, base + 1), last]])

/** The anomalies of a stream: a gap is fine only at the end of a session that was ended, and its client told. */
const streamAnomalies = (comparison: StreamComparison, ended: boolean, told: boolean): Anomalies => {
  const anomalies = noAnomalies()
  anomalies.duplicated += comparison.duplicated
  anomalies.reordered += comparison.reordered
  anomalies.phantom += comparison.phantom
  if (comparison.lost > 0 && !(ended && told && comparison.prefix)) {
    if (comparison.prefix && !(ended && told)) anomalies.untoldGap += comparison.lost
    else anomalies.lost += comparison.lost
  }
  return anomalies
}

const describeStream = (name: string, c: StreamComparison) =>
  `${name}: expected ${c.expected}, received ${c.received} (lost ${c.lost}, duplicated ${c.duplicated}, reordered ${c.reordered}, phantom ${c.phantom}${c.prefix ? ", a prefix" : ""})`

const describeCalls = (name: string, c: CallCheck) =>
  `${name}: ok ${c.ok}, -1 ${c.lost}, closed ${c.closed}, failed ${c.failed}, pending ${c.pending}; ${
    Object.entries(c.anomalies).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ")
  }${Object.keys(c.failures).length > 0 ? `; failures ${JSON.stringify(c.failures)}` : ""}`

const move = (from: Anomalies, into: Record<string, number>, label: string) => {
  const n = totalAnomalies(from)
  if (n > 0) into[label] = (into[label] ?? 0) + n
  for (const kind of Object.keys(from) as Array<keyof Anomalies>) from[kind] = 0
}

/** Checks one connection and adds it to its kind's totals. */
export const checkConnection = (client: SoakClient, server: KeyReport | undefined, totals: KindTotals): void => {
  totals.connections++
  totals.restores += client.restores
  totals.drops += client.drops
  const details: Array<string> = []
  const session = noAnomalies()
  if (server === undefined) {
    session.unfinished++
    totals.anomalies.unfinished++
    totals.examples.push(`${client.key}: the server has no record of it`)
    return
  }
  const ended = server.ended !== null
  const told = client.told !== undefined
  if (ended !== told) {
    session.endMismatch++
    details.push(ended ? `session ended (${server.ended}) but the client was not told` : `told (${client.told}) but the session was not ended`)
  }
  if (!client.synced && !told) {
    session.unfinished++
    details.push(`did not finish the drain: ${client.syncFailure ?? client.closedWith ?? client.describe()}`)
  }
  if (client.closedWith !== undefined) details.push(`closed for good (${client.closedWith}) without a refused restore`)
  const settledEnd = ended && told

  const calls = checkCalls(client.calls.record(), server.runs, settledEnd)
  addCalls(totals.calls, calls, client.calls.issued)
  const serverCalls = checkCalls(server.calls, client.serverCalls.snapshot(), settledEnd)
  addCalls(totals.serverCalls, serverCalls, server.calls.issued)

  const up = compareStreams(Runs.upTo(client.upSent), server.up)
  totals.upSent += client.upSent
  totals.upReceived += up.received
  const ticks = compareStreams(server.ticks, above(client.ticks.runs, server.base))
  totals.ticksExpected += ticks.expected
  totals.ticksReceived += ticks.received
  const direct = compareStreams(Runs.upTo(server.directSent), client.direct.runs)
  totals.directSent += server.directSent
  totals.directReceived += direct.received

  // The client's side of the traffic (its calls and events), the server's side, and the session.
  const toServer = noAnomalies()
  addAnomalies(toServer, calls.anomalies)
  addAnomalies(toServer, streamAnomalies(up, ended, told))
  const toClient = noAnomalies()
  addAnomalies(toClient, serverCalls.anomalies)
  addAnomalies(toClient, streamAnomalies(ticks, ended, told))
  addAnomalies(toClient, streamAnomalies(direct, ended, told))
  if (server.broadcastFailed > 0) {
    toClient.failed += server.broadcastFailed
    details.push(`${server.broadcastFailed} broadcasts failed`)
  }

  if (totalAnomalies(calls.anomalies) > 0) details.push(describeCalls("its calls", calls))
  if (totalAnomalies(serverCalls.anomalies) > 0) details.push(describeCalls("the server's calls", serverCalls))
  for (const [name, c] of [["its events", up], ["broadcasts", ticks], ["direct events", direct]] as const) {
    if (!c.exact && !(settledEnd && c.prefix)) details.push(describeStream(name, c))
  }

  if (client.kind === "ref-naive" || client.kind === "ref-careful") {
    // 2.3.0's own: it never calls back the calls of a session that ended.
    if (told && calls.anomalies.unanswered > 0) {
      totals.reference["never calls back after the end"] = (totals.reference["never calls back after the end"] ?? 0) +
        calls.anomalies.unanswered
      toServer.unanswered -= calls.anomalies.unanswered
    }
    // 2.3.0's own: a call still waiting for its answer when a later callback or pong came is never called back once the link drops.
    const orphaned = Math.min(toServer.unanswered, client.orphaned)
    if (orphaned > 0) {
      const label = "never calls back a call answered after a later one, once the link drops"
      totals.reference[label] = (totals.reference[label] ?? 0) + orphaned
      toServer.unanswered -= orphaned
    }
    if (client.kind === "ref-naive") {
      // Its callMethodWithResend resends a lost call without its arguments: the server answers 17.
      const resendBug = Object.entries(calls.failures).filter(([text]) => / 17\b|signature/i.test(text))
        .reduce((sum, [, n]) => sum + n, 0)
      if (resendBug > 0) {
        totals.reference["callMethodWithResend without arguments (17)"] =
          (totals.reference["callMethodWithResend without arguments (17)"] ?? 0) + resendBug
        toServer.failed -= Math.min(toServer.failed, resendBug)
      }
      // Sent with reused ids (after a reconnection's dial, before a restore succeeded): what it sends may be lost, run or delivered twice.
      if (client.reusedIdSends > 0) move(toServer, totals.reference, "ids reused after a reconnection's dial")
    }
  }

  addAnomalies(totals.anomalies, session)
  addAnomalies(totals.anomalies, toServer)
  addAnomalies(totals.anomalies, toClient)
  if (details.length > 0 && totals.examples.length < 12) {
    const ours = totalAnomalies(session) + totalAnomalies(toServer) + totalAnomalies(toClient)
    totals.examples.push(`${client.key}${ours === 0 ? " (2.3.0's own)" : ""}: ${details.join("; ")}; restores ${client.restores}, drops ${client.drops}`)
  }
}
