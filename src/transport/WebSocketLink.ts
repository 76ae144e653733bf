/**
 * A WebSocket (the `ws` package's, on Node) as a link: one message per text
 * frame, no terminator (protocol.md §2). Callback-driven, for the facade.
 *
 * @since 0.1.0
 */
import type { RawData, WebSocket } from "ws"
import { CallbackLink, type Handlers, type SocketLink } from "./SocketLink.js"

export {
  /** @since 0.1.0 */
  PROTOCOL
} from "./WebSocketChannel.js"

class WebSocketLinkImpl extends CallbackLink<WebSocket> {
  constructor(socket: WebSocket, handlers: Handlers, remoteAddress: string | undefined) {
    super(socket, handlers, remoteAddress, "message")
    this.start()
  }

  send(text: string): void {
    if (this.closed) return
    this.socket.send(text)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.close(1000)
  }

  protected receive(data: unknown): void {
    const raw = data as RawData
    this.handlers.onFrame(
      Array.isArray(raw) ? Buffer.concat(raw).toString("utf8") : Buffer.from(raw as ArrayBuffer).toString("utf8")
    )
  }

  protected abort(): void {
    this.socket.terminate()
  }
}

/**
 * Links `socket`, already open, reporting frames and the close to `handlers`.
 *
 * @since 0.1.0
 */
export const make = (socket: WebSocket, handlers: Handlers, remoteAddress: string | undefined): SocketLink =>
  new WebSocketLinkImpl(socket, handlers, remoteAddress)
