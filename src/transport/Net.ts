/**
 * The Node transports: TCP, TLS and Unix domain sockets over
 * `@effect/platform-node` (there is no TLS constructor there: TLS sockets
 * are wrapped with `NodeSocket.fromDuplex`, and a TLS server is made here),
 * and WebSocket over the `ws` package.
 *
 * @since 0.1.0
 */
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { Socket } from "@effect/platform"
import { Effect, FiberSet, type Scope } from "effect"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { WebSocket } from "ws"
import { type Address, listenError, webSocketUrl } from "./Address.js"
import * as Framed from "./Framed.js"
import * as Framing from "../wire/Framing.js"
import type { FramedLink, LinkOptions, TransportError } from "./Link.js"
import * as WebSocketChannel from "./WebSocketChannel.js"
import * as WebSocketListener from "./WebSocketListener.js"

export {
  /** @since 0.1.0 */
  type Address,
  /** @since 0.1.0 */
  describe,
  /** @since 0.1.0 */
  type WebSocketAddress
} from "./Address.js"

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

// A socket that dials `address` when it is run. Small messages do not wait
// for Nagle's algorithm (with delayed ACKs, up to 40 ms per answer).
const dialSocket = (address: Exclude<Address, { _tag: "WebSocket" }>): Effect.Effect<Socket.Socket> => {
  switch (address._tag) {
    case "Tcp":
      return NodeSocket.makeNet({ host: address.host ?? "localhost", port: address.port, noDelay: true }).pipe(Effect.orDie)
    case "Unix":
      return NodeSocket.makeNet({ path: address.path }).pipe(Effect.orDie)
    case "Tls":
      return NodeSocket.fromDuplex(
        Effect.acquireRelease(
          Effect.async<Tls.TLSSocket, Socket.SocketError>((resume) => {
            const socket = Tls.connect({ ...address.tls, host: address.host ?? "localhost", port: address.port })
            let opened = false
            socket.once("secureConnect", () => {
              opened = true
              socket.setNoDelay(true)
              resume(Effect.succeed(socket))
            })
            // Kept for the socket's life: a later error (a reset after a
            // refused certificate) must not be an unhandled 'error' event.
            socket.on("error", (cause) => {
              if (!opened) resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
            })
          }),
          (socket) => Effect.sync(() => socket.destroy())
        )
      )
  }
}

/**
 * A link to `address`. It is dialled at once; a failure to reach the peer
 * is the failure of the link's `run`. Closing the scope closes the link.
 *
 * @since 0.1.0
 */
export const open = (address: Address, options?: LinkOptions): Effect.Effect<FramedLink, never, Scope.Scope> =>
  address._tag === "WebSocket"
    ? WebSocketChannel.make(
      () =>
        new WebSocket(webSocketUrl(address), WebSocketChannel.PROTOCOL, {
          ...address.tls,
          maxPayload: options?.maxMessageSize ?? Framing.MAX_MESSAGE_SIZE
        }),
      options
    )
    : Effect.flatMap(dialSocket(address), (socket) => Framed.make(socket, options))

const fromSocket = (socket: Socket.Socket, remoteAddress: string | undefined): Accepted => ({
  remoteAddress,
  open: (options) => Framed.make(socket, options)
})

const listenTls = (address: Extract<Address, { _tag: "Tls" }>): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.async<Tls.Server, TransportError>((resume) => {
        const server = Tls.createServer({ ...address.tls })
        const onError = (cause: Error) => resume(Effect.fail(listenError(address, cause)))
        server.once("error", onError)
        server.listen(address.port, address.host, () => {
          server.off("error", onError)
          resume(Effect.succeed(server))
        })
      }),
      (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
    )
    const bound = server.address() as Net.AddressInfo
    const run = <A, E, R>(handler: (accepted: Accepted) => Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.gen(function*() {
        const fork = yield* FiberSet.makeRuntime<R>()
        const onConnection = (connection: Tls.TLSSocket) => {
          connection.setNoDelay(true)
          // Errors before the handler reads are reported by its read; none escapes.
          connection.on("error", () => {})
          fork(
            NodeSocket.fromDuplex(
              Effect.acquireRelease(Effect.succeed(connection), (socket) => Effect.sync(() => socket.destroy()))
            ).pipe(
              Effect.flatMap((socket) => handler(fromSocket(socket, connection.remoteAddress))),
              Effect.catchAllCause(() => Effect.void)
            )
          )
        }
        server.on("secureConnection", onConnection)
        yield* Effect.addFinalizer(() => Effect.sync(() => server.off("secureConnection", onConnection)))
        return yield* Effect.never
      }))
    // The bound address, without the server's key and certificate.
    return { address: { _tag: "Tls", host: bound.address, port: bound.port }, run } satisfies Listener
  })

/**
 * A listening server; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const listen = (address: Address, options?: LinkOptions): Effect.Effect<Listener, TransportError, Scope.Scope> => {
  if (address._tag === "Tls") return listenTls(address)
  if (address._tag === "WebSocket") return WebSocketListener.listen(address, options)
  return NodeSocketServer.make(
    address._tag === "Tcp" ? { host: address.host, port: address.port, noDelay: true } : { path: address.path }
  ).pipe(
    Effect.mapError((error) => listenError(address, error.cause)),
    Effect.map((server): Listener => ({
      address: server.address._tag === "TcpAddress"
        ? { _tag: "Tcp", host: server.address.hostname, port: server.address.port }
        : { _tag: "Unix", path: server.address.path },
      run: (handler) =>
        server.run((socket) =>
          Effect.flatMap(
            Effect.serviceOption(NodeSocket.NetSocket),
            (net) => handler(fromSocket(socket, net._tag === "Some" ? (net.value as Net.Socket).remoteAddress : undefined))
          )
        )
    }))
  )
}
