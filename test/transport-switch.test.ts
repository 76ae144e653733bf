// A session that moves from TCP to WebSocket: one server listening on both
// (sessions are shared), a client whose link over TCP drops and whose
// reconnection targets the WebSocket address. Calls and events made while
// the link is down, both ways, arrive after the restore, once, in order.
// The same with the facade's client: net first, then `reconnectFn("ws", ...)`.
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Schedule, Scope, Stream } from "effect"
import { Application, Connection, type ConnectionError, type RemoteError, Server } from "effect-jstp"
import jstp from "effect-jstp/compat"
import WebSocket from "ws"
import * as Proxy from "./support/proxy.js"
import { withStore } from "./support/servers.js"

type Conn = Connection.Connection
type Lifecycle = Connection.Lifecycle
type Address = Server.Options["listen"][number]

const HOST = "127.0.0.1"

// ================================================================ helpers

class NotYet extends Error {}

/** Polls `check` every 5 ms until it holds; fails after `timeout` ms. */
const waitUntil = (check: () => boolean, what: string, timeout = 5000): Effect.Effect<void, NotYet> =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(new NotYet(`timed out waiting for ${what}`)))).pipe(
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo(Duration.millis(timeout))))
  )

/** Fails unless `effect` completes within `timeout` ms. */
const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, timeout = 5000) =>
  Effect.timeoutFail(effect, { duration: Duration.millis(timeout), onTimeout: () => new NotYet(`timed out: ${what}`) })

/** Runs `stream` in the background of the scope; returns once it is subscribed. */
const record = <A>(stream: Stream.Stream<A>): Effect.Effect<Array<A>, NotYet, Scope.Scope> =>
  Effect.gen(function*() {
    const items: Array<A> = []
    const fiber = yield* stream.pipe(Stream.runForEach((a) => Effect.sync(() => void items.push(a))), Effect.forkScoped)
    yield* Fiber.status(fiber).pipe(
      Effect.filterOrFail((status) => status._tag === "Suspended", () => new NotYet("the stream to subscribe")),
      Effect.retry(Schedule.spaced("1 millis").pipe(Schedule.upTo("2 seconds")))
    )
    return items
  })

/** A lifecycle step as text: `Disconnected`, `Attempt 2`, `Failed 2`, `Restored 3`, `Closed`. */
const step = (event: Lifecycle): string =>
  event._tag === "Attempt" || event._tag === "Failed" || event._tag === "Restored"
    ? `${event._tag} ${event.attempt}`
    : event._tag

/** What the server's application saw: calls of `record` and events of `chat`, in order. */
interface Served {
  readonly log: Array<string>
}

const calc = (served: Served) =>
  Application.make({
    name: "calc",
    api: {
      calc: {
        add: (_c: Conn, a: number, b: number) => Effect.succeed(a + b),
        record: (_c: Conn, tag: string) =>
          Effect.sync(() => {
            served.log.push(`call ${tag}`)
            return tag
          })
      }
    },
    events: {
      chat: {
        message: (_c: Conn, text: string) => {
          served.log.push(`event ${text}`)
        }
      }
    }
  })

/** The client's application: `ui.echo`, recording what it was asked. */
const clientApp = (echoed: Array<string>) =>
  Application.make({
    name: "client",
    api: {
      ui: {
        echo: (_c: Conn, text: string) =>
          Effect.sync(() => {
            echoed.push(text)
            return text
          })
      }
    }
  })

/** A gate for WebSocket upgrades: while shut, `originCheck` refuses them (403). */
interface Gate {
  open: boolean
  /** Upgrades seen by the listener, refused ones included. */
  upgrades: number
  readonly originCheck: (origin: string | undefined) => boolean
}

const makeGate = (open: boolean): Gate => {
  const gate: Gate = {
    open,
    upgrades: 0,
    originCheck: () => {
      gate.upgrades++
      return gate.open
    }
  }
  return gate
}

