/**
 * What an engine tells an observer (metrics, spans) as it works: the hooks it
 * calls when a host gave it a `Probe`. Without one the engine pays one
 * undefined check per hook site and does nothing else. The implementation
 * (Effect metrics and tracers) is `Observability`'s; the engine only knows
 * these shapes.
 *
 * @since 0.1.0
 */
import type * as Tracer from "effect/Tracer"
import type { ErrorPayload } from "../wire/Message.js"

export {
  /** Whether the instrumentation is in this build (see wire/internal/instrumentation.ts). @since 0.1.0 */
  compiledIn
} from "../wire/internal/instrumentation.js"

/**
 * How a request ended, for its counter and its span: answered, answered with
 * an error, lost with its connection (-1 produced locally), or given up by
 * its caller.
 *
 * @since 0.1.0
 */
export type Outcome = "ok" | "error" | "lost" | "cancelled"

/**
 * One call being observed, on either side; `end` counts once.
 *
 * @since 0.1.0
 */
export interface CallProbe {
  /** Caller: the W3C `traceparent` of its span, sent with the call. */
  readonly traceparent: string | undefined
  /** Handler: its span, the parent of whatever the handler does. */
  readonly span: Tracer.AnySpan | undefined
  readonly end: (outcome: Outcome, error: ErrorPayload | undefined) => void
}

/**
 * How a handshake ended: a new session, a restored one, refused, or cut off
 * before an answer.
 *
 * @since 0.1.0
 */
export type HandshakeEnd = "accepted" | "restored" | "rejected" | "lost"

/**
 * One handshake being observed; `end` counts once.
 *
 * @since 0.1.0
 */
export interface HandshakeProbe {
  readonly end: (outcome: HandshakeEnd, error: ErrorPayload | undefined) => void
}

/**
 * The observer of one connection's engine.
 *
 * @since 0.1.0
 */
export interface Probe {
  /** A frame came in / went out. */
  readonly received: (text: string) => void
  readonly sent: (text: string) => void
  /** The connection is open (handshaken), or no longer. Repeats are ignored. */
  readonly open: (isOpen: boolean) => void
  /** Caller side: a call with id `id` is about to be sent, under `parent`. */
  readonly calling: (iface: string, method: string, id: number, parent: Tracer.AnySpan | undefined) => CallProbe
  /**
   * Handler side: a call came in, with the caller's `traceparent` if it sent
   * one; `known` says whether the application has that method (names it does
   * not have are not labels).
   */
  readonly serving: (iface: string, method: string, id: number, traceparent: string | undefined, known: boolean) => CallProbe
  /** An event went out, or came in. */
  readonly event: (direction: "in" | "out") => void
  /** The requests buffered and not yet acknowledged, now. */
  readonly buffered: (count: number) => void
  /** A callback came for no pending request (its caller gave up, or a stray). */
  readonly droppedCallback: () => void
  /** A handshake starts: a restore (`session`) or not; under `parent` if given. */
  readonly handshaking: (restore: boolean, parent?: Tracer.AnySpan | undefined) => HandshakeProbe
}
