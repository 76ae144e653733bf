/**
 * The built-in transports of 2.x as objects of the Transport interface
 * (`jstp.net.Transport`, `jstp.tls.Transport`, `jstp.ws.Transport`): an
 * EventEmitter over an open socket that emits each received message, parsed,
 * as `'message'`, then `'close'` (after `'error'` if it failed). A
 * `Connection` takes one, or a transport of your own with the same
 * interface (see `transport/TransportLink.ts`).
 *
 * @since 0.1.0
 */
import { EventEmitter } from "node:events"
import type { Duplex } from "node:stream"
import type { WebSocket } from "ws"
import type { Handlers, SocketLink } from "../transport/CallbackLink.js"
import * as Sockets from "../transport/SocketLink.js"
import type { Transport } from "../transport/TransportLink.js"
import * as WebSocketLink from "../transport/WebSocketLink.js"
import * as Serde from "../wire/Serde.js"

abstract class LinkTransport<S> extends EventEmitter implements Transport {
  private readonly link: SocketLink

  constructor(private readonly raw: S, makeLink: (handlers: Handlers) => SocketLink) {
    super()
    // A message that does not parse fails the link (as 2.x destroys the socket).
    this.link = makeLink({
      onFrame: (text) => void this.emit("message", Serde.parse(text)),
      onClose: (error) => {
        if (error !== undefined) this.emit("error", error)
        this.emit("close")
      }
    })
  }

  getRawTransport(): S {
    return this.raw
  }

  send(data: string): void {
    this.link.send(data)
  }

  end(data?: string): void {
    if (data !== undefined) this.link.send(data)
    this.link.close()
  }
}

/**
 * A Transport over an open stream socket (`net.Socket`, `tls.TLSSocket`):
 * NUL-terminated messages.
 *
 * @since 0.1.0
 */
export class SocketTransport extends LinkTransport<Duplex> {
  constructor(socket: Duplex) {
    super(socket, (handlers) => Sockets.make(socket, handlers, { pausesReading: false }))
  }
}

/**
 * A Transport over an open `ws` WebSocket: a message per text frame.
 *
 * @since 0.1.0
 */
export class WebSocketTransport extends LinkTransport<WebSocket> {
  constructor(socket: WebSocket) {
    const remote = (socket as unknown as { _socket?: { remoteAddress?: string } })._socket?.remoteAddress
    super(socket, (handlers) => WebSocketLink.make(socket, handlers, remote, { pausesReading: false }))
  }
}
