/**
 * Soak clients on the callback API of 2.x: our facade (`effect-jstp/compat`)
 * and @metarhia/jstp 2.3.0 itself, through `net.connect` with a reconnector
 * (a short backoff) and a heartbeat (pings: neither detects a dead peer,
 * so their lanes of the proxy cut half-open links after a while).
 *
 * 2.3.0 runs in two ways:
 *
 * - naive: as an application would use it. Two known bugs of 2.3.0 show:
 *   its message ids restart from 0 on every new socket (`_initTransport`)
 *   and are set past its session's buffer only once a restore succeeds, so
 *   what it sends from a reconnection's dial until then (while that
 *   handshake is under way, or after it failed and until an attempt
 *   succeeds) reuses ids of its session: such a message replaces a buffered
 *   one with the same id, and the server's receivedCount goes back, so a
 *   later restore resends, and the server runs again, what it already had;
 *   and `callMethodWithResend` sends a lost call again without its
 *   arguments (the server answers 17).
 * - careful: the same, with an application's workarounds for both: it holds
 *   what it sends while its ids are reused until a restore succeeds, and
 *   resends a lost call itself, with its arguments.
 */
import type { EventEmitter } from "node:events"
import { createRequire } from "node:module"
import * as compat from "effect-jstp/compat"
import { Outcome } from "../ledger.js"
import { codeOf, type Kind, type ClientSettings, SoakClient, type SyncEnd, textOf } from "./base.js"

type Callback = (error: unknown, ...results: Array<unknown>) => void

/** What 2.3.0's connections hold inside, as read here. */
interface ReferenceInternals {
  readonly _nextMessageId: number
  readonly _callbacks: Map<number, unknown>
  readonly session?: { readonly latestBufferedMessageId: number; readonly guaranteedDeliveredCount: number } | null
}

/** What both modules' connections offer, as used here. */
interface CallbackConnection extends EventEmitter {
  readonly handshakeDone: boolean
  callMethod(iface: string, method: string, args: Array<unknown>, callback: Callback): void
  callMethodWithResend(iface: string, method: string, args: Array<unknown>, callback: Callback): void
  emitRemoteEvent(iface: string, event: string, args: Array<unknown>): void
  close(): void
}

interface CallbackClient {
  readonly application: unknown
  readonly heartbeatInterval: number
  readonly reconnector: (connection: CallbackConnection, reconnect: (callback: (error: unknown) => void) => void) => void
}

/** What both modules offer, as used here. */
interface CallbackModule {
  readonly Application: new(name: string, api: object, eventHandlers: object) => unknown
  readonly net: {
    connect(
      app: string,
      client: CallbackClient,
      port: number,
      host: string,
      callback: (error: unknown, connection?: CallbackConnection) => void
    ): void
  }
}

/** @metarhia/jstp 2.3.0 (mdsf warns on load that its native addon is not built: silenced). */
const loadReference = (): CallbackModule => {
  const warn = console.warn
  console.warn = () => {}
  try {
    return createRequire(import.meta.url)("@metarhia/jstp") as CallbackModule
  } finally {
    console.warn = warn
  }
}

let reference: CallbackModule | undefined
/** 2.3.0's callback for a ping (its heartbeat's among them): not a call. */
let referenceNoOp: unknown

export class CallbackApiClient extends SoakClient {
  private connection: CallbackConnection | undefined
  private readonly jstp: CallbackModule
  private readonly isReference: boolean
  private readonly careful: boolean
  private attempt = 0
  /** Careful 2.3.0: what it sends while its ids are reused, until a restore succeeds. */
  private deferred: Array<() => void> = []

  constructor(key: string, kind: Kind, settings: ClientSettings) {
    super(key, kind, settings)
    this.isReference = kind !== "compat"
    this.careful = kind === "ref-careful"
    this.jstp = this.isReference ? reference ??= loadReference() : compat as unknown as CallbackModule
    if (this.isReference) {
      referenceNoOp ??= (createRequire(import.meta.url)("@metarhia/jstp/lib/common.js") as { doNothing: unknown }).doNothing
    }
  }

  private get internals(): ReferenceInternals | undefined {
    return this.isReference ? this.connection as unknown as ReferenceInternals | undefined : undefined
  }

  /**
   * 2.3.0, at a restore, fails with -1 only the calls whose ids are past its
   * session's guaranteedDeliveredCount, and any callback or pong moves that
   * past a call still waiting for its answer (a slow handler, answered after
   * a later call or a heartbeat's pong). If the link drops before that
   * answer comes, 2.3.0 never calls the call back. Noted at every drop: the
   * ids of the calls so exposed.
   */
  private readonly exposed = new Set<number>()

  private noteExposed(): void {
    const internals = this.internals
    if (internals === undefined) return
    const upTo = internals.session?.guaranteedDeliveredCount ?? 0
    for (const [id, callback] of internals._callbacks) {
      if (id > 0 && id <= upTo && callback !== referenceNoOp) this.exposed.add(id)
    }
  }

  /** Calls still waiting that were exposed at a drop (see `exposed`): 2.3.0 will never call them back. */
  override get orphaned(): number {
    const internals = this.internals
    if (internals === undefined) return 0
    let n = 0
    for (const [id, callback] of internals._callbacks) if (this.exposed.has(id) && callback !== referenceNoOp) n++
    return n
  }

