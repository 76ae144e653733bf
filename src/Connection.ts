/**
 * A JSTP connection, client or server side: calls, events, inspect and ping
 * as Effects and Streams over the protocol engine.
 *
 * `connect` is a scoped Effect: it dials, handshakes, and forks the reader
 * and the heartbeat into the scope; closing the scope closes the connection.
 *
 * @since 0.1.0
 */
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Fiber,
  Layer,
  Option,
  PubSub,
  Random,
  Schedule,
  Scope,
  Stream
} from "effect"
import * as Application from "./Application.js"
import { ConnectionError, HandshakeError } from "./ConnectionError.js"
import { type CloseReason, Engine, type Options as EngineOptions } from "./engine/Engine.js"
import * as Versions from "./engine/Versions.js"
import type { Session } from "./engine/Session.js"
import * as RemoteError from "./RemoteError.js"
import { type DialAddress, describe } from "./transport/Address.js"
import * as Dial from "./transport/Dial.js"
import type { FramedLink, TransportError } from "./transport/Link.js"
import type * as Message from "./wire/Message.js"
import { deliver, fromParts, makeListeners } from "./internal/ConnectionHandle.js"
import * as Observability from "./Observability.js"

/**
 * An event received from the peer.
 *
 * @since 0.1.0
 */
export interface RemoteEvent {
  readonly iface: string
  readonly event: string
  readonly args: ReadonlyArray<unknown>
}

/**
 * A remote interface, as `inspect` found it: one Effect-returning function
 * per remote method, and the interface's events both ways.
 *
 * @since 0.1.0
 */
export interface RemoteProxy {
  readonly iface: string
  readonly methodNames: ReadonlyArray<string>
  readonly methods: {
    readonly [method: string]: (
      ...args: ReadonlyArray<unknown>
    ) => Effect.Effect<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>
  }
  /** Sends an event of this interface to the peer. */
  readonly emit: (event: string, ...args: ReadonlyArray<unknown>) => Effect.Effect<void, ConnectionError>
  /** The peer's events of this interface. */
  readonly events: Stream.Stream<RemoteEvent>
}

/**
 * Options of `callAll`.
 *
 * @since 0.1.0
 */
export interface CallAllOptions {
  /** Calls in flight at most (default 100). */
  readonly concurrency?: number | undefined
  /** Called as each call succeeds, with its index in `argsList`. */
  readonly onResult?: ((index: number, results: ReadonlyArray<unknown>) => void) | undefined
  /** Keep no results, and succeed with void (default false). */
  readonly discard?: boolean | undefined
}

/**
 * `Connection.callAll`: with `discard: true` it succeeds with void, else
 * with the results in order.
 *
 * @since 0.1.0
 */
export interface CallAll {
  (
    iface: string,
    method: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options: CallAllOptions & { readonly discard: true }
  ): Effect.Effect<void, RemoteError.RemoteError | ConnectionError>
  (
    iface: string,
    method: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: CallAllOptions & { readonly discard?: false | undefined }
  ): Effect.Effect<Array<ReadonlyArray<unknown>>, RemoteError.RemoteError | ConnectionError>
}

/**
 * Options of a single call.
 *
 * @since 0.1.0
 */
