/**
 * Where a server keeps the sessions of closed connections, so that a client
 * can restore its session later (protocol.md §8). In memory by default.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import type { Session } from "./engine/Session.js"

/**
 * @since 0.1.0
 */
export interface SessionStore {
  readonly get: (id: string) => Effect.Effect<Session | undefined>
  readonly set: (id: string, session: Session) => Effect.Effect<void>
  /** The session's connection closed. */
  readonly setInactive: (id: string) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 */
export class SessionStoreTag extends Context.Tag("effect-jstp/SessionStore")<SessionStoreTag, SessionStore>() {}

/**
 * A store in a Map, for one process.
 *
 * @since 0.1.0
 */
export const makeMemory = (): SessionStore => {
  const sessions = new Map<string, Session>()
  return {
    get: (id) => Effect.sync(() => sessions.get(id)),
    set: (id, session) => Effect.sync(() => void sessions.set(id, session)),
    setInactive: () => Effect.void
  }
}

/**
 * The in-memory store as a layer.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<SessionStoreTag> = Layer.sync(SessionStoreTag, makeMemory)
