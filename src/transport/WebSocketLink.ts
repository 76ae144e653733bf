/**
 * A WebSocket of the `ws` package (Node) as a link, for both APIs (see
 * `CallbackLink`): one message per text frame, no terminator (protocol.md
 * §2). Past the high-water mark (bytes in `bufferedAmount`), writes are held
 * and the WebSocket is paused until what it holds is written.
 *
 * @since 0.1.0
 */
import type { Duplex } from "node:stream"
import { type RawData, WebSocket } from "ws"
import { MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import { CallbackLink, type Handlers, type LinkOptions, type SocketLink } from "./CallbackLink.js"
import { abnormalClose, CloseCode, isOrderly, PROTOCOL, textOf } from "./WebSocketProtocol.js"

export {
  /** @since 0.1.0 */
  PROTOCOL
} from "./WebSocketProtocol.js"

const uncork = (link: WebSocketLinkImpl, raw: Duplex): void => {
  link.corked = false
  raw.uncork()
}

class WebSocketLinkImpl extends CallbackLink<WebSocket> {
  corked = false

  constructor(socket: WebSocket, handlers: Handlers, remoteAddress: string | undefined, options: LinkOptions | undefined) {
    super(socket, handlers, remoteAddress, options)
    this.onWebSocketClose = this.onWebSocketClose.bind(this)
    this.onSent = this.onSent.bind(this)
    this.start()
  }

  protected listen(on: boolean): void {
    if (on) {
      this.socket.on("message", this.onData)
      this.socket.on("close", this.onWebSocketClose)
    } else {
      this.socket.off("message", this.onData)
      this.socket.off("close", this.onWebSocketClose)
    }
  }

  protected listenErrors(): void {
    this.socket.on("error", this.onError)
  }

  protected write(texts: string | ReadonlyArray<string>): void {
    this.gather()
    if (typeof texts === "string") return this.sendOne(texts)
    for (const text of texts) this.sendOne(text)
  }

  // The frames of a tick go out in one write: the socket under the
  // WebSocket is corked until the next tick (`ws` writes every frame on its
  // own otherwise, a system call each).
  private gather(): void {
    if (this.corked) return
    const raw = (this.socket as unknown as { readonly _socket?: Duplex | null })._socket
    if (raw === undefined || raw === null) return
    this.corked = true
    raw.cork()
    process.nextTick(uncork, this, raw)
  }

  // Once over the mark, this message is sent with a callback, called once
  // it (and so all before it) is written: then the held ones go. Later
  // messages are held (not while closing).
  private sendOne(text: string): void {
    if (this.held !== undefined) return void this.held.push(text)
    if (this.closing || this.socket.bufferedAmount <= this.highWaterMark) return this.socket.send(text)
    this.socket.send(text, this.onSent)
    this.hold()
  }

  protected end(): void {
    this.socket.close(CloseCode.Normal)
  }

  protected receive(data: unknown): void {
    const raw = data as RawData
    const text = Buffer.isBuffer(raw) ? raw.toString("utf8") : textOf(raw)
    if (text !== undefined) this.handlers.onFrame(text)
  }

  protected abort(): void {
    this.socket.terminate()
  }

  protected setReading(on: boolean): void {
    if (on) this.socket.resume()
    else this.socket.pause()
  }

  // `ws` calls back with null (or nothing) once written, with an error if not.
  private onSent(error?: Error | null): void {
    if (error === undefined || error === null) this.drained()
  }

  private onWebSocketClose(code: number, reason: Buffer): void {
    if (!isOrderly(code)) this.abnormal = abnormalClose(code, reason.toString())
    this.onClose()
  }
}

/**
 * Links `socket`, already open, reporting frames and the close to `handlers`.
 *
 * @since 0.1.0
 */
export const make = (
  socket: WebSocket,
  handlers: Handlers,
  remoteAddress: string | undefined,
  options?: LinkOptions
): SocketLink => new WebSocketLinkImpl(socket, handlers, remoteAddress, options)

/**
 * Dials `url` with the JSTP subprotocol (`config` goes to the `ws` client);
 * calls back with a maker of its (client) link once it is open, or with the
 * error. Returns a function that gives up a dial still under way.
 *
 * @since 0.1.0
 */
export const open = (
  url: string,
  config: object | undefined,
  options: LinkOptions | undefined,
  callback: (error: Error | null, makeLink?: (handlers: Handlers) => SocketLink) => void
): () => void => {
  let socket: WebSocket
  try {
    socket = new WebSocket(url, PROTOCOL, { ...config, maxPayload: options?.maxMessageSize ?? MAX_MESSAGE_SIZE })
  } catch (error) {
    process.nextTick(callback, error instanceof Error ? error : new Error(String(error)))
    return () => {}
  }
  const onError = (error: Error) => callback(error)
  socket.once("error", onError)
  socket.once("open", () => {
    socket.off("error", onError)
    if (socket.protocol !== PROTOCOL) {
      socket.on("error", () => {})
      socket.terminate()
      return callback(new Error(`The server did not accept the ${PROTOCOL} subprotocol`))
    }
    callback(null, (handlers) => make(socket, handlers, url, { ...options, pausesReading: false }))
  })
  return () => {
    if (socket.readyState !== WebSocket.CONNECTING) return
    socket.on("error", () => {})
    socket.terminate()
  }
}
