/**
 * jstp-cli's client: runs the commands over one connection of the Effect
 * core, and reports what happens to it. A dropped link is restored with its
 * session (unless `-R`); if the server no longer knows the session (it
 * restarted), a new connection is made to the same target.
 *
 * @since 0.1.0
 */
import { Context, Data, Deferred, Duration, Effect, ExecutionStrategy, Exit, Fiber, Layer, Queue, Scope, Stream } from "effect"
import * as Connection from "../Connection.js"
import type { ConnectionError, HandshakeError } from "../ConnectionError.js"
import type * as RemoteError from "../RemoteError.js"
import * as ErrorCode from "../wire/ErrorCode.js"
import type { CloseReason } from "../engine/Engine.js"
import * as Message from "../wire/Message.js"
import { type Command, type Target, USAGE } from "./Command.js"
import type { Api } from "./Completion.js"
import * as Literal from "./Literal.js"
import { TerminalService } from "./Terminal.js"

/**
 * How the client connects and shows things (from the command line).
 *
 * @since 0.1.0
 */
export interface Settings {
  readonly verbose: number
  readonly reconnect: boolean
  readonly heartbeatInterval: number | undefined
  readonly indent: string | undefined
}

/**
 * A command that failed; its message says why. `retryable`: a connect that
 * may succeed later (the server unreachable, not a refusal).
 *
 * @since 0.1.0
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly message: string
  readonly retryable?: boolean
}> {}

/**
 * @since 0.1.0
 */
export interface Client {
  /** Runs a command other than `exit`, printing its outcome. */
  readonly run: (command: Exclude<Command, { readonly _tag: "Exit" }>) => Effect.Effect<void, CommandFailed>
  /** What the connected server offers, for completion. */
  readonly api: () => Api
}

/**
 * @since 0.1.0
 */
export class ClientService extends Context.Tag("effect-jstp/cli/Client")<ClientService, Client>() {}

type Connect = Extract<Command, { readonly _tag: "Connect" }>

// One connection of a session, with what happens to its link from its
// handshake on; closed with its scope.
interface Opened {
  readonly connection: Connection.Connection
  readonly api: Api
  readonly scope: Scope.CloseableScope
  readonly lifecycle: Queue.Dequeue<Connection.Lifecycle>
}

// The session of a `connect` command, until `disconnect` or another `connect`.
// One fiber opens its connections, follows them and closes them: closing a
// scope from another fiber would carry that fiber's FiberRefs along.
interface Live {
  readonly command: Connect
  /** Set before the session is live. */
  fiber: Fiber.RuntimeFiber<void> | undefined
  /** Set before the session is live. */
  current: Opened | undefined
  /**
   * "reconnecting": the link dropped and the session is being restored;
   * "renewing": the server lost the session and a new one is being started.
   */
  state: "up" | "reconnecting" | "renewing"
}

const { printable } = Literal

// `ERR_APP_NOT_FOUND (10)`, or `fallback (code)` for a code with no name.
const codeText = (code: number, fallback?: string) => {
  const name = ErrorCode.nameOf(code) ?? fallback
  return name === undefined ? String(code) : `${name} (${code})`
}

const remoteText = (error: RemoteError.RemoteError, show: (value: unknown) => string) => {
  const info = error.info.length === 0 ? "" : ` ${show(error.info)}`
  return `RemoteError ${codeText(error.code)}: ${printable(error.message)}${info}`
}

const handshakeText = (target: Target, error: HandshakeError) => {
  switch (error.reason) {
    case "Rejected":
      return `Handshake with ${target.url} failed: ${
        error.code === undefined ? "" : `${codeText(error.code, "error")}: `
      }${printable(error.message)}`
    case "Timeout":
      return `Handshake with ${target.url} failed: ${error.message}`
    case "Transport":
      return `Cannot connect to ${target.url}: ${error.message}${
        target.defaultScheme ? " (with no scheme, jstp-cli speaks TLS: write jstp:// for plain TCP)" : ""
      }`
    case "Closed":
      return `${target.url} closed the connection before the handshake completed`
    case "InvalidApplication":
    case "InvalidVersion":
      return error.message
  }
}

const NOT_CONNECTED = `Not connected: connect to a server first (${USAGE.connect})`

// A duration in ms, as -v prints it: 0.42 ms, 12.3 ms, 1,204 ms.
const milliseconds = (ms: number) =>
  `${ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms).toLocaleString("en-US")} ms`

const isHeartbeat = (message: Message.Message) =>
  message._tag === "Ping" || message._tag === "Pong" || message._tag === "Heartbeat"

/**
 * A client printing to the terminal; its connection closes with the scope.
 *
 * @since 0.1.0
 */
