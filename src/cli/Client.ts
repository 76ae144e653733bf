/**
 * jstp-cli's client: runs the commands over one connection of the Effect
 * core, and reports what happens to it. A dropped link is restored with its
 * session (unless `-R`); if the server no longer knows the session (it
 * restarted), a new connection is made to the same target.
 *
 * @since 0.1.0
 */
import { Context, Data, Duration, Effect, ExecutionStrategy, Exit, Layer, Scope, Stream } from "effect"
import * as Connection from "../Connection.js"
import type { ConnectionError, HandshakeError } from "../ConnectionError.js"
import type * as RemoteError from "../RemoteError.js"
import * as ErrorCode from "../wire/ErrorCode.js"
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
 * A command that failed; its message says why.
 *
 * @since 0.1.0
 */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{ readonly message: string }> {}

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

// One connection of a session: closed with its scope.
interface Opened {
  readonly connection: Connection.Connection
  readonly api: Api
  readonly scope: Scope.CloseableScope
}

// The session of a `connect` command, until `disconnect` or another `connect`.
interface Live {
  readonly command: Connect
  readonly scope: Scope.CloseableScope
  current: Opened
  reconnecting: boolean
}

const codeName = (code: number): string | undefined =>
  Object.entries(ErrorCode).find(([name, value]) => name.startsWith("ERR_") && value === code)?.[0]

const remoteText = (error: RemoteError.RemoteError, show: (value: unknown) => string) => {
  const name = codeName(error.code)
  const info = error.info.length === 0 ? "" : ` ${show(error.info)}`
  return `RemoteError ${name === undefined ? error.code : `${name} (${error.code})`}: ${error.message}${info}`
}

const handshakeText = (target: Target, error: HandshakeError) => {
  switch (error.reason) {
    case "Rejected":
      return `Handshake with ${target.url} failed: ${
        error.code === undefined ? "" : `${codeName(error.code) ?? "error"} (${error.code}): `
      }${error.message}`
    case "Timeout":
      return `Handshake with ${target.url} failed: ${error.message}`
    case "Transport":
      return `Cannot connect to ${target.url}: ${error.message}`
    case "Closed":
      return `${target.url} closed the connection before the handshake completed`
    case "InvalidVersion":
      return error.message
  }
}

