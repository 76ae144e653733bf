// Multi-process: three nodes of examples/cluster.ts on a private Redis, in
// crash-safe mode. A node killed with SIGKILL mid-stream: its clients (ours
// and 2.3.0's, whose reconnectFn dials another node) restore their sessions
// on the others and get every event the dead node sent, exactly once, in
// order; a call whose answer died with it fails with ERR_CALLBACK_LOST (-1),
// and the resending call runs again on the new node. Redis killed and
// started again while the nodes serve: they keep serving, and broadcasts
// and crash-safe restores work again once it is back.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Schedule, type Scope } from "effect"
import { Connection, RemoteError } from "effect-jstp"
import { Redis } from "ioredis"
import { spawn } from "node:child_process"
import { type ClusterNode, clusterNode } from "./support/cluster.js"
import { withTool } from "./support/external.js"
import * as Ref from "./support/jstp.js"
import { privateRedis, redisServer } from "./support/redis.js"
import { root } from "./support/run.js"
import { eventually } from "./support/servers.js"

const { jstp } = Ref
const redisPath = "path" in redisServer ? redisServer.path : ""
const tcp = (port: number) => ({ _tag: "Tcp" as const, host: "127.0.0.1", port })

/** What each client under test records. */
interface Follower {
  readonly items: Array<number>
  readonly sessionId: string
  /** The node it is connected to now (asked with feed.whoami). */
  readonly whoami: Effect.Effect<string, unknown>
  /** Starts feed.follow and a call (slow) whose answer will die with the node; the resending call's result. */
  readonly follow: (count: number) => Effect.Effect<void, unknown, Scope.Scope>
  readonly lostCall: Effect.Effect<unknown, unknown>
  readonly resentCall: Effect.Effect<unknown, unknown>
  readonly said: Array<string>
  readonly say: (text: string) => Effect.Effect<void, unknown>
}

/** Our client on `first`, reconnecting to the `others` in turn. */
const ours = (first: ClusterNode, others: ReadonlyArray<ClusterNode>) =>
  Effect.gen(function*() {
    const items: Array<number> = []
    const said: Array<string> = []
    const connection = yield* Connection.connect({
      address: tcp(first.port),
      application: "feed",
      credentials: { _tag: "Login", login: "alice", password: "" },
      reconnect: { schedule: Schedule.spaced("50 millis"), target: (attempt) => tcp(others[attempt % others.length]!.port) },
      onEvent: ({ args, event, iface }) => {
        if (iface === "feed" && event === "item") items.push(args[0] as number)
        if (iface === "feed" && event === "said") said.push(String(args[0]))
      }
    })
    const lost = yield* Deferred.make<unknown, unknown>()
    const resent = yield* Deferred.make<unknown, unknown>()
    return {
      items,
      said,
      sessionId: connection.session()!.id,
      whoami: Effect.map(connection.call("feed", "whoami", []), (results) => results[0] as string),
      follow: (count) =>
        Effect.gen(function*() {
          yield* connection.call("feed", "follow", [count, 2])
          yield* Effect.forkScoped(Deferred.complete(lost, connection.call("feed", "slow", [60_000])))
          yield* Effect.forkScoped(Deferred.complete(resent, connection.callWithResend("feed", "later", [])))
        }),
      lostCall: Deferred.await(lost),
      resentCall: Deferred.await(resent),
      say: (text) => Effect.asVoid(connection.call("feed", "say", [text]))
    } satisfies Follower
  })

