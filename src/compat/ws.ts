/**
 * The `ws` and `wss` transport modules of the facade: JSTP over WebSocket
 * (one message per text frame, subprotocol `metarhia-jstp`).
 * `createServer(options, [webSocketOptions], [listener])` returns a real
 * `http.Server` (`https.Server` for wss) that answers plain HTTP requests
 * with 400 and refuses upgrades without the subprotocol or from an origin
 * `webSocketOptions.originCheckStrategy(origin)` refuses.
 * `connect(app, client, webSocketConfig, url, callback)`.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Duplex } from "node:stream"
import { WebSocketServer } from "ws"
import * as WebSocketLink from "../transport/WebSocketLink.js"
import { offersProtocol, refuse } from "../transport/WebSocketListener.js"
import { MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import type { Application } from "./Application.js"
import type { Connection } from "./Connection.js"
import { type JstpServer, type ServerOptions, withJstp } from "./Server.js"
import { makeClient, type Open } from "./streamTransport.js"
import { WebSocketTransport } from "./Transport.js"

/**
 * What `createServer` takes besides the JSTP options.
 *
 * @since 0.1.0
 */
export interface WebSocketOptions {
  /** Whether a connection from `origin` is accepted (default: all). */
  readonly originCheckStrategy?: (origin: string | undefined) => boolean
}

// The WebSocket half of a JSTP server over an http(s).Server.
const serveWebSocket = (server: http.Server & JstpServer, options: WebSocketOptions) => {
  const originAllowed = options.originCheckStrategy ?? (() => true)
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_SIZE })
  server.on("request", (_request: http.IncomingMessage, response: http.ServerResponse) => {
    response.writeHead(400)
    response.end()
  })
  server.on("upgrade", (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!offersProtocol(request)) return refuse(socket, "400 Bad Request")
    if (!originAllowed(request.headers.origin)) return refuse(socket, "403 Forbidden")
    sockets.handleUpgrade(request, socket, head, (webSocket) => {
      server.handleLink((handlers) => WebSocketLink.make(webSocket, handlers, request.socket.remoteAddress))
    })
  })
  server.on("close", () => sockets.close())
}

/**
 * An `http.Server` that serves JSTP over WebSocket.
 *
 * @since 0.1.0
 */
export class Server extends withJstp(http.Server) {
  constructor(options: ServerOptions, webSocketOptions: WebSocketOptions = {}, listener?: (connection: Connection) => void) {
    super()
    this.initJstp(options, listener)
    serveWebSocket(this, webSocketOptions)
  }
}

/**
 * An `https.Server` that serves JSTP over secure WebSocket.
 *
 * @since 0.1.0
 */
export class SecureServer extends withJstp(https.Server) {
  constructor(
    options: ServerOptions & https.ServerOptions,
    webSocketOptions: WebSocketOptions = {},
    listener?: (connection: Connection) => void
  ) {
    super(options)
    this.initJstp(options, listener)
    serveWebSocket(this, webSocketOptions)
  }
}

const normalize = (options: ServerOptions | ReadonlyArray<Application>): ServerOptions =>
  Array.isArray(options) ? { applications: options } : options as ServerOptions

// Dials `url` with the subprotocol; `webSocketConfig` goes to the ws client.
const open: Open = ([config, url], callback) =>
  WebSocketLink.open(String(url), config as object | undefined, undefined, callback)

const client = makeClient("ws", open)

/**
 * The `ws` module: `createServer`, `connect`, `connectAndInspect`, `reconnect`.
 *
 * @since 0.1.0
 */
export const ws = {
  Transport: WebSocketTransport,
  Server,
  createServer: (
    options: ServerOptions | ReadonlyArray<Application>,
    webSocketOptions?: WebSocketOptions,
    listener?: (connection: Connection) => void
  ): Server => new Server(normalize(options), webSocketOptions, listener),
  connect: client.connect,
  connectAndInspect: client.connectAndInspect,
  reconnect: client.reconnect
}

/**
 * The `wss` module: as `ws`, with an `https.Server` (its TLS options in `options`).
 *
 * @since 0.1.0
 */
export const wss = {
  Transport: WebSocketTransport,
  Server: SecureServer,
  createServer: (
    options: ServerOptions & https.ServerOptions,
    webSocketOptions?: WebSocketOptions,
    listener?: (connection: Connection) => void
  ): SecureServer => new SecureServer(options, webSocketOptions, listener),
  connect: client.connect,
  connectAndInspect: client.connectAndInspect,
  reconnect: client.reconnect
}
