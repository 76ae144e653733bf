/**
 * TCP and Unix domain socket transports, over `@effect/platform-node`.
 *
 * @since 0.1.0
 */
import { NodeSocket, NodeSocketServer } from "@effect/platform-node"
import type { Socket, SocketServer } from "@effect/platform"
import { Effect, type Scope } from "effect"
import type * as Net from "node:net"
import { TransportError } from "./Framed.js"

/**
 * Where to listen or dial.
 *
 * @since 0.1.0
 */
export type Address =
  | { readonly _tag: "Tcp"; readonly host?: string | undefined; readonly port: number }
  | { readonly _tag: "Unix"; readonly path: string }

/**
 * An address for messages and `remoteAddress`.
 *
 * @since 0.1.0
 */
export const describe = (address: Address): string =>
  address._tag === "Tcp" ? `${address.host ?? "localhost"}:${address.port}` : address.path

// Small messages must not wait for Nagle's algorithm (with delayed ACKs, up
// to 40 ms per request/answer).
const netOptions = (address: Address) =>
  address._tag === "Tcp"
    ? { host: address.host ?? "localhost", port: address.port, noDelay: true }
    : { path: address.path }

/**
 * A socket that dials `address` when it is run.
 *
 * @since 0.1.0
 */
export const dial = (address: Address): Effect.Effect<Socket.Socket> =>
  NodeSocket.makeNet(netOptions(address)).pipe(Effect.orDie)

/**
 * A listening server; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const listen = (
  address: Address
): Effect.Effect<SocketServer.SocketServer["Type"], TransportError, Scope.Scope> =>
  NodeSocketServer.make(
    address._tag === "Tcp" ? { host: address.host, port: address.port, noDelay: true } : { path: address.path }
  )
    .pipe(
      Effect.mapError((error) =>
        new TransportError({ reason: "Open", message: `Cannot listen on ${describe(address)}: ${String(error.cause)}`, cause: error })
      )
    )

/**
 * The remote address of a connection accepted by `listen`'s handler (the
 * platform provides its Node socket to the handler).
 *
 * @since 0.1.0
 */
export const acceptedRemoteAddress: Effect.Effect<string | undefined> = Effect.map(
  Effect.serviceOption(NodeSocket.NetSocket),
  (socket) => socket._tag === "Some" ? (socket.value as Net.Socket).remoteAddress : undefined
)