/** 2.3.0's client on `first`; its reconnector dials the `others` in turn. */
const reference = (first: ClusterNode, others: ReadonlyArray<ClusterNode>) =>
  Effect.gen(function*() {
    const items: Array<number> = []
    const said: Array<string> = []
    let attempt = 0
    let stopped = false
    const application = new jstp.Application("jstp", {}, {
      feed: {
        item: (_connection: never, k: number) => void items.push(k),
        said: (_connection: never, text: string) => void said.push(text)
      }
    })
    const client = {
      application,
      reconnector: (_connection: unknown, reconnect: (...options: Array<unknown>) => void) =>
        setTimeout(() => {
          if (stopped) return
          const next = others[attempt++ % others.length]!
          reconnect(next.port, "127.0.0.1", () => {})
        }, 50)
    }
    const { connection, session } = yield* Effect.async<{ connection: Ref.Connection; session: Ref.Session }, unknown>((resume) =>
      jstp.net.connect("feed", client, first.port, "127.0.0.1", (error, connection, session) =>
        error === null && connection !== undefined && session !== undefined
          ? resume(Effect.succeed({ connection, session }))
          : resume(Effect.fail(error)))
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => {
      stopped = true
      connection.close()
    }))
    // Calls go through the session's connection: the one it has now.
    const call = (method: string, args: ReadonlyArray<unknown>, resend = false) =>
      Effect.async<ReadonlyArray<unknown>, unknown>((resume) => {
        const current = (session as unknown as { connection: Ref.Connection }).connection
        const done = (error: unknown, ...results: Array<unknown>) => resume(error ? Effect.fail(error) : Effect.succeed(results))
        if (resend) (current as unknown as { callMethodWithResend: Ref.Connection["callMethod"] }).callMethodWithResend("feed", method, args, done)
        else current.callMethod("feed", method, args, done)
      })
    const lost = yield* Deferred.make<unknown, unknown>()
    const resent = yield* Deferred.make<unknown, unknown>()
    return {
      items,
      said,
      sessionId: session.id,
      whoami: Effect.map(call("whoami", []), (results) => results[0] as string),
      follow: (count) =>
        Effect.gen(function*() {
          yield* call("follow", [count, 2])
          yield* Effect.forkScoped(Deferred.complete(lost, call("slow", [60_000])))
          yield* Effect.forkScoped(Deferred.complete(resent, call("later", [], true)))
        }),
      lostCall: Deferred.await(lost),
      resentCall: Deferred.await(resent),
      say: (text) => Effect.asVoid(call("say", [text]))
    } satisfies Follower
  })

/** A raw client on the same Redis, to read what the nodes journaled; quiet while Redis is down. */
const inspector = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(url).on("error", () => {})),
    (client) => Effect.promise(() => client.quit())
  )

/** How many events the session's journal in Redis says its node sent: |latestBufferedMessageId|. */
const journaled = (raw: Redis, sessionId: string) =>
  Effect.promise(() => raw.hget(`jstp:session:${sessionId}`, "lbm")).pipe(Effect.map((lbm) => Math.abs(Number(lbm))))

// Waits until `items` has stopped growing (no new item for 300 ms).
const settled = (items: Array<number>) =>
  Effect.gen(function*() {
    let last = -1
    while (items.length !== last) {
      last = items.length
      yield* Effect.sleep("300 millis")
    }
  })

const expectExactlyOnce = (items: ReadonlyArray<number>, count: number) => {
  expect(items.length).toBe(count)
  expect(items).toEqual(Array.from({ length: count }, (_, i) => i + 1))
}

