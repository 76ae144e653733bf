/**
 * A WebSocket (the `ws` package's, on Node) as a link: one message per text
 * frame, no terminator (protocol.md §2). Callback-driven, for the facade.
 *
 * @since 0.1.0
 */
import type { RawData, WebSocket } from "ws"
import type { Handlers, SocketLink } from "./SocketLink.js"

/**
 * The subprotocol JSTP peers agree on.
 *
 * @since 0.1.0
 */
export const PROTOCOL = "metarhia-jstp"

class WebSocketLinkImpl implements SocketLink {
  private closed = false
  private failure: Error | undefined = undefined

  constructor(
    readonly socket: WebSocket,
    private readonly handlers: Handlers,
    readonly remoteAddress: string | undefined
  ) {
    this.onMessage = this.onMessage.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
    socket.on("message", this.onMessage)
    socket.on("error", this.onError)
    socket.on("close", this.onClose)
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

  detach(): void {
    this.socket.off("message", this.onMessage)
    this.socket.off("error", this.onError)
    this.socket.off("close", this.onClose)
  }

  destroy(error?: Error): void {
    this.failure ??= error
    this.socket.terminate()
  }

  private onMessage(data: RawData): void {
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data as ArrayBuffer).toString("utf8")
    try {
      this.handlers.onFrame(text)
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error))
      this.socket.terminate()
    }
  }

  private onError(error: Error): void {
    this.failure ??= error
  }

  private onClose(): void {
    this.closed = true
    this.detach()
    this.handlers.onClose(this.failure)
  }
}

/**
 * Links `socket`, already open, reporting frames and the close to `handlers`.
 *
 * @since 0.1.0
 */
export const make = (socket: WebSocket, handlers: Handlers, remoteAddress: string | undefined): SocketLink =>
  new WebSocketLinkImpl(socket, handlers, remoteAddress)