/**
 * One server on TCP and WebSocket (127.0.0.1, ports from the system), with
 * a TCP proxy in front of the TCP port that lives in its own scope.
 */
const serveBoth = (served: Served, gate: Gate) =>
  Effect.gen(function*() {
    const server = yield* Server.make({
      applications: [calc(served)],
      listen: [
        { _tag: "Tcp", host: HOST, port: 0 },
        { _tag: "WebSocket", host: HOST, port: 0, originCheck: gate.originCheck }
      ]
    }).pipe(withStore)
    const [tcp, ws] = server.addresses
    if (tcp?._tag !== "Tcp" || ws?._tag !== "WebSocket") throw new Error(`unexpected addresses ${JSON.stringify(server.addresses)}`)
    // Closed by the test, or at the latest with the test's scope.
    const proxyScope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(proxyScope, Exit.void))
    const proxy = yield* Scope.extend(Proxy.make(tcp.port), proxyScope)
    const wsAddress: Address = { _tag: "WebSocket", host: HOST, port: ws.port }
    return { server, tcp, wsAddress, proxy, closeProxy: Scope.close(proxyScope, Exit.void) }
  })

type Call = Fiber.RuntimeFiber<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>

// The tests leave no socket or server open. (Closing a scope does not wait
// for Node to release the handles: give them a moment.)
afterAll(async () => {
  const open = () => process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap")
  for (let i = 0; i < 200 && open().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(open()).toEqual([])
})

// ================================================================ Effect API

describe("Transport switch: TCP, then WebSocket (Effect API)", () => {
  it.scopedLive("a dropped TCP link is restored over WebSocket: what was sent while down arrives once, in order, both ways", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const gate = makeGate(false)
      const { closeProxy, proxy, server, wsAddress } = yield* serveBoth(served, gate)
      const serverEvents = yield* record(server.events)
      const echoed: Array<string> = []
      const targets: Array<number> = []
      const connection = yield* Connection.connect({
        address: proxy.address,
        application: "calc",
        client: clientApp(echoed),
        handshakeTimeout: "2 seconds",
        reconnect: {
          schedule: Schedule.spaced("50 millis"),
          target: (attempt) => {
            targets.push(attempt)
            return wsAddress
          }
        }
      })
      const life = yield* record(connection.lifecycle)
      const news = yield* record(connection.events("news"))
      const sessionId = connection.session()!.id

      expect(yield* connection.call("calc", "record", ["tcp1"])).toEqual(["tcp1"])
      expect(yield* connection.call("calc", "record", ["tcp2"])).toEqual(["tcp2"])
      const serverSide = server.connections()
      expect(serverSide).toHaveLength(1)
      const peer = serverSide[0]!
      expect(gate.upgrades).toBe(0)
      expect(proxy.open()).toBe(1)

      // The TCP link breaks; the WebSocket listener refuses upgrades for now.
      expect(proxy.drop()).toBe(1)
      yield* waitUntil(() => !connection.isOpen() && !peer.isOpen(), "both sides to see the drop")
      yield* waitUntil(() => life.filter((event) => event._tag === "Failed").length >= 2, "two refused attempts")

      // While down: calls and events from the client, an event and a call from the server.
      const calls: Array<Call> = []
      for (const n of [1, 2, 3]) {
        yield* connection.emit("chat", "message", [`e${n}`])
        calls.push(yield* Effect.fork(connection.call("calc", "record", [`c${n}`])))
        // The forked call is issued when its fiber runs: wait, to keep the order.
        yield* waitUntil(() => connection.session()?.buffer.size === 2 * n, `call c${n} to be buffered`)
      }
      yield* peer.emit("news", "flash", ["n1"])
      const serverCall = yield* Effect.fork(peer.call("ui", "echo", ["from the server"]))
      yield* peer.emit("news", "flash", ["n2"])
      expect(served.log).toEqual(["call tcp1", "call tcp2"])
      expect({ news, echoed }).toEqual({ news: [], echoed: [] })

      gate.open = true
      const results = yield* within(Fiber.join(Fiber.all(calls)), "the calls made while down")
      expect(results).toEqual([["c1"], ["c2"], ["c3"]])
      expect(yield* within(Fiber.join(serverCall), "the server's call made while down")).toEqual(["from the server"])
      yield* waitUntil(() => news.length === 2, "the server's events made while down")
      // A round trip after the restore: every earlier request has been handled.
      yield* connection.ping
      expect(served.log).toEqual(["call tcp1", "call tcp2", "event e1", "call c1", "event e2", "call c2", "event e3", "call c3"])
      expect(news.map((event) => event.args)).toEqual([["n1"], ["n2"]])
      expect(echoed).toEqual(["from the server"])

      // Lifecycle: Disconnected, refused attempts at the WebSocket address, then Restored.
      const steps = life.map(step)
      const n = targets.length
      expect(n).toBeGreaterThanOrEqual(3)
      expect(steps).toEqual([
        "Disconnected",
        ...Array.from({ length: n - 1 }, (_, i) => [`Attempt ${i + 1}`, `Failed ${i + 1}`]).flat(),
        `Attempt ${n}`,
        `Restored ${n}`
      ])
      expect(targets).toEqual(Array.from({ length: n }, (_, i) => i + 1))
      for (const event of life) if (event._tag === "Attempt") expect(event.address).toEqual(wsAddress)
      for (const event of life) {
        if (event._tag === "Failed") expect({ tag: event.error._tag, reason: event.error.reason }).toEqual({ tag: "HandshakeError", reason: "Transport" })
      }
      // Every attempt was a WebSocket upgrade; no new TCP connection was made.
      expect(gate.upgrades).toBe(n)
      expect(proxy.accepted()).toBe(1)

      // The same session, the same server-side connection, now linked again.
      expect(connection.session()!.id).toBe(sessionId)
      expect(connection.isOpen()).toBe(true)
      expect(server.connections()).toHaveLength(1)
      expect(server.connections()[0]).toBe(peer)
      expect(peer.isOpen()).toBe(true)
      expect(serverEvents.map((event) => event._tag).filter((tag) => tag !== "ConnectionError"))
        .toEqual(["Connected", "Disconnected", "Restored"])
      expect(serverEvents.filter((event) => "connection" in event).every((event) => "connection" in event && event.connection === peer))
        .toBe(true)

      // With the TCP path gone altogether, the connection still works: it runs over WebSocket.
      yield* closeProxy
      expect(yield* connection.call("calc", "add", [20, 22])).toEqual([42])
      yield* connection.emit("chat", "message", ["after"])
      expect(yield* peer.call("ui", "echo", ["still here"])).toEqual(["still here"])
      expect(served.log.at(-1)).toBe("event after")
      expect(connection.stats()).toEqual({ pending: 0, droppedCallbacks: 0 })
    }))

  it.scopedLive("with the WebSocket listener open: Disconnected → Attempt 1 (WebSocket) → Restored 1, and calls made right after the drop", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const gate = makeGate(true)
      const { closeProxy, proxy, server, wsAddress } = yield* serveBoth(served, gate)
      const connection = yield* Connection.connect({
        address: proxy.address,
        application: "calc",
        reconnect: { schedule: Schedule.spaced("50 millis"), target: () => wsAddress }
      })
      const life = yield* record(connection.lifecycle)
      const restored = yield* Deferred.make<void>()
      yield* connection.lifecycle.pipe(
        Stream.filter((event) => event._tag === "Restored"),
        Stream.take(1),
        Stream.runDrain,
        Effect.zipRight(Deferred.succeed(restored, undefined)),
        Effect.forkScoped
      )
      expect(yield* connection.call("calc", "record", ["a"])).toEqual(["a"])
      proxy.drop()
      yield* waitUntil(() => !connection.isOpen(), "the client to see the drop")
      // Issued at once, while the client is detached (or already restoring).
      const calls = yield* Effect.forEach(["b", "c", "d"], (tag) => Effect.fork(connection.call("calc", "record", [tag])))
      yield* within(Deferred.await(restored), "the restore")
      expect(yield* within(Fiber.join(Fiber.all(calls)), "the calls")).toEqual([["b"], ["c"], ["d"]])
      expect(life.map(step)).toEqual(["Disconnected", "Attempt 1", "Restored 1"])
      expect(life[1]?._tag === "Attempt" ? life[1].address : undefined).toEqual(wsAddress)
      expect(served.log).toEqual(["call a", "call b", "call c", "call d"])
      expect(gate.upgrades).toBe(1)
      yield* closeProxy
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
      expect(server.connections()).toHaveLength(1)
    }))

  it.scopedLive("the other way: a WebSocket link that drops is restored over TCP", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const { server, tcp, wsAddress } = yield* serveBoth(served, makeGate(true))
      if (wsAddress._tag !== "WebSocket") throw new Error("not a WebSocket address")
      // The WebSocket goes through a TCP proxy of its own, so that it can be cut.
      const wsProxy = yield* Proxy.make(wsAddress.port)
      const tcpAddress: Address = { _tag: "Tcp", host: HOST, port: tcp.port }
      const connection = yield* Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: wsProxy.port },
        application: "calc",
        reconnect: { schedule: Schedule.spaced("50 millis"), target: () => tcpAddress }
      })
      const life = yield* record(connection.lifecycle)
      expect(yield* connection.call("calc", "record", ["over ws"])).toEqual(["over ws"])
      const peer = server.connections()[0]!
      expect(wsProxy.drop()).toBe(1)
      yield* waitUntil(() => life.some((event) => event._tag === "Restored"), "the restore")
      expect(life.map(step)).toEqual(["Disconnected", "Attempt 1", "Restored 1"])
      expect(life[1]?._tag === "Attempt" ? life[1].address : undefined).toEqual(tcpAddress)
      expect(yield* connection.call("calc", "record", ["over tcp"])).toEqual(["over tcp"])
      expect(served.log).toEqual(["call over ws", "call over tcp"])
      // Nothing went through the WebSocket proxy again.
      expect({ accepted: wsProxy.accepted(), open: wsProxy.open() }).toEqual({ accepted: 1, open: 0 })
      expect(server.connections()).toHaveLength(1)
      expect(server.connections()[0]).toBe(peer)
    }))
})

