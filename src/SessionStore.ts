/**
 * Where a server keeps the sessions of closed connections, so that a client
 * can restore its session later (protocol.md §8). In memory by default.
 *
 * @since 0.1.0
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { Context, Duration, Effect, Either, Layer, Option, Schedule, type Scope } from "effect"
import { MemorySessions } from "./engine/MemorySessions.js"
import * as RedisSessions from "./internal/RedisSessions.js"
import { Session } from "./engine/Session.js"
import type { JournalResult, SessionDelta } from "./engine/SessionJournal.js"
import { corrupt, type RedisOptions, type SessionStoreError, unavailable } from "./SessionStoreError.js"

export { type RedisOptions, SessionStoreError } from "./SessionStoreError.js"
export type {
  /** @since 0.1.0 */
  JournalResult,
  /** @since 0.1.0 */
  SessionDelta
} from "./engine/SessionJournal.js"

/**
 * A session store. Its operations may answer at once or later (any Effect).
 *
 * @since 0.1.0
 */
export interface SessionStore {
  /** The session, if the store has it. */
  readonly get: (id: string) => Effect.Effect<Option.Option<Session>, SessionStoreError>
  /** Keeps a session (a connection of it closed, or its state changed). */
  readonly set: (id: string, session: Session) => Effect.Effect<void, SessionStoreError>
  /** The session's connection closed. */
  readonly setInactive: (id: string) => Effect.Effect<void, SessionStoreError>
  /**
   * Forgets a session (the server ended it: it must never be restored).
   * Without it the server stores the session marked `ended`, which it then
   * refuses to restore, if the store keeps that mark.
   */
  readonly remove?: ((id: string) => Effect.Effect<void, SessionStoreError>) | undefined
  /**
   * Subscribes to the sessions the store evicts on its own (to keep a
   * memory budget), so that the server drops them too and reports each;
   * returns the unsubscribe.
   */
  readonly onEvict?: ((listener: (id: string) => void) => () => void) | undefined
  /**
   * Crash-safe mode: writes a batch of changes to live sessions (see
   * `RedisOptions.crashSafe`). A store that has it is asked once per tick
   * while sessions change, and `get` must return them with their changes.
   */
  readonly journal?: ((batch: ReadonlyArray<SessionDelta>) => Effect.Effect<JournalResult, SessionStoreError>) | undefined
  /**
   * A store shared by server nodes may carry their broadcasts: `publish`
   * reaches every other node, whose `subscribe` listener gets the text.
   */
  readonly bus?: {
    readonly publish: (text: string) => Effect.Effect<void, SessionStoreError>
    readonly subscribe: (listener: (text: string) => void) => () => void
  } | undefined
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
    get: (id) => Effect.sync(() => Option.fromNullable(sessions.get(id))),
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

/**
 * @since 0.1.0
 */
export interface KeyValueStoreOptions {
  /** Prepended to each session id to make its key. Default `"jstp-session:"`. */
  readonly prefix?: string | undefined
  /** Sessions inactive this long are no longer restored, and removed. Default 24 hours. */
  readonly inactiveLifetime?: Duration.DurationInput | undefined
  /** How often to remove the expired ones. Default 1 hour. */
  readonly purgeInterval?: Duration.DurationInput | undefined
}

// What is kept per session: its text (Session#toString) and, once its
// connection closed, when.
interface Entry {
  readonly session: string
  readonly inactiveSince: number | null
}

const parseEntry = (text: string): Entry | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value !== "object" || value === null) return undefined
    const { inactiveSince, session } = value as Record<string, unknown>
    if (typeof session !== "string" || (inactiveSince !== null && typeof inactiveSince !== "number")) return undefined
    return { session, inactiveSince }
  } catch {
    return undefined
  }
}

/**
 * A store over `@effect/platform`'s `KeyValueStore`: with
 * `KeyValueStore.layerFileSystem(directory)`, a single server keeps its
 * sessions on disk, and its clients restore them after a restart. Each
 * session is one key (its id after `prefix`), plus one key (`prefix` +
 * `"index"`) listing them for the purge, which removes sessions inactive
 * longer than `inactiveLifetime`. The store is only touched at connect and
 * disconnect, never per message.
 *
 * @since 0.1.0
 */
