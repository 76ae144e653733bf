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
import type { JournalResult, SessionDelta } from "../engine/SessionJournal.js"
import { corrupt, type RedisOptions, type SessionStoreError, unavailable } from "../SessionStoreError.js"

// How the store's errors name it.
const storeName = (url: string) => `Session store (Redis at ${url})`

// Each session is a hash: its text (Session#toString) and the node that holds
// it. A node writes only a session it holds, so that one that restored the
// session elsewhere is never overwritten by the node it left; restoring
// (get) claims it. An active session has no TTL; a closed one's is
// inactiveLifetime.
//
// Crash-safe mode journals a live session in the same hash, per tick: its
// counters (rc, gdc, lbm) and each request it sent, m:<|id|>, deleted as the
// peer acknowledges them. The text is then the session as it was at its
// first write; reading it back applies the journal (mergeJournal).
const claimScript = `
if not redis.call('HGET', KEYS[1], 'session') then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('PERSIST', KEYS[1])
return redis.call('HGETALL', KEYS[1])`
const setScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'session', ARGV[1], 'owner', ARGV[2])
return 1`
// ARGV: node, active (1 or 0), ttl ms, whole text or '', rc, gdc, lbm, then
// |id|, text pairs. Answers 1, 0 if another node holds the session, 2 if the
// store has it no longer (then the node writes it whole).
const journalScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
if ARGV[4] ~= '' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'session', ARGV[4], 'owner', ARGV[1])
elseif not owner then
  return 2
end
local gdc = tonumber(ARGV[6])
local old = tonumber(redis.call('HGET', KEYS[1], 'gdc') or ARGV[6])
for i = old + 1, gdc do redis.call('HDEL', KEYS[1], 'm:' .. i) end
redis.call('HSET', KEYS[1], 'rc', ARGV[5], 'gdc', ARGV[6], 'lbm', ARGV[7])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], 'm:' .. ARGV[i], ARGV[i + 1]) end
if ARGV[2] == '1' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`
const expireScript = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])`
const removeScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`

interface RedisScripts {
  jstpClaim(key: string, node: string): Promise<Array<string> | null>
  jstpSet(key: string, text: string, node: string): Promise<number>
  jstpExpire(key: string, node: string, ttlMs: number): Promise<number>
  jstpRemove(key: string, node: string): Promise<number>
}

