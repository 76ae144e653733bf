/**
 * A W3C `WebSocket` (a browser's) as a callback link, for the facade's
 * browser build: one message per text frame, no terminator (protocol.md §2).
 *
 * @since 0.1.0
 */
import type { Handlers, SocketLink } from "./SocketLink.js"
import { CloseCode, PROTOCOL } from "./WebSocketChannel.js"

const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true })

class W3cWebSocketLink implements SocketLink {
  private closed = false
  private failure: Error | undefined = undefined

  constructor(readonly socket: WebSocket, private readonly handlers: Handlers, readonly remoteAddress: string | undefined) {
    socket.binaryType = "arraybuffer"
    this.onMessage = this.onMessage.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
    socket.addEventListener("message", this.onMessage)
    socket.addEventListener("error", this.onError)
    socket.addEventListener("close", this.onClose)
  }

  send(text: string): void {
    if (this.closed) return
    this.socket.send(text)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.close(CloseCode.Normal)
  }

  detach(): void {
    this.socket.removeEventListener("message", this.onMessage)
    this.socket.removeEventListener("error", this.onError)
    this.socket.removeEventListener("close", this.onClose)
  }

  destroy(error?: Error): void {
    this.failure ??= error
    // A browser cannot drop a WebSocket without the closing handshake.
    this.socket.close(error === undefined ? CloseCode.Normal : CloseCode.InternalError)
  }

  private onMessage(event: MessageEvent): void {
    try {
      const data: unknown = event.data
      this.handlers.onFrame(typeof data === "string" ? data : textDecoder.decode(data as ArrayBuffer))
    } catch (error) {
      this.destroy(error instanceof Error ? error : new Error(String(error)))
    }
  }

  private onError(): void {
    this.failure ??= new Error("WebSocket error")
  }

  // As 2.x's browser transport: a close, even an abnormal one, is not an
  // error; an 'error' event before it is.
  private onClose(): void {
    this.closed = true
    this.detach()
    this.handlers.onClose(this.failure)
  }
}

/**
 * Opens a WebSocket to `url` with the JSTP subprotocol; calls back with a
 * maker of its link once it is open, or with the error.
 *
 * @since 0.1.0
 */
export const open = (
  url: string,
  callback: (error: Error | null, makeLink?: (handlers: Handlers) => SocketLink) => void
): void => {
  let socket: WebSocket
  try {
    socket = new WebSocket(url, PROTOCOL)
  } catch (error) {
    queueMicrotask(() => callback(error instanceof Error ? error : new Error(String(error))))
    return
  }
  const onError = () => callback(new Error(`Cannot connect to ${url}`))
  socket.addEventListener("error", onError, { once: true })
  socket.addEventListener("open", () => {
    socket.removeEventListener("error", onError)
    callback(null, (handlers) => new W3cWebSocketLink(socket, handlers, url))
  }, { once: true })
}
