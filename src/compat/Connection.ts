/**
 * The documented `Connection` of 2.x: an EventEmitter over the protocol
 * engine and a socket link. Calls complete through callbacks straight from
 * the engine: no fiber, no promise per call.
 *
 * @since 0.1.0
 */
import { EventEmitter } from "node:events"
import * as Versions from "../engine/Versions.js"
import { type CloseReason, Engine, type LogEvent, type Options as EngineOptions, type Reply } from "../engine/Engine.js"
import * as ErrorPayload from "../engine/ErrorPayload.js"
import type * as SocketLink from "../transport/SocketLink.js"
import * as TransportLink from "../transport/TransportLink.js"
import * as Message from "../wire/Message.js"
import { Application } from "./Application.js"
import { RemoteError } from "./RemoteError.js"
import { RemoteProxy } from "./RemoteProxy.js"
import { Session } from "./Session.js"
import * as Observability from "../Observability.js"
import type { Probe } from "../engine/Probe.js"

/**
 * A callback of the documented API.
 *
 * @since 0.1.0
 */
export type Callback = (error: Error | null, ...results: Array<unknown>) => void

/**
 * The application a handshake asks for.
 *
 * @since 0.1.0
 */
export type AppSpec = string | { readonly name: string; readonly version?: string | undefined }

/**
 * The client object of `connect` (all optional in the API; filled in by it).
 *
 * @since 0.1.0
 */
export interface Client {
  application?: Application
  connectPolicy?:
    | ((app: AppSpec, connection: Connection, session: Session | undefined, callback: Callback) => void)
    | { connect(app: AppSpec, connection: Connection, session: Session | undefined, callback: Callback): void }
    | null
  heartbeatInterval?: number
  session?: Session
  reconnector?: (connection: Connection, reconnect: (...args: Array<unknown>) => void) => void
  logger?: EventEmitter
  /**
   * Metrics and spans of this connection (an extension of effect-jstp):
   * `Observability.make({ tracer })`. Absent, none.
   */
  observability?: Observability.Settings
  /** Internal: how the last transport was opened, for reconnect. */
  _connectionOptions?: Array<unknown>
  _connectionTransport?: string
}

/**
 * A server side: the server (for `connection.server` and its events) and its
 * decision on handshake requests.
 *
 * @since 0.1.0
 */
export interface ServerSide {
  readonly server: EventEmitter
  readonly onHandshake: NonNullable<EngineOptions["onHandshake"]>
  /** The bounds of a session's unacknowledged messages (see `Server`'s options). */
  readonly maxBuffered?: number | undefined
  readonly maxBufferedBytes?: number | undefined
  /** The engine ended the session: its peer did not keep up. */
  readonly onOverflow?: ((connection: Connection, error: unknown) => void) | undefined
  /** The server's `observability` option. */
  readonly observability?: Observability.Settings | undefined
}

/**
 * The transports `reconnect` can use, by name.
 *
 * @since 0.1.0
 */
export const transports = new Map<string, { reconnect(connection: Connection, ...args: Array<unknown>): void }>()

let nextConnectionId = 0

// The engine's host for one connection: prototype methods rather than a
// closure each, as one lives per connection.
class Host implements EngineOptions {
  readonly onHandshake: EngineOptions["onHandshake"]
  readonly maxBuffered: number | undefined
  readonly maxBufferedBytes: number | undefined
  readonly probe: Probe | undefined

  constructor(
    private readonly connection: Connection,
    readonly role: "client" | "server",
    readonly link: SocketLink.SocketLink,
    server: ServerSide | null | undefined,
    observability: Observability.Settings | undefined
  ) {
    this.onHandshake = server?.onHandshake
    this.maxBuffered = server?.maxBuffered
    this.maxBufferedBytes = server?.maxBufferedBytes
    this.probe = Observability.probe(observability, role, link.remoteAddress)
  }

  onEvent(iface: string, event: string, args: ReadonlyArray<unknown>): void {
    this.connection.remoteProxies[iface]?.emitLocal(event, args)
  }

  onClose(reason: CloseReason, cause: unknown): void {
    this.connection._engineClosed(reason, cause)
  }

  log(event: LogEvent, args: ReadonlyArray<unknown>): void {
    this.connection._log(event, args)
  }

  wantsLog(event: LogEvent): boolean {
    return this.connection._wantsLog(event)
  }

  makeSession(id: string, username: string | null): Session {
    return new Session(this.connection, username, id)
  }
}

