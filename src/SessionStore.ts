/**
 * Where a server keeps the sessions of closed connections, so that a client
 * can restore its session later (protocol.md §8). In memory by default.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import { MemorySessions } from "./engine/MemorySessions.js"
import type { Session } from "./engine/Session.js"

/**
 * A session store. `get` may answer at once or later (any Effect).
 *
 * @since 0.1.0
 */
export interface SessionStore {
  readonly get: (id: string) => Effect.Effect<Session | undefined>
  /** Keeps a session (a connection of it closed, or its state changed). */
  readonly set: (id: string, session: Session) => Effect.Effect<void>
  /** The session's connection closed. */
  readonly setInactive: (id: string) => Effect.Effect<void>
  /**
   * Forgets a session (the server ended it: it must never be restored).
   * Without it the server stores the session marked `ended`, which it then
   * refuses to restore, if the store keeps that mark.
   */
  readonly remove?: ((id: string) => Effect.Effect<void>) | undefined
  /**
   * Subscribes to the sessions the store evicts on its own (to keep a
   * memory budget), so that the server drops them too and reports each;
   * returns the unsubscribe.
   */
  readonly onEvict?: ((listener: (id: string) => void) => () => void) | undefined
}

/**
 * The session store as a service, named as the ecosystem names its own
 * (`HttpServer.HttpServer`): `SessionStore.SessionStore`.
 *
 * @since 0.1.0
 */
export const SessionStore: Context.Tag<SessionStore, SessionStore> = Context.GenericTag<SessionStore>(
  "effect-jstp/SessionStore"
)

/**
 * @since 0.1.0
 */
export interface MemoryOptions {
  /** Sessions inactive this long are purged. Default 24 hours. */
  readonly inactiveLifetime?: Duration.DurationInput | undefined
  /** How often to purge. Default 1 hour. */
  readonly purgeInterval?: Duration.DurationInput | undefined
  /**
   * The most bytes the buffers of inactive sessions hold together; past it
   * the oldest inactive sessions are evicted, each reported. Default 256 MiB.
   */
  readonly maxInactiveBytes?: number | undefined
}

/**
 * A store in a Map, for one process. Its purge timer does not keep the
 * process alive, and stops with the scope.
 *
 * @since 0.1.0
 */
export const memory = (options?: MemoryOptions): Effect.Effect<SessionStore, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new MemorySessions(
        Duration.toMillis(options?.inactiveLifetime ?? Duration.hours(24)),
        Duration.toMillis(options?.purgeInterval ?? Duration.hours(1)),
        options?.maxInactiveBytes
      )
    ),
    (sessions) => Effect.sync(() => sessions.stop())
  ).pipe(Effect.map((sessions): SessionStore => ({
    get: (id) => Effect.sync(() => sessions.get(id)),
    set: (id, session) => Effect.sync(() => void sessions.set(id, session)),
    setInactive: (id) => Effect.sync(() => sessions.setInactive(id)),
    remove: (id) => Effect.sync(() => void sessions.delete(id)),
    onEvict: (listener) => sessions.onEvict((id) => listener(id))
  })))

/**
 * The in-memory store as a layer.
 *
 * @since 0.1.0
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<SessionStore> =>
  Layer.scoped(SessionStore, memory(options))
