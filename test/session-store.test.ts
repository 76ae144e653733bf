// SessionStore: the store over @effect/platform's KeyValueStore (a server
// restarted on the same directory restores its clients' sessions; the purge;
// corrupt entries), and a store that fails (reported as SessionStoreFailed
// and logged; a session that cannot be read is refused with 11).
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope, Stream } from "effect"
import { Application, Connection, Server, Session, SessionStore } from "effect-jstp"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { captureLogs, eventually, portOf, rawConnect, TCP, withStore } from "./support/servers.js"

const app = Application.make({
  name: "calc",
  api: { calc: { add: (_connection: Connection.Connection, a: number, b: number) => Effect.succeed(a + b) } }
})

const address = (port: number) => ({ _tag: "Tcp" as const, host: "127.0.0.1", port })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-jstp-store-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const fileStore = (dir: string, options?: SessionStore.KeyValueStoreOptions) =>
  SessionStore.layerKeyValueStore(options).pipe(
    Layer.provide(KeyValueStore.layerFileSystem(dir)),
    Layer.provide(NodeContext.layer)
  )

/** A server with `store`, in a scope of its own that the test closes. */
const serverWith = <E>(store: Layer.Layer<SessionStore.SessionStore, E>, port = 0) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(store, scope)
    const server = yield* Server.make({ applications: [app], listen: [{ ...TCP, port }] }).pipe(withStore, 
      Effect.provide(context),
      Scope.extend(scope)
    )
    return { server, port: portOf(server.addresses[0]), close: Scope.close(scope, Exit.void) }
  })

/** The lifecycle steps of a connection, recorded from now. */
const recordLifecycle = (connection: Connection.Connection) =>
  Effect.gen(function*() {
    const steps: Array<string> = []
    yield* connection.lifecycle.pipe(Stream.runForEach((step) => Effect.sync(() => steps.push(step._tag))), Effect.forkScoped)
    yield* Effect.sleep("20 millis")
    return steps
  })

describe("SessionStore.layerKeyValueStore", () => {
  it.scopedLive("a server restarted on the same directory restores its clients' sessions", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* serverWith(fileStore(dir))
      const connection = yield* Connection.connect({
        address: address(first.port),
        application: "calc",
        reconnect: { schedule: Schedule.spaced("30 millis") }
      })
      const steps = yield* recordLifecycle(connection)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
      const sessionId = connection.session()!.id
      // Closing stores every session, and waits for the writes.
      yield* first.close
      const files = Fs.readdirSync(dir)
      expect(files.some((file) => file.includes(sessionId))).toBe(true)
      // A new server process would start here: a new store on the same directory.
      const second = yield* serverWith(fileStore(dir), first.port)
      yield* eventually(Effect.sync(() => steps), (s) => s.includes("Restored"), "the restore")
      expect(steps).not.toContain("Renewed")
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      expect(second.server.connections().map((c) => c.session()?.id)).toEqual([sessionId])
      yield* second.close
    }))

  it.scopedLive("an inactive session past inactiveLifetime is not restored; the purge removes expired ones; active ones stay", () =>
    Effect.gen(function*() {
      const kvContext = yield* Layer.build(KeyValueStore.layerMemory)
      const kv = Context.get(kvContext, KeyValueStore.KeyValueStore)
      const store = yield* SessionStore.fromKeyValueStore({ inactiveLifetime: "80 millis", purgeInterval: "30 millis" }).pipe(
        Effect.provide(kvContext)
      )
      const [looked, purged, active] = [new Session(), new Session(), new Session()]
      for (const session of [looked, purged, active]) yield* store.set(session.id, session)
      yield* store.setInactive(looked.id)
      yield* store.setInactive(purged.id)
      const found = yield* store.get(looked.id)
      expect(Option.map(found, (session) => session.id)).toEqual(Option.some(looked.id))
      expect(yield* store.get("no-such-session")).toEqual(Option.none())
      yield* Effect.sleep("200 millis")
      expect(yield* store.get(looked.id)).toEqual(Option.none())
      expect(yield* kv.has(`jstp-session:${purged.id}`)).toBe(false)
      expect(yield* kv.has(`jstp-session:${looked.id}`)).toBe(false)
      // A session whose connection is still open is never purged.
      expect(Option.isSome(yield* store.get(active.id))).toBe(true)
      const index = yield* kv.get("jstp-session:index")
      expect(Option.map(index, (text) => JSON.parse(text))).toEqual(Option.some([active.id]))
      // What is not a session fails the get, Corrupt.
      yield* kv.set("jstp-session:bad", "nonsense")
      const corrupt = yield* Effect.flip(store.get("bad"))
      expect({ _tag: corrupt._tag, reason: corrupt.reason, operation: corrupt.operation }).toEqual({
        _tag: "SessionStoreError",
        reason: "Corrupt",
        operation: "get"
      })
      yield* kv.set("jstp-session:bad", JSON.stringify({ session: "not a session's text", inactiveSince: null }))
      expect((yield* Effect.flip(store.get("bad"))).reason).toBe("Corrupt")
    }))
})

