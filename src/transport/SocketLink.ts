/**
 * A Node stream socket (`net.Socket`, `tls.TLSSocket`) as a link of
 * NUL-terminated frames, driven by callbacks rather than fibers: for the
 * callback facade, which must not run a fiber per message. Messages written
 * in the same tick go out in one write.
 *
 * @since 0.1.0
 */
import type { EventEmitter } from "node:events"
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

  constructor(
    readonly socket: S,
    protected readonly handlers: Handlers,
    readonly remoteAddress: string | undefined,
    private readonly dataEvent: string
  ) {
    this.onData = this.onData.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
    socket.on(dataEvent, this.onData)
    socket.on("error", this.onError)
    socket.on("close", this.onClose)
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
    this.socket.off(this.dataEvent, this.onData)
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

  constructor(socket: Duplex, handlers: Handlers, maxMessageSize: number | undefined) {
    super(socket, handlers, (socket as { remoteAddress?: string }).remoteAddress, "data")
    this.decoder = Framing.makeDecoder({ maxMessageSize })
    this.flush = this.flush.bind(this)
  }

  send(text: string): void {
    if (this.closed) return
    this.outbox.push(text)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(this.flush)
    }
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
 * socket's events.
 *
 * @since 0.1.0
 */
export const make = (
  socket: Duplex,
  handlers: Handlers,
  options?: { readonly maxMessageSize?: number | undefined }
): SocketLink => new FramedSocket(socket, handlers, options?.maxMessageSize)
