/**
 * A Node stream socket (`net.Socket`, `tls.TLSSocket`) as a link of
 * NUL-terminated frames, driven by callbacks rather than fibers: for the
 * callback facade, which must not run a fiber per message. The first message
 * of a tick is written at once; the ones after it in the same tick go out
 * together in one more write.
 *
 * @since 0.1.0
 */
import type { EventEmitter } from "node:events"
import type { OnReadOpts } from "node:net"
import type { Duplex } from "node:stream"
import type { Link } from "../engine/Engine.js"
import * as Framing from "../wire/Framing.js"

/**
 * What a socket link reports.
 *
 * @since 0.1.0
 */
export interface Handlers {
  readonly onFrame: (text: string) => void
  /** The socket closed; `error` is set if it failed (or sent too large a frame). */
  readonly onClose: (error: Error | undefined) => void
}

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
 * What the callback links share: reporting frames and the close to their
 * handlers, remembering the first failure, and letting no exception from a
 * handler escape into the socket's events. A class with prototype methods:
 * one lives per connection, so per-instance closures would cost memory on
 * servers with many idle connections.
 *
 * @since 0.1.0
 */
export abstract class CallbackLink<S extends EventEmitter> implements Link {
  protected closed = false
  private failure: Error | undefined = undefined

  /**
   * Received data comes as `dataEvent` events of the socket, or through
   * `reads`. A subclass calls `start` once it is ready to receive.
   */
  constructor(
    readonly socket: S,
    protected readonly handlers: Handlers,
    readonly remoteAddress: string | undefined,
    private readonly dataEvent: string,
    private readonly reads?: DirectReads | undefined
  ) {
    this.onData = this.onData.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
  }

  /** Starts listening (what `reads` got before this comes on the next tick). */
  protected start(): void {
    this.socket.on("error", this.onError)
    this.socket.on("close", this.onClose)
    if (this.reads === undefined) this.socket.on(this.dataEvent, this.onData)
    else this.reads.listen(this.onData)
  }

  abstract send(text: string): void
  abstract close(): void
  /** Hands received data to `handlers.onFrame`. */
  protected abstract receive(data: unknown): void
  /** Drops the transport at once, without flushing. */
  protected abstract abort(): void

  /**
   * Stops reporting to the handlers. The error listener stays for the
   * socket's life: a detached socket that is still open (taken over by a
   * restored session, then ended) may yet be reset by its peer, and an
   * 'error' event with no listener would crash the process.
   */
  detach(): void {
    if (this.reads === undefined) this.socket.off(this.dataEvent, this.onData)
    else this.reads.listen(undefined)
    this.socket.off("close", this.onClose)
  }

  destroy(error?: Error): void {
    this.failure ??= error
    this.abort()
  }

  private onData(data: unknown): void {
    try {
      this.receive(data)
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error))
      this.abort()
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

class FramedSocket extends CallbackLink<Duplex> {
  private readonly decoder: Framing.Decoder
  private outbox: Array<string> = []
  private flushScheduled = false

  constructor(socket: Duplex, handlers: Handlers, maxMessageSize: number | undefined, reads: DirectReads | undefined) {
    super(socket, handlers, (socket as { remoteAddress?: string }).remoteAddress, "data", reads)
    this.decoder = Framing.makeDecoder({ maxMessageSize })
    this.flush = this.flush.bind(this)
    this.start()
  }

  // The first message of a tick is written at once: a lone reply or call
  // (the sequential case) goes out before the rest of its handler's work,
  // which shortens the round trip. Messages that follow it in the same tick
  // are batched into one write on the next tick.
  send(text: string): void {
    if (this.closed) return
    if (this.flushScheduled) {
      this.outbox.push(text)
      return
    }
    this.flushScheduled = true
    process.nextTick(this.flush)
    this.socket.write(text + Framing.TERMINATOR)
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.socket.end()
  }

  protected receive(chunk: unknown): void {
    this.decoder.push(chunk as Buffer, this.handlers.onFrame)
  }

  protected abort(): void {
    this.socket.destroy()
  }

  private flush(): void {
    this.flushScheduled = false
    if (this.outbox.length === 0 || this.closed) return
    const batch = this.outbox.join(Framing.TERMINATOR) + Framing.TERMINATOR
    this.outbox = []
    this.socket.write(batch)
  }
}

/**
 * A live socket link.
 *
 * @since 0.1.0
 */
export interface SocketLink extends Link {
  /** The transport under the link (a socket, a WebSocket). */
  readonly socket: unknown
  readonly remoteAddress: string | undefined
  /** Stops reporting frames and the close; the socket stays as it is (`close` still ends it). */
  readonly detach: () => void
  /** Destroys the socket at once, without flushing. */
  readonly destroy: (error?: Error) => void
}

/**
 * Frames `socket`. Frames and the close are reported to `handlers`; an
 * exception thrown by `onFrame` fails the link instead of escaping into the
 * socket's events. A socket opened with the `onread` of `reads` is read
 * through it.
 *
 * @since 0.1.0
 */
export const make = (
  socket: Duplex,
  handlers: Handlers,
  options?: { readonly maxMessageSize?: number | undefined; readonly reads?: DirectReads | undefined }
): SocketLink => new FramedSocket(socket, handlers, options?.maxMessageSize, options?.reads)
