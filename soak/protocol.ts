/**
 * What the soak's processes say to each other: the methods of the server
 * child and of the proxy child, and the reports they give.
 */
import type { CallRecord, Run } from "./ledger.js"
import type { ChaosOptions, LaneOptions, LaneStats, Stall } from "./proxy.js"

export type ProxyMethods = {
  addLane: { input: LaneOptions; output: number }
  chaos: { input: ChaosOptions | null; output: void }
  stall: { input: { lane: string; stall: Stall }; output: void }
  unstall: { input: { lane: string }; output: void }
  stats: { input: null; output: Array<LaneStats> }
  close: { input: null; output: void }
}

export interface ServerConfig {
  /** The server's bound of unacknowledged messages per session (Server.make `maxBuffered`); default the server's. */
  readonly maxBuffered?: number | undefined
  readonly heartbeatIntervalMs: number
  readonly handshakeTimeoutMs: number
}

/** What the server sends on its own while traffic is on. */
export interface TrafficConfig {
  /** A broadcast to every connection this often, ms (0: none). */
  readonly broadcastEveryMs: number
  /** An event to each connection (buffered while its link is down) this often, ms (0: none). */
  readonly directEveryMs: number
  /** A call to each connection's client this often, ms (0: none). */
  readonly callEveryMs: number
  /** The share of those calls made with callWithResend. */
  readonly resendShare: number
}

export interface MemorySample {
  readonly label: string
  readonly heapUsed: number
  readonly rss: number
  readonly external: number
  /** Whether a full GC ran first (node --expose-gc). */
  readonly gc: boolean
  /** Connections with a link. */
  readonly live: number
  /** Clients that said hello. */
  readonly registered: number
}

/** What the server knows of one client (by its key). */
export interface KeyReport {
  readonly key: string
  /** The broadcast number when it said hello: broadcasts after it are its. */
  readonly base: number
  /** The client's events, as they arrived. */
  readonly up: Array<Run>
  /** How often each of the client's calls ran (index: its number). */
  readonly runs: Uint8Array
  /** The broadcasts sent to it (it had a link then). */
  readonly ticks: Array<Run>
  /** Events sent to it alone, numbered from 1. */
  readonly directSent: number
  /** The server's calls to it. */
  readonly calls: CallRecord
  readonly restores: number
  readonly drops: number
  /** Why its session was ended (SessionOverflow's message), if it was. */
  readonly ended: string | null
  readonly broadcastFailed: number
}

export interface ServerReport {
  readonly keys: Array<KeyReport>
  readonly broadcasts: number
  /** Server events by tag, and other counters. */
  readonly counters: Record<string, number>
}

export interface FloodInput {
  /** Keys of the clients that stopped reading. */
  readonly stalled: ReadonlyArray<string>
  /** The sessions' bound; the others are kept under 3/4 of it. */
  readonly bound: number
  readonly maxMs: number
  readonly minBroadcasts: number
}

export interface FloodResult {
  readonly broadcasts: number
  readonly stalledEnded: number
  /** Stalled clients whose link was gone (dropped by their heartbeat) when the flood stopped. */
  readonly stalledUnlinked: number
  readonly ms: number
  readonly timedOut: boolean
}

export type ServerMethods = {
  start: { input: ServerConfig; output: { port: number } }
  memory: { input: { label: string }; output: MemorySample }
  /** Starts (config) or stops (null) the server's own traffic; gives the broadcasts so far. */
  traffic: { input: TrafficConfig | null; output: { broadcasts: number } }
  flood: { input: FloodInput; output: FloodResult }
  /** Waits until the server's own calls are all settled (or the timeout); gives how many are not. */
  settle: { input: { timeoutMs: number }; output: { pending: number } }
  report: { input: null; output: ServerReport }
  /** Waits until at most `count` connections have a link (or the timeout); gives how many have. */
  awaitLive: { input: { count: number; timeoutMs: number }; output: number }
  close: { input: null; output: void }
}
