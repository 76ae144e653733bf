/**
 * A JSTP server: listeners, applications, an auth policy, and the registry of
 * live connections. `make` is scoped: closing the scope stops the listeners
 * and closes every connection. `layer` offers it as a service.
 *
 * @since 0.1.0
 */
import { Cause, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, PubSub, Runtime, type Scope, Stream } from "effect"
import * as Application from "./Application.js"
import * as Connection from "./Connection.js"
import { type CloseReason, Engine, type HandshakeOutcome, type Link } from "./engine/Engine.js"
import type { ConnectionError } from "./ConnectionError.js"
import * as Handshake from "./engine/Handshake.js"
import * as ConnectionHandle from "./internal/ConnectionHandle.js"
import { ServerCore, type Target } from "./engine/ServerCore.js"
import { platformTimers } from "./engine/SessionCache.js"
import { Session } from "./engine/Session.js"
import * as Versions from "./engine/Versions.js"
import * as RemoteError from "./RemoteError.js"
import * as SessionStore from "./SessionStore.js"
import type { TransportError } from "./transport/Link.js"
import * as Net from "./transport/Net.js"
import type * as Message from "./wire/Message.js"
import * as Observability from "./Observability.js"

export type {
  /** @since 0.1.0 */
  Target
} from "./engine/ServerCore.js"

/**
 * What an auth policy is asked.
 *
 * @since 0.1.0
 */
export interface AuthRequest {
  readonly connection: Connection.Connection
  readonly application: Application.Application<unknown>
  /** `login`, or the name of a custom strategy. */
  readonly strategy: string
  /** `[login, password]` for `login`; whatever the client sent otherwise. */
  readonly credentials: unknown
}

/**
 * Decides a non-anonymous handshake: succeeds with the username, or with
 * nothing to refuse (error 11). A `RemoteError` failure is sent as it is; any
 * other failure becomes `[11, message]`.
 *
 * @since 0.1.0
 */
export type AuthPolicy<R = never> = (request: AuthRequest) => Effect.Effect<string | null | undefined, unknown, R>

/**
 * What happens on a server, as a stream.
 *
 * @since 0.1.0
 */
export type ServerEvent =
  | { readonly _tag: "Connected"; readonly connection: Connection.Connection }
  | { readonly _tag: "Restored"; readonly connection: Connection.Connection }
  | { readonly _tag: "Disconnected"; readonly connection: Connection.Connection; readonly reason: CloseReason }
  | {
    readonly _tag: "HandshakeFailed"
    readonly remoteAddress: string | undefined
    readonly app: string
    readonly error: RemoteError.RemoteError
  }
  | { readonly _tag: "HandshakeTimeout"; readonly remoteAddress: string | undefined }
  | { readonly _tag: "ConnectionError"; readonly remoteAddress: string | undefined; readonly error: TransportError }
  /**
   * The connection's peer did not keep up: its session's buffer of
   * unacknowledged messages reached `maxBuffered` or `maxBufferedBytes`, so
   * the server ended the session (its link closed; it is never restored)
   * rather than leave a gap in what the peer receives. Once per session.
   */
  | {
    readonly _tag: "SessionOverflow"
    readonly connection: Connection.Connection
    readonly sessionId: string
    readonly message: string
  }
  /**
   * The session store failed (logged as well): a session it could not keep
   * cannot be restored; one it could not read was refused (error 11).
   */
  | { readonly _tag: "SessionStoreFailed"; readonly error: SessionStore.SessionStoreError }
  /**
   * The store works again for what had failed: the crash-safe journal
   * (`journal`: sessions are crash-safe again) or the broadcasts to the
   * other nodes (`publish`). A failure of either is reported once, as
   * `SessionStoreFailed`, until this event.
   */
  | { readonly _tag: "SessionStoreRecovered"; readonly operation: "journal" | "publish" }
  /** The session store evicted a dropped session (to keep its memory budget): it is no longer restorable. */
  | { readonly _tag: "SessionEvicted"; readonly sessionId: string }
  /** A broadcast did not reach this connection; the others got it. */
  | {
    readonly _tag: "BroadcastFailed"
    readonly connection: Connection.Connection
    readonly iface: string
    readonly event: string
    readonly error: ConnectionError
  }

/**
 * @since 0.1.0
 */
