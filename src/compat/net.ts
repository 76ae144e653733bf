/**
 * The `net` transport module of the facade: TCP and Unix sockets.
 * `createServer` returns a real `net.Server` that is also a JSTP server;
 * `connect`, `connectAndInspect` and `reconnect` take `net.connect`'s
 * arguments.
 *
 * @since 0.1.0
 */
import * as net from "node:net"
import * as SocketLink from "../transport/SocketLink.js"
import { connectOptions } from "./connectOptions.js"
import type { Application } from "./Application.js"
import type { Connection } from "./Connection.js"
import { type ServerOptions, withJstp } from "./Server.js"
import { createDefaultReconnector, makeClient, streamOpen } from "./streamTransport.js"
import { SocketTransport } from "./Transport.js"

export { createDefaultReconnector }

/**
 * The Transport of 2.x over an open socket: `new jstp.Connection(new
 * jstp.net.Transport(socket), null, client)`.
 *
 * @since 0.1.0
 */
export const Transport = SocketTransport

/**
 * A `net.Server` that serves JSTP.
 *
 * @since 0.1.0
 */
export class Server extends withJstp(net.Server) {
  constructor(options: ServerOptions & net.ServerOpts, listener?: (connection: Connection) => void) {
    super(options)
    this.initJstp(options, listener)
    this.on("connection", (socket: net.Socket) => {
      // Small messages must not wait for Nagle's algorithm.
      socket.setNoDelay(true)
      this.handleSocket(socket)
    })
  }
}

/**
 * `createServer(options | applications, [listener])`.
 *
 * @since 0.1.0
 */
export const createServer = (
  options: (ServerOptions & net.ServerOpts) | ReadonlyArray<Application>,
  listener?: (connection: Connection) => void
): Server => new Server(Array.isArray(options) ? { applications: options } : options as ServerOptions, listener)

const client = makeClient("net", streamOpen({
  // Reads go straight to the link (see SocketLink.DirectReads).
  connect: (args) => {
    const reads = new SocketLink.DirectReads()
    const listener = args[args.length - 1]
    const socket = net.connect(connectOptions(args, reads.onread), typeof listener === "function" ? listener as () => void : undefined)
    return { socket, reads }
  },
  ready: "connect"
}))

/**
 * `connect(app, client | null, ...netConnectArgs, callback(error, connection, session))`.
 *
 * @since 0.1.0
 */
export const connect = client.connect

/**
 * `connectAndInspect(app, client | null, interfaces, ...netConnectArgs,
 * callback(error, connection, proxies))`; on an inspect failure the callback
 * still gets the usable connection.
 *
 * @since 0.1.0
 */
export const connectAndInspect = client.connectAndInspect

/**
 * `reconnect(connection, ...netConnectArgs, callback(error, connection))`:
 * the same connection and session over a new socket.
 *
 * @since 0.1.0
 */
export const reconnect = client.reconnect