  open(): Promise<void> {
    const application = new this.jstp.Application("soakClient", {
      soakClient: {
        work: (_connection: unknown, _key: string, seq: number, _resend: boolean, callback: Callback) => {
          this.onServerCall(seq)
          callback(null, seq)
        }
      }
    }, {
      soak: {
        tick: (_connection: unknown, n: number) => this.onServerEvent("tick", [n]),
        direct: (_connection: unknown, n: number) => this.onServerEvent("direct", [n])
      }
    })
    const client: CallbackClient = {
      application,
      heartbeatInterval: this.settings.heartbeatIntervalMs,
      reconnector: (connection, reconnect) => {
        setTimeout(() => {
          if (this.closing || this.told !== undefined) return
          reconnect(() => {})
        }, this.backoff(++this.attempt))
        void connection
      }
    }
    return new Promise((resolve, reject) => {
      this.jstp.net.connect("soak", client, this.settings.port, this.settings.host, (error, connection) => {
        if (error !== null && error !== undefined) return reject(new Error(`connect failed: ${textOf(error)}`))
        this.connection = connection!
        this.listen(connection!)
        this.callWithResend("hello", [this.key], (error, base) => {
          if (error !== null && error !== undefined) return reject(new Error(`hello failed: ${textOf(error)}`))
          this.base = base as number
          resolve()
        }, true)
      })
    })
  }

  private listen(connection: CallbackConnection): void {
    connection.on("error", () => {})
    connection.on("close", () => {
      this.drops++
      this.noteExposed()
    })
    connection.on("reconnect", (error: unknown) => {
      if (error === null || error === undefined) {
        this.attempt = 0
        this.restores++
      } else if (codeOf(error) === 11) {
        this.onTell("restore refused (11)")
      }
      if (this.careful && this.deferred.length > 0 && !this.reusesIds()) {
        const deferred = this.deferred.splice(0)
        if (this.told === undefined) for (const send of deferred) send()
      }
    })
  }

  /**
   * 2.3.0's next id is not past its session's latest buffered one (it
   * restarted from 0 on a reconnection's socket, and no restore has
   * succeeded since): what it sends now reuses an id of its session.
   */
  private reusesIds(): boolean {
    const internals = this.internals
    const session = internals?.session
    return session != null && Math.abs(internals!._nextMessageId) <= Math.abs(session.latestBufferedMessageId)
  }

  /** Sends now, or, careful 2.3.0 while its ids are reused, once a restore succeeded. */
  private send(thunk: () => void): void {
    if (this.reusesIds()) {
      this.reusedIdSends++
      if (this.careful) return void this.deferred.push(thunk)
    }
    thunk()
  }

  private outcomeOf(error: unknown): { outcome: Outcome; text?: string } {
    if (error === null || error === undefined) return { outcome: Outcome.Ok }
    // A lost callback is the bare number -1; ours fails the calls of a connection closed for good with a RemoteError -1.
    if (error === -1) return { outcome: Outcome.Lost }
    if (!this.isReference && codeOf(error) === -1) return { outcome: Outcome.Closed }
    return { outcome: Outcome.Failed, text: textOf(error) }
  }

  /**
   * Calls with resend: the module's own (`callMethodWithResend`), or, for
   * careful 2.3.0 and for the harness's own calls to 2.3.0 (hello, sync), an
   * application's loop that resends with the arguments.
   */
  private callWithResend(method: string, args: Array<unknown>, callback: Callback, own = false): void {
    if (!this.careful && !(own && this.isReference)) {
      return this.connection!.callMethodWithResend("soak", method, args, callback)
    }
    this.connection!.callMethod("soak", method, args, (error, ...results) => {
      if (error === -1) return this.send(() => this.callWithResend(method, args, callback, own))
      callback(error, ...results)
    })
  }

  protected call(seq: number, resend: boolean): void {
    const args = [this.key, seq, resend]
    const callback: Callback = (error) => {
      const { outcome, text } = this.outcomeOf(error)
      this.settle(seq, outcome, text)
    }
    this.send(() => {
      if (resend) this.callWithResend("work", args, callback)
      else this.connection!.callMethod("soak", "work", args, callback)
    })
  }

  protected emit(seq: number): boolean {
    this.send(() => this.connection!.emitRemoteEvent("soak", "up", [this.key, seq]))
    return true
  }

  protected sync(): Promise<SyncEnd> {
    return new Promise((resolve) => {
      this.send(() =>
        this.callWithResend("sync", [this.key], (error) => {
          if (error === null || error === undefined) return resolve("ok")
          if (this.told !== undefined) return resolve("told")
          resolve({ failed: textOf(error) })
        }, true)
      )
    })
  }

  close(): Promise<void> {
    this.closing = true
    this.connection?.close()
    return Promise.resolve()
  }

  describe(): string {
    const connection = this.connection
    if (connection === undefined) return "not connected"
    const closed = (connection as unknown as { _closed?: boolean })._closed
    return `handshakeDone=${connection.handshakeDone}${closed === undefined ? "" : ` _closed=${closed}`} calls pending=${this.calls.pending} (orphaned ${this.orphaned}) deferred=${this.deferred.length}`
  }
}