export const fromKeyValueStore = (
  options?: KeyValueStoreOptions
): Effect.Effect<SessionStore, never, KeyValueStore.KeyValueStore | Scope.Scope> =>
  Effect.gen(function*() {
    const kv = yield* KeyValueStore.KeyValueStore
    const prefix = options?.prefix ?? "jstp-session:"
    const lifetime = Duration.toMillis(options?.inactiveLifetime ?? Duration.hours(24))
    const indexKey = `${prefix}index`
    const unavailableFor = (operation: SessionStoreError["operation"], sessionId: string) => (cause: unknown) =>
      unavailable("Session store", operation, sessionId, cause)
    // The index changes only as sessions come and go, one writer at a time.
    // This store is its only writer (one server), so it is read once, then
    // kept here and written through.
    const lock = yield* Effect.makeSemaphore(1)
    let index: Set<string> | undefined
    const loadIndex = Effect.suspend(() =>
      index !== undefined ? Effect.succeed(index) : kv.get(indexKey).pipe(
        Effect.map((text) => {
          const ids: unknown = Option.isNone(text) ? [] : Either.getOrUndefined(Either.try(() => JSON.parse(text.value)))
          index = new Set(Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [])
          return index
        })
      )
    )
    const updateIndex = (change: (ids: Set<string>) => boolean) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const ids = yield* loadIndex
        if (change(ids)) yield* kv.set(indexKey, JSON.stringify([...ids]))
      }))
    const readEntry = (operation: SessionStoreError["operation"], id: string) =>
      kv.get(prefix + id).pipe(
        Effect.mapError(unavailableFor(operation, id)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(Option.none<Entry>()),
          onSome: (text) => {
            const entry = parseEntry(text)
            return entry === undefined
              ? Effect.fail(corrupt("Session store", operation, id, "not a stored session"))
              : Effect.succeed(Option.some(entry))
          }
        }))
      )
    const expired = (entry: Entry, now: number) => entry.inactiveSince !== null && now - entry.inactiveSince >= lifetime
    const remove = (id: string) =>
      kv.remove(prefix + id).pipe(
        Effect.zipRight(updateIndex((ids) => ids.delete(id))),
        Effect.mapError(unavailableFor("remove", id))
      )
    const store: SessionStore = {
      get: (id) =>
        Effect.gen(function*() {
          const entry = yield* readEntry("get", id)
          if (Option.isNone(entry)) return Option.none()
          if (expired(entry.value, Date.now())) {
            yield* remove(id)
            return Option.none()
          }
          return Option.some(yield* Effect.try({
            try: () => Session.fromString(entry.value.session),
            catch: (cause) => corrupt("Session store", "get", id, cause)
          }))
        }),
      set: (id, session) =>
        kv.set(prefix + id, JSON.stringify({ session: session.toString(), inactiveSince: null } satisfies Entry)).pipe(
          Effect.zipRight(updateIndex((ids) => {
            if (ids.has(id)) return false
            ids.add(id)
            return true
          })),
          Effect.mapError(unavailableFor("set", id))
        ),
      setInactive: (id) =>
        Effect.gen(function*() {
          const entry = yield* readEntry("setInactive", id)
          if (Option.isNone(entry)) return
          yield* kv.set(prefix + id, JSON.stringify({ ...entry.value, inactiveSince: Date.now() } satisfies Entry)).pipe(
            Effect.mapError(unavailableFor("setInactive", id))
          )
        }),
      remove
    }
    // The purge: sessions inactive past their lifetime, and index entries
    // whose session is gone. A failed round is logged; the next one retries.
    const purge = Effect.gen(function*() {
      const now = Date.now()
      for (const id of [...(yield* lock.withPermits(1)(loadIndex))]) {
        const entry = yield* kv.get(prefix + id)
        const parsed = Option.map(entry, parseEntry)
        if (Option.isNone(parsed) || parsed.value === undefined || expired(parsed.value, now)) yield* remove(id)
      }
    }).pipe(Effect.catchAll((error) => Effect.logWarning("Session store: purge failed; retried later", error)))
    yield* purge.pipe(
      Effect.repeat(Schedule.spaced(options?.purgeInterval ?? Duration.hours(1))),
      Effect.delay(options?.purgeInterval ?? Duration.hours(1)),
      Effect.interruptible,
      Effect.forkScoped
    )
    return store
  })

/**
 * `fromKeyValueStore` as a layer: `SessionStore.layerKeyValueStore().pipe(Layer.provide(KeyValueStore.layerFileSystem(dir)))`
 * (with `NodeContext.layer` for the file system).
 *
 * @since 0.1.0
 */
export const layerKeyValueStore = (
  options?: KeyValueStoreOptions
): Layer.Layer<SessionStore, never, KeyValueStore.KeyValueStore> => Layer.scoped(SessionStore, fromKeyValueStore(options))

/**
 * A store in Redis, shared by server nodes: a dropped connection's session,
 * stored with its TTL, is restored by any node that uses the same Redis
 * (the node that restores it holds it from then on, and the node it left
 * never overwrites it), and a server's `broadcast` and `sendTo` reach the
 * connections of every node (pub/sub). The store is touched at connect and
 * disconnect only, never per message, unless `crashSafe` is set. Built on
 * ioredis (an optional peer dependency: install it to use this); its two
 * connections (commands, and the subscriber) are the layer's, closed with
 * its scope. While Redis is unreachable the store's operations fail at once
 * (no queue): the server reports it as `SessionStoreFailed` and goes on
 * serving its own connections; the store logs when it loses Redis and when
 * it has it back, and reconnects on its own.
 *
 * @since 0.1.0
 */
export const redis = (options?: RedisOptions): Effect.Effect<SessionStore, never, Scope.Scope> =>
  Effect.map(RedisSessions.make(options), (texts): SessionStore => ({
    get: (id) => RedisSessions.claimSession(texts, id, Session.fromString),
    set: (id, session) => texts.set(id, session.toString()),
    setInactive: texts.setInactive,
    remove: texts.remove,
    journal: options?.crashSafe === true ? texts.journal : undefined,
    bus: { publish: texts.publish, subscribe: texts.subscribe }
  }))

/**
 * `redis` as a layer: `SessionStore.layerRedis({ url: process.env.REDIS_URL })`.
 *
 * @since 0.1.0
 */
export const layerRedis = (options?: RedisOptions): Layer.Layer<SessionStore> => Layer.scoped(SessionStore, redis(options))
