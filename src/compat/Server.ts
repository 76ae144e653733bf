/**
 * What every transport server of the facade shares (the JSTP half of 2.x's
 * `net.Server`/`tls.Server`): applications, auth policy, sessions, the
 * registry of clients, and the server's methods and events. A transport
 * module makes a Node server class with `withJstp(Base)`.
 *
 * @since 0.1.0
 */
import type { EventEmitter } from "node:events"
import type { Duplex } from "node:stream"
import type { Engine, HandshakeOutcome, Link } from "../engine/Engine.js"
import * as Handshake from "../engine/Handshake.js"
import { type Bus, ServerCore } from "../engine/ServerCore.js"
import { platformTimers } from "../engine/SessionCache.js"
import * as Versions from "../engine/Versions.js"
import * as SocketLink from "../transport/SocketLink.js"
import * as TransportLink from "../transport/TransportLink.js"
import type * as Message from "../wire/Message.js"
import { Application, createAppsIndex, type SessionStorageProvider } from "./Application.js"
import { Connection } from "./Connection.js"
import { Session } from "./Session.js"
import { SimpleSessionStorageProvider } from "./SimpleSessionStorageProvider.js"
import * as Observability from "../Observability.js"

/**
 * `authPolicy(connection, application, strategy, credentials, callback(error, username))`.
 *
 * @since 0.1.0
 */
export type AuthPolicy = (
  connection: Connection,
  application: Application,
  strategy: string,
  credentials: unknown,
  callback: (error: unknown, username?: string | null) => void
) => void

/**
 * The JSTP options of `createServer`.
 *
 * @since 0.1.0
 */
export interface ServerOptions {
  applications?: ReadonlyArray<Application> | Map<string, Map<string, Application>>
  authPolicy?: AuthPolicy | { authenticate: AuthPolicy }
  sessionStorageProvider?: SessionStorageProvider
  heartbeatInterval?: number
  clientExpirationTime?: number
  /** Close a connection that has not completed its handshake by then (ms). Default 3000. */
  handshakeTimeout?: number
  /**
   * The most messages sent to a client and not yet acknowledged (default
   * 10,000), and the most bytes of them (default 16 MiB): a session that
   * reaches either is ended, and the server emits `'sessionOverflow'`.
   */
  maxBuffered?: number
  maxBufferedBytes?: number
  /**
   * Metrics and spans of its connections (an extension of effect-jstp):
   * `Observability.make({ tracer })`. Absent, none.
   */
  observability?: Observability.Settings
}

const HANDSHAKE_TIMEOUT = 3000
const DEFAULT_EXPIRATION_TIME = 60 * 60 * 1000

/**
 * Internal: a session kept by the server, with what storing it needs.
 *
 * @since 0.1.0
 */
export interface Kept {
  readonly id: number
  readonly engine: Engine
  readonly link: Link
  readonly connection: Connection
  readonly session: Session
  readonly storage: SessionStorageProvider
  readonly onClose: () => void
}


const storeInactive = (kept: Kept): void => {
  kept.storage.set(kept.session.id, kept.session)
  kept.storage.setInactive?.(kept.session.id)
}

// An ended session is removed; a storage that cannot remove keeps it marked ended.
const forget = (kept: Kept): void => {
  const storage = kept.storage as SessionStorageProvider & { delete?: (sessionId: string) => unknown }
  if (typeof storage.delete === "function") storage.delete(kept.session.id)
  else storage.set(kept.session.id, kept.session)
}

type Evicting = SessionStorageProvider & { onEvict?: (listener: (sessionId: string) => void) => () => void }

type Index = Map<string, Map<string, Application>>

const failed = (kept: Kept, error: unknown): void => kept.connection._failed(error)

const versionsOf = (index: Index): Map<string, Array<Application>> =>
  Versions.makeIndex(
    [...index.values()].flatMap((versions) => [...versions].filter(([key]) => key !== "latest").map(([, app]) => app)),
    (application) => {
      throw new Error(`Multiple instances of application: ${application.name} with version: ${application.version}`)
    }
  )

/**
 * The JSTP server methods and state, mixed into a Node server class.
 *
 * @since 0.1.0
 */
