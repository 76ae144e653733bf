/**
 * What every soak client does, whatever its API: calls (`soak.work`, plain
 * or with resend) and events (`soak.up`) at random while its link comes and
 * goes, answering the server's calls and recording the server's events;
 * then, in the drain, waiting for its calls and ending with `soak.sync`.
 * Subclasses drive one API each.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { CallLedger, Counts, Outcome, Runs } from "../ledger.js"

/** The kinds of client, as reported. */
export type Kind = "effect" | "compat" | "ref-naive" | "ref-careful"

export interface ClientSettings {
  readonly host: string
  readonly port: number
  /** Effect API: its ping interval and timeout; facade and 2.3.0: their ping interval. */
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly handshakeTimeoutMs: number
  /** Reconnection backoff: from `min`, doubling to `max` (plus up to `min` at random). */
  readonly backoffMinMs: number
  readonly backoffMaxMs: number
  /** The share of operations that are calls (the rest are events), and of calls made with resend. */
  readonly callShare: number
  readonly resendShare: number
}

/** How a sync ended. */
export type SyncEnd = "ok" | "told" | { readonly failed: string }

export abstract class SoakClient {
  readonly calls = new CallLedger()
  /** The server's calls, how often each ran here. */
  readonly serverCalls = new Counts()
  /** Broadcasts received (all of them: those before `base` are dropped when checked). */
  readonly ticks = new Runs()
  readonly direct = new Runs()
  /** `hello`'s answer: the broadcasts after it are ours. */
  base = -1
  upSent = 0
  restores = 0
  drops = 0
  /** How the client learned that its session was ended (a refused restore), if it did. */
  told: string | undefined = undefined
  /** The connection closed for good without a refused restore (unexpected). */
  closedWith: string | undefined = undefined
  synced = false
  syncFailure: string | undefined = undefined
  /** Messages an app sent while 2.3.0 reused ids (after a reconnection's dial, before a restore succeeded). */
  reusedIdSends = 0
  readonly emitFailures: Record<string, number> = {}
  protected closing = false
  private toldWaiters: Array<() => void> = []

  constructor(readonly key: string, readonly kind: Kind, protected readonly settings: ClientSettings) {}

  /** Connects and says hello. */
  abstract open(): Promise<void>
  /** Makes the call `seq` and settles it in `calls` when it ends. */
  protected abstract call(seq: number, resend: boolean): void
  /** Sends the event `seq`; false if it was refused. */
  protected abstract emit(seq: number): boolean
  /** `soak.sync` with resend. */
  protected abstract sync(): Promise<SyncEnd>
  /** Closes the connection (not waiting for the server). */
  abstract close(): Promise<void>
  /** The state of its link, for diagnostics. */
  abstract describe(): string

  /** One operation at random: a call or an event. */
  step(): void {
    if (this.told !== undefined || this.closedWith !== undefined || this.closing) return
    if (Math.random() < this.settings.callShare) {
      const resend = Math.random() < this.settings.resendShare
      this.call(this.calls.issue(resend, this.restores), resend)
    } else if (this.emit(this.upSent + 1)) {
      this.upSent++
    }
  }

  /** Waits for its calls, then syncs; done early if its session was ended (told). */
  async drain(): Promise<void> {
    const told = new Promise<void>((resolve) => {
      if (this.told !== undefined) resolve()
      else this.toldWaiters.push(resolve)
    })
    await Promise.race([this.callsDone(), told])
    if (this.told !== undefined) return
    // 2.3.0 never answers the calls of a session that ended: told ends the wait.
    const end = await Promise.race([this.sync(), told.then(() => "told" as const)])
    if (end === "ok") this.synced = true
    else if (end !== "told") this.syncFailure = end.failed
  }

  /**
   * Calls of this client that its module will never call back, by a known
   * bug of its own (2.3.0; see CallbackApiClient). None for ours.
   */
  get orphaned(): number {
    return 0
  }

  /** Resolves once every call has settled, or every call still pending is orphaned. */
  private async callsDone(): Promise<void> {
    let settled = false
    const all = this.calls.allSettled().then(() => {
      settled = true
    })
    while (!settled && !(this.orphaned > 0 && this.calls.pending <= this.orphaned)) {
      await Promise.race([all, sleep(500)])
    }
  }

  protected settle(seq: number, outcome: Outcome, failure?: string): void {
    this.calls.settle(seq, outcome, this.restores, failure)
  }

  protected onTell(how: string): void {
    if (this.told !== undefined) return
    this.told = how
    for (const waiter of this.toldWaiters.splice(0)) waiter()
  }

  protected onEmitFailure(text: string): void {
    this.emitFailures[text] = (this.emitFailures[text] ?? 0) + 1
  }

  protected onServerEvent(event: string, args: ReadonlyArray<unknown>): void {
    const n = args[0]
    if (typeof n !== "number") return
    if (event === "tick") this.ticks.add(n)
    else if (event === "direct") this.direct.add(n)
  }

  protected onServerCall(seq: unknown): void {
    if (typeof seq === "number") this.serverCalls.add(seq)
  }

  /** A backoff delay for reconnection attempt `attempt` (from 1). */
  protected backoff(attempt: number): number {
    const { backoffMaxMs: max, backoffMinMs: min } = this.settings
    return Math.min(max, min * 2 ** Math.max(0, attempt - 1)) + Math.random() * min
  }
}

/** A remote error's code, if `error` has one (a bare number is one, as 2.x's -1). */
export const codeOf = (error: unknown): number | undefined =>
  typeof error === "number"
    ? error
    : typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "number"
    ? (error as { code: number }).code
    : undefined

export const textOf = (error: unknown): string =>
  error instanceof Error
    ? `${error.name}${codeOf(error) === undefined ? "" : ` ${codeOf(error)}`}: ${error.message}`
    : String(error)
