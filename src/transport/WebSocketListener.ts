/**
 * A WebSocket listener on Node (the `ws` package), on an http(s) server of
 * its own or attached to the caller's. Upgrades without the `metarhia-jstp`
 * subprotocol get 400 and origins refused by `originCheck` get 403; a plain
 * HTTP request to a server of its own gets 400. Closing the scope closes
 * every connection with 1001 (going away).
 *
 * @since 0.1.0
 */
import { Effect, FiberSet, type Scope } from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import type * as Net from "node:net"
import type { Duplex } from "node:stream"
import { type WebSocket, WebSocketServer } from "ws"
import { MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import { listenError, type WebSocketAddress } from "./Address.js"
import type { LinkOptions } from "./CallbackLink.js"
import { fromSocketLink, scoped, type TransportError } from "./Link.js"
import type { Accepted, Listener } from "./Net.js"
import * as WebSocketLink from "./WebSocketLink.js"
import { CloseCode, PROTOCOL } from "./WebSocketProtocol.js"

const GRACE_MILLIS = 1000

/**
 * Answers an upgrade request with `status` and closes it.
 *
 * @since 0.1.0
 */
export const refuse = (socket: Duplex, status: string): void => {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}

/**
 * Whether an upgrade request offers the `metarhia-jstp` subprotocol.
 *
 * @since 0.1.0
 */
export const offersProtocol = (request: Http.IncomingMessage): boolean =>
  (request.headers["sec-websocket-protocol"] ?? "").split(",").some((name) => name.trim() === PROTOCOL)

const pathOf = (request: Http.IncomingMessage) => {
  const url = request.url ?? "/"
  const query = url.indexOf("?")
  return query === -1 ? url : url.slice(0, query)
}

// An http(s) server of our own, listening; closed with the scope.
const ownServer = (address: WebSocketAddress) =>
  Effect.acquireRelease(
    Effect.async<Http.Server, TransportError>((resume) => {
      const server: Http.Server = address.tls === undefined ? Http.createServer() : Https.createServer(address.tls)
      const onError = (cause: Error) => resume(Effect.fail(listenError(address, cause)))
      server.once("error", onError)
      server.on("request", (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
        response.writeHead(400, { "Content-Type": "text/plain" })
        response.end("This is a JSTP WebSocket endpoint (subprotocol metarhia-jstp)\n")
      })
      server.listen(address.port, address.host, () => {
        server.off("error", onError)
        resume(Effect.succeed(server))
      })
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/**
 * Listens on `address`; closing the scope stops it.
 *
 * @since 0.1.0
 */
export const listen = (
  address: WebSocketAddress,
  options?: LinkOptions
): Effect.Effect<Listener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const server: Http.Server | Https.Server = address.server ?? (yield* ownServer(address))
    const sockets = new WebSocketServer({
      noServer: true,
      maxPayload: options?.maxMessageSize ?? MAX_MESSAGE_SIZE,
      handleProtocols: (offered) => offered.has(PROTOCOL) ? PROTOCOL : false
    })
    const originAllowed = address.originCheck ?? (() => true)
    const info = server.address()
    const bound = typeof info === "object" && info !== null ? info as Net.AddressInfo : undefined

    const run = <A, E, R>(handler: (accepted: Accepted) => Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.gen(function*() {
        const fork = yield* FiberSet.makeRuntime<R>()
        const serve = (webSocket: WebSocket, remoteAddress: string | undefined) =>
          fork(handler({ remoteAddress, open: (linkOptions) =>
            scoped(Effect.sync(() =>
              fromSocketLink((handlers) => WebSocketLink.make(webSocket, handlers, remoteAddress, linkOptions))
            ))
        }).pipe(
            Effect.catchAllCause(() => Effect.void)
          ))
        const onUpgrade = (request: Http.IncomingMessage, socket: Duplex, head: Buffer) => {
          // Another path of an attached server belongs to its owner.
          if (address.path !== undefined && pathOf(request) !== address.path) {
            if (address.server === undefined) refuse(socket, "404 Not Found")
            return
          }
          if (!offersProtocol(request)) return refuse(socket, "400 Bad Request")
          if (!originAllowed(request.headers.origin)) return refuse(socket, "403 Forbidden")
          sockets.handleUpgrade(request, socket, head, (webSocket) => serve(webSocket, request.socket.remoteAddress))
        }
        server.on("upgrade", onUpgrade)
        // Runs before the connections' fibers are interrupted: they go with 1001.
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            server.off("upgrade", onUpgrade)
            for (const client of sockets.clients) client.close(CloseCode.GoingAway, "Server closing")
            // A peer that does not answer the close is cut off.
            setTimeout(() => {
              for (const client of sockets.clients) client.terminate()
            }, GRACE_MILLIS).unref()
          })
        )
        return yield* Effect.never
      }))

    // The bound address, without the server's key and certificate.
    const secure = address.secure === true || address.tls !== undefined || server instanceof Https.Server
    return {
      address: { _tag: "WebSocket", host: bound?.address ?? address.host, port: bound?.port ?? address.port, path: address.path, secure },
      run
    } satisfies Listener
  })
