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
import { encode } from "./WebSocketFrames.js"
import { abnormalClose, CloseCode, isOrderly, PROTOCOL, textOf } from "./WebSocketProtocol.js"

export {
  /** @since 0.1.0 */
  PROTOCOL
} from "./WebSocketProtocol.js"

// What of `ws`'s WebSocket a link reaches past its public API: the socket
// under it, its sender's state, and which side it is.
interface WsInternals {
  readonly _socket?: Duplex | null
  readonly _sender: { readonly _state: number; readonly _queue: ReadonlyArray<unknown> }
  readonly _isServer: boolean
}

const flushOutbox = (link: WebSocketLinkImpl): void => link.flush()

class WebSocketLinkImpl extends CallbackLink<WebSocket> {
  /** The messages of this tick (and their UTF-8 sizes), framed and written together on the next one. */
  private outbox: { readonly texts: Array<string>; readonly lengths: Array<number>; bytes: number } | undefined =
    undefined
  private readonly internals: WsInternals
  /** Frames are masked by a client only (RFC 6455 §5.3). */
  private readonly masked: boolean
  /** With an extension negotiated (compression), `ws` frames every message. */
  private readonly ownFrames: boolean

  constructor(socket: WebSocket, handlers: Handlers, remoteAddress: string | undefined, options: LinkOptions | undefined) {
    super(socket, handlers, remoteAddress, options)
    this.internals = socket as unknown as WsInternals
    this.masked = !this.internals._isServer
    this.ownFrames = socket.extensions === ""
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
    if (typeof texts === "string") return this.add(texts)
    for (const text of texts) {
      if (this.held !== undefined) this.held.push(text)
      else this.add(text)
    }
  }

  // A message joins the tick's outbox. The one that takes what the socket
  // holds past the mark is written at once with the outbox before it, with
  // a callback, called once it (and so all before it) is written: then the
  // held messages go. Later ones are held (not while closing).
  private add(text: string): void {
    let outbox = this.outbox
    if (outbox === undefined) {
      outbox = this.outbox = { texts: [], lengths: [], bytes: 0 }
      process.nextTick(flushOutbox, this)
    }
    const length = Buffer.byteLength(text)
    outbox.texts.push(text)
    outbox.lengths.push(length)
    outbox.bytes += length
    if (this.closing || this.socket.bufferedAmount + outbox.bytes <= this.highWaterMark) return
    this.flush(this.onSent)
    this.hold()
  }

  /**
   * The outbox's messages as frames in one buffer, in one write to the
   * socket under the WebSocket (`ws` frames and writes each message on its
   * own); through `ws` while its sender is busy (so nothing overtakes what
   * it holds) or compresses. On the next tick, when closing, or at once
   * (with `callback`) past the mark.
   */
  flush(callback?: (error?: Error | null) => void): void {
    const outbox = this.outbox
    this.outbox = undefined
    const socket = this.socket
    if (outbox === undefined || socket.readyState !== WebSocket.OPEN) return
    const raw = this.internals._socket
    const sender = this.internals._sender
    if (this.ownFrames && raw !== undefined && raw !== null && sender._state === 0 && sender._queue.length === 0) {
      raw.write(encode(outbox.texts, outbox.lengths, this.masked), callback)
      return
    }
    const last = outbox.texts.length - 1
    for (let i = 0; i < last; i++) socket.send(outbox.texts[i]!)
    socket.send(outbox.texts[last]!, callback)
  }

  protected end(): void {
    this.flush()
    this.socket.close(CloseCode.Normal)
  }

  protected receive(data: unknown): void {
    const raw = data as RawData
    const text = Buffer.isBuffer(raw) ? raw.toString("utf8") : textOf(raw)
    if (text !== undefined) this.handlers.onFrame(text)
  }

  protected abort(): void {
    this.outbox = undefined
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
