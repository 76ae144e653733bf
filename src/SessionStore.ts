/**
 * Where a server keeps the sessions of closed connections, so that a client
 * can restore its session later (protocol.md §8). In memory by default.
 *
 * @since 0.1.0
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { Context, Data, Duration, Effect, Either, Layer, Option, Runtime, Schedule, type Scope } from "effect"
import { MemorySessions } from "./engine/MemorySessions.js"
import { Session } from "./engine/Session.js"

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
  readonly operation: "get" | "set" | "setInactive" | "remove"
  readonly sessionId: string
  readonly message: string
  readonly cause?: unknown
}> {}

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
    const unavailable = (operation: SessionStoreError["operation"], sessionId: string) => (cause: unknown) =>
      new SessionStoreError({
        reason: "Unavailable",
        operation,
        sessionId,
        message: `Session store: ${operation} ${sessionId} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
    const corrupt = (operation: SessionStoreError["operation"], sessionId: string, why: string) =>
      new SessionStoreError({ reason: "Corrupt", operation, sessionId, message: `Session store: ${sessionId}: ${why}` })
    // The index changes only as sessions come and go, one writer at a time.
    const lock = yield* Effect.makeSemaphore(1)
    const readIndex = kv.get(indexKey).pipe(
      Effect.map(Option.match({
        onNone: (): Array<string> => [],
        onSome: (text) => {
          const ids: unknown = Either.getOrUndefined(Either.try(() => JSON.parse(text)))
          return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : []
        }
      }))
    )
    const updateIndex = (change: (ids: Set<string>) => boolean) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const ids = new Set(yield* readIndex)
        if (change(ids)) yield* kv.set(indexKey, JSON.stringify([...ids]))
      }))
    const readEntry = (operation: SessionStoreError["operation"], id: string) =>
      kv.get(prefix + id).pipe(
        Effect.mapError(unavailable(operation, id)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed(Option.none<Entry>()),
          onSome: (text) => {
            const entry = parseEntry(text)
            return entry === undefined ? Effect.fail(corrupt(operation, id, "not a stored session")) : Effect.succeed(Option.some(entry))
          }
        }))
      )
    const expired = (entry: Entry, now: number) => entry.inactiveSince !== null && now - entry.inactiveSince >= lifetime
    const remove = (id: string) =>
      kv.remove(prefix + id).pipe(
        Effect.zipRight(updateIndex((ids) => ids.delete(id))),
        Effect.mapError(unavailable("remove", id))
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
            catch: (cause) => corrupt("get", id, cause instanceof Error ? cause.message : String(cause))
          }))
        }),
      set: (id, session) =>
        kv.set(prefix + id, JSON.stringify({ session: session.toString(), inactiveSince: null } satisfies Entry)).pipe(
          Effect.zipRight(updateIndex((ids) => {
            if (ids.has(id)) return false
            ids.add(id)
            return true
          })),
          Effect.mapError(unavailable("set", id))
        ),
      setInactive: (id) =>
        Effect.gen(function*() {
          const entry = yield* readEntry("setInactive", id)
          if (Option.isNone(entry)) return
          yield* kv.set(prefix + id, JSON.stringify({ ...entry.value, inactiveSince: Date.now() } satisfies Entry)).pipe(
            Effect.mapError(unavailable("setInactive", id))
          )
        }),
      remove
    }
    // The purge: sessions inactive past their lifetime, and index entries
    // whose session is gone. A failed round is logged; the next one retries.
    const purge = Effect.gen(function*() {
      const now = Date.now()
      for (const id of yield* readIndex) {
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
}

// Each session is a hash: its text (Session#toString) and the node that holds
// it. A node writes only a session it holds, so that one that restored the
// session elsewhere is never overwritten by the node it left; restoring
// (get) claims it. An active session has no TTL; a closed one's is
// inactiveLifetime.
const claimScript = `
local text = redis.call('HGET', KEYS[1], 'session')
if not text then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('PERSIST', KEYS[1])
return text`
const setScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'session', ARGV[1], 'owner', ARGV[2])
redis.call('PERSIST', KEYS[1])
return 1`
const expireScript = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`
const removeScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`

interface RedisScripts {
  jstpClaim(key: string, node: string): Promise<string | null>
  jstpSet(key: string, text: string, node: string): Promise<number>
  jstpExpire(key: string, node: string, ttlMs: number): Promise<number>
  jstpRemove(key: string, node: string): Promise<number>
}

/**
 * A store in Redis, shared by server nodes: a dropped connection's session,
 * stored with its TTL, is restored by any node that uses the same Redis
 * (the node that restores it holds it from then on, and the node it left
 * never overwrites it). The store is touched at connect and disconnect only,
 * never per message. Built on ioredis (an optional peer dependency: install
 * it to use this); its connection is the layer's, closed with its scope.
 * While Redis is unreachable the store's operations fail at once (no queue):
 * the server reports each as `SessionStoreFailed` and goes on serving its
 * own connections; the store logs when it loses Redis and when it has it
 * back, and reconnects on its own.
 *
 * @since 0.1.0
 */