// What a 2.x callback gets for an error payload: a lost callback is the bare
// number -1, anything else a RemoteError.
const toCallbackError = (error: Message.ErrorPayload | Error): Error | number =>
  error instanceof Error ? error : error === ErrorPayload.callbackLost ? ErrorPayload.callbackLost.code : RemoteError.fromPayload(error)

const toWire = (message: unknown): unknown => {
  if (typeof message === "object" && message !== null && "_tag" in message) {
    try {
      return Message.encode(message as Message.Message)
    } catch {
      return message
    }
  }
  return message
}

// The engine's logging arguments, as 2.x passes them.
const logArgs = (event: LogEvent, args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => {
  switch (event) {
    case "callback":
    case "handshake": {
      const [error, ok] = args
      return [error === undefined ? undefined : Message.encodeError(error as Message.ErrorPayload), ok]
    }
    case "incomingMessage":
    case "outgoingMessage":
    case "heartbeat":
    case "messageRejected":
      return [toWire(args[0])]
    default:
      return args
  }
}

const PRODUCTION_GATED = new Set<LogEvent>(["heartbeat", "incomingMessage", "outgoingMessage"])
// A browser has no process (and no NODE_ENV).
const isProduction = () => typeof process !== "undefined" && process.env.NODE_ENV === "production"

/**
 * @since 0.1.0
 */
export class Connection extends EventEmitter {
  readonly id = nextConnectionId++
  server: EventEmitter | null
  client: Client | null
  remoteAddress: string | undefined = undefined
  username: string | null = null
  session: Session | null = null
  application: Application | null = null
  remoteProxies: Record<string, RemoteProxy> = {}
  hasConnected = false
  closedIntentionally = false
  /** The application a client asked for, for reconnects. */
  _serverApp: AppSpec | undefined = undefined
  /** Server side: the version range the client asked for (or its major version). */
  requestedVersion: string | undefined = undefined

  private readonly engine: Engine
  private readonly serverSide: ServerSide | null
  private link: SocketLink.SocketLink | undefined
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined
  private reconnecting = false

  /**
   * Over a link of ours, or, as in 2.x, over any object implementing the
   * Transport interface (`jstp.net.Transport`, or a transport of your own):
   * `new Connection(transport, null, client)`, then `handshake`. A server
   * takes such a transport with `server.handleTransport(transport)`.
   */
  constructor(
    transport: SocketLink.SocketLink | TransportLink.Transport,
    server?: ServerSide | null,
    client?: Client | null
  ) {
    super()
    if (!server && !client) throw new Error("Either server or client is required")
    if (server && typeof server.onHandshake !== "function") {
      throw new TypeError("A server-side connection is made by its server: call server.handleTransport(transport)")
    }
    this.server = server?.server ?? null
    this.client = client ?? null
    const link: SocketLink.SocketLink = TransportLink.isTransport(transport)
      ? TransportLink.make(transport, {
        onFrame: (text) => this._receive(text),
        onClose: (error) => this._linkClosed(link, error)
      })
      : transport
    this.serverSide = server ?? null
    const observability = server ? server.observability : client?.observability
    this.engine = new Engine(new Host(this, server ? "server" : "client", link, server, observability))
    if (this.client !== null) this.engine.application = (this.client.application ?? new Application("jstp", {})).dispatcher(this)
    this.attach(link)
    this.link = link
  }

  /** Completed the handshake and has a working link. */
  get handshakeDone(): boolean {
    return this.engine.phase === "Open"
  }

  /** Internal: the engine, for the server and transports. */
  get _engine(): Engine {
    return this.engine
  }

  /** Internal: takes a new link (a reconnect), replacing the old one. */
  _initTransport(link: SocketLink.SocketLink): void {
    this.link?.detach()
    this.attach(link)
    this.link = link
  }

  private attach(link: SocketLink.SocketLink): void {
    this.remoteAddress = link.remoteAddress
  }

  /** Internal: frames of the current link go here. */
  _receive(text: string): void {
    this.engine.receive(text)
  }

  /**
   * Internal: the current link closed. A connection that completed its
   * handshake keeps its session (and pending calls) for a restore, even
   * when closed on purpose, as in 2.x; `close` is emitted once per link.
   */
  _linkClosed(link: SocketLink.SocketLink, error: Error | undefined): void {
    if (link !== this.link) return
    this.stopHeartbeat()
    const reason = error === undefined ? "PeerClosed" : "Transport"
    if (this.hasConnected) this.engine.detach(reason, error, link)
    else this.engine.linkClosed(reason, error, link)
    if (error !== undefined) this.emit("error", error, this)
    this.emit("close", this)
    if (this.server !== null) this.server.emit("disconnect", this)
    // During a reconnect attempt its own callback goes on (as in 2.x, the
    // next drop is watched for only after a successful reconnect).
    else if (this.engine.phase === "Detached" && !this.reconnecting) this.reconnectLater()
  }

  /** Internal: the engine closed. */
  _engineClosed(reason: CloseReason, cause: unknown): void {
    this.stopHeartbeat()
    if (reason === "Overflow") this.serverSide?.onOverflow?.(this, cause)
    // As 2.x: input that does not parse fails the connection with an error,
    // and the socket is destroyed, not ended (the peer need not cooperate).
    if (reason === "ProtocolViolation" && cause instanceof Error && cause.name !== "MessageError") {
      this.link?.destroy()
      this.emit("error", cause, this)
    }
  }

  private reconnectLater(): void {
    const client = this.client
    if (client === null || client.reconnector === undefined) return
    const reconnectFn = (...options: Array<unknown>) => {
      let transport = client._connectionTransport ?? "net"
      if (typeof options[0] === "string" && transports.has(options[0])) {
        transport = options[0]
        options = options.slice(1)
      }
      const callback = typeof options[options.length - 1] === "function"
        ? (options.pop() as Callback)
        : () => {}
      if (options.length === 0) options = client._connectionOptions ?? []
      this.emit("reconnectAttempt", transport, ...options)
      this.reconnecting = true
      transports.get(transport)!.reconnect(this, ...options, (error: Error | null, ...rest: Array<unknown>) => {
        if (error === null) this.reconnecting = false
        this.emit("reconnect", error)
        callback(error, ...rest)
        if (error !== null && !this.closedIntentionally && this.engine.phase === "Detached") {
          client.reconnector?.(this, reconnectFn)
        }
      })
    }
    client.reconnector(this, reconnectFn)
  }

  /** Internal: whether a logging event has listeners (most connections have none). */
  _wantsLog(event: LogEvent): boolean {
    const target = this.client?.logger ?? this
    return target.listenerCount(event) > 0 || (this.server !== null && this.server.listenerCount("log") > 0)
  }

  /** Internal: a logging event of the engine. */
  _log(event: LogEvent, args: ReadonlyArray<unknown>): void {
    if (PRODUCTION_GATED.has(event) && isProduction()) return
    const values = logArgs(event, args)
    const target = this.client?.logger ?? this
    target.emit(event, ...values)
    this.server?.emit("log", this, event, ...values)
  }

  /**
   * `handshake(app, [session], callback)` restores a session;
   * `handshake(app, login, password, callback)` logs in;
   * `handshake(app, null, null, callback)` is anonymous.
   */
  handshake(app: AppSpec, login: unknown, password: string | null | undefined, callback: Callback): void
  handshake(app: AppSpec, callback: Callback): void
  handshake(app: AppSpec, ...rest: Array<unknown>): void {
    const callback = (typeof rest[rest.length - 1] === "function" ? rest.pop() : () => {}) as Callback
    const [login, password] = rest
    const target = Versions.target(app)
    if (target === undefined) return callback(new Error("Invalid semver version range"))
    const { name, version } = target
    this._serverApp = app
    const sessionLogin = login instanceof Session && (password === null || password === undefined)
    const done = (error: Message.ErrorPayload | undefined, ok: string | number | undefined) => {
      if (error !== undefined) return callback(RemoteError.fromPayload(error))
      this.hasConnected = true
      this.application = this.client?.application ?? null
      if (sessionLogin) {
        this.session = login
        login.connection = this
        return callback(null)
      }
      this.username = typeof login === "string" && typeof password === "string" ? login : null
      this.session = this.engine.session as Session
      void ok
      callback(null, this.session)
    }
    try {
      if (sessionLogin) {
        if (this.engine.phase === "AwaitingHandshake") this.engine.resumeSession(login)
        // A reconnect over a new link while the old one is open (2.x allows
        // it: the server ends the old one): the session leaves the old link.
        if (this.engine.phase === "Open" && !this.engine.isLinkedTo(this.link!)) this.engine.detach()
        this.engine.reattach(this.link!, name, version, done)
      } else {
        const auth: Message.HandshakeAuth = typeof login === "string" && typeof password === "string"
          ? { _tag: "Login", login, password }
          : { _tag: "Anonymous" }
        this.engine.handshake(name, version, auth, done)
      }
    } catch (error) {
      callback(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /** Calls a remote method: `callback(error, ...results)`. */
  callMethod(iface: string, method: string, args: Array<unknown>, callback?: Callback | null): void {
    this.request(iface, method, args, callback, false)
  }

  /**
   * `callMethod`, issued again on the session's current connection while its
   * callback is lost in a restore (ERR_CALLBACK_LOST: the peer got it, the
   * answer was lost). The peer may run it twice.
   */
  callMethodWithResend(iface: string, method: string, args: Array<unknown>, callback?: Callback | null): void {
    this.request(iface, method, args, callback, true)
  }

  private request(iface: string, method: string, args: Array<unknown>, callback: Callback | null | undefined, resend: boolean): void {
    // A reply is held until the answer comes, so it holds only what it needs:
    // a plain call's does not keep its arguments.
    const reply = resend ? this.resendingReply(iface, method, args, callback) : this.plainReply(callback)
    try {
      this.engine.call(iface, method, args, reply)
    } catch (error) {
      this.fail(callback, error instanceof Error ? error : new Error(String(error)))
    }
  }

  private plainReply(callback: Callback | null | undefined): Reply {
    return (error, values) => {
      if (error === undefined) return callback?.(null, ...values)
      this.fail(callback, error)
    }
  }

  // Only a callback lost here, in a restore, is issued again; a -1 the peer
  // answered is its answer.
  private resendingReply(iface: string, method: string, args: Array<unknown>, callback: Callback | null | undefined): Reply {
    const plain = this.plainReply(callback)
    return (error, values) => {
      if (error !== ErrorPayload.callbackLost) return plain(error, values)
      const current = (this.session?.connection as Connection | undefined) ?? this
      current.request(iface, method, args, callback, true)
    }
  }

  // As 2.x: a lost callback is the bare code ERR_CALLBACK_LOST (-1), so
  // that `error === jstp.ERR_CALLBACK_LOST` holds. A request with no
  // callback that fails because its connection closed is dropped silently
  // (2.x never answers it), so closing never throws.
  private fail(callback: Callback | null | undefined, error: Message.ErrorPayload | Error): void {
    if (callback !== undefined && callback !== null) return callback(toCallbackError(error) as Error)
    if (error === ErrorPayload.connectionClosed || error === ErrorPayload.callbackLost) return
    this.emit("error", toCallbackError(error))
  }

  /** Sends an event to the peer. */
  emitRemoteEvent(iface: string, event: string, args: Array<unknown>): void {
    try {
      this.engine.emit(iface, event, args)
    } catch (error) {
      this._failed(error)
    }
  }

  /** Internal: an event could not be sent (a broadcast's too): an 'error' event. */
  _failed(error: unknown): void {
    this.emit("error", error instanceof Error ? error : new Error(String(error)))
  }

  /** Inspects a remote interface: `callback(error, proxy)`. */
  inspectInterface(iface: string, callback?: (error: Error | null, proxy?: RemoteProxy) => void): void {
    this.engine.inspect(iface, (error, methods) => {
      if (error !== undefined) return this.fail(callback as Callback | undefined, error)
      const proxy = new RemoteProxy(this, iface, methods.filter((name): name is string => typeof name === "string"))
      this.remoteProxies[iface] = proxy
      callback?.(null, proxy)
    })
  }

  /** Pings the peer; `callback()` on its pong. */
  ping(callback?: () => void): void {
    this.engine.ping(() => callback?.())
  }

  /** Pings the peer every `interval` ms. */
  startHeartbeat(interval: number): void {
    this.stopHeartbeat()
    this.heartbeatTimer = setInterval(() => {
      if (this.engine.phase === "Open") this.engine.ping()
    }, interval)
  }

  stopHeartbeat(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = undefined
  }

  /**
   * Ends the link and stops the automatic reconnector, as in 2.x; the
   * session lives on: calls wait or are buffered, and a later `reconnect`
   * restores it on this connection. One never handshaken closes for good.
   */
  close(): void {
    this.closedIntentionally = true
    this.stopHeartbeat()
    try {
      if (this.hasConnected) {
        this.link?.close()
        this.engine.detach()
      } else {
        this.engine.close("Closed")
      }
    } catch (error) {
      // A user's callback threw on the way; the link is ended regardless.
      // Thrown again on a tick of its own, as 2.x throws it from the socket's
      // close event, not out of close().
      queueMicrotask(() => {
        throw error
      })
    }
  }

  /** The socket under the connection (a Transport's raw transport). */
  getTransport(): unknown {
    return this.link?.socket
  }
}