const NOT_CONNECTED = `Not connected: connect to a server first (${USAGE.connect})`

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
          : `${live.command.target.url} ${live.command.application}${live.reconnecting ? " (reconnecting)" : ""}> `
      )

    const trace = (direction: "incoming" | "outgoing", message: Message.Message) => {
      if (settings.verbose >= (isHeartbeat(message) ? 2 : 1)) {
        terminal.print(`${direction === "incoming" ? "Incoming" : "Outgoing"} message: ${show(Message.encode(message))}`, "trace")
      }
      if (direction === "incoming" && message._tag === "Event") {
        terminal.print(`Event ${message.iface}.${message.event}: ${list(message.args)}`, "info")
      }
    }

    // Dials, handshakes and inspects; interfaces the server lacks are reported.
    const open = (command: Connect, session: Scope.Scope) =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(session, ExecutionStrategy.sequential)
        return yield* Effect.gen(function*() {
          const connection = yield* Connection.connect({
            address: command.target.address,
            application: command.application,
            reconnect: settings.reconnect,
            onMessage: trace,
            ...(settings.heartbeatInterval === undefined ? {} : {
              heartbeatInterval: Duration.millis(settings.heartbeatInterval),
              heartbeatTimeout: Duration.millis(settings.heartbeatInterval * 2)
            })
          }).pipe(Effect.mapError((error) => new CommandFailed({ message: handshakeText(command.target, error) })))
          const api = new Map<string, ReadonlyArray<string>>()
          for (const iface of command.interfaces) {
            const proxy = yield* Effect.either(connection.inspect(iface))
            if (proxy._tag === "Right") api.set(iface, proxy.right.methodNames)
            else if (proxy.left._tag === "ConnectionError") return yield* new CommandFailed({ message: proxy.left.message })
            else terminal.print(`No interface '${iface}' here: ${remoteText(proxy.left, show)}`, "error")
          }
          return { connection, api, scope } satisfies Opened
        }).pipe(Scope.extend(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
      })

    const describeApi = (api: Api) =>
      [...api].map(([iface, methods]) => `  ${iface}: ${methods.length === 0 ? "(no methods)" : methods.join(", ")}`)

    const report = (session: Live, event: Connection.Lifecycle) => {
      switch (event._tag) {
        case "Disconnected":
          session.reconnecting = true
          updatePrompt()
          return terminal.print(
            `Connection lost (${event.reason === "PeerClosed" ? "closed by the server" : "transport failure"}); reconnecting`,
            "error"
          )
        case "Attempt":
          return terminal.print(`Reconnecting to ${session.command.target.url} (attempt ${event.attempt})`, "info")
        case "Restored":
          session.reconnecting = false
          updatePrompt()
          return terminal.print("Reconnected: the session is restored", "info")
        case "Failed":
          return terminal.print(`Reconnection failed: ${event.error.message}`, "error")
        case "Closed":
          return
      }
    }

    // Follows the session's connection; when it closes for good, either
    // ends the session or, if it was to reconnect, connects anew.
    const supervise = (session: Live): Effect.Effect<void> =>
      Effect.gen(function*() {
        for (;;) {
          const reason = yield* session.current.connection.lifecycle.pipe(
            Stream.tap((event) => Effect.sync(() => report(session, event))),
            Stream.runLast,
            Effect.map((last) => last._tag === "Some" && last.value._tag === "Closed" ? last.value.reason : "Closed")
          )
          yield* Scope.close(session.current.scope, Exit.void)
          if (!settings.reconnect) {
            live = undefined
            updatePrompt()
            terminal.print(
              reason === "PeerClosed" ? "The server closed the connection" : `The connection closed (${reason})`,
              "error"
            )
            return
          }
          session.reconnecting = true
          updatePrompt()
          terminal.print("The session could not be restored (has the server restarted?); connecting anew", "error")
          session.current = yield* open(session.command, session.scope).pipe(
            Effect.tapError((error) => Effect.sync(() => terminal.print(`${error.message}; trying again`, "error"))),
            Effect.retry(Connection.defaultReconnectSchedule),
            Effect.orDie
          )
          session.reconnecting = false
          updatePrompt()
          terminal.print(`Connected anew to ${session.command.target.url} (a new session)`, "info")
        }
      })

    const disconnect = Effect.suspend(() => {
      const session = live
      if (session === undefined) return Effect.void
      live = undefined
      updatePrompt()
      return Scope.close(session.scope, Exit.void)
    })

    const connect = (command: Connect) =>
      Effect.gen(function*() {
        if (live !== undefined) {
          const url = live.command.target.url
          yield* disconnect
          terminal.print(`Disconnected from ${url}`, "info")
        }
        const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
        const current = yield* open(command, scope).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
        const session: Live = { command, scope, current, reconnecting: false }
        live = session
        updatePrompt()
        const names = [...current.api.keys()]
        terminal.print(
          [
            `Connected to ${command.target.url}, application ${command.application}`,
            ...(names.length === 0 ? [] : describeApi(current.api))
          ].join("\n"),
          "info"
        )
        yield* Effect.forkIn(supervise(session), scope)
      })

    const connected = Effect.suspend(() =>
      live === undefined ? Effect.fail(new CommandFailed({ message: NOT_CONNECTED })) : Effect.succeed(live)
    )

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
            const session = yield* connected
            if (session.reconnecting) {
              terminal.print("The connection is down: the call is sent once it is restored (Ctrl-C cancels it)", "info")
            }
            const results = yield* session.current.connection.call(command.iface, command.method, command.args).pipe(
              Effect.mapError(failure(`${command.iface}.${command.method}`))
            )
            terminal.print(`Method ${command.iface}.${command.method} returned: ${list(results)}`)
          })
        case "Event":
          return Effect.gen(function*() {
            const session = yield* connected
            yield* session.current.connection.emit(command.iface, command.event, command.args).pipe(
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
      api: () => live?.current.api ?? new Map()
    }
  })

/**
 * @since 0.1.0
 */
export const layer = (settings: Settings): Layer.Layer<ClientService, never, TerminalService> =>
  Layer.scoped(ClientService, make(settings))