interface RedisPipeline {
  jstpJournal(key: string, ...args: Array<string | number>): RedisPipeline
  exec(): Promise<Array<[Error | null, unknown]> | null>
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
  /** Writes a crash-safe journal's batch, in one round trip. */
  readonly journal: (batch: ReadonlyArray<SessionDelta>) => Effect.Effect<JournalResult, SessionStoreError>
  /** Sends `text` to the other nodes (pub/sub). */
  readonly publish: (text: string) => Effect.Effect<void, SessionStoreError>
  /** What the other nodes publish, from the layer's subscriber connection; returns the unsubscribe. */
  readonly subscribe: (listener: (text: string) => void) => () => void
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
    // A connection, closed with the scope, that says once per change when it
    // loses Redis and when it has it back.
    const connect = (role: string, consequence: string) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const client = new Redis(url, {
            lazyConnect: true,
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000)
          })
          let up: boolean | undefined
          client.on("ready", () => {
            if (up === false) log(Effect.logInfo(`${role}: Redis at ${url} is reachable again`))
            up = true
          })
          client.on("error", (error: Error) => {
            if (up === false) return
            up = false
            log(Effect.logWarning(`${role}: Redis at ${url} unreachable (${error.message}); ${consequence} until it is back`))
          })
          return client
        }),
        (client) => Effect.promise(() => client.quit().then(() => undefined, () => void client.disconnect()))
      ).pipe(Effect.tap((client) =>
        Effect.tryPromise(() => client.connect()).pipe(
          Effect.timeout(options?.connectTimeout ?? Duration.seconds(5)),
          Effect.catchAll(() => Effect.void)
        )
      ))
    const client = yield* connect("Session store", "sessions cannot be stored or restored across nodes")
    client.defineCommand("jstpClaim", { numberOfKeys: 1, lua: claimScript })
    client.defineCommand("jstpSet", { numberOfKeys: 1, lua: setScript })
    client.defineCommand("jstpExpire", { numberOfKeys: 1, lua: expireScript })
    client.defineCommand("jstpRemove", { numberOfKeys: 1, lua: removeScript })
    client.defineCommand("jstpJournal", { numberOfKeys: 1, lua: journalScript })
    // Broadcasts between nodes: each message is the sending node's id, a
    // newline, and the text; a node skips its own.
    const channel = `${prefix}bus`
    const listeners = new Set<(text: string) => void>()
    const subscriber = yield* connect("Cluster", "broadcasts do not reach the other nodes")
    subscriber.on("message", (_: string, message: string) => {
      const newline = message.indexOf("\n")
      if (newline < 0 || message.slice(0, newline) === node) return
      const text = message.slice(newline + 1)
      for (const listener of listeners) listener(text)
    })
    // ioredis subscribes again on its own after a reconnection.
    yield* Effect.tryPromise(() => subscriber.subscribe(channel)).pipe(Effect.catchAll(() => Effect.void))
    const scripts = client as unknown as RedisScripts
    const where = storeName(url)
    const run = <A>(operation: SessionStoreError["operation"], id: string, command: () => Promise<A>) =>
      Effect.tryPromise({ try: command, catch: (cause) => unavailable(where, operation, id, cause) })
    const lifetimeText = String(lifetime)
    return {
      url,
      claim: (id) => Effect.map(run("get", id, () => scripts.jstpClaim(prefix + id, node)), (fields) => Option.map(Option.fromNullable(fields), mergeJournal)),
      set: (id, text) => Effect.asVoid(run("set", id, () => scripts.jstpSet(prefix + id, text, node))),
      setInactive: (id) => Effect.asVoid(run("setInactive", id, () => scripts.jstpExpire(prefix + id, node, lifetime))),
      remove: (id) => Effect.asVoid(run("remove", id, () => scripts.jstpRemove(prefix + id, node))),
      journal: (batch) =>
        run("journal", batch.length === 1 ? batch[0]!.sessionId : `(${batch.length} sessions)`, () => {
          const pipeline = (client as unknown as { pipeline(): RedisPipeline }).pipeline()
          for (const delta of batch) {
            const args: Array<string | number> = [
              node,
              delta.active ? "1" : "0",
              lifetimeText,
              delta.text ?? "",
              delta.receivedCount,
              delta.guaranteedDeliveredCount,
              delta.latestBufferedMessageId
            ]
            for (const [id, text] of delta.added) args.push(id, text)
            pipeline.jstpJournal(prefix + delta.sessionId, ...args)
          }
          return pipeline.exec()
        }).pipe(Effect.flatMap((replies) => {
          const taken: Array<string> = []
          const missing: Array<string> = []
          for (let i = 0; i < batch.length; i++) {
            const [error, reply] = replies?.[i] ?? [new Error("no reply"), undefined]
            if (error !== null) return Effect.fail(unavailable(where, "journal", batch[i]!.sessionId, error))
            if (reply === 0) taken.push(batch[i]!.sessionId)
            else if (reply === 2) missing.push(batch[i]!.sessionId)
          }
          return Effect.succeed({ taken, missing })
        })),
      publish: (text) => Effect.asVoid(run("publish", "(all)", () => client.publish(channel, `${node}\n${text}`))),
      subscribe: (listener) => {
        listeners.add(listener)
        return () => void listeners.delete(listener)
      }
    }
  })

/**
 * The session's text with its journal applied (see the scripts above), from
 * the hash's fields as HGETALL lists them. Counters that do not parse are
 * left for `Session.fromString` to refuse.
 *
 * @since 0.1.0
 */
export const mergeJournal = (flat: ReadonlyArray<string>): string => {
  const fields = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!)
  const text = fields.get("session") ?? ""
  const gdc = fields.get("gdc")
  if (gdc === undefined) return text
  let data: Record<string, unknown>
  try {
    data = JSON.parse(text) as Record<string, unknown>
  } catch {
    return text
  }
  if (typeof data !== "object" || data === null || !Array.isArray(data.buffer)) return text
  const acknowledged = Number(gdc)
  const buffer = new Map<number, unknown>(data.buffer as Array<[number, unknown]>)
  for (const [field, value] of fields) if (field.startsWith("m:")) buffer.set(Number(field.slice(2)), value)
  for (const id of buffer.keys()) if (!(id > acknowledged)) buffer.delete(id)
  return JSON.stringify({
    ...data,
    receivedCount: Number(fields.get("rc")),
    guaranteedDeliveredCount: acknowledged,
    latestBufferedMessageId: Number(fields.get("lbm")),
    buffer: [...buffer].sort((a, b) => a[0] - b[0])
  })
}


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
