/**
 * A Node stream socket (`net.Socket`, `tls.TLSSocket`) as a link of
 * NUL-terminated frames, for both APIs (see `CallbackLink`). The first
 * message of a tick is written at once; the ones after it in the same tick
 * go out together in one more write. Past the high-water mark, writes are
 * held and the socket is paused until it drains.
 *
 * @since 0.1.0
 */
import type { OnReadOpts } from "node:net"
import type { Duplex } from "node:stream"
import * as Framing from "../wire/Framing.js"
import { CallbackLink, type Handlers, HIGH_WATER_MARK, type LinkOptions, type SocketLink } from "./CallbackLink.js"

export type {
  /** @since 0.1.0 */
  Handlers,
  /** @since 0.1.0 */
  SocketLink
} from "./CallbackLink.js"

// The size of Node's own reads.
const READ_BUFFER_SIZE = 64 * 1024

// One buffer serves every socket read through `DirectReads`: each read is
// handed to its link synchronously, before the next read can happen, and
// the link copies what it keeps (the frame decoder does).
let sharedReadBuffer: Buffer | undefined

/**
 * The reads of a socket opened with an `onread` option (`net.connect` has
 * one): each read goes straight to the link, past the stream machinery: no
 * 'data' event and no buffer allocated per read, which shortens every round
 * trip. Reads that come before the link listens are kept, and handed to it
 * on the next tick (its owner may still be setting up when it starts to
 * listen), before any later read; reads after it stopped listening are
 * dropped, as 'data' with no listener is.
 *
 * @since 0.1.0
 */
export class DirectReads {
  /** The `onread` option to open the socket with. */
  readonly onread: OnReadOpts
  private receiver: ((chunk: Buffer) => void) | undefined = undefined
  // Copies of the reads not yet handed over; undefined once there are none.
  private early: Array<Buffer> | undefined = []

  constructor() {
    sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE)
    this.onread = {
      buffer: sharedReadBuffer,
      callback: (length, buffer) => {
        this.deliver(length, buffer as Buffer)
        return true // keep reading
      }
    }
  }

  /** Sets who gets the reads (`undefined`: nobody, from now on). */
  listen(receiver: ((chunk: Buffer) => void) | undefined): void {
    this.receiver = receiver
    if (receiver === undefined || this.early?.length === 0) this.early = undefined
    else if (this.early !== undefined) process.nextTick(() => this.handOverEarly())
  }

  private handOverEarly(): void {
    const early = this.early ?? []
    this.early = undefined
    for (const chunk of early) this.receiver?.(chunk)
  }

  private deliver(length: number, buffer: Buffer): void {
    if (this.early !== undefined) this.early.push(Buffer.from(buffer.subarray(0, length)))
    else this.receiver?.(buffer.subarray(0, length))
  }
}

/**
 * Options of a socket link.
 *
 * @since 0.1.0
 */
export interface Options extends LinkOptions {
  /** The socket was opened with the `onread` of these reads: it is read through them. */
  readonly reads?: DirectReads | undefined
}

class FramedSocket extends CallbackLink<Duplex> {
  private readonly decoder: Framing.Decoder
  private readonly reads: DirectReads | undefined
  private outbox: Array<string> = []
  private flushScheduled = false

  constructor(socket: Duplex, handlers: Handlers, options: Options | undefined) {
    // Node says 'drain' only after its own mark was passed: a lower one would never see it.
    super(socket, handlers, (socket as { remoteAddress?: string }).remoteAddress, {
      ...options,
      highWaterMark: Math.max(options?.highWaterMark ?? HIGH_WATER_MARK, socket.writableHighWaterMark)
    })
    this.reads = options?.reads
    this.decoder = Framing.makeDecoder({ maxMessageSize: options?.maxMessageSize })
    this.flush = this.flush.bind(this)
    this.drained = this.drained.bind(this)
    this.start()
  }

  protected listen(on: boolean): void {
    if (on) this.socket.on("close", this.onClose)
    else this.socket.off("close", this.onClose)
    if (this.reads !== undefined) this.reads.listen(on ? this.onData : undefined)
    else if (on) this.socket.on("data", this.onData)
    else this.socket.off("data", this.onData)
  }

  protected listenErrors(): void {
    this.socket.on("error", this.onError)
  }

  // The first message of a tick is written at once: a lone reply or call
  // (the sequential case) goes out before the rest of its handler's work,
  // which shortens the round trip. Messages that follow it in the same tick
  // are batched into one write on the next tick.
  protected write(texts: string | ReadonlyArray<string>): void {
    if (typeof texts !== "string") {
      // Held messages come after any still waiting for this tick's write.
      for (const text of texts) this.outbox.push(text)
      return this.writeOutbox()
    }
    if (this.flushScheduled) {
      this.outbox.push(texts)
      return
    }
    this.flushScheduled = true
    process.nextTick(this.flush)
    this.writeData(texts + Framing.TERMINATOR)
  }

  protected end(): void {
    this.writeOutbox()
    this.socket.end()
  }

  protected receive(chunk: unknown): void {
    this.decoder.push(chunk as Buffer, this.handlers.onFrame)
  }

  protected abort(): void {
    this.socket.destroy()
  }

  protected setReading(on: boolean): void {
    if (on) this.socket.resume()
    else this.socket.pause()
  }

  protected override hold(first?: ReadonlyArray<string>): void {
    const holding = this.held !== undefined
    super.hold(first)
    if (!holding && this.held !== undefined) this.socket.once("drain", this.drained)
  }

  private over(): boolean {
    return this.socket.writableLength > this.highWaterMark
  }

  private writeData(data: string): void {
    this.socket.write(data)
    if (this.over()) this.hold()
  }

  private flush(): void {
    this.flushScheduled = false
    if (!this.closed) this.writeOutbox()
  }

  // Writes the outbox in batches that fill the socket up to the mark; once
  // over it, the rest is held (written in full while closing).
  private writeOutbox(): void {
    const outbox = this.outbox
    this.outbox = []
    let start = 0
    while (start < outbox.length) {
      if (this.over() && !this.closing) return this.hold(outbox.slice(start))
      const room = this.highWaterMark - this.socket.writableLength
      let end = start
      let size = 0
      while (end < outbox.length && (end === start || size < room || this.closing)) size += outbox[end++]!.length + 1
      const batch = end === start + 1
        ? outbox[start]!
        : (start === 0 && end === outbox.length ? outbox : outbox.slice(start, end)).join(Framing.TERMINATOR)
      start = end
      this.socket.write(batch + Framing.TERMINATOR)
    }
    if (this.over()) this.hold()
  }
}

/**
 * Frames `socket`. Frames and the close are reported to `handlers`; an
 * exception thrown by `onFrame` fails the link instead of escaping into the
 * socket's events. A socket opened with the `onread` of `options.reads` is
 * read through it.
 *
 * @since 0.1.0
 */
export const make = (socket: Duplex, handlers: Handlers, options?: Options): SocketLink =>
  new FramedSocket(socket, handlers, options)
