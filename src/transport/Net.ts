/**
 * The Node transports: TCP and Unix domain sockets (`node:net`), TLS
 * (`node:tls`) and WebSocket (the `ws` package), for the Effect API. Every
 * link is a callback link (`SocketLink`, `WebSocketLink`), the facade's own:
 * Effect opens, supervises and closes links as scoped resources, and runs
 * nothing per message.
 *
 * @since 0.1.0
 */
import { Effect, FiberSet, type Scope } from "effect"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { type Address, type DialAddress, listenError, webSocketUrl } from "./Address.js"
import type { LinkOptions } from "./CallbackLink.js"
import { dial, dialTransport, type FramedLink, fromSocketLink, openError, scoped, type TransportError } from "./Link.js"
import * as SocketLink from "./SocketLink.js"
import * as WebSocketLink from "./WebSocketLink.js"
import * as WebSocketListener from "./WebSocketListener.js"

export {
  /** @since 0.1.0 */
  type Address,
  /** @since 0.1.0 */
  describe,
  /** @since 0.1.0 */
  type DialAddress,
  /** @since 0.1.0 */
  type TransportAddress,
  /** @since 0.1.0 */
  type WebSocketAddress
} from "./Address.js"

export {
  /** @since 0.1.0 */
  type Transport
} from "./TransportLink.js"

/**
 * A listening transport: where it listens, and a way to serve its connections.
 *
 * @since 0.1.0
 */
export interface Listener {
  /** The bound address (port 0 is replaced by the port the system chose). */
  readonly address: Address
  /** Serves every connection with `handler`, until interrupted. */
  readonly run: <A, E, R>(handler: (accepted: Accepted) => Effect.Effect<A, E, R>) => Effect.Effect<never, unknown, R>
}

/**
 * A connection a listener accepted.
 *
 * @since 0.1.0
 */
export interface Accepted {
  readonly remoteAddress: string | undefined
  /** Its link; closing the scope closes the connection. */
  readonly open: (options?: LinkOptions) => Effect.Effect<FramedLink, never, Scope.Scope>
}

type StreamAddress = Exclude<Address, { _tag: "WebSocket" }>

// Dials a stream socket. Small messages do not wait for Nagle's algorithm
// (with delayed ACKs, up to 40 ms per answer). A plain socket is read
// through `onread`, past the stream machinery.
const dialStream = (address: StreamAddress, options: LinkOptions | undefined) =>
  Effect.async<FramedLink, TransportError>((resume) => {
    const reads = address._tag === "Tls" ? undefined : new SocketLink.DirectReads()
    const socket: Net.Socket = address._tag === "Tls"
      ? Tls.connect({ ...address.tls, host: address.host ?? "localhost", port: address.port })
      : address._tag === "Tcp"
      ? Net.connect({ host: address.host ?? "localhost", port: address.port, noDelay: true, onread: reads!.onread })
      : Net.connect({ path: address.path, onread: reads!.onread })
    let opened = false
    // Kept for the socket's life: a later error (a reset after a refused
    // certificate) must not be an unhandled 'error' event.
    socket.on("error", (cause) => {
      if (!opened) resume(Effect.fail(openError(cause)))
    })
    socket.once(address._tag === "Tls" ? "secureConnect" : "connect", () => {
      opened = true
      socket.setNoDelay(true)
      resume(Effect.succeed(fromSocketLink((handlers) => SocketLink.make(socket, handlers, { ...options, reads, pausesReading: false }))))
    })
    return Effect.sync(() => socket.destroy())
  })

const dialWebSocket = (address: Extract<Address, { _tag: "WebSocket" }>, options: LinkOptions | undefined) =>
  dial((callback) => WebSocketLink.open(webSocketUrl(address), address.tls, options, callback))

/**
 * A link to `address`, open once the transport is connected (and, for TLS,
 * secured; for WebSocket, upgraded); fails with reason `Open` if it cannot
 * be. Closing the scope closes the link.
 *
 * @since 0.1.0
 */
export const open = (address: DialAddress, options?: LinkOptions): Effect.Effect<FramedLink, TransportError, Scope.Scope> =>
  scoped(
    address._tag === "WebSocket"
      ? dialWebSocket(address, options)
      : address._tag === "Transport"
      ? dialTransport(address)
      : dialStream(address, options)
  )

const accepted = (socket: Net.Socket): Accepted => ({
  remoteAddress: socket.remoteAddress,
  open: (options) => scoped(Effect.sync(() => fromSocketLink((handlers) => SocketLink.make(socket, handlers, options))))
})

const listenStream = (address: StreamAddress): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.async<Net.Server, TransportError>((resume) => {
        const server = address._tag === "Tls" ? Tls.createServer({ ...address.tls }) : Net.createServer()
        const onError = (cause: Error) => resume(Effect.fail(listenError(address, cause)))
        server.once("error", onError)
        const onListening = () => {
          server.off("error", onError)
          resume(Effect.succeed(server))
        }
        if (address._tag === "Unix") server.listen(address.path, onListening)
        else server.listen(address.port, address.host, onListening)
      }),
      (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
    )
    const connectionEvent = address._tag === "Tls" ? "secureConnection" : "connection"
    const run = <A, E, R>(handler: (accepted: Accepted) => Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.gen(function*() {
        const fork = yield* FiberSet.makeRuntime<R>()
        const onConnection = (socket: Net.Socket) => {
          if (address._tag !== "Unix") socket.setNoDelay(true)
          // Errors before the handler reads are reported by its read; none escapes.
          socket.on("error", () => {})
          fork(Effect.catchAllCause(handler(accepted(socket)), () => Effect.void))
        }
        server.on(connectionEvent, onConnection)
        yield* Effect.addFinalizer(() => Effect.sync(() => server.off(connectionEvent, onConnection)))
        return yield* Effect.never
      }))
    const bound = server.address()
    // The bound address, without the server's key and certificate.
    const listening: Address = typeof bound === "string" || bound === null
      ? { _tag: "Unix", path: address._tag === "Unix" ? address.path : String(bound) }
      : { _tag: address._tag === "Tls" ? "Tls" : "Tcp", host: bound.address, port: bound.port }
    return { address: listening, run } satisfies Listener
  })

/**
 * A listening server; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const listen = (address: Address, options?: LinkOptions): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  address._tag === "WebSocket" ? WebSocketListener.listen(address, options) : listenStream(address)
