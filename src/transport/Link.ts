/**
 * What every transport gives the engine: a link of whole messages that a
 * reader fiber drives. Free of Node built-ins (the browser build uses it).
 *
 * @since 0.1.0
 */
import { Data, type Effect } from "effect"
import type { Link } from "../engine/Engine.js"

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
   * Reads messages until the peer ends the link (success) or it fails. They
   * are handed to `onFrame` synchronously, in order; an exception thrown by
   * `onFrame` fails the link instead of escaping into the socket's events.
   */
  readonly run: (onFrame: (text: string) => void) => Effect.Effect<void, TransportError>
}

/**
 * Options every transport takes.
 *
 * @since 0.1.0
 */
export interface LinkOptions {
  /** The largest message accepted, in bytes (default 8 MiB). */
  readonly maxMessageSize?: number | undefined
}
