/**
 * What the stream transports of the facade (net, tls) share: opening a
 * socket, the connect policy, `connect`, `connectAndInspect`, `reconnect`,
 * and the 2.x default reconnector.
 *
 * @since 0.1.0
 */
import type * as net from "node:net"
import * as SocketLink from "../transport/SocketLink.js"
import { Application } from "./Application.js"
import { type AppSpec, type Callback, type Client, Connection, transports } from "./Connection.js"
import type { RemoteProxy } from "./RemoteProxy.js"
import { SimpleConnectPolicy } from "./SimpleConnectPolicy.js"

const DEFAULT_BACKOFF = 1000
const MAX_BACKOFF = 32000

/**
 * The reconnector of 2.x: after a drop, wait `backoff + random(0..1000)` ms
 * and reconnect; the backoff starts at 1 s, doubles after each failure up to
 * 32 s, and resets after a success. Nothing after `connection.close()`.
 *
 * @since 0.1.0
 */
export const createDefaultReconnector = (): NonNullable<Client["reconnector"]> => {
  let backoff = DEFAULT_BACKOFF
  return (connection, reconnect) => {
    setTimeout(() => {
      if (connection.closedIntentionally) return
      reconnect((error: Error | null) => {
        backoff = error === null ? DEFAULT_BACKOFF : Math.min(backoff * 2, MAX_BACKOFF)
      })
    }, backoff + Math.floor(Math.random() * 1001))
  }
}

const connectionCallbackOf = (args: Array<unknown>): Callback => {
  const callback = args[args.length - 1]
  if (typeof callback !== "function") throw new TypeError("The last argument must be a callback")
  args.pop()
  return callback as Callback
}

/**
 * A socket a transport opened, and its reads if they come through `onread`.
 *
 * @since 0.1.0
 */
export interface Opened {
  readonly socket: net.Socket
  readonly reads?: SocketLink.DirectReads | undefined
}

/**
 * How a transport opens a socket: its `connect` (given the transport's
 * connect arguments) and the event that says the socket is ready (`connect`
 * for net, `secureConnect` for tls).
 *
 * @since 0.1.0
 */
export interface Opener {
  readonly connect: (args: Array<unknown>) => Opened
  readonly ready: "connect" | "secureConnect"
}

// Opens a socket with the transport's connect arguments; errors, including
// those connect throws at once, reach `callback` once, asynchronously.
const openSocket = (
  opener: Opener,
  args: Array<unknown>,
  callback: (error: Error | null, opened?: Opened) => void
): void => {
  let opened: Opened
  try {
    opened = opener.connect(args)
  } catch (error) {
    process.nextTick(callback, error instanceof Error ? error : new Error(String(error)))
    return
  }
  const socket = opened.socket
  const onError = (error: Error) => callback(error)
  socket.once("error", onError)
  socket.once(opener.ready, () => {
    socket.off("error", onError)
    socket.setNoDelay(true)
    callback(null, opened)
  })
}

/**
 * How a transport opens a link: with its connect arguments, calling back with
 * a maker of the link (given the handlers of the connection it will feed).
 *
 * @since 0.1.0
 */
export type Open = (
  args: Array<unknown>,
  callback: (error: Error | null, makeLink?: (handlers: SocketLink.Handlers) => SocketLink.SocketLink) => void
) => void

/**
 * `Open` for a stream socket transport (net, tls).
 *
 * @since 0.1.0
 */
export const streamOpen = (opener: Opener): Open => (args, callback) =>
  openSocket(opener, args, (error, opened) =>
    error !== null || opened === undefined
      ? callback(error)
      : callback(null, (handlers) => SocketLink.make(opened.socket, handlers, { reads: opened.reads, pausesReading: false })))

const linkOf = (
  makeLink: (handlers: SocketLink.Handlers) => SocketLink.SocketLink,
  target: () => Connection
): SocketLink.SocketLink => {
  const link: SocketLink.SocketLink = makeLink({
    onFrame: (text) => target()._receive(text),
    onClose: (error) => target()._linkClosed(link, error)
  })
  return link
}

