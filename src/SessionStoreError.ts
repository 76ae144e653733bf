/**
 * What a session store fails with, and the options of the Redis store: apart
 * from `SessionStore`, so that the store's internals (`internal/RedisSessions`)
 * need not import it. Re-exported by `SessionStore`.
 *
 * @since 0.1.0
 */
import { Data, type Duration } from "effect"

/**
 * A store that failed: it could not be reached or written (`Unavailable`),
 * or what it held for the session is not a session (`Corrupt`). The server
 * logs it and reports it as a `SessionStoreFailed` event: a session it
 * could not keep cannot be restored, and one it could not read is refused
 * (error 11), as an unknown one is.
 *
 * @since 0.1.0
 */
export class SessionStoreError extends Data.TaggedError("SessionStoreError")<{
  readonly reason: "Unavailable" | "Corrupt"
  readonly operation: "get" | "set" | "setInactive" | "remove" | "journal" | "publish"
  readonly sessionId: string
  readonly message: string
  readonly cause?: unknown
}> {}

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

/**
 * Internal: `store` (as messages name it) could not do `operation` on the session.
 *
 * @since 0.1.0
 */
export const unavailable = (store: string, operation: SessionStoreError["operation"], sessionId: string, cause: unknown) =>
  new SessionStoreError({
    reason: "Unavailable",
    operation,
    sessionId,
    message: `${store}: ${operation} ${sessionId} failed: ${describe(cause)}`,
    cause
  })

/**
 * Internal: what `store` holds for the session is not a session.
 *
 * @since 0.1.0
 */
export const corrupt = (store: string, operation: SessionStoreError["operation"], sessionId: string, cause: unknown) =>
  new SessionStoreError({ reason: "Corrupt", operation, sessionId, message: `${store}: ${sessionId}: ${describe(cause)}`, cause })

/**
 * @since 0.1.0
 */
export interface RedisOptions {
  /** Default `redis://127.0.0.1:6379`. */
  readonly url?: string | undefined
  /** Prepended to each session id to make its key. Default `"jstp:session:"`. */
  readonly prefix?: string | undefined
  /** How long the session of a closed connection stays restorable (its key's TTL). Default 24 hours. */
  readonly inactiveLifetime?: Duration.DurationInput | undefined
  /** How long building the layer waits for a first connection before going on degraded. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Crash-safe sessions (default false): a server journals each live
   * session's state in Redis as it changes, in one batch per tick, so that
   * another node restores it, with everything the peer had not
   * acknowledged, even after this node is killed. A request (event, call)
   * is written to its connection once Redis has it: this costs each such
   * request a Redis round trip of latency, shared by the batch.
   */
  readonly crashSafe?: boolean | undefined
}

