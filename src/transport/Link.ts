/**
 * What every transport gives the Effect API: a link of whole messages, run
 * as an Effect that ends with the link. The link itself is a `CallbackLink`
 * (the facade's too): frames reach the engine straight from the transport's
 * read callback, and nothing here runs per message. Free of Node built-ins
 * (the browser build uses it).
 *
 * @since 0.1.0
 */
import { Data, Effect, Scope } from "effect"
import type { Link } from "../engine/Engine.js"
import { FramingError } from "../wire/Framing.js"
import type { TransportAddress } from "./Address.js"
import type { Handlers, SocketLink } from "./CallbackLink.js"
import * as TransportLink from "./TransportLink.js"

export type {
  /** @since 0.1.0 */
  LinkOptions
} from "./CallbackLink.js"

/**
 * A link failed: it could not be opened, reading or writing failed, or the
 * peer sent a message over the size limit.
 *
 * @since 0.1.0
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "Open" | "Read" | "Write" | "MessageTooLarge"
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * A live link of whole messages.
 *
 * @since 0.1.0
 */
export interface FramedLink extends Link {
  /**
   * Hands messages to `onFrame` until the peer ends the link (success) or it
   * fails. They are handed over synchronously, in order, from the
   * transport's read callback; an exception thrown by `onFrame` fails the
   * link instead of escaping into the transport's events. Messages that came
   * before `run` wait for it.
   */
  readonly run: (onFrame: (text: string) => void) => Effect.Effect<void, TransportError>
  /** Drops the link at once, without flushing. */
  readonly destroy: () => void
}

// Codes of failures that mean "a message over the limit": the `ws`
// package's, and a WebSocket closed with 1009.
const TOO_LARGE_CODE = "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
const isTooLarge = (error: Error): boolean =>
  error instanceof FramingError || error.name === "TooLargeError" ||
  (error as { code?: unknown }).code === TOO_LARGE_CODE || (error as { closeCode?: unknown }).closeCode === 1009

/**
 * What a link's failure is reported as.
 *
 * @since 0.1.0
 */
export const transportError = (error: Error): TransportError =>
  new TransportError({ reason: isTooLarge(error) ? "MessageTooLarge" : "Read", message: error.message, cause: error })

/**
 * An open failure.
 *
 * @since 0.1.0
 */
export const openError = (cause: unknown): TransportError =>
  new TransportError({ reason: "Open", message: cause instanceof Error ? cause.message : String(cause), cause })

const ignore = (): void => {}

// Handlers that take no notice: for a link that is only to be closed.
const ignoreLink: Handlers = { onFrame: ignore, onClose: ignore }

/**
 * A dial of a callback transport as an Effect: `open` dials, calls back with
 * a maker of the link (or the error), and returns a function that gives the
 * dial up. Interrupted, the dial is given up; a link that opens anyway is
 * closed.
 *
 * @since 0.1.0
 */
export const dial = (
  open: (callback: (error: Error | null, makeLink?: (handlers: Handlers) => SocketLink) => void) => () => void
): Effect.Effect<FramedLink, TransportError> =>
  Effect.async<FramedLink, TransportError>((resume) => {
    let interrupted = false
    const abort = open((error, makeLink) => {
      if (interrupted) return makeLink?.(ignoreLink).close()
      if (error !== null || makeLink === undefined) return resume(Effect.fail(openError(error)))
      resume(Effect.succeed(fromSocketLink(makeLink)))
    })
    return Effect.sync(() => {
      interrupted = true
      abort()
    })
  })

class Run implements FramedLink {
  readonly link: SocketLink
  private onFrame: ((text: string) => void) | undefined = undefined
  private early: Array<string> | undefined = undefined
  // undefined while open; null once ended in good order.
  private end: TransportError | null | undefined = undefined
  private resume: ((effect: Effect.Effect<void, TransportError>) => void) | undefined = undefined

  constructor(make: (handlers: Handlers) => SocketLink) {
    this.link = make({
      onFrame: (text) => {
        if (this.onFrame !== undefined) this.onFrame(text)
        else (this.early ??= []).push(text)
      },
      onClose: (error, abnormal) => {
        const failure = error ?? abnormal
        this.end = failure === undefined ? null : transportError(failure)
        this.finish()
      }
    })
  }

  send(text: string): void {
    this.link.send(text)
  }

  close(): void {
    this.link.close()
  }

  destroy(): void {
    this.link.destroy()
  }

  run(onFrame: (text: string) => void): Effect.Effect<void, TransportError> {
    return Effect.async<void, TransportError>((resume) => {
      this.resume = resume
      const early = this.early
      this.early = undefined
      this.onFrame = onFrame
      if (early !== undefined) {
        try {
          for (const text of early) onFrame(text)
        } catch (error) {
          this.link.destroy(error instanceof Error ? error : new Error(String(error)))
        }
      }
      if (this.end !== undefined) this.finish()
      return Effect.sync(() => {
        this.resume = undefined
        this.onFrame = ignore
      })
    })
  }

  private finish(): void {
    const resume = this.resume
    if (resume === undefined) return
    this.resume = undefined
    resume(this.end === null || this.end === undefined ? Effect.void : Effect.fail(this.end))
  }
}

/**
 * The `FramedLink` of a callback link made by `make`.
 *
 * @since 0.1.0
 */
export const fromSocketLink = (make: (handlers: Handlers) => SocketLink): FramedLink => new Run(make)

/**
 * A dial of a transport of the user's own: the link over the transport its
 * `open` makes.
 *
 * @since 0.1.0
 */
export const dialTransport = (address: TransportAddress): Effect.Effect<FramedLink, TransportError> =>
  Effect.matchEffect(address.open, {
    onFailure: (cause) => Effect.fail(openError(cause)),
    onSuccess: (transport) =>
      TransportLink.isTransport(transport)
        ? Effect.sync(() => fromSocketLink((handlers) => TransportLink.make(transport, handlers)))
        : Effect.fail(openError(new TypeError(`${address.name}: open gave no Transport (send, end, getRawTransport, on, removeListener)`)))
  })

// A peer that does not answer our end of a link is cut off after this long.
const GRACE_MILLIS = 1000

/**
 * A link as a scoped resource: closing the scope ends it in good order (what
 * was sent is flushed), and destroys it if the peer has not let go by then.
 * (Scope.addFinalizer, not acquireRelease: the latter carries the acquiring
 * fiber's FiberRefs into whichever fiber closes the scope.)
 *
 * @since 0.1.0
 */
export const scoped = <E>(acquire: Effect.Effect<FramedLink, E>): Effect.Effect<FramedLink, E, Scope.Scope> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.tap(restore(acquire), (link) =>
      Effect.flatMap(Effect.scope, (scope) =>
        Scope.addFinalizer(
          scope,
          Effect.sync(() => {
            link.close()
            const timer: { unref?: () => void } = setTimeout(() => link.destroy(), GRACE_MILLIS)
            timer.unref?.()
          })
        )))
  )
