/**
 * A soak client on the Effect API: `Connection.connect` with `reconnect`
 * (no renewal: a refused restore closes the connection), a heartbeat with a
 * timeout (so that half-open links are dropped), and a client application
 * the server calls.
 */
import { Cause, Duration, Effect, Exit, Schedule, Scope, Stream } from "effect"
import { Application, Connection } from "effect-jstp"
import { Outcome } from "../ledger.js"
import { SoakClient, type SyncEnd } from "./base.js"

type Failure = { outcome: Outcome; text?: string }

const failureOf = (cause: Cause.Cause<unknown>): Failure => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None") return { outcome: Outcome.Failed, text: `defect: ${Cause.pretty(cause).split("\n")[0]}` }
  const error = failure.value as { _tag?: string; code?: number; reason?: string; message?: string }
  if (error._tag === "RemoteError" && error.code === -1) return { outcome: Outcome.Lost }
  if (error._tag === "ConnectionError" && error.reason === "Closed") return { outcome: Outcome.Closed }
  return { outcome: Outcome.Failed, text: `${error._tag} ${error.reason ?? error.code}: ${error.message}` }
}

export class EffectClient extends SoakClient {
  private scope: Scope.CloseableScope | undefined
  private connection: Connection.Connection | undefined
  private lastLifecycle = "none"

  async open(): Promise<void> {
    const settings = this.settings
    const client = Application.make({
      name: "soakClient",
      api: {
        soakClient: {
          work: (_connection: Connection.Connection, _key: string, seq: number, _resend: boolean) => {
            this.onServerCall(seq)
            return seq
          }
        }
      }
    })
    const scope = this.scope = Effect.runSync(Scope.make())
    const connection = this.connection = await Effect.runPromise(Scope.extend(
      Connection.connect({
        address: { _tag: "Tcp", host: settings.host, port: settings.port },
        application: "soak",
        client,
        reconnect: {
          schedule: Schedule.exponential(Duration.millis(settings.backoffMinMs), 2).pipe(
            Schedule.either(Schedule.spaced(Duration.millis(settings.backoffMaxMs))),
            Schedule.jittered
          )
        },
        heartbeatInterval: Duration.millis(settings.heartbeatIntervalMs),
        heartbeatTimeout: Duration.millis(settings.heartbeatTimeoutMs),
        handshakeTimeout: Duration.millis(settings.handshakeTimeoutMs),
        onEvent: (event) => this.onServerEvent(event.event, event.args)
      }),
      scope
    ))
    // The lifecycle, subscribed before anything can happen to the link.
    await new Promise<void>((resolve) => {
      Effect.runFork(Effect.scoped(Effect.gen(this, function*() {
        const pull = yield* Stream.toPull(connection.lifecycle)
        resolve()
        for (;;) {
          const chunk = yield* Effect.option(pull)
          if (chunk._tag === "None") return
          for (const event of chunk.value) this.onLifecycle(event)
        }
      })))
    })
    const hello = await Effect.runPromise(Effect.exit(connection.callWithResend("soak", "hello", [this.key])))
    if (Exit.isFailure(hello)) throw new Error(`hello failed: ${Cause.pretty(hello.cause)}`)
    this.base = hello.value[0] as number
  }

  private onLifecycle(event: Connection.Lifecycle): void {
    this.lastLifecycle = event._tag
    switch (event._tag) {
      case "Disconnected":
        this.drops++
        return
      case "Restored":
        this.restores++
        return
      case "Failed":
        if (event.error.reason === "Rejected") this.onTell(`restore refused (${event.error.code})`)
        return
      case "Renewed":
        this.onTell("renewed")
        return
      case "Closed":
        if (this.told === undefined && !this.closing) this.closedWith = event.reason
        return
      default:
        return
    }
  }

  protected call(seq: number, resend: boolean): void {
    const connection = this.connection!
    const args = [this.key, seq, resend]
    const effect = resend ? connection.callWithResend("soak", "work", args) : connection.call("soak", "work", args)
    Effect.runCallback(effect, {
      onExit: (exit) => {
        if (Exit.isSuccess(exit)) return this.settle(seq, Outcome.Ok)
        const { outcome, text } = failureOf(exit.cause)
        this.settle(seq, outcome, text)
      }
    })
  }

  protected emit(seq: number): boolean {
    const sent = Effect.runSync(Effect.either(this.connection!.emit("soak", "up", [this.key, seq])))
    if (sent._tag === "Right") return true
    this.onEmitFailure(`${sent.left.reason}: ${sent.left.message}`)
    return false
  }

  protected async sync(): Promise<SyncEnd> {
    const exit = await Effect.runPromise(Effect.exit(this.connection!.callWithResend("soak", "sync", [this.key])))
    if (Exit.isSuccess(exit)) return "ok"
    if (this.told !== undefined) return "told"
    const { outcome, text } = failureOf(exit.cause)
    return { failed: text ?? `outcome ${outcome}` }
  }

  async close(): Promise<void> {
    this.closing = true
    if (this.scope !== undefined) await Effect.runPromise(Scope.close(this.scope, Exit.void))
  }

  describe(): string {
    const connection = this.connection
    if (connection === undefined) return "not connected"
    const stats = connection.stats()
    return `open=${connection.isOpen()} lifecycle=${this.lastLifecycle} pending=${stats.pending} calls pending=${this.calls.pending}`
  }
}
