// SessionStore.redis against a real, private redis-server (test/support/redis.ts):
// the store's semantics (TTL when inactive, claiming on restore, a node never
// overwriting a session another node holds), two servers sharing it (a client
// whose server goes away restores its session on the other), and Redis
// stopped and back while a server serves.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Option, Schedule, Scope, Stream } from "effect"
import { Application, Connection, Server, Session, SessionStore } from "effect-jstp"
import { Application as CompatApplication, net as compatNet } from "effect-jstp/compat"
import { RedisSessionStorageProvider } from "effect-jstp/redis"
import { Redis } from "ioredis"
import type { AddressInfo, Socket } from "node:net"
import { closeServer, trackSockets } from "./support/compat.js"
import { withTool } from "./support/external.js"
import * as Ref from "./support/jstp.js"
import { privateRedis, redisServer } from "./support/redis.js"
import { captureLogs, eventually, portOf, TCP } from "./support/servers.js"

const app = Application.make({
  name: "calc",
  api: { calc: { add: (_connection: Connection.Connection, a: number, b: number) => Effect.succeed(a + b) } }
})

const address = (port: number) => ({ _tag: "Tcp" as const, host: "127.0.0.1", port })

const { jstp } = Ref

type CompatServer = ReturnType<typeof compatNet.createServer>

const redisPath = "path" in redisServer ? redisServer.path : ""

/** A raw client on the same Redis, to look at what the store wrote. */
const inspector = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url)), (client) => Effect.promise(() => client.quit()))

/** A server with a Redis store of its own (one node), in a scope the test closes. */
const node = (url: string, options: Partial<Server.Options<never>> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(SessionStore.layerRedis({ url, connectTimeout: "2 seconds" }), scope)
    const server = yield* Server.make({ applications: [app], listen: [TCP], ...options }).pipe(
      Effect.provide(context),
      Scope.extend(scope)
    )
    return { server, port: portOf(server.addresses[0]), close: Scope.close(scope, Exit.void) }
  })

/**
 * A facade server of `application` with a RedisSessionStorageProvider on
 * `url`, for the scope. It closes when its sockets are gone (as 2.x's): they
 * are destroyed first.
 */
const facadeServer = (url: string, application: InstanceType<typeof CompatApplication>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: CompatServer; readonly port: number; readonly provider: RedisSessionStorageProvider; readonly sockets: Set<Socket> }>((resume) => {
      const provider = new RedisSessionStorageProvider({ url })
      const server = compatNet.createServer({ applications: [application], sessionStorageProvider: provider })
      const sockets = trackSockets(server)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, port: (server.address() as AddressInfo).port, provider, sockets })))
    }),
    ({ provider, server, sockets }) =>
      Effect.zipRight(Effect.promise(() => closeServer(server, sockets)), Effect.promise(() => provider.close()))
  )

/** What the 2.x-style clients (2.3.0's and the facade's) share here. */
interface TwoXConnection {
  callMethod(iface: string, method: string, args: ReadonlyArray<unknown>, callback: (error: unknown, ...results: Array<unknown>) => void): void
  close(): void
}

type TwoXConnect = (
  app: string,
  client: { readonly reconnector: (connection: unknown, reconnect: (...options: Array<unknown>) => void) => void },
  port: number,
  host: string,
  callback: (error: unknown, connection?: TwoXConnection, session?: { readonly id: string }) => void
) => void

/**
 * A 2.x-style client of `connect` on `firstPort` whose reconnector dials
 * `nextPort`: `add` calls calc.add, `reconnected` completes on the first
 * reconnection that succeeds. It stops reconnecting and closes with the scope.
 */