const connectPolicyOf = (client: Client) => {
  const policy = client.connectPolicy
  if (policy === undefined || policy === null) {
    const simple = new SimpleConnectPolicy()
    return simple.connect.bind(simple)
  }
  return typeof policy === "object" ? policy.connect.bind(policy) : policy
}

/**
 * The client functions of a stream transport module: `connect`,
 * `connectAndInspect` and `reconnect`, taking the transport's connect
 * arguments. The transport is registered under `name` for `reconnectFn`.
 *
 * @since 0.1.0
 */
export const makeClient = (name: string, open: Open) => {
  /**
   * `connect(app, client | null, ...netConnectArgs, callback(error, connection, session))`.
   *
   * @since 0.1.0
   */
  const connect = (app: AppSpec, client: Client | null, ...args: Array<unknown>): void => {
    const callback = connectionCallbackOf(args)
    const theClient: Client = client ?? {}
    theClient.application ??= new Application("jstp", {})
    theClient.reconnector ??= createDefaultReconnector()
    theClient._connectionOptions = args
    theClient._connectionTransport = name
    let called = false
    const once: Callback = (error, ...rest) => {
      if (called) return
      called = true
      callback(error, ...rest)
    }
    open(args, (error, makeLink) => {
      if (error !== null || makeLink === undefined) return once(error)
      const connection: Connection = new Connection(linkOf(makeLink, () => connection), null, theClient)
      const onError = (failure: Error) => once(failure)
      connection.once("error", onError)
      connectPolicyOf(theClient)(app, connection, theClient.session, (failure, ...rest) => {
        connection.off("error", onError)
        connection._serverApp = app
        if (failure !== null) return once(failure, connection)
        if (theClient.heartbeatInterval !== undefined) connection.startHeartbeat(theClient.heartbeatInterval)
        once(null, connection, ...rest.slice(1))
      })
    })
  }

  /**
   * `connectAndInspect(app, client | null, interfaces, ...netConnectArgs,
   * callback(error, connection, proxies))`; on an inspect failure the callback
   * still gets the usable connection.
   *
   * @since 0.1.0
   */
  const connectAndInspect = (
    app: AppSpec,
    client: Client | null,
    interfaces: ReadonlyArray<string>,
    ...args: Array<unknown>
  ): void => {
    const callback = connectionCallbackOf(args)
    connect(app, client, ...args, (error: Error | null, connection?: unknown) => {
      if (error !== null) return callback(error, connection)
      const theConnection = connection as Connection
      const proxies: Record<string, RemoteProxy> = Object.create(null)
      if (interfaces.length === 0) return callback(null, theConnection, proxies)
      let pending = interfaces.length
      let failed = false
      for (const name of interfaces) {
        theConnection.inspectInterface(name, (failure, proxy) => {
          if (failed) return
          if (failure !== null) {
            failed = true
            return callback(failure, theConnection)
          }
          proxies[name] = proxy!
          if (--pending === 0) callback(null, theConnection, proxies)
        })
      }
    })
  }

  /**
   * `reconnect(connection, ...netConnectArgs, callback(error, connection))`:
   * the same connection and session over a new socket.
   *
   * @since 0.1.0
   */
  const reconnect = (connection: Connection, ...args: Array<unknown>): void => {
    const callback = connectionCallbackOf(args)
    open(args, (error, makeLink) => {
      if (error !== null || makeLink === undefined) return callback(error)
      connection._initTransport(linkOf(makeLink, () => connection))
      const client = connection.client ?? {}
      connectPolicyOf(client)(connection._serverApp ?? "", connection, connection.session ?? undefined, (failure) => {
        if (failure !== null) return callback(failure, connection)
        if (client.heartbeatInterval !== undefined) connection.startHeartbeat(client.heartbeatInterval)
        callback(null, connection)
      })
    })
  }

  transports.set(name, { reconnect })
  return { connect, connectAndInspect, reconnect }
}
