/**
 * The one shape of every link, for both APIs: a transport driven by its own
 * callbacks, no fiber and no Effect per message. Received data is handed to
 * the engine straight from the transport's read callback; writes go out as
 * the transport takes them, and past a high-water mark they are held (and
 * reading stops) until the transport drains. Free of Node built-ins (the
 * browser build uses it).
 *
 * @since 0.1.0
 */
import type { Link } from "../engine/Engine.js"
import { FramingError } from "../wire/Framing.js"

// A peer sent a message over the limit: how long it has to let go of the
// link we ended before it is dropped.
const REFUSE_GRACE_MILLIS = 2000

/**
 * What a link reports.
 *
 * @since 0.1.0
 */
export interface Handlers {
  readonly onFrame: (text: string) => void
  /**
   * The link closed. `error` is set if it failed (or sent too large a
   * message); `abnormal`, if it ended with no error but not in good order
   * (a WebSocket close code other than 1000, 1001 or 1005).
   */
  readonly onClose: (error: Error | undefined, abnormal?: Error | undefined) => void
}

/**
 * A live link.
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
 * Options every link takes.
 *
 * @since 0.1.0
 */
export interface LinkOptions {
  /** The largest message accepted, in bytes (default 8 MiB). */
  readonly maxMessageSize?: number | undefined
  /**
   * Once this many bytes wait to be written (default 1 MiB), new messages
   * are held (and, see `pausesReading`, reading stops) until the transport
   * drains: a peer that does not read cannot grow memory without bound.
   */
  readonly highWaterMark?: number | undefined
  /**
   * Whether the link also stops reading while it holds writes (default
   * true). Clients keep reading: if both ends of a connection stopped
   * reading while their writes wait, neither would ever drain.
   */
  readonly pausesReading?: boolean | undefined
}

/**
 * The default high-water mark: 1 MiB.
 *
 * @since 0.1.0
 */
export const HIGH_WATER_MARK = 1024 * 1024

/**
 * What the links share: reporting frames and the close to their handlers,
 * remembering the first failure, letting no exception from a handler escape
 * into the transport's events, and holding writes while the transport is
 * over its high-water mark. A class with prototype methods: one lives per
 * connection, so per-instance closures would cost memory on servers with
 * many idle connections.
 *
 * @since 0.1.0
 */
export abstract class CallbackLink<S> implements SocketLink {
  protected closed = false
  /** `close` is writing out what was held: nothing is held again. */
  protected closing = false
  protected failure: Error | undefined = undefined
  protected abnormal: Error | undefined = undefined
  /** Messages held while the transport drains; undefined while it takes writes. */
  protected held: Array<string> | undefined = undefined
  protected readonly highWaterMark: number
  private readonly pausesReading: boolean

  constructor(
    readonly socket: S,
    protected readonly handlers: Handlers,
    readonly remoteAddress: string | undefined,
    options: LinkOptions | undefined
  ) {
    this.highWaterMark = options?.highWaterMark ?? HIGH_WATER_MARK
    this.pausesReading = options?.pausesReading ?? true
    this.onData = this.onData.bind(this)
    this.onError = this.onError.bind(this)
    this.onClose = this.onClose.bind(this)
  }

  /** Subscribes to (or, with false, unsubscribes from) the transport's data and close. */
  protected abstract listen(on: boolean): void
  /** Subscribes to the transport's errors, for its whole life. */
  protected abstract listenErrors(): void
  /** Hands received data to `handlers.onFrame`; throws to fail the link. */
  protected abstract receive(data: unknown): void
  /** Writes messages the transport takes now. */
  protected abstract write(texts: string | ReadonlyArray<string>): void
  /** Ends the transport in good order, after what was written. */
  protected abstract end(): void
  /** Drops the transport at once, without flushing. */
  protected abstract abort(): void
  /** Stops or resumes reading (where the transport can). */
  protected abstract setReading(on: boolean): void

  /** Starts listening; a subclass calls it once it is ready to receive. */
  protected start(): void {
    this.listenErrors()
    this.listen(true)
  }

  send(text: string): void {
    if (this.closed) return
    if (this.held !== undefined) this.held.push(text)
    else this.write(text)
  }

  close(): void {
    if (this.closed) return
    this.closing = true
    this.flushHeld()
    this.closed = true
    this.end()
  }

  /**
   * Stops reporting to the handlers. The error listener stays for the
   * transport's life: a detached socket that is still open (taken over by a
   * restored session, then ended) may yet be reset by its peer, and an
   * 'error' event with no listener would crash the process.
   */
  detach(): void {
    this.listen(false)
  }

  destroy(error?: Error): void {
    this.failure ??= error
    this.held = undefined
    this.abort()
  }

  /**
   * The transport is over its high-water mark: hold writes (`first`, not
   * written yet, ahead of any already held), and stop reading unless told
   * not to. Not while closing: then everything is written.
   */
  protected hold(first: ReadonlyArray<string> = []): void {
    if (this.closing) return
    const held = this.held
    this.held = held === undefined ? [...first] : [...first, ...held]
    if (held === undefined && this.pausesReading) this.setReading(false)
  }

  /**
   * The transport drained: write what was held (up to the mark; the rest is
   * held again), and read again unless it filled up again.
   */
  protected drained(): void {
    if (this.held === undefined || this.closed) return
    this.flushHeld()
    if (this.held === undefined && this.pausesReading) this.setReading(true)
  }

  private flushHeld(): void {
    const held = this.held
    if (held === undefined) return
    this.held = undefined
    if (held.length > 0) this.write(held)
  }

  protected onData(data: unknown): void {
    if (this.refusing) return
    try {
      this.receive(data)
    } catch (error) {
      if (error instanceof FramingError) this.refuse(error)
      else this.destroy(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /** Set once a message over the limit came: what comes after it is discarded. */
  private refusing = false

  /**
   * A message over the limit: the link is ended, not reset, and read (and
   * discarded) until the peer closes, so that a peer still writing sees a
   * close rather than a reset (as 2.x ends it); dropped if the peer does
   * not let go in time.
   */
  private refuse(error: FramingError): void {
    this.failure ??= error
    this.refusing = true
    this.setReading(true)
    this.close()
    const timer: { unref?: () => void } = setTimeout(() => this.abort(), REFUSE_GRACE_MILLIS)
    timer.unref?.()
  }

  protected onError(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error))
  }

  protected onClose(): void {
    this.closed = true
    this.held = undefined
    this.detach()
    this.handlers.onClose(this.failure, this.abnormal)
  }
}