export interface CallOptions {
  /** Fail with a `ConnectionError` (reason `Timeout`) after this long. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * A live connection.
 *
 * @since 0.1.0
 */
export interface Connection {
  /** Unique in this process. */
  readonly id: number
  readonly side: "client" | "server"
  readonly remoteAddress: string | undefined
  /** The application in use: on a server, the one the client chose. */
  readonly application: { readonly name: string; readonly version: string }
  /** The user it logged in as, if it did. */
  readonly username: () => string | null
  readonly session: () => Session | undefined
  /** Calls a remote method; succeeds with its results. */
  readonly call: (
    iface: string,
    method: string,
    args?: ReadonlyArray<unknown>,
    options?: CallOptions
  ) => Effect.Effect<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>
  /**
   * Calls one method with each of `argsList`, keeping up to `concurrency`
   * calls in flight (default 100), and succeeds with their results in order;
   * fails with the first failure (the calls still in flight are forgotten).
   * Cheaper than as many `call`s in as many fibers: one fiber waits for all.
   * With `discard: true` it keeps no results and succeeds with void (as
   * `Effect.forEach` does): for many calls read through `onResult`, whose
   * results would otherwise all stay in memory until the last one.
   */
  readonly callAll: CallAll
  /** Sends an event to the peer. */
  readonly emit: (iface: string, event: string, args?: ReadonlyArray<unknown>) => Effect.Effect<void, ConnectionError>
  /** Asks for a remote interface and gives a proxy of its methods. */
  readonly inspect: (iface: string) => Effect.Effect<RemoteProxy, RemoteError.RemoteError | ConnectionError>
  /** The peer's events of an interface, from when the stream runs until the connection closes. */
  readonly events: (iface: string) => Stream.Stream<RemoteEvent>
  /**
   * Subscribes now, for the scope: the stream has every event from this
   * moment on, however late it runs.
   */
  readonly subscribe: (iface: string) => Effect.Effect<Stream.Stream<RemoteEvent>, never, Scope.Scope>
  /** Pings the peer; succeeds on its pong. */
  readonly ping: Effect.Effect<void, ConnectionError>
  readonly isOpen: () => boolean
  /**
   * Requests waiting for an answer, and answers that came for no waiting
   * request (from calls given up by timeout or interruption, or stray).
   */
  readonly stats: () => { readonly pending: number; readonly droppedCallbacks: number }
  /** Closes the connection; pending calls fail with `Closed`. */
  readonly close: Effect.Effect<void>
  /** Completes with the reason when the connection closes. */
  readonly closed: Effect.Effect<CloseReason>
  /**
   * `call`, issued again while it fails with ERR_CALLBACK_LOST (-1): the
   * peer got the call but its answer was lost with a link. At-least-once:
   * the peer may run such a call twice.
   */
  readonly callWithResend: (
    iface: string,
    method: string,
    args?: ReadonlyArray<unknown>,
    options?: CallOptions
  ) => Effect.Effect<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>
  /** What happens to the link: drops, reconnection attempts, restores, the close. */
  readonly lifecycle: Stream.Stream<Lifecycle>
}

/**
 * A step in the life of a connection's link.
 *
 * @since 0.1.0
 */
export type Lifecycle =
  | { readonly _tag: "Disconnected"; readonly reason: CloseReason }
  | { readonly _tag: "Attempt"; readonly attempt: number; readonly address: DialAddress }
  | { readonly _tag: "Restored"; readonly attempt: number }
  /**
   * The server refused to restore the session (it restarted, or forgot
   * it), and with `reconnect: { renew: true }` a new one was started: calls
   * in flight failed with ERR_CALLBACK_LOST (-1), events sent while
   * disconnected were lost, and the connection goes on.
   */
  | { readonly _tag: "Renewed"; readonly attempt: number; readonly sessionId: string }
  | { readonly _tag: "Failed"; readonly attempt: number; readonly error: HandshakeError }
  | { readonly _tag: "Closed"; readonly reason: CloseReason }

/**
 * The client connection as a service.
 *
 * @since 0.1.0
 */
export class ClientConnection extends Context.Tag("effect-jstp/Connection")<ClientConnection, Connection>() {}

/**
 * How a client logs in: anonymously (the default), with a login and
 * password, or with a custom strategy the server's auth policy knows.
 *
 * @since 0.1.0
 */
export type Credentials =
  | { readonly _tag: "Anonymous" }
  | { readonly _tag: "Login"; readonly login: string; readonly password: string }
  | { readonly _tag: "Custom"; readonly strategy: string; readonly credentials: unknown }

/**
 * @since 0.1.0
 */
export interface ConnectOptions<R = never> {
  /**
   * Where to dial: TCP, Unix, TLS or WebSocket (see `Net.Address`; a
   * browser dials WebSocket only), or a transport of your own
   * (`{ _tag: "Transport", name, open }`, see `Net.TransportAddress`).
   */
  readonly address: DialAddress
  /** The server's application: `'name'`, `'name@range'` or `{ name, version }`. */
  readonly application: string | { readonly name: string; readonly version?: string | undefined }
  readonly credentials?: Credentials | undefined
  /** An application the server may call. Default: `jstp@1.0.0`, empty. */
  readonly client?: Application.Application<R> | undefined
  /** Ping the server this often. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Give up on the dial and handshake after this long. Default 3 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /**
   * With `heartbeatInterval`: a ping not answered within this long means the
   * peer is dead; the link is dropped (and reconnected, with `reconnect`).
   */
  readonly heartbeatTimeout?: Duration.DurationInput | undefined
  /**
   * Restore the session over a new link when the link drops (not after
   * `close`, and not before the first handshake succeeded). `true` uses
   * `defaultReconnectSchedule` and the same address.
   */
  readonly reconnect?: boolean | ReconnectOptions | undefined
  /** The most requests kept unacknowledged or while disconnected (default 10,000). */
  readonly maxBuffered?: number | undefined
  readonly maxMessageSize?: number | undefined
  /**
   * Sees every message read or written, pings, pongs and heartbeats among
   * them, as it passes: for tracing (jstp-cli's `-v`). Called synchronously
   * on the hot path; without it, no tracing work is done.
   */
  readonly onMessage?: ((direction: "incoming" | "outgoing", message: Message.Message) => void) | undefined
  /**
   * Every event the server sends, of any interface, called synchronously as
   * it arrives: before the result of a call the server answers after it
   * (`events(iface)` streams one interface's).
   */
  readonly onEvent?: ((event: RemoteEvent) => void) | undefined
}

const traceOf = (onMessage: NonNullable<ConnectOptions["onMessage"]>): Pick<EngineOptions, "log" | "wantsLog"> => ({
  log: (event, [message]) =>
    onMessage(event === "outgoingMessage" ? "outgoing" : "incoming", message as Message.Message),
  wantsLog: (event) => event === "incomingMessage" || event === "outgoingMessage" || event === "heartbeat"
})

/**
 * How to reconnect.
 *
 * @since 0.1.0
 */
export interface ReconnectOptions {
  /**
   * The delay before each attempt after a drop; when it ends, the
   * connection closes. It starts afresh after every successful restore.
   */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** Where attempt n (from 1) dials; by default the first address. */
  readonly target?: ((attempt: number) => DialAddress) | undefined
  /**
   * When the server refuses to restore the session (it restarted, or
   * forgot it), start a new session at once instead of closing (see
   * `Renewed`). Default false; true for `layer`.
   */
  readonly renew?: boolean | undefined
}

/**
 * 1 s, doubling up to 32 s, plus 0–1000 ms at random, forever (as 2.x).
 *
 * @since 0.1.0
 */
export const defaultReconnectSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 second", 2).pipe(
  Schedule.either(Schedule.spaced("32 seconds")),
  Schedule.addDelayEffect(() => Effect.map(Random.nextIntBetween(0, 1001), Duration.millis))
)

