/**
 * TCP, TLS and Unix domain socket transports, over `@effect/platform-node`
 * (there is no TLS constructor there: TLS sockets are wrapped with
 * `NodeSocket.fromDuplex`, and a TLS server is made here).
 *
 * @since 0.1.0
 */
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import { Socket } from "@effect/platform"
import { Effect, FiberSet, type Scope } from "effect"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { TransportError } from "./Framed.js"

/**
 * Where to listen or dial. `Tls` takes Node's TLS options: `key` and `cert`
 * to listen, `ca` (or `rejectUnauthorized`, `servername`, ...) to dial.
 *
 * @since 0.1.0
 */
export type Address =
  | { readonly _tag: "Tcp"; readonly host?: string | undefined; readonly port: number }
  | { readonly _tag: "Unix"; readonly path: string }
  | {
    readonly _tag: "Tls"
    readonly host?: string | undefined
    readonly port: number
    readonly tls?: Tls.ConnectionOptions & Tls.TlsOptions | undefined
  }

/**
 * A listening transport: where it listens, and a way to serve its connections.
 *
 * @since 0.1.0
 */
export interface Listener {
  /** The bound address (port 0 is replaced by the port the system chose). */
  readonly address: Address
  /** Serves every connection with `handler`, until interrupted. */
  readonly run: <A, E, R>(handler: (socket: Socket.Socket) => Effect.Effect<A, E, R>) => Effect.Effect<never, unknown, R>
}

/**
 * An address for messages and `remoteAddress`.
 *
 * @since 0.1.0
 */
export const describe = (address: Address): string =>
  address._tag === "Unix" ? address.path : `${address.host ?? "localhost"}:${address.port}`

const openError = (address: Address, cause: unknown) =>
  new TransportError({ reason: "Open", message: `Cannot listen on ${describe(address)}: ${String(cause)}`, cause })

/**
 * A socket that dials `address` when it is run. Small messages do not wait
 * for Nagle's algorithm (with delayed ACKs, up to 40 ms per answer).
 *
 * @since 0.1.0
 */
export const dial = (address: Address): Effect.Effect<Socket.Socket> => {
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

const listenTls = (address: Extract<Address, { _tag: "Tls" }>): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.async<Tls.Server, TransportError>((resume) => {
        const server = Tls.createServer({ ...address.tls })
        const onError = (cause: Error) => resume(Effect.fail(openError(address, cause)))
        server.once("error", onError)
        server.listen(address.port, address.host, () => {
          server.off("error", onError)
          resume(Effect.succeed(server))
        })
      }),
      (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
    )
    const bound = server.address() as Net.AddressInfo
    const run = <A, E, R>(handler: (socket: Socket.Socket) => Effect.Effect<A, E, R>) =>
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
              Effect.flatMap(handler),
              Effect.provideService(NodeSocket.NetSocket, connection),
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
export const listen = (address: Address): Effect.Effect<Listener, TransportError, Scope.Scope> => {
  if (address._tag === "Tls") return listenTls(address)
  return NodeSocketServer.make(
    address._tag === "Tcp" ? { host: address.host, port: address.port, noDelay: true } : { path: address.path }
  ).pipe(
    Effect.mapError((error) => openError(address, error.cause)),
    Effect.map((server): Listener => ({
      address: server.address._tag === "TcpAddress"
        ? { _tag: "Tcp", host: server.address.hostname, port: server.address.port }
        : { _tag: "Unix", path: server.address.path },
      run: server.run
    }))
  )
}

/**
 * The remote address of a connection accepted by `listen`'s handler (the
 * transport provides its Node socket to the handler).
 *
 * @since 0.1.0
 */
export const acceptedRemoteAddress: Effect.Effect<string | undefined> = Effect.map(
  Effect.serviceOption(NodeSocket.NetSocket),
  (socket) => socket._tag === "Some" ? (socket.value as Net.Socket).remoteAddress : undefined
)