describe("a session store that fails", () => {
  const unavailable = (operation: SessionStore.SessionStoreError["operation"], sessionId: string) =>
    new SessionStore.SessionStoreError({ reason: "Unavailable", operation, sessionId, message: `store down: ${operation} ${sessionId}` })

  it.scopedLive("a get that fails: the restore is refused with 11, reported as SessionStoreFailed and logged", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const down: SessionStore.SessionStore = {
        get: (id) => Effect.fail(unavailable("get", id)),
        set: () => Effect.void,
        setInactive: () => Effect.void
      }
      const { close, server } = yield* serverWith(Layer.succeed(SessionStore.SessionStore, down))
      const events = yield* server.subscribe
      const failures = yield* events.pipe(Stream.filter((event) => event._tag === "SessionStoreFailed"), Stream.take(1), Stream.runCollect, Effect.fork)
      const peer = yield* rawConnect(portOf(server.addresses[0]))
      yield* peer.send(`{handshake:[0,'calc'],session:['${globalThis.crypto.randomUUID()}',0]}`)
      expect(yield* Queue.take(peer.frames)).toBe("{\"handshake\":[0],\"error\":[11]}")
      const [failure] = yield* Fiber.join(failures)
      expect(failure?._tag === "SessionStoreFailed" ? failure.error.reason : failure).toBe("Unavailable")
      expect(logs.lines.some((line) => line.level === "ERROR" && line.text.includes("store down: get"))).toBe(true)
      yield* close
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("a set that fails when a link drops: reported as SessionStoreFailed and logged, once; the server goes on", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const down: SessionStore.SessionStore = {
        get: () => Effect.succeedNone,
        set: (id) => Effect.fail(unavailable("set", id)),
        setInactive: () => Effect.void
      }
      const { close, server } = yield* serverWith(Layer.succeed(SessionStore.SessionStore, down))
      const events = yield* server.subscribe
      const failures = yield* events.pipe(Stream.filter((event) => event._tag === "SessionStoreFailed"), Stream.take(1), Stream.runCollect, Effect.fork)
      const connectionScope = yield* Scope.make()
      const connection = yield* Connection.connect({ address: address(portOf(server.addresses[0])), application: "calc" }).pipe(
        Scope.extend(connectionScope)
      )
      const sessionId = connection.session()!.id
      yield* Scope.close(connectionScope, Exit.void)
      const [failure] = yield* Fiber.join(failures)
      expect(failure?._tag === "SessionStoreFailed" ? [failure.error.operation, failure.error.sessionId] : failure).toEqual(["set", sessionId])
      yield* eventually(Effect.sync(() => logs.lines.filter((line) => line.text.includes(`store down: set ${sessionId}`)).length), (n) => n === 1, "the log line")
      // The server still serves.
      const again = yield* Connection.connect({ address: address(portOf(server.addresses[0])), application: "calc" })
      expect(yield* again.call("calc", "add", [1, 1])).toEqual([2])
      yield* close
    }).pipe(Effect.provide(logs.layer))
  })
})