const handshakeFailure = (error: Message.ErrorPayload, cause: { reason?: CloseReason; cause?: unknown }) => {
  if (error.code !== -2) {
    const remote = RemoteError.fromPayload(error)
    return new HandshakeError({ reason: "Rejected", code: error.code, message: remote.message, cause: remote })
  }
  const transport = cause.reason === "Transport"
  return new HandshakeError({
    reason: transport ? "Transport" : "Closed",
    message: transport
      ? `Could not reach the server: ${cause.cause instanceof Error ? cause.cause.message : String(cause.cause)}`
      : "Connection closed before the handshake completed",
    cause: cause.cause
  })
}

/**
 * Dials, handshakes and returns the connection; the reader and heartbeat run
 * in the current scope, and closing it closes the connection.
 *
 * @since 0.1.0
 */
export const connect = <R = never>(
  options: ConnectOptions<R>
): Effect.Effect<Connection, HandshakeError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const target = Versions.target(options.application)
    if (target?.name === "") {
      return yield* new HandshakeError({
        reason: "InvalidApplication",
        message: "An application name is required (\"name\", \"name@range\" or { name, version })"
      })
    }
    if (target === undefined) {
      const spec = options.application
      const range = typeof spec === "string" ? Versions.splitName(spec)[1] : spec.version
      return yield* new HandshakeError({ reason: "InvalidVersion", message: `Invalid semver range: ${range}` })
    }
    const scope = yield* Effect.scope
    const handshakeTimeout = options.handshakeTimeout ?? Duration.seconds(3)
    const timeoutMessage = `No handshake reply within ${Duration.format(Duration.decode(handshakeTimeout))}`
    const reconnect = options.reconnect === true ? {} : options.reconnect === false ? undefined : options.reconnect
    const closed = yield* Deferred.make<CloseReason>()
    const lifecycle = yield* PubSub.unbounded<Lifecycle>()
    const publish = (event: Lifecycle) => PubSub.publish(lifecycle, event)
    const listeners = makeListeners()
    const closeInfo: { reason?: CloseReason; cause?: unknown } = {}
    const observed = yield* Observability.current

    // One link: a dialled socket, read by a fiber, in its own scope.
    interface LiveLink {
      readonly framed: FramedLink
      readonly reader: Fiber.RuntimeFiber<Either.Either<void, TransportError>>
      readonly scope: Scope.CloseableScope
    }
    // Set once the first link is open: links read into it.
    const current: { engine?: Engine } = {}
    // A dial given up (a failure, or the handshake timeout) closes its scope.
    const openLink = (address: DialAddress) =>
      Effect.flatMap(Scope.fork(scope, ExecutionStrategy.sequential), (linkScope) =>
        Effect.gen(function*() {
          const framed = yield* Scope.extend(Dial.open(address, { maxMessageSize: options.maxMessageSize }), linkScope).pipe(
            Effect.mapError((error) =>
              new HandshakeError({ reason: "Transport", message: `Could not reach the server: ${error.message}`, cause: error })
            )
          )
          const reader = yield* framed.run((text) => current.engine?.receive(text)).pipe(Effect.either, Effect.forkIn(linkScope))
          return { framed, reader, scope: linkScope } satisfies LiveLink
        }).pipe(Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(linkScope, Exit.void))))
    // Waits for a handshake reply, failing if the link ends first.
    const awaitHandshake = (link: LiveLink, send: (done: (error: Message.ErrorPayload | undefined) => void) => void) =>
      Effect.async<void, HandshakeError>((resume) => {
        send((error) => resume(error === undefined ? Effect.void : Effect.fail(handshakeFailure(error, closeInfo))))
      }).pipe(
        Effect.raceFirst(Effect.flatMap(Fiber.join(link.reader), (end) =>
          Effect.fail(new HandshakeError({
            reason: "Transport",
            message: Either.isLeft(end) ? `Could not reach the server: ${end.left.message}` : "Connection closed before the handshake completed",
            cause: Either.isLeft(end) ? end.left : undefined
          })))),
        Effect.tapError(() => Scope.close(link.scope, Exit.void))
      )
    // Dials and handshakes (`send` sends the request) within handshakeTimeout.
    const dialAndHandshake = (
      address: DialAddress,
      send: (link: LiveLink, done: (error: Message.ErrorPayload | undefined) => void) => void
    ) => {
      let opened: LiveLink | undefined
      return Effect.gen(function*() {
        const link = opened = yield* openLink(address)
        yield* awaitHandshake(link, (done) => send(link, done))
        return link
      }).pipe(
        Effect.timeoutFail({
          duration: handshakeTimeout,
          onTimeout: () => new HandshakeError({ reason: "Timeout", message: timeoutMessage })
        }),
        Effect.onExit((exit) => Exit.isSuccess(exit) || opened === undefined ? Effect.void : Scope.close(opened.scope, Exit.void))
      )
    }

    const theEngine = new Engine({
      role: "client",
      link: { send: () => {}, close: () => {} },
      maxMessageSize: options.maxMessageSize,
      maxBuffered: options.maxBuffered,
      // Without reconnection the session is never restored: nothing to resend.
      keepsMessages: reconnect !== undefined,
      renews: reconnect?.renew === true,
      probe: Observability.probe(observed, "client", describe(options.address)),
      ...(options.onMessage === undefined ? {} : traceOf(options.onMessage)),
      onEvent: (iface, event, args) => {
        options.onEvent?.({ iface, event, args })
        deliver(listeners, iface, event, args)
      },
      onClose: (reason, cause) => {
        closeInfo.reason = reason
        closeInfo.cause = cause
        Deferred.unsafeDone(closed, Effect.succeed(reason))
      }
    })
    current.engine = theEngine
    const connection = fromParts({
      engine: theEngine,
      side: "client",
      remoteAddress: describe(options.address),
      application: { name: target.name, version: target.version ?? "" },
      closed,
      lifecycle,
      listeners
    })
    const runtime = yield* Effect.runtime<R>()
    theEngine.application = Application.dispatcher(options.client ?? Application.empty, connection, runtime)
    // Scope.addFinalizer, not Effect.addFinalizer: the latter carries this
    // fiber's FiberRefs into whichever fiber closes the scope, so a program
    // that opens connections in one fiber and closes them in another would
    // keep every closed connection reachable.
    yield* Scope.addFinalizer(scope, Effect.sync(() => theEngine.close("Closed")))

    const auth: Message.HandshakeAuth = options.credentials ?? { _tag: "Anonymous" }
    // The handshake's span, when observed, is a child of the connect's.
    const connectSpan = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
    let link = yield* dialAndHandshake(options.address, (first, done) => {
      theEngine.useLink(first.framed)
      theEngine.handshake(target.name, target.version, auth, done, connectSpan)
    }).pipe(
      Effect.tapError(() => Effect.sync(() => theEngine.close("HandshakeRejected")))
    )

    // After a drop: attempts on the schedule until one restores the
    // session; or, once the server refused it, with `renew`, renews it.
    const restore = Effect.gen(function*() {
      const driver = yield* Schedule.driver(reconnect?.schedule ?? defaultReconnectSchedule)
      let renewing = false
      let waits = true
      for (let attempt = 1; ; attempt++) {
        if (waits) {
          const wait = yield* Effect.either(driver.next(undefined))
          if (Either.isLeft(wait)) return undefined
        }
        waits = true
        if (theEngine.phase !== "Detached" && !(renewing && theEngine.phase === "AwaitingHandshake")) return undefined
        const address = reconnect?.target?.(attempt) ?? options.address
        yield* publish({ _tag: "Attempt", attempt, address })
        const opened = yield* Effect.either(dialAndHandshake(address, (next, done) =>
          renewing
            ? theEngine.renew(next.framed, target.name, target.version, auth, done)
            : theEngine.reattach(next.framed, target.name, target.version, done)))
        if (Either.isRight(opened)) {
          yield* publish(
            renewing ? { _tag: "Renewed", attempt, sessionId: theEngine.session!.id } : { _tag: "Restored", attempt }
          )
          return opened.right
        }
        // Back to waiting (a no-op if the dial failed before the request).
        theEngine.detach("Transport", opened.left)
        yield* publish({ _tag: "Failed", attempt, error: opened.left })
        if (opened.left.reason === "Rejected") {
          // The server no longer knows the session: renewed at once, or closed.
          if (renewing || reconnect?.renew !== true || theEngine.phase !== "Detached") return undefined
          renewing = true
          waits = false
        }
      }
    })

    // Owns the links: on each drop, detach and restore (or close for good).
    yield* Effect.gen(function*() {
      for (;;) {
        const end = yield* Fiber.await(link.reader)
        yield* Scope.close(link.scope, Exit.void)
        if (theEngine.phase === "Closed") break
        const [reason, cause] = Exit.isSuccess(end) && Either.isRight(end.value)
          ? ["PeerClosed" as const, undefined]
          : ["Transport" as const, Exit.isSuccess(end) && Either.isLeft(end.value) ? end.value.left : "link aborted"]
        if (reconnect === undefined) {
          theEngine.linkClosed(reason, cause, link.framed)
          break
        }
        theEngine.detach(reason, cause, link.framed)
        if (theEngine.phase !== "Detached") break
        yield* publish({ _tag: "Disconnected", reason })
        const next = yield* restore
        if (next === undefined) {
          theEngine.close("Closed")
          break
        }
        link = next
      }
      yield* publish({ _tag: "Closed", reason: closeInfo.reason ?? "Closed" })
    }).pipe(Effect.forkIn(scope))

    if (options.heartbeatInterval !== undefined) {
      const heartbeatTimeout = options.heartbeatTimeout
      const beat = Effect.suspend(() => {
        if (theEngine.phase !== "Open") return Effect.void
        if (heartbeatTimeout === undefined) return Effect.sync(() => theEngine.ping())
        const current = link
        return Effect.async<void>((resume) => {
          theEngine.ping(() => resume(Effect.void))
        }).pipe(
          Effect.timeout(heartbeatTimeout),
          // No pong in time: the peer is dead; dropping the link starts a restore.
          Effect.catchTag("TimeoutException", () => Fiber.interrupt(current.reader))
        )
      })
      yield* beat.pipe(Effect.repeat(Schedule.spaced(options.heartbeatInterval)), Effect.interruptible, Effect.forkIn(scope))
    }
    return connection
  }).pipe(Effect.withSpan("effect-jstp/Connection.connect"))