export const make = (settings: Settings): Effect.Effect<Client, never, Scope.Scope | TerminalService> =>
  Effect.gen(function*() {
    const terminal = yield* TerminalService
    const outer = yield* Effect.scope
    const style: Literal.Style = { indent: settings.indent, color: terminal.colors }
    const show = (value: unknown) => Literal.format(value, style)
    const list = (values: ReadonlyArray<unknown>) =>
      values.length === 0
        ? "nothing"
        : settings.indent === undefined
        ? values.map(show).join(", ")
        : "\n" + values.map(show).join(",\n")
    let live: Live | undefined

    const updatePrompt = () =>
      terminal.setPrompt(
        live === undefined
          ? "jstp> "
          : `${live.command.target.url} ${live.command.application}${live.state === "up" ? "" : " (reconnecting)"}> `
      )

    // -v: the messages both ways and each call's round trip; -vv: pings, pongs and heartbeats too.
    const trace = settings.verbose === 0 ? undefined : (direction: "incoming" | "outgoing", message: Message.Message) => {
      if (settings.verbose >= (isHeartbeat(message) ? 2 : 1)) {
        terminal.print(`${direction === "incoming" ? "Incoming" : "Outgoing"} message: ${show(Message.encode(message))}`, "trace")
      }
    }

    const showEvent = (event: Connection.RemoteEvent) =>
      terminal.print(`Event ${printable(event.iface)}.${printable(event.event)}: ${list(event.args)}`, "info")

    // Dials, handshakes and inspects; interfaces the server lacks are reported.
    const open = (command: Connect, session: Scope.Scope) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(session, ExecutionStrategy.sequential)
        return yield* Effect.gen(function*() {
          const connection = yield* Connection.connect({
            address: command.target.address,
            application: command.application,
            // A server that restarted refuses the restore: a new session, at once.
            reconnect: settings.reconnect ? { renew: true } : false,
            onMessage: trace,
            onEvent: showEvent,
            ...(settings.heartbeatInterval === undefined ? {} : {
              heartbeatInterval: Duration.millis(settings.heartbeatInterval),
              heartbeatTimeout: Duration.millis(settings.heartbeatInterval * 2)
            })
          }).pipe(Effect.mapError((error) =>
            new CommandFailed({
              message: handshakeText(command.target, error),
              retryable: error.reason === "Transport" || error.reason === "Timeout" || error.reason === "Closed"
            })
          ))
          // Followed from here on: a drop while inspecting is not missed.
          const lifecycle = yield* Queue.unbounded<Connection.Lifecycle>()
          yield* connection.lifecycle.pipe(Stream.runForEach((event) => Queue.offer(lifecycle, event)), Effect.forkScoped)
          yield* Effect.yieldNow()
          const api = new Map<string, ReadonlyArray<string>>()
          for (const iface of command.interfaces) {
            const proxy = yield* Effect.either(connection.inspect(iface))
            if (proxy._tag === "Right") api.set(iface, proxy.right.methodNames)
            else if (proxy.left._tag === "ConnectionError") return yield* new CommandFailed({ message: proxy.left.message })
            else terminal.print(`No interface '${iface}' here: ${remoteText(proxy.left, show)}`, "error")
          }
          return { connection, api, scope, lifecycle } satisfies Opened
        }).pipe(Scope.extend(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
      })

    const describeApi = (api: Api) =>
      [...api].map(([iface, methods]) =>
        `  ${iface}: ${methods.length === 0 ? "(no methods)" : methods.map(printable).join(", ")}`
      )

    const report = (session: Live, event: Connection.Lifecycle) => {
      switch (event._tag) {
        case "Disconnected":
          session.state = "reconnecting"
          updatePrompt()
          return terminal.print(
            `Connection lost (${event.reason === "PeerClosed" ? "closed by the server" : "transport failure"}); reconnecting`,
            "error"
          )
        case "Attempt":
          return terminal.print(`Reconnecting to ${session.command.target.url} (attempt ${event.attempt})`, "info")
        case "Restored":
          session.state = "up"
          updatePrompt()
          return terminal.print("Reconnected: the session is restored", "info")
        case "Renewed":
          session.state = "up"
          updatePrompt()
          return terminal.print(`Connected anew to ${session.command.target.url} (a new session)`, "info")
        case "Failed":
          if (event.error.reason !== "Rejected") return terminal.print(`Reconnection failed: ${event.error.message}`, "error")
          terminal.print("The server does not know this session any more (has it restarted?)", "error")
          if (!settings.reconnect) return
          session.state = "renewing"
          updatePrompt()
          return terminal.print(`Connecting anew to ${session.command.target.url} (a new session)`, "info")
        case "Closed":
          return
      }
    }

    const closedText = (reason: CloseReason) => {
      switch (reason) {
        case "PeerClosed":
          return "The server closed the connection"
        case "ProtocolViolation":
          return "The connection closed: the server sent something that is not JSTP"
        case "Transport":
          return "The connection was lost"
        default:
          return `The connection closed (${reason})`
      }
    }

    // Reports what happens to a connection's link until it closes for good,
    // and says why: "HandshakeRejected" if the server refused to restore the
    // session.
    const followUntilClosed = (session: Live, opened: Opened) =>
      Effect.gen(function*() {
        for (;;) {
          const event = yield* Queue.take(opened.lifecycle)
          report(session, event)
          if (event._tag === "Closed") return event.reason
        }
      })

    const end = (session: Live, message: string) => {
      if (live === session) live = undefined
      updatePrompt()
      terminal.print(message, "error")
    }

    // Follows the session's connection until it closes for good (a session
    // the server refused to restore is renewed by the connection itself).
    const supervise = (session: Live, opened: Opened): Effect.Effect<void> =>
      Effect.gen(function*() {
        const reason = yield* followUntilClosed(session, opened)
        yield* Scope.close(opened.scope, Exit.void)
        end(session, closedText(reason))
      })

    const disconnect = Effect.suspend(() => {
      const session = live
      if (session === undefined) return Effect.void
      live = undefined
      updatePrompt()
      return Fiber.interrupt(session.fiber!)
    })

    const connect = (command: Connect) =>
      Effect.gen(function*() {
        if (live !== undefined) {
          const url = live.command.target.url
          yield* disconnect
          terminal.print(`Disconnected from ${url}`, "info")
        }
        const session: Live = { command, fiber: undefined, current: undefined, state: "up" }
        const opened = yield* Deferred.make<Opened, CommandFailed>()
        // The session's own fiber: it opens, follows and closes its connections.
        const run = Effect.scoped(Effect.gen(function*() {
          const scope = yield* Effect.scope
          const first = yield* Effect.exit(open(command, scope))
          if (first._tag === "Success") session.current = first.value
          yield* Deferred.done(opened, first)
          if (first._tag === "Success") yield* supervise(session, first.value)
        }))
        session.fiber = yield* Effect.forkIn(run, outer)
        const first = yield* Deferred.await(opened).pipe(Effect.onInterrupt(() => Fiber.interrupt(session.fiber!)))
        live = session
        updatePrompt()
        terminal.print(
          [
            `Connected to ${command.target.url}, application ${command.application}`,
            ...(first.api.size === 0 ? [] : describeApi(first.api))
          ].join("\n"),
          "info"
        )
      })

    const connected = Effect.suspend(() =>
      live === undefined ? Effect.fail(new CommandFailed({ message: NOT_CONNECTED })) : Effect.succeed(live)
    )

    // The session's connection (while it is down, requests wait for it).
    const usable = Effect.map(connected, (session) => ({ session, connection: session.current!.connection }))

    const failure = (what: string) => (error: RemoteError.RemoteError | ConnectionError) =>
      new CommandFailed({
        message: `${what} failed: ${error._tag === "RemoteError" ? remoteText(error, show) : error.message}`
      })

    const run: Client["run"] = (command) => {
      switch (command._tag) {
        case "Connect":
          return connect(command)
        case "Disconnect":
          return Effect.flatMap(connected, (session) =>
            Effect.andThen(disconnect, () => terminal.print(`Disconnected from ${session.command.target.url}`, "info")))
        case "Call":
          return Effect.gen(function*() {
            const { connection, session } = yield* usable
            const what = `${command.iface}.${command.method}`
            if (session.state !== "up") {
              terminal.print("The connection is down: the call is sent once it is restored (Ctrl-C cancels it)", "info")
            }
            // -v: how long the answer took, from the call's start (a wait for a restore included).
            const started = performance.now()
            const roundTrip = () => {
              if (settings.verbose >= 1) terminal.print(`Round trip of ${what}: ${milliseconds(performance.now() - started)}`, "trace")
            }
            const results = yield* connection.call(command.iface, command.method, command.args).pipe(
              Effect.tapError(() => Effect.sync(roundTrip)),
              Effect.mapError((error) =>
                // The server lost the session (it restarted) before answering.
                error._tag === "RemoteError" && error.code === ErrorCode.ERR_CALLBACK_LOST && session.state !== "up"
                  ? new CommandFailed({
                    message: `${what} failed: the server lost the session before answering; the call may or may not have run`
                  })
                  : failure(what)(error)
              )
            )
            terminal.print(`Method ${what} returned: ${list(results)}`)
            roundTrip()
          })
        case "Event":
          return Effect.gen(function*() {
            const { connection } = yield* usable
            yield* connection.emit(command.iface, command.event, command.args).pipe(
              Effect.mapError(failure(`Event ${command.iface}.${command.event}`))
            )
            terminal.print(`Event ${command.iface}.${command.event} sent`)
          })
        case "Help":
          return Effect.sync(() => terminal.print(Object.values(USAGE).join("\n")))
      }
    }

    updatePrompt()
    return {
      run,
      api: () => live?.current?.api ?? new Map()
    }
  })

/**
 * @since 0.1.0
 */
export const layer = (settings: Settings): Layer.Layer<ClientService, never, TerminalService> =>
  Layer.scoped(ClientService, make(settings))