describe("a cluster of three nodes on Redis (separate processes)", () => {
  withTool(redisServer, "SIGKILL mid-stream: clients of both implementations restore on other nodes, every event once and in order, the lost call -1, the resent one answered", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const raw = yield* inspector(redis.url)
        const [n1, n2, n3] = yield* Effect.all(["n1", "n2", "n3"].map((name) => clusterNode(name, redis.url)), { concurrency: "unbounded" })
        const others = [n2!, n3!]
        const clients = [yield* ours(n1!, others), yield* reference(n1!, others)]
        for (const client of clients) expect(yield* client.whoami).toBe("n1")
        // A random kill point: after this many items have arrived at each client.
        const killAt = 200 + Math.floor(Math.random() * 1500)
        for (const client of clients) yield* client.follow(3000)
        yield* eventually(Effect.sync(() => Math.min(...clients.map((c) => c.items.length))), (n) => n >= killAt, "items before the kill")
        const before = clients.map((c) => c.items.length)
        yield* n1!.kill("SIGKILL")
        const killedAt = Date.now()

        // Each restores on another node; the call whose answer died is -1 (2.3.0: the bare code).
        const [ourLost, refLost] = yield* Effect.all(clients.map((c) => Effect.either(c.lostCall)))
        const restoredIn = Date.now() - killedAt
        expect(Either.isLeft(ourLost!) && ourLost.left instanceof RemoteError.RemoteError && ourLost.left.code).toBe(-1)
        expect(Either.getLeft(refLost!).pipe((left) => left._tag === "Some" ? left.value : undefined)).toBe(-1)
        for (const client of clients) {
          yield* settled(client.items)
          expect(["n2", "n3"]).toContain(yield* client.whoami)
          // Every event the dead node journaled (it wrote none before Redis had
          // it), once, in order: at least those that had arrived, and the rest resent.
          const count = yield* journaled(raw, client.sessionId)
          expect(count).toBeGreaterThanOrEqual(before[clients.indexOf(client)]!)
          expectExactlyOnce(client.items, count)
        }
        // The resending calls (feed.later, 4 s, in flight at the kill) ran again,
        // and the new node answered. (A method without arguments: 2.3.0's
        // callMethodWithResend sends the call again without its arguments.)
        for (const client of clients) expect(["n2", "n3"]).toContain(((yield* client.resentCall) as ReadonlyArray<unknown>)[0])
        console.log(`cluster: killed at ${killAt}+ items; clients restored and lost calls failed within ${restoredIn} ms`)
      }), 60_000))

  withTool(redisServer, "Redis killed and started again mid-load: the nodes serve on, say what is degraded, and once it is back broadcasts cross nodes and a SIGKILL loses nothing", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const raw = yield* inspector(redis.url)
        const [n1, n2, n3] = yield* Effect.all(["n1", "n2", "n3"].map((name) => clusterNode(name, redis.url)), { concurrency: "unbounded" })
        const client = yield* ours(n1!, [n2!, n3!])
        const listener = yield* reference(n2!, [n3!])
        yield* client.follow(300)
        yield* redis.stop
        // Served on: the stream goes on, calls are answered, and the node says the sessions are not crash-safe.
        yield* eventually(Effect.sync(() => client.items.length), (n) => n === 300, "the stream while Redis is down")
        expect(yield* client.whoami).toBe("n1")
        yield* eventually(Effect.sync(() => n1!.output()), (text) => text.includes("not crash-safe until it is back"), "the degraded log")
        yield* redis.start
        yield* eventually(Effect.sync(() => n1!.output()), (text) => text.includes("sessions are crash-safe again"), "the recovery log")
          .pipe(Effect.retry({ times: 5 }))
        // Broadcasts reach the other nodes again (the subscriber reconnects on its own).
        yield* eventually(Effect.zipRight(client.say("hello"), Effect.sync(() => listener.said.length)), (n) => n >= 1, "a broadcast across nodes")
          .pipe(Effect.retry({ times: 5 }))
        expect(listener.said[0]).toBe("hello")
        // Redis lost everything it had: the node wrote the session whole again; a SIGKILL now loses nothing.
        yield* n1!.kill("SIGKILL")
        expect(Either.isLeft(yield* Effect.either(client.lostCall))).toBe(true)
        yield* settled(client.items)
        expect(["n2", "n3"]).toContain(yield* client.whoami)
        expectExactlyOnce(client.items, 300)
        // Its node's requests were the items and the broadcasts it got (feed.said).
        expect(yield* journaled(raw, client.sessionId)).toBe(300 + client.said.length)
      }), 60_000))

  withTool(redisServer, "npm run start:cluster starts NODES nodes on REDIS_URL, each answers, and Ctrl-C stops them all", (name) =>
    it.scopedLive(name, () =>
      Effect.gen(function*() {
        const redis = yield* privateRedis(redisPath)
        const primary = spawn(process.execPath, ["--import", "tsx", "examples/cluster.ts"], {
          cwd: root,
          env: { ...process.env, NODES: "2", PORT: "0", REDIS_URL: redis.url },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        primary.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
        primary.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
        const exited = Effect.async<number | null>((resume) => {
          if (primary.exitCode !== null) return resume(Effect.succeed(primary.exitCode))
          primary.once("exit", (code) => resume(Effect.succeed(code)))
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => primary.kill("SIGKILL")))
        const ports = yield* eventually(
          Effect.sync(() => [...output.matchAll(/node (node-\d) PORT=(\d+)/g)].map((m) => [m[1], Number(m[2])] as const)),
          (found) => found.length === 2,
          "two nodes listening"
        ).pipe(Effect.retry({ times: 10 }))
        expect(output).toContain(`cluster: 2 nodes on Redis at ${redis.url}`)
        for (const [name, port] of ports) {
          const connection = yield* Connection.connect({ address: tcp(port), application: "feed" })
          expect(yield* connection.call("feed", "whoami", [])).toEqual([name])
          yield* connection.close
        }
        primary.kill("SIGINT")
        expect(yield* exited.pipe(Effect.timeout("10 seconds"))).toBe(0)
      }), 30_000))
})