/**
 * `connect`, then inspect each of `interfaces`.
 *
 * @since 0.1.0
 */
export const connectAndInspect = <R = never>(
  options: ConnectOptions<R>,
  interfaces: ReadonlyArray<string>
): Effect.Effect<
  { readonly connection: Connection; readonly proxies: Readonly<Record<string, RemoteProxy>> },
  HandshakeError | RemoteError.RemoteError | ConnectionError,
  Scope.Scope | R
> =>
  Effect.gen(function*() {
    const connection = yield* connect(options)
    const proxies = yield* Effect.forEach(interfaces, (iface) => connection.inspect(iface), { concurrency: "unbounded" })
    return { connection, proxies: Object.fromEntries(proxies.map((proxy) => [proxy.iface, proxy])) }
  })

/**
 * A client connection as a layer, for programs that use one connection as
 * a service.
 *
 * @since 0.1.0
 */
export const layer = <R = never>(options: ConnectOptions<R>): Layer.Layer<ClientConnection, HandshakeError, R> =>
  Layer.scoped(ClientConnection, connect(withRenewal(options)))

// A service lives as long as its program: with reconnection, it renews its
// session by default rather than fail every later request once the server
// has restarted.
const withRenewal = <R>(options: ConnectOptions<R>): ConnectOptions<R> => {
  if (options.reconnect === undefined || options.reconnect === false) return options
  const reconnect = options.reconnect === true ? {} : options.reconnect
  return reconnect.renew !== undefined ? options : { ...options, reconnect: { ...reconnect, renew: true } }
}
