/**
 * A W3C `WebSocket` (a browser's) as a link, for both APIs in the browser
 * build (see `CallbackLink`): one message per text frame, no terminator
 * (protocol.md §2). A browser cannot pause reading, nor tell when its
 * WebSocket drains: past the high-water mark (bytes in `bufferedAmount`),
 * writes are held and `bufferedAmount` is polled until it falls below.
 *
 * @since 0.1.0
 */
import { MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import { byteLength } from "../wire/Utf8.js"
import { CallbackLink, type Handlers, type LinkOptions, type SocketLink } from "./CallbackLink.js"
import { abnormalClose, CloseCode, isOrderly, PROTOCOL, textOf } from "./WebSocketProtocol.js"

/**
 * The part of the W3C `WebSocket` interface this link uses.
 *
 * @since 0.1.0
 */
export interface WebSocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: string, listener: (event: never) => void, options?: { readonly once?: boolean }): void
  removeEventListener(type: string, listener: (event: never) => void): void
}

const POLL_MILLIS = 5

/**
 * A message that is not text, refused with close code 1002.
 *
 * @since 0.1.0
 */
export class NotTextError extends Error {
  override readonly name = "NotTextError"
}

/**
 * A message over the size limit, refused with close code 1009.
 *
 * @since 0.1.0
 */
export class TooLargeError extends Error {
  override readonly name = "TooLargeError"
}

class W3cWebSocketLink extends CallbackLink<WebSocketLike> {
  private readonly maxMessageSize: number
  private closeCode: number = CloseCode.Normal

  constructor(socket: WebSocketLike, handlers: Handlers, remoteAddress: string | undefined, options: LinkOptions | undefined) {
    super(socket, handlers, remoteAddress, options)
    this.maxMessageSize = options?.maxMessageSize ?? MAX_MESSAGE_SIZE
    socket.binaryType = "arraybuffer"
    this.onMessage = this.onMessage.bind(this)
    this.onSocketClose = this.onSocketClose.bind(this)
    this.poll = this.poll.bind(this)
    this.start()
  }

  protected listen(on: boolean): void {
    if (on) {
      this.socket.addEventListener("message", this.onMessage)
      this.socket.addEventListener("close", this.onSocketClose)
    } else {
      this.socket.removeEventListener("message", this.onMessage)
      this.socket.removeEventListener("close", this.onSocketClose)
    }
  }

  // A browser's error event says nothing; `ws` gives the error.
  protected listenErrors(): void {
    this.socket.addEventListener("error", this.onError)
  }

  protected override onError(event: unknown): void {
    const error = (event as { readonly error?: unknown } | undefined)?.error
    if (error instanceof Error) this.failure ??= error
    else this.errored = true
  }

  // An error event that said nothing, named by the close that follows it.
  private errored = false

  protected write(texts: string | ReadonlyArray<string>): void {
    if (typeof texts === "string") return this.sendOne(texts)
    for (const text of texts) this.sendOne(text)
  }

  private sendOne(text: string): void {
    if (this.held !== undefined) return void this.held.push(text)
    this.socket.send(text)
    if (this.socket.bufferedAmount > this.highWaterMark && !this.closing) {
      this.hold()
      setTimeout(this.poll, POLL_MILLIS)
    }
  }

  private poll(): void {
    if (this.held === undefined || this.closed) return
    if (this.socket.bufferedAmount > this.highWaterMark) return void setTimeout(this.poll, POLL_MILLIS)
    this.drained()
  }

  protected end(): void {
    this.socket.close(this.closeCode)
  }

  private onMessage(event: { readonly data: unknown }): void {
    this.onData(event.data)
  }

  protected receive(data: unknown): void {
    const text = textOf(data)
    if (text === undefined) throw new NotTextError("A message that is not text")
    if (text.length > this.maxMessageSize / 3) {
      const size = byteLength(text)
      if (size > this.maxMessageSize) {
        throw new TooLargeError(`Message of ${size} bytes exceeds the limit of ${this.maxMessageSize} bytes`)
      }
    }
    this.handlers.onFrame(text)
  }

  // A browser cannot drop a WebSocket without the closing handshake: the
  // close code says why.
  protected abort(): void {
    const failure = this.failure
    this.closeCode = failure === undefined
      ? CloseCode.Normal
      : failure instanceof NotTextError
      ? CloseCode.ProtocolError
      : failure instanceof TooLargeError
      ? CloseCode.MessageTooBig
      : CloseCode.InternalError
    this.closed = true
    if (this.socket.readyState <= 1) this.socket.close(this.closeCode)
  }

  protected setReading(): void {}

  private onSocketClose(event: { readonly code: number; readonly reason: string }): void {
    if (this.errored) this.failure ??= new Error(`WebSocket error (closed with code ${event.code})`)
    if (!isOrderly(event.code)) this.abnormal = abnormalClose(event.code, event.reason)
    this.onClose()
  }
}

/**
 * Links `socket`, already open, reporting frames and the close to `handlers`.
 *
 * @since 0.1.0
 */
export const make = (
  socket: WebSocketLike,
  handlers: Handlers,
  remoteAddress: string | undefined,
  options?: LinkOptions
): SocketLink => new W3cWebSocketLink(socket, handlers, remoteAddress, options)

/**
 * Opens a WebSocket to `url` with the JSTP subprotocol (with `create`, the
 * global `WebSocket` by default); calls back with a maker of its link once
 * it is open, or with the error. Returns a function that gives up a dial
 * still under way.
 *
 * @since 0.1.0
 */
export const open = (
  url: string,
  callback: (error: Error | null, makeLink?: (handlers: Handlers) => SocketLink) => void,
  options?: LinkOptions & { readonly create?: ((url: string) => WebSocketLike) | undefined }
): () => void => {
  let socket: WebSocketLike
  try {
    socket = options?.create?.(url) ?? new WebSocket(url, PROTOCOL) as unknown as WebSocketLike
  } catch (error) {
    queueMicrotask(() => callback(error instanceof Error ? error : new Error(String(error))))
    return () => {}
  }
  let settled = false
  const fail = (detail: string) => {
    if (settled) return
    settled = true
    callback(new Error(`Cannot connect to ${url}${detail}`))
  }
  const onError = () => fail("")
  const onClose = (event: { readonly code: number }) => fail(` (WebSocket closed with code ${event.code})`)
  socket.addEventListener("error", onError, { once: true })
  socket.addEventListener("close", onClose, { once: true })
  socket.addEventListener("open", () => {
    socket.removeEventListener("error", onError)
    socket.removeEventListener("close", onClose)
    if (settled) return
    settled = true
    callback(null, (handlers) => make(socket, handlers, url, options))
  }, { once: true })
  return () => {
    if (socket.readyState === 0) socket.close()
  }
}