export interface Options<R = never> {
  readonly applications: ReadonlyArray<Application.Application<R>>
  /** Where to listen; port 0 lets the system choose (see `addresses`). */
  readonly listen: ReadonlyArray<Net.Address>
  readonly authPolicy?: AuthPolicy<R> | undefined
  /** Ping every client this often. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Close a connection that has not completed its handshake by then. Default 3 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /**
   * How long the session of a dropped connection stays restorable with its
   * pending requests (default 1 hour); after that it lives on only in the
   * `SessionStore`, as an inactive session.
   */
  readonly clientExpirationTime?: Duration.DurationInput | undefined
  readonly maxMessageSize?: number | undefined
  /**
   * The most messages sent to a client and not yet acknowledged (default
   * 10,000), and the most bytes of them (default 16 MiB): a session that
   * reaches either is ended (see `SessionOverflow`).
   */
  readonly maxBuffered?: number | undefined
  readonly maxBufferedBytes?: number | undefined
}

/**
 * @since 0.1.0
 */
export interface Server {
  /** The bound addresses, in the order of `listen`. */
  readonly addresses: ReadonlyArray<Net.Address>
  /** The connections that completed their handshake. */
  readonly connections: () => ReadonlyArray<Connection.Connection>
  /**
   * Sends an event to every connection, serialized once. A connection that
   * cannot take it is reported as a `BroadcastFailed` event, and the others
   * still get it; an event that cannot be sent at all (it cannot be
   * serialized) fails with `InvalidArgument`, sent to nobody.
   */
  readonly broadcast: (iface: string, event: string, args?: ReadonlyArray<unknown>) => Effect.Effect<void, ConnectionError>
  /**
   * Sends an event to one session (`{ session: id }`) or to every session
   * of a user (`{ user: name }`), wherever it is connected: on this node,
   * and on the others of a cluster (a store with a bus, as
   * `SessionStore.layerRedis`'s). A dropped connection's session kept for a
   * restore gets it when it restores. Failures as `broadcast`'s.
   */
  readonly sendTo: (
    target: Target,
    iface: string,
    event: string,
    args?: ReadonlyArray<unknown>
  ) => Effect.Effect<void, ConnectionError>
  /** Replaces the applications offered to new connections. */
  readonly updateApplications: (applications: ReadonlyArray<Application.Application<unknown>>) => Effect.Effect<void>
  /**
   * Moves every connection that asked for a version range (or for no
   * version: the major version it got) to the highest version now offered
   * in it. Connections that asked for an exact version stay.
   */
  readonly updateConnectionsApi: Effect.Effect<void>
  /** The server's events, from when the stream runs. */
  readonly events: Stream.Stream<ServerEvent>
  /**
   * Subscribes now, for the scope: the stream has every event from this
   * moment on, however late it runs (as `Connection.subscribe`).
   */
  readonly subscribe: Effect.Effect<Stream.Stream<ServerEvent>, never, Scope.Scope>
}

/**
 * The server as a service, named as the ecosystem names its own
 * (`HttpServer.HttpServer`): `Server.Server`.
 *
 * @since 0.1.0
 */
export const Server: Context.Tag<Server, Server> = Context.GenericTag<Server>("effect-jstp/Server")

type AnyApplication = Application.Application<unknown>

const indexApplications = (applications: ReadonlyArray<AnyApplication>): Map<string, Array<AnyApplication>> =>
  Versions.makeIndex(applications, (application) => {
    throw new Application.InvalidApplicationError({
      reason: "Duplicate",
      message: `Multiple instances of application ${application.name} with version ${application.version}`
    })
  })

interface Live {
  readonly id: number
  readonly connection: Connection.Connection
  readonly engine: Engine
  readonly link: Link
  readonly appInfo: { name: string; version: string }
  readonly requestedVersion: string
  readonly lifecycle: PubSub.PubSub<Connection.Lifecycle>
}

// How long closing waits for the session store's writes (the sessions it stores).
const STORE_CLOSE_TIMEOUT = Duration.seconds(5)

/**
 * Starts the listeners and serves until the scope closes. Sessions of dropped
 * connections go to the `SessionStore.SessionStore` service: provide
 * `SessionStore.layerMemory()` (one process), `SessionStore.layerKeyValueStore()`
 * (on disk, across restarts) or a store of your own.
 *
 * @since 0.1.0
 */