// ================================================================ facade

type FacadeConnection = InstanceType<typeof jstp.Connection>
type FacadeProxy = InstanceType<typeof jstp.RemoteProxy>
type Callback = (error: Error | null, ...results: Array<unknown>) => void

/** `callMethod` with its callback's outcome kept in `outcomes`, by tag, once per call. */
const facadeCall = (connection: FacadeConnection, tag: string, outcomes: Array<string>) =>
  connection.callMethod("calc", "record", [tag], (error, ...results) =>
    outcomes.push(error === null ? `ok ${String(results[0])}` : `error ${error.message}`))

describe("Transport switch: TCP, then WebSocket (facade client)", () => {
  it.scopedLive("a facade client over net whose reconnector calls reconnectFn(\"ws\", {}, url) restores its session over WebSocket", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const gate = makeGate(false)
      const { closeProxy, proxy, server, wsAddress } = yield* serveBoth(served, gate)
      if (wsAddress._tag !== "WebSocket") throw new Error("not a WebSocket address")
      const wsUrl = `ws://${HOST}:${wsAddress.port}/`

      const echoed: Array<string> = []
      const reconnects: Array<string> = []
      const attempts: Array<Array<unknown>> = []
      let stopped = false
      const client = {
        application: new jstp.Application("client", {
          ui: {
            echo: (_connection: unknown, text: string, callback: Callback) => {
              echoed.push(text)
              callback(null, text)
            }
          }
        }),
        reconnector: (_connection: FacadeConnection, reconnectFn: (...args: Array<unknown>) => void) => {
          setTimeout(() => {
            if (stopped) return
            reconnectFn("ws", {}, wsUrl, (error: Error | null) => reconnects.push(error === null ? "ok" : error.message))
          }, 30)
        }
      }
      const { connection, session } = yield* Effect.acquireRelease(
        Effect.async<{ connection: FacadeConnection; session: { id: string } }, Error>((resume) => {
          jstp.net.connect("calc", client, proxy.port, HOST, (error: Error | null, connection?: unknown, session?: unknown) => {
            if (error !== null) return resume(Effect.fail(error))
            resume(Effect.succeed({ connection: connection as FacadeConnection, session: session as { id: string } }))
          })
        }),
        ({ connection }) =>
          Effect.sync(() => {
            stopped = true
            connection.close()
          })
      )
      connection.on("error", () => {})
      connection.on("reconnectAttempt", (...args: Array<unknown>) => attempts.push(args))
      const calcProxy = yield* Effect.async<FacadeProxy, Error>((resume) =>
        connection.inspectInterface("calc", (error, proxy) => resume(error === null ? Effect.succeed(proxy!) : Effect.fail(error))))
      const flashes: Array<unknown> = []
      calcProxy.on("flash", (value: unknown) => flashes.push(value))

      const outcomes: Array<string> = []
      facadeCall(connection, "tcp", outcomes)
      yield* waitUntil(() => outcomes.length === 1, "the call over TCP")
      expect(outcomes).toEqual(["ok tcp"])
      expect(connection.getTransport()).not.toBeInstanceOf(WebSocket)
      const peer = server.connections()[0]!

      // The TCP link breaks while the WebSocket listener refuses upgrades.
      proxy.drop()
      yield* waitUntil(() => reconnects.length >= 2, "two refused reconnections")
      expect(reconnects.every((outcome) => outcome.includes("403"))).toBe(true)

      // While down: calls and events of the client, an event and a call of the server.
      for (const n of [1, 2, 3]) {
        connection.emitRemoteEvent("chat", "message", [`e${n}`])
        facadeCall(connection, `c${n}`, outcomes)
      }
      yield* peer.emit("calc", "flash", ["n1"])
      const serverCall = yield* Effect.fork(peer.call("ui", "echo", ["from the server"]))
      yield* peer.emit("calc", "flash", ["n2"])
      expect({ log: served.log, outcomes, flashes, echoed }).toEqual({ log: ["call tcp"], outcomes: ["ok tcp"], flashes: [], echoed: [] })

      gate.open = true
      yield* waitUntil(() => reconnects.at(-1) === "ok", "the reconnection over WebSocket")
      yield* waitUntil(() => outcomes.length === 4, "the calls made while down")
      expect(outcomes).toEqual(["ok tcp", "ok c1", "ok c2", "ok c3"])
      expect(yield* within(Fiber.join(serverCall), "the server's call")).toEqual(["from the server"])
      yield* waitUntil(() => flashes.length === 2, "the server's events")
      expect(flashes).toEqual(["n1", "n2"])
      expect(echoed).toEqual(["from the server"])
      expect(served.log).toEqual(["call tcp", "event e1", "call c1", "event e2", "call c2", "event e3", "call c3"])

      // Every attempt went to the ws transport with the URL; the session is the same one.
      expect(attempts.length).toBe(reconnects.length)
      for (const args of attempts) expect(args).toEqual(["ws", {}, wsUrl])
      expect(gate.upgrades).toBe(attempts.length)
      expect(connection.session?.id).toBe(session.id)
      expect(connection.getTransport()).toBeInstanceOf(WebSocket)
      expect(server.connections()).toHaveLength(1)
      expect(server.connections()[0]).toBe(peer)

      // With the TCP path gone, it still works: over WebSocket.
      yield* closeProxy
      facadeCall(connection, "after", outcomes)
      yield* waitUntil(() => outcomes.length === 5, "a call after the switch")
      expect(outcomes.at(-1)).toBe("ok after")
      expect(proxy.accepted()).toBe(1)
    }))
})