export interface JstpServer extends EventEmitter {
  applications: Index
  clients: Map<number, Connection>
  heartbeatInterval: number | undefined
  getClients(): IterableIterator<Connection>
  getClientsArray(): Array<Connection>
  broadcast(interfaceName: string, eventName: string, ...args: Array<unknown>): void
  updateApplications(applications: ReadonlyArray<Application> | Index): void
  updateConnectionsApi(): void
  /** Serves a connected socket (the transport's `connection` event). */
  handleSocket(socket: Duplex): void
  /** Serves a connection over a link the transport makes (a WebSocket's). */
  handleLink(makeLink: (handlers: SocketLink.Handlers) => SocketLink.SocketLink): void
  /** Serves a connection over a Transport (2.x's interface; a transport of your own). */
  handleTransport(transport: TransportLink.Transport): void
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a mixin's base constructor must take any arguments
type Constructor<T> = new (...args: Array<any>) => T

/**
 * Adds the JSTP server to a Node server class (net.Server, tls.Server, ...).
 *
 * @since 0.1.0
 */
export const withJstp = <B extends Constructor<EventEmitter>>(Base: B) =>
  class Server extends Base implements JstpServer {
    applications: Index = new Map()
    /** The connections that completed their handshake and have a link, by id. */
    clients = new Map<number, Connection>()
    heartbeatInterval: number | undefined
    /** @internal */ _versions = new Map<string, Array<Application>>()
    /** @internal */ _authenticate: AuthPolicy | undefined
    /** @internal */ _sessionsStorage: SessionStorageProvider = new SimpleSessionStorageProvider()

    // The registry of linked connections and the sessions kept for restores.
    /** @internal */ _core: ServerCore<Kept> | undefined
    /** @internal */ _maxBuffered: number | undefined
    /** @internal */ _observability: Observability.Settings | undefined
    /** @internal */ _maxBufferedBytes: number | undefined
    // The kept session of each connection that has one.
    /** @internal */ _kept = new WeakMap<Connection, Kept>()
    // The storages whose evictions this server follows.
    /** @internal */ _following = new Set<SessionStorageProvider>()

    /** @internal */ _follow(storage: SessionStorageProvider): void {
      const onEvict = (storage as Evicting).onEvict
      if (typeof onEvict !== "function" || this._following.has(storage)) return
      this._following.add(storage)
      const unsubscribe = onEvict.call(storage, (sessionId: string) => {
        this.core.evicted(sessionId)
        this.emit("sessionEvicted", sessionId)
      })
      this.once("close", unsubscribe)
    }

    /** @internal */ _overflowed(connection: Connection, error: unknown): void {
      const kept = this._kept.get(connection)
      if (kept === undefined) return
      this.core.ended(kept, kept.session.id)
      this.emit("sessionOverflow", connection, error)
      // The one log line, on the server's 'log' event as 2.x logs connection events.
      this.emit("log", connection, "sessionOverflow", error)
    }

    /** Internal: reads the JSTP options; called by the transport's constructor. */
    initJstp(options: ServerOptions, listener?: (connection: Connection) => void): void {
      this.updateApplications(options.applications ?? [])
      const policy = options.authPolicy
      this._authenticate = typeof policy === "object" ? policy.authenticate.bind(policy) : policy
      if (options.sessionStorageProvider !== undefined) this._sessionsStorage = options.sessionStorageProvider
      this.heartbeatInterval = options.heartbeatInterval
      this._core = new ServerCore<Kept>({
        timers: platformTimers,
        expireAfter: options.clientExpirationTime ?? DEFAULT_EXPIRATION_TIME,
        // Read at every connection: 2.x code may set it on the server later.
        heartbeatInterval: () => this.heartbeatInterval,
        handshakeTimeout: options.handshakeTimeout ?? HANDSHAKE_TIMEOUT,
        listed: (kept, linked) => {
          if (linked) this.clients.set(kept.id, kept.connection)
          else this.clients.delete(kept.id)
        },
        storeInactive,
        forget,
        // A storage shared by nodes (RedisSessionStorageProvider) carries broadcasts to the others.
        bus: (this._sessionsStorage as { bus?: Bus }).bus,
        badBusMessage: (error) => this.emit("error", error)
      })
      this._maxBuffered = options.maxBuffered
      this._observability = options.observability
      this._maxBufferedBytes = options.maxBufferedBytes
      this.on("close", () => this.core.closeAll())
      this.on("handshakeRequest", (connection: Connection, appName: string, strategy: string) =>
        this.emit("log", connection, "handshakeRequest", appName, strategy))
      if (listener !== undefined) this.on("connect", listener)
    }

    /** @internal */ get core(): ServerCore<Kept> {
      if (this._core === undefined) throw new Error("initJstp was not called")
      return this._core
    }

    getClients(): IterableIterator<Connection> {
      return this.clients.values()
    }

    getClientsArray(): Array<Connection> {
      return [...this.clients.values()]
    }

    // Serialized once; a client that cannot take it gets an 'error' event,
    // and the others still get it.
    broadcast(interfaceName: string, eventName: string, ...args: Array<unknown>): void {
      try {
        this.core.broadcast(interfaceName, eventName, args, failed)
      } catch (error) {
        for (const client of this.clients.values()) client._failed(error)
      }
    }

    updateApplications(applications: ReadonlyArray<Application> | Index): void {
      this.applications = Array.isArray(applications) ? createAppsIndex(applications) : applications as Index
      this._versions = versionsOf(this.applications)
    }