export const make = <R = never>(
  options: Options<R>
): Effect.Effect<Server, TransportError | Application.InvalidApplicationError, Scope.Scope | R | SessionStore.SessionStore> =>
  Effect.gen(function*() {
    let index = yield* Effect.try({
      try: () => indexApplications(options.applications as ReadonlyArray<AnyApplication>),
      catch: (error) => error as Application.InvalidApplicationError
    })
    const runtime = yield* Effect.runtime<R>()
    const runSync = Runtime.runSync(runtime)
    const runCallback = Runtime.runCallback(runtime)
    const runFork = Runtime.runFork(runtime)
    const store = yield* SessionStore.SessionStore
    const events = yield* PubSub.unbounded<ServerEvent>()
    const publish = (event: ServerEvent) => runSync(PubSub.publish(events, event))
    // A store that failed is reported, once per failure; the server goes on.
    const reportStore = (exit: Exit.Exit<unknown, SessionStore.SessionStoreError>) => {
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      if (Option.isNone(error)) return
      publish({ _tag: "SessionStoreFailed", error: error.value })
      runSync(Effect.logError(`${error.value.message}; the session cannot be restored`, error.value))
    }
    // Writes still running when the server closes are waited for (bounded),
    // so that the sessions the close stores are in the store once it is done.
    const writes = new Set<Fiber.RuntimeFiber<void, SessionStore.SessionStoreError>>()
    const write = (effect: Effect.Effect<void, SessionStore.SessionStoreError>) => {
      const fiber = runFork(effect)
      writes.add(fiber)
      fiber.addObserver((exit) => {
        writes.delete(fiber)
        reportStore(exit)
      })
    }
    // The journal's and the bus's failures are said once per outage, and their end.
    const failing = { journal: false, publish: false }
    const outage = (operation: "journal" | "publish", error: SessionStore.SessionStoreError | undefined) => {
      if ((error !== undefined) === failing[operation]) return
      failing[operation] = error !== undefined
      if (error === undefined) {
        publish({ _tag: "SessionStoreRecovered", operation })
        runSync(Effect.logInfo(operation === "journal" ? "Session store: sessions are crash-safe again" : "Session store: broadcasts reach the other nodes again"))
        return
      }
      publish({ _tag: "SessionStoreFailed", error })
      const consequence = operation === "journal"
        ? "sessions are served but not crash-safe until it is back"
        : "broadcasts and sendTo do not reach the other nodes until it is back"
      runSync(Effect.logError(`${error.message}; ${consequence}`, error))
    }
    const journal = store.journal
    const bus = store.bus
    const storeInactive = (session: Session) =>
      write(Effect.zipRight(store.set(session.id, session), store.setInactive(session.id)))
    // An ended session is removed; a store that cannot remove keeps it marked ended.
    const forget = (session: Session) => write(store.remove !== undefined ? store.remove(session.id) : store.set(session.id, session))
    // Connections with a link, and the sessions of every connection, linked
    // or dropped (until clientExpirationTime), restorable onto their engine.
    // Platform timers, cancelled as the server closes (closeAll, finalizers).
    const core = new ServerCore<Live>({
      timers: platformTimers,
      expireAfter: Duration.toMillis(options.clientExpirationTime ?? Duration.hours(1)),
      heartbeatInterval: () =>
        options.heartbeatInterval === undefined ? undefined : Duration.toMillis(options.heartbeatInterval),
      handshakeTimeout: Duration.toMillis(options.handshakeTimeout ?? Duration.seconds(3)),
      storeInactive: (entry) => storeInactive(entry.engine.session!),
      forget: (entry) => forget(entry.engine.session!),
      journal: journal === undefined ? undefined : {
        persist: (batch, done) =>
          runCallback(journal(batch), {
            onExit: (exit) => Exit.isSuccess(exit) ? done(undefined, exit.value) : done(Cause.squash(exit.cause))
          }),
        degraded: (error) => outage("journal", error as SessionStore.SessionStoreError | undefined)
      },
      bus: bus === undefined ? undefined : {
        publish: (text) =>
          runCallback(bus.publish(text), {
            onExit: (exit) => outage("publish", Exit.isSuccess(exit) ? undefined : Cause.squash(exit.cause) as SessionStore.SessionStoreError)
          }),
        subscribe: bus.subscribe
      },
      badBusMessage: (error) => runSync(Effect.logWarning("Cluster: an event from another node is not a JSTP event; dropped", error))
    })
    // The store evicts dropped sessions to keep its memory budget: the core
    // drops them too.
    if (store.onEvict !== undefined) {
      const unsubscribe = store.onEvict((sessionId) => {
        core.evicted(sessionId)
        publish({ _tag: "SessionEvicted", sessionId })
        runSync(Effect.logWarning(`Session ${sessionId} evicted from the session store (over its memory budget)`))
      })
      yield* Effect.addFinalizer(() => Effect.sync(unsubscribe))
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => core.closeAll()).pipe(
        Effect.zipRight(Fiber.awaitAll([...writes]).pipe(
          Effect.timeoutFail({ duration: STORE_CLOSE_TIMEOUT, onTimeout: () => writes.size }),
          Effect.catchAll((left) => Effect.logWarning(`Closing: ${left} session store writes still running after ${Duration.format(STORE_CLOSE_TIMEOUT)}`))
        ))
      )
    )

    const observed = yield* Observability.current

    // A dropped connection whose session is kept: restorable until it expires.
    const onDetached = (entry: Live, reason: CloseReason) => {
      core.detached(entry, entry.engine.session!.id)
      publish({ _tag: "Disconnected", connection: entry.connection, reason })
      runSync(PubSub.publish(entry.lifecycle, { _tag: "Disconnected", reason }))
    }

    const serve = (accepted: Net.Accepted) =>
      Effect.scoped(Effect.gen(function*() {
        const remoteAddress = accepted.remoteAddress
        const framed = yield* accepted.open({ maxMessageSize: options.maxMessageSize })
        // What the engine writes through (crash-safe mode: it waits for the journal).
        const link = core.link(framed)
        const closed = yield* Deferred.make<CloseReason>()
        const lifecycle = yield* PubSub.unbounded<Connection.Lifecycle>()
        const listeners = ConnectionHandle.makeListeners()
        let current: Live | undefined
        // Where this link's frames go: a restore hands the link to the engine
        // that kept the session.
        let target: Engine | undefined

        const onHandshake = (request: Message.HandshakeRequest, done: (outcome: HandshakeOutcome) => void) => {
          let entry: Live | undefined
          Handshake.decide<AnyApplication>(request, {
            select: (name, version) => {
              const application = Versions.select(index, name, version)
              if (application === undefined) return undefined
              const appInfo = { name: application.name, version: application.version }
              const connection = ConnectionHandle.fromParts({ engine, side: "server", remoteAddress, application: appInfo, closed, lifecycle, listeners })
              entry = {
                id: connection.id,
                connection,
                engine,
                link,
                appInfo,
                lifecycle,
                requestedVersion: Versions.requested(version, application.version)
              }
              return application
            },
            transfer: (sessionId, receivedCount) => {
              // The engine that kept the session takes this link over.
              const cached = core.restore(sessionId, link, receivedCount)
              if (cached === undefined) return false
              current = cached
              target = cached.engine
              publish({ _tag: "Restored", connection: cached.connection })
              // On the server side a restore is not an attempt of ours: 0.
              runSync(PubSub.publish(cached.lifecycle, { _tag: "Restored", attempt: 0 }))
              return true
            },
            load: (_, sessionId, loaded) =>
              runCallback(store.get(sessionId), {
                onExit: (exit) => {
                  reportStore(exit)
                  const session = Exit.isSuccess(exit) ? Option.getOrUndefined(exit.value) : undefined
                  loaded(session?.ended !== true ? session : undefined)
                }
              }),
            authenticate: options.authPolicy === undefined ? undefined : (application, strategy, credentials, answer) => {
              const policy = options.authPolicy!
              runCallback(
                Effect.suspend(() => policy({ connection: entry!.connection, application, strategy, credentials })).pipe(
                  Effect.catchAllDefect((defect) => Effect.fail(defect))
                ),
                {
                  onExit: (exit) =>
                    exit._tag === "Success"
                      ? answer(undefined, exit.value)
                      : answer(Option.getOrUndefined(Cause.failureOption(exit.cause)) ?? new Error("Interrupted"), undefined)
                }
              )
            },
            newSession: (username) => new Session(undefined, username),
            accept: (application, session) => {
              current = entry
              core.opened(entry!, session)
              return Application.dispatcher(application, entry!.connection, runtime as Runtime.Runtime<unknown>)
            },
            started: (_, __, restored) => publish({ _tag: restored ? "Restored" : "Connected", connection: entry!.connection }),
            rejected: (error) =>
              publish({ _tag: "HandshakeFailed", remoteAddress, app: request.app, error: RemoteError.fromPayload(error) }),
            // The connection may have gone while the store or the policy answered.
            pending: () => engine.phase === "Handshaking"
          }, done)
        }

        const engine: Engine = new Engine({
          role: "server",
          link,
          probe: Observability.probe(observed, "server", remoteAddress),
          maxMessageSize: options.maxMessageSize,
          maxBuffered: options.maxBuffered,
          maxBufferedBytes: options.maxBufferedBytes,
          onHandshake,
          onEvent: (iface, event, args) => ConnectionHandle.deliver(listeners, iface, event, args),
          onClose: (reason, cause) => {
            Deferred.unsafeDone(closed, Effect.succeed(reason))
            runSync(PubSub.publish(lifecycle, { _tag: "Closed", reason }))
            const entry = current
            if (entry === undefined) return
            const session = engine.session
            if (reason === "Overflow" && session !== undefined) {
              const linked = core.ended(entry, session.id)
              const message = cause instanceof Error ? cause.message : String(cause)
              publish({ _tag: "SessionOverflow", connection: entry.connection, sessionId: session.id, message })
              runSync(Effect.logWarning(`Session ${session.id} ended: its peer does not keep up (${message})`))
              if (linked) publish({ _tag: "Disconnected", connection: entry.connection, reason })
              return
            }
            if (core.closed(entry, session?.id)) publish({ _tag: "Disconnected", connection: entry.connection, reason })
          }
        })
        target = engine
        const receiver = () => target ?? engine

        // Leaving: close this link's connection, unless its session is kept
        // (detached) or the link now belongs to another engine.
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            const owner = receiver()
            if (owner.isLinkedTo(link) && owner.phase !== "Detached") owner.close("Closed")
          })
        )
        const stopWatch = core.watchHandshake(receiver, () => publish({ _tag: "HandshakeTimeout", remoteAddress }))
        yield* Effect.addFinalizer(() => Effect.sync(stopWatch))
        const linkEnded = (reason: "PeerClosed" | "Transport", cause?: unknown) => {
          const owner = receiver()
          owner.detach(reason, cause, link)
          if (owner.phase === "Detached" && owner.isLinkedTo(link) && current !== undefined) onDetached(current, reason)
        }
        yield* framed.run((text) => receiver().receive(text)).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.sync(() => {
                publish({ _tag: "ConnectionError", remoteAddress, error })
                linkEnded("Transport", error)
              }),
            onSuccess: () => Effect.sync(() => linkEnded("PeerClosed"))
          })
        )
      }))

    const addresses: Array<Net.Address> = []
    for (const address of options.listen) {
      const server = yield* Net.listen(address, { maxMessageSize: options.maxMessageSize })
      addresses.push(server.address)
      yield* Effect.forkScoped(server.run(serve))
    }

    const connections = () => [...core.live.values()].map((entry) => entry.connection)
    // An event to many: one that a connection cannot take is reported, one
    // that cannot be serialized fails, sent to nobody.
    const send = (iface: string, event: string, to: (onFailure: (entry: Live, error: unknown) => void) => void) =>
      Effect.suspend(() => {
        try {
          to((entry, error) =>
            publish({ _tag: "BroadcastFailed", connection: entry.connection, iface, event, error: ConnectionHandle.invalidArgument(error) }))
          return Effect.void
        } catch (error) {
          return Effect.fail(ConnectionHandle.invalidArgument(error))
        }
      })

    return {
      addresses,
      connections,
      broadcast: (iface, event, args = []) =>
        send(iface, event, (onFailure) => core.broadcast(iface, event, args, onFailure)),
      sendTo: (target, iface, event, args = []) =>
        send(iface, event, (onFailure) => core.sendTo(target, iface, event, args, onFailure)),
      updateApplications: (applications) =>
        Effect.sync(() => {
          index = indexApplications(applications)
        }),
      updateConnectionsApi: Effect.sync(() => {
        for (const entry of core.live.values()) {
          const next = Versions.upgrade(index, entry.appInfo.name, entry.requestedVersion, entry.appInfo.version)
          if (next === undefined) continue
          entry.engine.application = Application.dispatcher(next, entry.connection, runtime as Runtime.Runtime<unknown>)
          entry.appInfo.version = next.version
        }
      }),
      events: Stream.fromPubSub(events),
      subscribe: Stream.fromPubSub(events, { scoped: true })
    } satisfies Server
  }).pipe(Effect.withSpan("effect-jstp/Server.make"))

/**
 * The server as a layer.
 *
 * @since 0.1.0
 */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<Server, TransportError | Application.InvalidApplicationError, R | SessionStore.SessionStore> =>
  Layer.scoped(Server, make(options))