export const redis = (options?: RedisOptions): Effect.Effect<SessionStore, never, Scope.Scope> =>
  Effect.gen(function*() {
    const url = options?.url ?? "redis://127.0.0.1:6379"
    const prefix = options?.prefix ?? "jstp:session:"
    const lifetime = Duration.toMillis(options?.inactiveLifetime ?? Duration.hours(24))
    const node = globalThis.crypto.randomUUID()
    const { Redis } = yield* Effect.promise(() => import("ioredis"))
    const runtime = yield* Effect.runtime<never>()
    const log = (effect: Effect.Effect<void>) => Runtime.runFork(runtime)(effect)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(url, {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000)
        })
        client.defineCommand("jstpClaim", { numberOfKeys: 1, lua: claimScript })
        client.defineCommand("jstpSet", { numberOfKeys: 1, lua: setScript })
        client.defineCommand("jstpExpire", { numberOfKeys: 1, lua: expireScript })
        client.defineCommand("jstpRemove", { numberOfKeys: 1, lua: removeScript })
        // Said once per change: lost, then back.
        let up: boolean | undefined
        client.on("ready", () => {
          if (up === false) log(Effect.logInfo(`Session store: Redis at ${url} is reachable again; sessions are stored again`))
          up = true
        })
        client.on("error", (error: Error) => {
          if (up === false) return
          up = false
          log(Effect.logWarning(`Session store: Redis at ${url} unreachable (${error.message}); sessions cannot be stored or restored across nodes until it is back`))
        })
        return client
      }),
      (client) => Effect.promise(() => client.quit().then(() => undefined, () => void client.disconnect()))
    )
    yield* Effect.tryPromise(() => client.connect()).pipe(
      Effect.timeout(options?.connectTimeout ?? Duration.seconds(5)),
      Effect.catchAll(() => Effect.void)
    )
    const scripts = client as unknown as RedisScripts
    const fail = (operation: SessionStoreError["operation"], sessionId: string) => (cause: unknown) =>
      new SessionStoreError({
        reason: "Unavailable",
        operation,
        sessionId,
        message: `Session store (Redis at ${url}): ${operation} ${sessionId} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
    const run = <A>(operation: SessionStoreError["operation"], id: string, command: () => Promise<A>) =>
      Effect.tryPromise({ try: command, catch: fail(operation, id) })
    return {
      get: (id) =>
        run("get", id, () => scripts.jstpClaim(prefix + id, node)).pipe(
          Effect.flatMap((text) =>
            text === null ? Effect.succeedNone : Effect.try({
              try: () => Option.some(Session.fromString(text)),
              catch: (cause) =>
                new SessionStoreError({
                  reason: "Corrupt",
                  operation: "get",
                  sessionId: id,
                  message: `Session store (Redis at ${url}): ${id}: ${cause instanceof Error ? cause.message : String(cause)}`,
                  cause
                })
            })
          )
        ),
      set: (id, session) => Effect.asVoid(run("set", id, () => scripts.jstpSet(prefix + id, session.toString(), node))),
      setInactive: (id) => Effect.asVoid(run("setInactive", id, () => scripts.jstpExpire(prefix + id, node, lifetime))),
      remove: (id) => Effect.asVoid(run("remove", id, () => scripts.jstpRemove(prefix + id, node)))
    } satisfies SessionStore
  })

/**
 * `redis` as a layer: `SessionStore.layerRedis({ url: process.env.REDIS_URL })`.
 *
 * @since 0.1.0
 */
export const layerRedis = (options?: RedisOptions): Layer.Layer<SessionStore> => Layer.scoped(SessionStore, redis(options))
