/**
 * Internal: sessions as texts in Redis, shared by server nodes, for both
 * APIs (`SessionStore.redis`, the facade's `RedisSessionStorageProvider`):
 * the ioredis client as a scoped resource, the key scheme, and the scripts
 * that keep a node from overwriting a session another node holds. Each API
 * reads the texts back as its own `Session`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, Runtime, type Scope } from "effect"
import { corrupt, type RedisOptions, type SessionStoreError, unavailable } from "../SessionStoreError.js"

// How the store's errors name it.
const storeName = (url: string) => `Session store (Redis at ${url})`

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
 * A session store's operations on the sessions' texts.
 *
 * @since 0.1.0
 */
export interface RedisSessionTexts {
  /** The session's text, if Redis has it; the node now holds it. */
  readonly claim: (id: string) => Effect.Effect<Option.Option<string>, SessionStoreError>
  readonly set: (id: string, text: string) => Effect.Effect<void, SessionStoreError>
  readonly setInactive: (id: string) => Effect.Effect<void, SessionStoreError>
  readonly remove: (id: string) => Effect.Effect<void, SessionStoreError>
  /** Where it is, for messages. */
  readonly url: string
}

/**
 * Connects (for the scope) and gives the operations; see `SessionStore.redis`.
 *
 * @since 0.1.0
 */
export const make = (options?: RedisOptions): Effect.Effect<RedisSessionTexts, never, Scope.Scope> =>
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
    const where = storeName(url)
    const run = <A>(operation: SessionStoreError["operation"], id: string, command: () => Promise<A>) =>
      Effect.tryPromise({ try: command, catch: (cause) => unavailable(where, operation, id, cause) })
    return {
      url,
      claim: (id) => Effect.map(run("get", id, () => scripts.jstpClaim(prefix + id, node)), Option.fromNullable),
      set: (id, text) => Effect.asVoid(run("set", id, () => scripts.jstpSet(prefix + id, text, node))),
      setInactive: (id) => Effect.asVoid(run("setInactive", id, () => scripts.jstpExpire(prefix + id, node, lifetime))),
      remove: (id) => Effect.asVoid(run("remove", id, () => scripts.jstpRemove(prefix + id, node)))
    }
  })


/**
 * The session `claim` found, read back with `fromString` (each API's own
 * `Session`): a text that is not a session fails as `Corrupt`.
 *
 * @since 0.1.0
 */
export const claimSession = <S>(
  texts: RedisSessionTexts,
  id: string,
  fromString: (text: string) => S
): Effect.Effect<Option.Option<S>, SessionStoreError> =>
  Effect.flatMap(texts.claim(id), (text) =>
    Option.isNone(text) ? Effect.succeedNone : Effect.try({
      try: () => Option.some(fromString(text.value)),
      catch: (cause) => corrupt(storeName(texts.url), "get", id, cause)
    }))