    updateConnectionsApi(): void {
      for (const connection of this.clients.values()) {
        const current = connection.application
        const requested = connection.requestedVersion
        if (current === null || requested === undefined) continue
        const next = Versions.upgrade(this._versions, current.name, requested, current.version)
        if (next === undefined) continue
        connection.application = next
        connection._engine.application = next.dispatcher(connection)
      }
    }

    handleSocket(socket: Duplex): void {
      this.handleLink((handlers) => SocketLink.make(socket, handlers))
    }

    handleTransport(transport: TransportLink.Transport): void {
      this.handleLink((handlers) => TransportLink.make(transport, handlers))
    }

    handleLink(makeLink: (handlers: SocketLink.Handlers) => SocketLink.SocketLink): void {
      // Frames go to whichever connection holds the link: a session restore
      // hands it to the connection that kept the session.
      const route: { connection?: Connection } = {}
      const link: SocketLink.SocketLink = makeLink({
        onFrame: (text) => route.connection?._receive(text),
        onClose: (error) => route.connection?._linkClosed(link, error)
      })
      const connection: Connection = new Connection(link, {
        server: this,
        onHandshake: (request, done) => this._decide(connection, link, route, request, done),
        maxBuffered: this._maxBuffered,
        maxBufferedBytes: this._maxBufferedBytes,
        observability: this._observability,
        onOverflow: (connection, error) => this._overflowed(connection, error)
      }, null)
      route.connection = connection
      connection.on("error", (error: unknown) => this.emit("connectionError", error, connection))
      const stopWatch = this.core.watchHandshake(
        () => route.connection!._engine,
        () => this.emit("handshakeTimeout", connection)
      )
      connection.once("client", stopWatch)
    }

    /** @internal */ _decide(
      connection: Connection,
      link: SocketLink.SocketLink,
      route: { connection?: Connection },
      request: Message.HandshakeRequest,
      done: (outcome: HandshakeOutcome) => void
    ): void {
      let storage = this._sessionsStorage
      Handshake.decide<Application, Session>(request, {
        select: (name, version) => {
          const application = Versions.select(this._versions, name, version)
          if (application === undefined) return undefined
          this.emit("handshakeRequest", connection, name, Handshake.strategy(request))
          connection.requestedVersion = Versions.requested(version, application.version)
          connection.application = application
          storage = application.sessionsStorage ?? this._sessionsStorage
          return application
        },
        transfer: (sessionId, receivedCount) => {
          // The connection that kept the session takes this link over.
          const kept = this.core.restore(sessionId, link, receivedCount, (entry) => {
            route.connection = entry.connection
            entry.connection._initTransport(link)
          })
          if (kept === undefined) return false
          this._started(kept.connection, kept.session, true, kept.connection.application ?? connection.application!)
          return true
        },
        load: (_, sessionId, loaded) => {
          // An ended session (its peer did not keep up) is never restored.
          const answer = (stored: unknown) => loaded(stored instanceof Session && !stored.ended ? stored : undefined)
          if (storage.isAsync()) storage.get(sessionId, answer)
          else answer(storage.get(sessionId))
        },
        authenticate: this._authenticate === undefined
          ? undefined
          : (application, strategy, credentials, answer) =>
            this._authenticate!(connection, application, strategy, credentials, answer),
        newSession: (username) => new Session(connection, username),
        accept: (application, session) => {
          session.connection = connection
          connection.session = session
          connection.username = session.username
          connection.hasConnected = true
          this._track(connection, session, storage, link)
          return application.dispatcher(connection)
        },
        started: (application, session, restored) => this._started(connection, session, restored, application),
        rejected: () => {},
        pending: () => connection._engine.phase === "Handshaking"
      }, done)
    }

    // A connection with a session: listed while linked; its session kept
    // for clientExpirationTime after its link drops, and stored (inactive).
    /** @internal */ _track(connection: Connection, session: Session, storage: SessionStorageProvider, link: Link): void {
      const kept: Kept = {
        id: connection.id,
        engine: connection._engine,
        link,
        connection,
        session,
        storage,
        onClose: () => {
          // A session taken over by another connection is that one's now.
          if (session.connection !== connection) return void this.core.closed(kept, undefined)
          if (connection._engine.phase === "Detached") return this.core.detached(kept, session.id)
          this.core.closed(kept, session.id)
          connection.off("close", kept.onClose)
        }
      }
      this._kept.set(connection, kept)
      this._follow(storage)
      this.core.opened(kept, session)
      connection.on("close", kept.onClose)
    }

    /** @internal */ _started(connection: Connection, session: Session, restored: boolean, application: Application): void {
      connection.emit("client", session, connection)
      if (restored) {
        this.emit("restoreSession", session, connection, application)
        this.emit("reconnect", connection)
      } else {
        this.emit("connect", connection)
      }
    }
  }