const twoXClient = (connect: TwoXConnect, firstPort: number, nextPort: number) =>
  Effect.gen(function*() {
    let stopped = false
    const reconnected = yield* Deferred.make<void>()
    const { connection, session } = yield* Effect.async<{ readonly connection: TwoXConnection; readonly session: { readonly id: string } }, unknown>((resume) =>
      connect("calc", {
        reconnector: (_connection, reconnect) =>
          setTimeout(() => {
            if (stopped) return
            reconnect(nextPort, "127.0.0.1", (error: unknown) => {
              if (error === null || error === undefined) Deferred.unsafeDone(reconnected, Effect.void)
            })
          }, 30)
      }, firstPort, "127.0.0.1", (error, connection, session) =>
        error === null && connection !== undefined && session !== undefined
          ? resume(Effect.succeed({ connection, session }))
          : resume(Effect.fail(error)))
    )
    const stop = Effect.sync(() => {
      stopped = true
    })
    yield* Effect.addFinalizer(() => Effect.zipRight(stop, Effect.sync(() => connection.close())))
    const add = (x: number, y: number) =>
      Effect.async<ReadonlyArray<unknown>, unknown>((resume) =>
        connection.callMethod("calc", "add", [x, y], (error, ...results) => resume(error ? Effect.fail(error) : Effect.succeed(results))))
    return { session, add, stop, reconnected: Deferred.await(reconnected).pipe(Effect.timeout("5 seconds")) }
  })

