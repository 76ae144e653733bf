/**
 * The `tls` transport module of the facade. `createServer` returns a real
 * `tls.Server` that is also a JSTP server (Node's TLS options, `key`,
 * `cert`, ..., are passed through); `connect`, `connectAndInspect` and
 * `reconnect` take `tls.connect`'s arguments.
 *
 * @since 0.1.0
 */
import * as tls from "node:tls"
import type { Application } from "./Application.js"
import type { Connection } from "./Connection.js"
import { type ServerOptions, withJstp } from "./Server.js"
import { makeClient, streamOpen } from "./streamTransport.js"
import { SocketTransport } from "./Transport.js"

/**
 * The Transport of 2.x over an open TLS socket (as `net.Transport`).
 *
 * @since 0.1.0
 */
export const Transport = SocketTransport

/**
 * A `tls.Server` that serves JSTP.
 *
 * @since 0.1.0
 */
export class Server extends withJstp(tls.Server) {
  constructor(options: ServerOptions & tls.TlsOptions, listener?: (connection: Connection) => void) {
    super(options)
    this.initJstp(options, listener)
    this.on("secureConnection", (socket: tls.TLSSocket) => {
      socket.setNoDelay(true)
      this.handleSocket(socket)
    })
  }
}

/**
 * `createServer(options, [listener])`: options carry the applications and
 * Node's TLS options.
 *
 * @since 0.1.0
 */
export const createServer = (
  options: (ServerOptions & tls.TlsOptions) | ReadonlyArray<Application>,
  listener?: (connection: Connection) => void
): Server => new Server(Array.isArray(options) ? { applications: options } : options as ServerOptions, listener)

const client = makeClient("tls", streamOpen({
  connect: (args) => ({ socket: (tls.connect as (...args: Array<unknown>) => tls.TLSSocket)(...args) }),
  ready: "secureConnect"
}))

/**
 * `connect(app, client | null, ...tlsConnectArgs, callback(error, connection, session))`.
 *
 * @since 0.1.0
 */
export const connect = client.connect

/**
 * `connectAndInspect(app, client | null, interfaces, ...tlsConnectArgs,
 * callback(error, connection, proxies))`.
 *
 * @since 0.1.0
 */
export const connectAndInspect = client.connectAndInspect

/**
 * `reconnect(connection, ...tlsConnectArgs, callback(error, connection))`.
 *
 * @since 0.1.0
 */
export const reconnect = client.reconnect