describe("SessionStore.redis", () => {
  withTool(redisServer, "set, get (which claims), setInactive's TTL, remove; a node never overwrites a session another holds", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const raw = yield* inspector(redis.url)
        const first = yield* SessionStore.redis({ url: redis.url, inactiveLifetime: "10 seconds" })
        const second = yield* SessionStore.redis({ url: redis.url })
        const session = new Session(undefined, "alice")
        session.set("cart", ["tea"])
        const key = `jstp:session:${session.id}`
        yield* first.set(session.id, session)
        expect(yield* Effect.promise(() => raw.ttl(key))).toBe(-1) // active: no TTL
        yield* first.setInactive(session.id)
        const ttl = yield* Effect.promise(() => raw.pttl(key))
        expect(ttl).toBeGreaterThan(9_000)
        expect(ttl).toBeLessThanOrEqual(10_000)
        // Another node restores it: it holds it now, active again.
        const restored = yield* second.get(session.id)
        expect(Option.map(restored, (s) => [s.id, s.username, s.get("cart")])).toEqual(Option.some([session.id, "alice", ["tea"]]))
        expect(yield* Effect.promise(() => raw.ttl(key))).toBe(-1)
        // The node it left cannot overwrite, expire or remove it.
        const stale = new Session(session.id, "alice")
        stale.set("cart", ["stale"])
        yield* first.set(session.id, stale)
        yield* first.setInactive(session.id)
        yield* first.remove!(session.id)
        expect(yield* Effect.promise(() => raw.ttl(key))).toBe(-1)
        const kept = Option.getOrThrow(yield* second.get(session.id))
        expect(kept.get("cart")).toEqual(["tea"])
        // Its holder can.
        yield* second.remove!(session.id)
        expect(yield* Effect.promise(() => raw.exists(key))).toBe(0)
        expect(yield* second.get(session.id)).toEqual(Option.none())
        // What is not a session is Corrupt.
        yield* Effect.promise(() => raw.hset("jstp:session:bad", "session", "nonsense"))
        const corrupt = yield* Effect.flip(first.get("bad"))
        expect([corrupt._tag, corrupt.reason, corrupt.operation]).toEqual(["SessionStoreError", "Corrupt", "get"])
      })))

  withTool(redisServer, "two servers share it: a client whose server closes restores its session on the other", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const a = yield* node(redis.url)
        const b = yield* node(redis.url)
        const connection = yield* Connection.connect({
          address: address(a.port),
          application: "calc",
          reconnect: { schedule: Schedule.spaced("30 millis"), target: () => address(b.port) }
        })
        const steps: Array<string> = []
        yield* connection.lifecycle.pipe(Stream.runForEach((step) => Effect.sync(() => steps.push(step._tag))), Effect.forkScoped)
        expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
        const sessionId = connection.session()!.id
        // Application state kept in the server's session travels with it.
        a.server.connections()[0]!.session()!.set("visits", 3)
        yield* a.close
        yield* eventually(Effect.sync(() => steps), (s) => s.includes("Restored"), "the restore on the other server")
        expect(steps).not.toContain("Renewed")
        expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
        const onB = b.server.connections()
        expect(onB.map((c) => c.session()?.id)).toEqual([sessionId])
        expect(onB[0]!.session()!.get("visits")).toBe(3)
        yield* b.close
      })))

  withTool(redisServer, "the 2.3.0 client, its reconnector dialling the other server, restores its session there", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const a = yield* node(redis.url)
        const b = yield* node(redis.url)
        const client = yield* twoXClient(jstp.net.connect as unknown as TwoXConnect, a.port, b.port)
        expect(yield* client.add(1, 2)).toEqual([3])
        yield* a.close
        yield* client.reconnected
        expect(yield* client.add(2, 3)).toEqual([5])
        expect(b.server.connections().map((c) => c.session()?.id)).toEqual([client.session.id])
        yield* client.stop
        yield* b.close
      })))

  withTool(redisServer, "the facade: two servers with RedisSessionStorageProvider, a facade client restores on the other", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const calc = new CompatApplication("calc", {
          calc: { add: (_c: unknown, a: number, b: number, callback: (error: unknown, sum?: number) => void) => callback(null, a + b) }
        })
        const facadeNode = facadeServer(redis.url, calc)
        const aScope = yield* Scope.make()
        const a = yield* Scope.extend(facadeNode, aScope)
        const b = yield* facadeNode
        const client = yield* twoXClient(compatNet.connect as unknown as TwoXConnect, a.port, b.port)
        expect(yield* client.add(1, 2)).toEqual([3])
        yield* Scope.close(aScope, Exit.void)
        yield* client.reconnected
        expect(yield* client.add(2, 3)).toEqual([5])
        expect(b.server.getClientsArray().map((c) => c.session?.id)).toEqual([client.session.id])
        yield* client.stop
      })))

  withTool(redisServer, "across nodes: broadcast reaches every node's connections, sendTo a user or a session wherever it is, the facade's broadcast too", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        // Any login is its user name.
        const authPolicy: Server.AuthPolicy = ({ credentials }) => Effect.succeed((credentials as ReadonlyArray<string>)[0])
        const a = yield* node(redis.url, { authPolicy })
        const b = yield* node(redis.url, { authPolicy })
        const client = (port: number, login: string) =>
          Effect.gen(function*() {
            const got: Array<string> = []
            const connection = yield* Connection.connect({
              address: address(port),
              application: "calc",
              credentials: { _tag: "Login", login, password: "" },
              onEvent: ({ args, event, iface }) => got.push(`${iface}.${event}(${args.join(",")})`)
            })
            return { got, sessionId: connection.session()!.id }
          })
        const aliceOnA = yield* client(a.port, "alice")
        const aliceOnB = yield* client(b.port, "alice")
        const bobOnB = yield* client(b.port, "bob")
        // A facade node on the same Redis, and a 2.3.0 client of it.
        const facadeGot: Array<string> = []
        const calc = new CompatApplication("calc", { calc: {} })
        const facade = yield* facadeServer(redis.url, calc)
        const listener = new jstp.Application("jstp", {}, {
          news: { flash: (_connection: never, ...args: Array<unknown>) => void facadeGot.push(`news.flash(${args.join(",")})`) }
        })
        const refConnection = yield* Effect.async<Ref.Connection, unknown>((resume) =>
          jstp.net.connect("calc", { application: listener }, facade.port, "127.0.0.1", (error, connection) =>
            error === null && connection !== undefined ? resume(Effect.succeed(connection)) : resume(Effect.fail(error))))
        yield* Effect.addFinalizer(() => Effect.sync(() => refConnection.close()))
        // Subscriptions to the other nodes are in place once a message goes through.
        yield* eventually(
          Effect.zipRight(a.server.broadcast("news", "flash", ["warmup"]), Effect.sync(() => Math.min(facadeGot.length, bobOnB.got.length))),
          (n) => n >= 1,
          "the first broadcast across nodes"
        )
        yield* Effect.sleep("100 millis")
        const all = [aliceOnA, aliceOnB, bobOnB]
        for (const c of all) c.got.length = 0
        facadeGot.length = 0
        yield* a.server.broadcast("news", "flash", ["one"])
        yield* a.server.sendTo({ user: "alice" }, "news", "flash", ["to alice"])
        yield* b.server.sendTo({ session: aliceOnA.sessionId }, "news", "flash", ["to one session"])
        facade.server.broadcast("news", "flash", "from the facade")
        const want = {
          aliceOnA: ["news.flash(one)", "news.flash(to alice)", "news.flash(to one session)", "news.flash(from the facade)"],
          aliceOnB: ["news.flash(one)", "news.flash(to alice)", "news.flash(from the facade)"],
          bobOnB: ["news.flash(one)", "news.flash(from the facade)"],
          facade: ["news.flash(one)", "news.flash(from the facade)"]
        }
        // Events from different nodes have no order between them: compared sorted.
        for (const list of Object.values(want)) list.sort()
        const sorted = (got: Array<string>) => [...got].sort()
        const seen = () => ({ aliceOnA: sorted(aliceOnA.got), aliceOnB: sorted(aliceOnB.got), bobOnB: sorted(bobOnB.got), facade: sorted(facadeGot) })
        yield* eventually(Effect.sync(() => JSON.stringify(seen())), (text) => text === JSON.stringify(want), "every node's deliveries")
        // And nothing more arrives.
        yield* Effect.sleep("100 millis")
        expect(seen()).toEqual(want)
        yield* a.close
        yield* b.close
      })))

  withTool(redisServer, "Redis stopped while a server serves: it goes on, says what is degraded, and recovers when Redis is back", (name) => {
    const logs = captureLogs()
    return it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const { close, server } = yield* node(redis.url)
        const events = yield* server.subscribe
        const failed: Array<string> = []
        yield* events.pipe(
          Stream.runForEach((event) => Effect.sync(() => event._tag === "SessionStoreFailed" && failed.push(event.error.operation))),
          Effect.forkScoped
        )
        yield* redis.stop
        yield* eventually(Effect.sync(() => logs.lines.filter((l) => l.text.includes("unreachable")).length), (n) => n >= 1, "the degraded log")
        // Still serving: a new client connects and calls.
        const scope = yield* Scope.make()
        const client = yield* Connection.connect({ address: address(portOf(server.addresses[0])), application: "calc" }).pipe(
          Scope.extend(scope)
        )
        expect(yield* client.call("calc", "add", [1, 1])).toEqual([2])
        // Its session cannot be stored when it leaves: reported.
        yield* Scope.close(scope, Exit.void)
        yield* eventually(Effect.sync(() => failed.length), (n) => n >= 1, "SessionStoreFailed")
        expect(failed[0]).toBe("set")
        // Redis back: the store reconnects by itself, and stores again.
        yield* redis.start
        // Once per connection (the store's and the cluster's subscriber), each.
        const said = (role: string, what: string) => logs.lines.filter((l) => l.text.startsWith(`${role}: Redis`) && l.text.includes(what)).length
        yield* eventually(Effect.sync(() => [said("Session store", "reachable again"), said("Cluster", "reachable again")]), ([a, b]) => a === 1 && b === 1, "the recovery logs")
        const before = failed.length
        const again = yield* Connection.connect({ address: address(portOf(server.addresses[0])), application: "calc" })
        const id = again.session()!.id
        yield* again.close
        const raw = yield* inspector(redis.url)
        yield* eventually(Effect.promise(() => raw.exists(`jstp:session:${id}`)), (n) => n === 1, "the session stored")
        expect(failed.length).toBe(before)
        expect([said("Session store", "unreachable"), said("Cluster", "unreachable")]).toEqual([1, 1])
        yield* close
      }).pipe(Effect.provide(logs.layer)))
  })
})
