// Sessions that survive dropped links (protocol.md §8, compat-api.md on
// reconnection): the Session object; restore from the peer's receivedCount on
// the engine (exact wire texts over an in-memory link, both sides); and, over
// real TCP through a proxy that kills sockets (not processes), the Effect
// API's callWithResend, the server's session cache and SessionStore, client
// reconnection (schedule, target, lifecycle, buffering while disconnected, the
// buffer bound) and dead-peer detection by heartbeat.
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { afterAll, describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Fiber,
  Layer,
  Option,
  Schedule,
  Scope,
  Stream,
  TestClock
} from "effect"
import {
  Application,
  Connection,
  ConnectionError,
  HandshakeError,
  RemoteError,
  Server,
  SessionStore
} from "effect-jstp"
import { execFile } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import { Engine } from "../src/engine/Engine.js"
import * as ErrorPayload from "../src/engine/ErrorPayload.js"
import { Session, SessionFormatError } from "../src/engine/Session.js"
import type * as Message from "../src/wire/Message.js"
import {
  type HandshakeResult,
  MemoryWire,
  openPair,
  type Pair,
  recorder,
  replies,
  SESSION_ID
} from "./support/memory-link.js"
import * as Proxy from "./support/proxy.js"
import { withStore } from "./support/servers.js"

type Conn = Connection.Connection
type Lifecycle = Connection.Lifecycle

const HOST = "127.0.0.1"
const LISTEN = { _tag: "Tcp", host: HOST, port: 0 } as const
/** Reconnection attempts 30 ms apart, forever. */
const FAST = Schedule.spaced("30 millis")
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

// ================================================================ helpers

class NotYet extends Error {}

/** Polls `check` every 5 ms until it holds; fails with `NotYet` after `timeout` ms. */
const waitUntil = (check: () => boolean, what: string, timeout = 3000): Effect.Effect<void, NotYet> =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(new NotYet(`timed out waiting for ${what}`)))).pipe(
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo(Duration.millis(timeout))))
  )

/** Fails with `NotYet` unless `effect` completes within `timeout` ms. */
const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, timeout = 3000) =>
  Effect.timeoutFail(effect, { duration: Duration.millis(timeout), onTimeout: () => new NotYet(`timed out: ${what}`) })

/** Everything a stream emits, from now on, kept in an array. */
interface Recording<A> {
  readonly items: Array<A>
  /** Waits until an item satisfies `predicate`, and gives the first one that does. */
  readonly waitFor: (predicate: (a: A) => boolean, what: string, timeout?: number) => Effect.Effect<A, NotYet>
}

/** Runs `stream` in the scope's background; returns once it is subscribed. */
const record = <A>(stream: Stream.Stream<A>): Effect.Effect<Recording<A>, NotYet, Scope.Scope> =>
  Effect.gen(function*() {
    const items: Array<A> = []
    const fiber = yield* stream.pipe(
      Stream.runForEach((a) => Effect.sync(() => void items.push(a))),
      Effect.forkScoped
    )
    // A PubSub-backed stream subscribes when it starts; once its fiber waits, it has.
    yield* Fiber.status(fiber).pipe(
      Effect.filterOrFail((status) => status._tag === "Suspended", () => new NotYet("the stream to subscribe")),
      Effect.retry(Schedule.spaced("1 millis").pipe(Schedule.upTo("2 seconds")))
    )
    const waitFor = (predicate: (a: A) => boolean, what: string, timeout = 3000) =>
      Effect.suspend(() => {
        const found = items.find(predicate)
        return found === undefined ? Effect.fail(new NotYet(`timed out waiting for ${what}`)) : Effect.succeed(found)
      }).pipe(Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo(Duration.millis(timeout)))))
    return { items, waitFor }
  })

/** A lifecycle step as text: `Disconnected`, `Attempt 2`, `Failed 2`, `Restored 3`, `Closed`. */
const step = (event: Lifecycle): string =>
  event._tag === "Attempt" || event._tag === "Failed" || event._tag === "Restored" || event._tag === "Renewed"
    ? `${event._tag} ${event.attempt}`
    : event._tag

const is = (tag: Lifecycle["_tag"]) => (event: Lifecycle): boolean => event._tag === tag

/** A server event as `[tag, whether it is about connection]`. */
const about = (connection: Conn) => (event: Server.ServerEvent): [string, boolean] =>
  [event._tag, "connection" in event && event.connection === connection]

// Effect's errors are compared through plain projections (chai's inspect of
// a failing match on them can recurse until the stack overflows).
const expectRemote = (error: unknown, code: number, message?: string) => {
  expect(error).toBeInstanceOf(RemoteError.RemoteError)
  const remote = error as RemoteError.RemoteError
  expect({ tag: remote._tag, code: remote.code }).toEqual({ tag: "RemoteError", code })
  if (message !== undefined) expect(remote.message).toBe(message)
}

const expectConnectionError = (error: unknown, reason: ConnectionError["reason"]) => {
  expect(error).toBeInstanceOf(ConnectionError)
  const failure = error as ConnectionError
  expect({ tag: failure._tag, reason: failure.reason }).toEqual({ tag: "ConnectionError", reason })
}

const expectHandshakeError = (error: unknown, reason: HandshakeError["reason"], code?: number) => {
  expect(error).toBeInstanceOf(HandshakeError)
  const failure = error as HandshakeError
  expect({ tag: failure._tag, reason: failure.reason }).toEqual({ tag: "HandshakeError", reason })
  if (code !== undefined) expect(failure.code).toBe(code)
}

const portOf = (server: Server.Server): number => {
  const address = server.addresses[0]
  if (address?._tag !== "Tcp") throw new Error(`not a TCP address: ${JSON.stringify(address)}`)
  return address.port
}

// ------------------------------------------------------------ fixtures

/** What the server's application saw, and the gate of its `hold` method. */
interface Served {
  /** Calls of `record` and events of `chat`, in the order they arrived. */
  readonly log: Array<string>
  /** How many times `tally` ran, by key. */
  readonly tallies: Map<string, number>
  /** How many times `hold` ran. */
  holds: number
  /** Completed when `hold` starts running. */
  readonly reached: Deferred.Deferred<void>
  /** `hold` answers once this is completed. */
  readonly gate: Deferred.Deferred<void>
}

const makeServed = Effect.gen(function*() {
  const served: Served = {
    log: [],
    tallies: new Map(),
    holds: 0,
    reached: yield* Deferred.make<void>(),
    gate: yield* Deferred.make<void>()
  }
  return served
})

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
          }),
        tally: (_c: Conn, key: string) =>
          Effect.sync(() => {
            const count = (served.tallies.get(key) ?? 0) + 1
            served.tallies.set(key, count)
            return count
          }),
        // Answers with error -1 itself: a remote error, not a lost callback.
        minusOne: (_c: Conn) =>
          Effect.suspend(() => {
            served.tallies.set("minusOne", (served.tallies.get("minusOne") ?? 0) + 1)
            return Effect.fail(RemoteError.make(RemoteError.ERR_CALLBACK_LOST))
          }),
        // Answers with how many times it ran, once the test opens the gate.
        hold: (_c: Conn) =>
          Effect.gen(function*() {
            const run = ++served.holds
            yield* Deferred.succeed(served.reached, undefined)
            yield* Deferred.await(served.gate)
            return run
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

/** What the client's application saw, and the gate of its `hold` method. */
interface ClientSide {
  readonly echoed: Array<string>
  holds: number
  readonly reached: Deferred.Deferred<void>
  readonly gate: Deferred.Deferred<void>
}

const makeClientSide = Effect.gen(function*() {
  const side: ClientSide = {
    echoed: [],
    holds: 0,
    reached: yield* Deferred.make<void>(),
    gate: yield* Deferred.make<void>()
  }
  return side
})

const clientApp = (side: ClientSide) =>
  Application.make({
    name: "client",
    api: {
      ui: {
        echo: (_c: Conn, text: string) =>
          Effect.sync(() => {
            side.echoed.push(text)
            return text
          }),
        hold: (_c: Conn) =>
          Effect.gen(function*() {
            const run = ++side.holds
            yield* Deferred.succeed(side.reached, undefined)
            yield* Deferred.await(side.gate)
            return run
          })
      }
    }
  })

type ServerOptions = Omit<Server.Options<never>, "applications" | "listen">

/** Our server with `calc`, and a proxy in front of it. */
const serve = (served: Served, options: ServerOptions = {}) =>
  Effect.gen(function*() {
    const server = yield* Server.make({ ...options, applications: [calc(served)], listen: [LISTEN] }).pipe(withStore)
    const proxy = yield* Proxy.make(portOf(server))
    return { server, proxy }
  })

/** Our client, through `proxy`, reconnecting every 30 ms unless told otherwise. */
const dial = (proxy: Proxy.Proxy, options: Partial<Connection.ConnectOptions> = {}) =>
  Connection.connect({
    address: proxy.address,
    application: "calc",
    reconnect: { schedule: FAST },
    handshakeTimeout: "1 second",
    ...options
  })

/** The only connection of `server`. */
const onlyConnection = (server: Server.Server): Conn => {
  const connections = server.connections()
  expect(connections).toHaveLength(1)
  return connections[0]!
}

/** Kills every link through `proxy` and refuses new ones until `reopen`. */
const cutOff = (proxy: Proxy.Proxy) =>
  Effect.sync(() => {
    proxy.refuse(true)
    return proxy.drop()
  })

const reopen = (proxy: Proxy.Proxy) => Effect.sync(() => proxy.refuse(false))

/** Waits until both ends of a connection know its link is gone. */
const bothDetached = (client: Conn, serverSide: Conn) =>
  Effect.zipRight(
    waitUntil(() => !serverSide.isOpen(), "the server to see the link drop"),
    waitUntil(() => !client.isOpen(), "the client to see the link drop")
  )

/** The events `connection` receives on `iface`, as `event args` text. */
const recordEvents = (connection: Conn, iface: string) =>
  record(Stream.map(connection.events(iface), (event) => `${event.event} ${JSON.stringify(event.args)}`))

// ------------------------------------------------------- engine fixtures

/**
 * Makes `wire` deliver a new link to `server`, as `Server` does for a
 * session still in its cache: a fresh engine reads the handshake, hands the
 * link over (`Transferred`) and the session's engine adopts it.
 */
const transferTo = (server: Engine, wire: MemoryWire): Engine => {
  const acceptor = new Engine({
    role: "server",
    link: wire.server,
    onHandshake: (request, done) => {
      done({ _tag: "Transferred" })
      wire.attach("server", server)
      server.adopt(wire.server, request.auth._tag === "Session" ? request.auth.receivedCount : -1)
    }
  })
  wire.attach("server", acceptor)
  return acceptor
}

/** Starts the client's restore over `wire`; the box gets its handshake result. */
const reattach = (client: Engine, wire: MemoryWire): { result: HandshakeResult | undefined } => {
  const box: { result: HandshakeResult | undefined } = { result: undefined }
  wire.attach("client", client)
  client.reattach(wire.client, "app", undefined, (error, ok) => {
    box.result ??= { error, ok }
  })
  return box
}

const lostPayload: Message.ErrorPayload = { code: -1, message: undefined, info: [] }

const methodsOf = (calls: ReadonlyArray<{ readonly method: string }>) => calls.map((call) => call.method)

// The tests leave no socket or server open, the proxies' included. (Closing
// a scope does not wait for Node to release the handles: give them a moment.)
afterAll(async () => {
  const open = () => process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap")
  for (let i = 0; i < 100 && open().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(open()).toEqual([])
})

// ================================================ 1. the Session object

describe("Session (protocol.md §8)", () => {
  it("has a UUID v4 id, a username, and is a Map for application state", () => {
    const sessions = Array.from({ length: 20 }, () => new Session())
    for (const session of sessions) expect(session.id).toMatch(UUID_V4)
    expect(new Set(sessions.map((session) => session.id)).size).toBe(20)

    const anonymous = new Session()
    expect(anonymous.username).toBeNull()
    const named = new Session(undefined, "marcus")
    expect(named.username).toBe("marcus")
    expect(named.id).toMatch(UUID_V4)

    expect(named).toBeInstanceOf(Map)
    named.set("cart", ["apple"]).set("visits", 3)
    expect(named.get("cart")).toEqual(["apple"])
    expect([...named.keys()]).toEqual(["cart", "visits"])
    expect(named.size).toBe(2)
    // The protocol state is not application state.
    expect(named.has("buffer")).toBe(false)
    expect(named.buffer.size).toBe(0)
    expect({ received: named.receivedCount, delivered: named.guaranteedDeliveredCount }).toEqual({ received: 0, delivered: 0 })
  })

  it("buffers by |id| as serialized text; receivedCount is the |id| of the latest request received", () => {
    const session = new Session()
    session.bufferMessage(-3, "{\"event\":[-3,\"chat\"],\"message\":[]}")
    session.bufferMessage(-4, "{\"ping\":[-4]}")
    expect([...session.buffer]).toEqual([
      [3, "{\"event\":[-3,\"chat\"],\"message\":[]}"],
      [4, "{\"ping\":[-4]}"]
    ])
    expect(session.latestBufferedMessageId).toBe(-4)
    session.onMessageReceived(7)
    expect(session.receivedCount).toBe(7)
    session.onMessageReceived(-2)
    expect(session.receivedCount).toBe(2)
    // An acknowledgement of |id| N drops everything up to N.
    session.onAcknowledged(-3)
    expect([...session.buffer.keys()]).toEqual([4])
    expect(session.guaranteedDeliveredCount).toBe(3)
  })

  it("a callback or a pong acknowledges every request up to its id, on both sides", async () => {
    const serverApp = recorder({ calc: ["slow"] })
    const clientApp = recorder({ ui: ["ask"] })
    const pair = await openPair({
      delivery: "manual",
      server: { application: serverApp.dispatcher },
      client: { application: clientApp.dispatcher }
    })
    const client = pair.client.session!
    const server = pair.server.session!

    // Events are never answered: a ping's pong acknowledges them.
    pair.client.emit("chat", "message", ["a"])
    pair.client.emit("chat", "message", ["b"])
    expect([...client.buffer]).toEqual([
      [1, "{\"event\":[1,\"chat\"],\"message\":[\"a\"]}"],
      [2, "{\"event\":[2,\"chat\"],\"message\":[\"b\"]}"]
    ])
    const pong = replies()
    expect(pair.client.ping(pong.reply)).toBe(3)
    pair.wire.flush()
    expect(pong.calls).toHaveLength(1)
    expect({ size: client.buffer.size, delivered: client.guaranteedDeliveredCount }).toEqual({ size: 0, delivered: 3 })
    expect(server.receivedCount).toBe(3)

    // A callback acknowledges its call and what came before it.
    pair.client.emit("chat", "message", ["c"])
    const answer = replies()
    pair.client.call("calc", "slow", [], answer.reply)
    pair.wire.flush()
    expect([...client.buffer.keys()]).toEqual([4, 5])
    serverApp.calls[0]!.reply(undefined, ["done"])
    pair.wire.flush()
    expect(answer.calls).toEqual([{ error: undefined, values: ["done"] }])
    expect({ size: client.buffer.size, delivered: client.guaranteedDeliveredCount }).toEqual({ size: 0, delivered: 5 })

    // The server's side: negative ids, acknowledged by the client's callback and pong.
    pair.server.emit("news", "flash", [1])
    pair.server.call("ui", "ask", [], replies().reply)
    pair.wire.flush()
    expect([...server.buffer.keys()]).toEqual([1, 2])
    expect(client.receivedCount).toBe(2)
    clientApp.calls[0]!.reply(undefined, [true])
    pair.wire.flush()
    expect({ size: server.buffer.size, delivered: server.guaranteedDeliveredCount }).toEqual({ size: 0, delivered: 2 })
    pair.server.emit("news", "flash", [2])
    pair.server.ping()
    pair.wire.flush()
    expect({ size: server.buffer.size, delivered: server.guaranteedDeliveredCount }).toEqual({ size: 0, delivered: 4 })
  })

  it("toString / Session.fromString round-trip every field, the buffer and the application state", () => {
    const session = new Session(undefined, "marcus")
    session.set("cart", ["apple", { qty: 2 }]).set("flag", true).set("nothing", null)
    session.bufferMessage(4, "{\"call\":[4,\"calc\"],\"add\":[1,2]}")
    session.bufferMessage(5, "{\"event\":[5,\"chat\"],\"message\":[\"it's\"]}")
    session.guaranteedDeliveredCount = 3
    session.receivedCount = 9
    const text = session.toString()
    expect(JSON.parse(text)).toEqual({
      id: session.id,
      username: "marcus",
      guaranteedDeliveredCount: 3,
      buffer: [[4, "{\"call\":[4,\"calc\"],\"add\":[1,2]}"], [5, "{\"event\":[5,\"chat\"],\"message\":[\"it's\"]}"]],
      receivedCount: 9,
      latestBufferedMessageId: 5,
      storage: [["cart", ["apple", { qty: 2 }]], ["flag", true], ["nothing", null]]
    })

    const back = Session.fromString(text)
    expect(back).toBeInstanceOf(Session)
    expect(back).toBeInstanceOf(Map)
    expect({
      id: back.id,
      username: back.username,
      guaranteedDeliveredCount: back.guaranteedDeliveredCount,
      receivedCount: back.receivedCount,
      latestBufferedMessageId: back.latestBufferedMessageId,
      buffer: [...back.buffer],
      storage: [...back]
    }).toEqual({
      id: session.id,
      username: "marcus",
      guaranteedDeliveredCount: 3,
      receivedCount: 9,
      latestBufferedMessageId: 5,
      buffer: [...session.buffer],
      storage: [...session]
    })
    expect(back.toString()).toBe(text)
    // A real copy, not a view of the original.
    back.buffer.delete(4)
    back.set("flag", false)
    expect(session.buffer.has(4)).toBe(true)
    expect(session.get("flag")).toBe(true)

    const anonymous = Session.fromString(new Session().toString())
    expect(anonymous.username).toBeNull()
  })

  it("Session.fromString refuses malformed text with a SessionFormatError", () => {
    const valid = JSON.parse(new Session(undefined, "u").toString()) as Record<string, unknown>
    const variants: ReadonlyArray<string> = [
      "",
      "not json",
      "{\"id\":",
      "null",
      "42",
      "\"a string\"",
      "[]",
      "{}",
      JSON.stringify({ ...valid, id: 5 }),
      JSON.stringify({ ...valid, username: 7 }),
      JSON.stringify({ ...valid, receivedCount: -1 }),
      JSON.stringify({ ...valid, receivedCount: "3" }),
      JSON.stringify({ ...valid, guaranteedDeliveredCount: 1.5 }),
      JSON.stringify({ ...valid, latestBufferedMessageId: "x" }),
      JSON.stringify({ ...valid, buffer: {} }),
      JSON.stringify({ ...valid, buffer: [[-1, "{}"]] }),
      JSON.stringify({ ...valid, buffer: [[1, 2]] }),
      JSON.stringify({ ...valid, buffer: [[1]] }),
      JSON.stringify({ ...valid, storage: [[1, "x"]] }),
      JSON.stringify({ ...valid, storage: "nope" })
    ]
    for (const text of variants) {
      let thrown: unknown
      try {
        Session.fromString(text)
      } catch (error) {
        thrown = error
      }
      expect(thrown, text).toBeInstanceOf(SessionFormatError)
      expect((thrown as Error).name).toBe("SessionFormatError")
      const { _tag, reason } = thrown as SessionFormatError
      // The first three are not JSON at all.
      expect({ _tag, reason }, text).toEqual({ _tag: "SessionFormatError", reason: variants.indexOf(text) < 3 ? "NotJson" : "MalformedFields" })
    }
  })
})

// ===================================== 1. restore on the engine, both sides

describe("restore from the peer's receivedCount (engine, exact wire)", () => {
  /**
   * Client and server each have: requests the peer acknowledged, a call the
   * peer received whose callback is lost, requests lost on the wire, and
   * requests made while detached.
   */
  const breakLink = async () => {
    const serverApp = recorder({ calc: ["a", "b", "c"] })
    const clientApp = recorder({ ui: ["confirm", "alert"] })
    const pair = await openPair({
      delivery: "manual",
      server: { application: serverApp.dispatcher },
      client: { application: clientApp.dispatcher }
    })
    const { client, server, wire } = pair
    const answers = { a: replies(), b: replies(), c: replies(), confirm: replies(), alert: replies() }
    expect(client.call("calc", "a", [], answers.a.reply)).toBe(1)
    expect(client.call("calc", "b", [], answers.b.reply)).toBe(2)
    client.emit("chat", "message", ["x"]) // 3
    wire.flush()
    serverApp.calls[0]!.reply(undefined, ["A"]) // callback 1: acknowledges 1
    server.emit("news", "flash", [1]) // -1
    expect(server.call("ui", "confirm", ["?"], answers.confirm.reply)).toBe(-2)
    wire.flush()
    expect(answers.a.calls).toEqual([{ error: undefined, values: ["A"] }])
    expect(methodsOf(serverApp.calls)).toEqual(["a", "b"])
    expect(methodsOf(clientApp.calls)).toEqual(["confirm"])
    expect({ received: server.session!.receivedCount, buffered: [...client.session!.buffer.keys()] })
      .toEqual({ received: 3, buffered: [2, 3] })
    expect({ received: client.session!.receivedCount, buffered: [...server.session!.buffer.keys()] })
      .toEqual({ received: 2, buffered: [1, 2] })

    // The link breaks: nothing crosses it any more.
    wire.cut()
    expect(client.call("calc", "c", [], answers.c.reply)).toBe(4) // lost on the wire
    expect(server.call("ui", "alert", ["!"], answers.alert.reply)).toBe(-3) // lost on the wire
    serverApp.calls[1]!.reply(undefined, ["B"]) // the callback of 2 is lost
    clientApp.calls[0]!.reply(undefined, [true]) // the callback of -2 is lost
    client.detach("Transport")
    server.detach("Transport")
    expect([client.phase, server.phase]).toEqual(["Detached", "Detached"])

    // Detached: requests are buffered, nothing is sent, pending calls wait.
    const sent = wire.log.length
    client.emit("chat", "message", ["y"]) // 5
    server.emit("news", "flash", [2]) // -4
    expect(wire.log.length).toBe(sent)
    expect([answers.b.calls, answers.confirm.calls, answers.c.calls, answers.alert.calls]).toEqual([[], [], [], []])
    expect([...client.session!.buffer.keys()]).toEqual([2, 3, 4, 5])
    expect([...server.session!.buffer.keys()]).toEqual([1, 2, 3, 4])
    return { pair, serverApp, clientApp, answers }
  }

  it("onto the server's own engine: acknowledged dropped, lost callbacks fail with -1, the rest resent with their ids", async () => {
    const { answers, clientApp, pair, serverApp } = await breakLink()
    const { client, server } = pair
    const wire2 = new MemoryWire({ delivery: "manual" })
    transferTo(server, wire2)
    const restore = reattach(client, wire2)
    wire2.flush()

    expect(wire2.texts("client")).toEqual([
      `{"handshake":[0,"app"],"session":["${SESSION_ID}",2]}`,
      "{\"call\":[4,\"calc\"],\"c\":[]}",
      "{\"event\":[5,\"chat\"],\"message\":[\"y\"]}"
    ])
    expect(wire2.texts("server")).toEqual([
      "{\"handshake\":[0],\"ok\":3}",
      "{\"call\":[-3,\"ui\"],\"alert\":[\"!\"]}",
      "{\"event\":[-4,\"news\"],\"flash\":[2]}"
    ])
    expect(restore.result).toEqual({ error: undefined, ok: 3 })
    expect([client.phase, server.phase]).toEqual(["Open", "Open"])

    // The calls that reached the peer and lost their callbacks: -1, as a
    // remote -1 (not the "connection closed" payload, which is ConnectionError Closed).
    expect(answers.b.calls).toEqual([{ error: lostPayload, values: [] }])
    expect(answers.b.calls[0]!.error).not.toBe(ErrorPayload.connectionClosed)
    expect(answers.confirm.calls).toEqual([{ error: lostPayload, values: [] }])
    expect(answers.confirm.calls[0]!.error).not.toBe(ErrorPayload.connectionClosed)
    // Each request reached its peer exactly once.
    expect(methodsOf(serverApp.calls)).toEqual(["a", "b", "c"])
    expect(serverApp.events.map((event) => event.args)).toEqual([["x"], ["y"]])
    expect(methodsOf(clientApp.calls)).toEqual(["confirm", "alert"])
    expect(clientApp.events.map((event) => event.args)).toEqual([[1], [2]])

    // Acknowledged up to the peer's receivedCount; ids continue past the highest used.
    expect({ delivered: client.session!.guaranteedDeliveredCount, buffered: [...client.session!.buffer.keys()] })
      .toEqual({ delivered: 3, buffered: [4, 5] })
    expect({ delivered: server.session!.guaranteedDeliveredCount, buffered: [...server.session!.buffer.keys()] })
      .toEqual({ delivered: 2, buffered: [3, 4] })
    const next = { client: replies(), server: replies() }
    expect(client.call("calc", "a", [], next.client.reply)).toBe(6)
    expect(server.call("ui", "confirm", [], next.server.reply)).toBe(-5)
    wire2.flush()

    // The resent calls complete over the new link and everything is acknowledged.
    serverApp.calls[2]!.reply(undefined, ["C"])
    clientApp.calls[1]!.reply(undefined, ["seen"])
    serverApp.calls[3]!.reply(undefined, ["A2"])
    clientApp.calls[2]!.reply(undefined, ["yes"])
    wire2.flush()
    expect(answers.c.calls).toEqual([{ error: undefined, values: ["C"] }])
    expect(answers.alert.calls).toEqual([{ error: undefined, values: ["seen"] }])
    expect([next.client.calls, next.server.calls]).toEqual([
      [{ error: undefined, values: ["A2"] }],
      [{ error: undefined, values: ["yes"] }]
    ])
    expect([client.session!.buffer.size, server.session!.buffer.size]).toEqual([0, 0])
    expect([client.pendingCount, server.pendingCount]).toEqual([0, 0])
  })

  it("onto a new server engine from the session's text (the SessionStore path): resent with their ids, ids continue past the most negative", async () => {
    const { answers, clientApp, pair } = await breakLink()
    const { client, server } = pair
    const text = server.session!.toString()
    // The cached engine expires: its pending calls fail as closed, not as lost.
    server.close()
    expect(answers.confirm.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
    expect(answers.alert.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])

    const wire2 = new MemoryWire({ delivery: "manual" })
    const serverApp2 = recorder({ calc: ["a", "b", "c"] })
    const requests: Array<Message.HandshakeRequest> = []
    const fresh = new Engine({
      role: "server",
      link: wire2.server,
      onHandshake: (request, done) => {
        requests.push(request)
        done({ _tag: "Accepted", session: Session.fromString(text), restored: true, application: serverApp2.dispatcher })
      }
    })
    wire2.attach("server", fresh)
    const restore = reattach(client, wire2)
    wire2.flush()

    expect(requests.map((request) => request.auth)).toEqual([{ _tag: "Session", sessionId: SESSION_ID, receivedCount: 2 }])
    expect(wire2.texts("client")).toEqual([
      `{"handshake":[0,"app"],"session":["${SESSION_ID}",2]}`,
      "{\"call\":[4,\"calc\"],\"c\":[]}",
      "{\"event\":[5,\"chat\"],\"message\":[\"y\"]}"
    ])
    expect(wire2.texts("server")).toEqual([
      "{\"handshake\":[0],\"ok\":3}",
      "{\"call\":[-3,\"ui\"],\"alert\":[\"!\"]}",
      "{\"event\":[-4,\"news\"],\"flash\":[2]}"
    ])
    expect(restore.result).toEqual({ error: undefined, ok: 3 })
    expect(answers.b.calls).toEqual([{ error: lostPayload, values: [] }])
    expect(methodsOf(serverApp2.calls)).toEqual(["c"])
    expect(methodsOf(clientApp.calls)).toEqual(["confirm", "alert"])

    // The new engine continues past -4 (2.3.0 would reuse -3), the client past 5.
    expect(fresh.call("ui", "confirm", [], replies().reply)).toBe(-5)
    expect(client.call("calc", "a", [], replies().reply)).toBe(6)
    // An answer to a call of the expired engine only acknowledges.
    clientApp.calls[1]!.reply(undefined, ["late"])
    wire2.flush()
    expect(fresh.droppedCallbacks).toBe(1)
    expect([...fresh.session!.buffer.keys()]).toEqual([4, 5]) // -4 is an event: acknowledged by a later answer
  })

  it("a session the client restored before (twice in a row) keeps counting: no id is reused", async () => {
    const serverApp = recorder({ calc: ["a"] })
    const pair: Pair = await openPair({ delivery: "manual", server: { application: serverApp.dispatcher } })
    const { client, server } = pair
    let wire = pair.wire
    const ids: Array<number> = []
    for (let round = 0; round < 3; round++) {
      ids.push(client.call("calc", "a", [], replies().reply))
      ids.push(server.ping())
      wire.flush()
      wire.cut()
      client.detach("Transport")
      server.detach("Transport")
      const next = new MemoryWire({ delivery: "manual" })
      transferTo(server, next)
      const restore = reattach(client, next)
      next.flush()
      expect(restore.result?.error).toBeUndefined()
      wire = next
    }
    expect(ids).toEqual([1, -1, 2, -2, 3, -3])
    expect(server.session!.receivedCount).toBe(3)
    expect(methodsOf(serverApp.calls)).toEqual(["a", "a", "a"])
  })
})

// ============================== 1-2. over TCP: lost callbacks and resend

describe("restore over TCP (Effect API)", () => {
  it.scopedLive("a call that reached the server and lost its callback fails with RemoteError -1; a call made while down is resent; ids continue", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy)
      const serverSide = onlyConnection(server)
      const lost = yield* Effect.fork(connection.call("calc", "hold"))
      yield* within(Deferred.await(served.reached), "hold to run on the server")
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      // The handler answers now: its callback has no link to go to.
      yield* Deferred.succeed(served.gate, undefined)
      yield* Effect.sleep("20 millis")
      const later = yield* Effect.fork(connection.call("calc", "add", [2, 3]))
      yield* reopen(proxy)

      const error = yield* within(Fiber.join(lost), "the lost call").pipe(Effect.flip)
      expectRemote(error, RemoteError.ERR_CALLBACK_LOST, "Connection closed before receiving callback")
      expect(yield* within(Fiber.join(later), "the call made while down")).toEqual([5])
      expect(served.holds).toBe(1)
      // hold was 1, add 2; the next call is 3 (nothing reused, nothing skipped).
      expect(yield* connection.call("calc", "add", [1, 1])).toEqual([2])
      expect(connection.session()?.latestBufferedMessageId).toBe(3)
      expect(serverSide.session()?.receivedCount).toBe(3)
      expect(serverSide.session()?.id).toBe(connection.session()?.id)
    }))

  it.scopedLive("server side: a call to the client that reached it and lost its callback fails with RemoteError -1", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const side = yield* makeClientSide
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy, { client: clientApp(side) })
      const serverSide = onlyConnection(server)
      const lost = yield* Effect.fork(serverSide.call("ui", "hold"))
      yield* within(Deferred.await(side.reached), "hold to run on the client")
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      yield* Deferred.succeed(side.gate, undefined)
      yield* Effect.sleep("20 millis")
      yield* reopen(proxy)
      const error = yield* within(Fiber.join(lost), "the lost call").pipe(Effect.flip)
      expectRemote(error, RemoteError.ERR_CALLBACK_LOST)
      expect(side.holds).toBe(1)
      expect(yield* serverSide.call("ui", "echo", ["after"])).toEqual(["after"])
    }))

  it.scopedLive("callWithResend: a call whose callback was lost is issued again and completes; the handler ran exactly twice", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy)
      const serverSide = onlyConnection(server)
      const call = yield* Effect.fork(connection.callWithResend("calc", "hold"))
      yield* within(Deferred.await(served.reached), "hold to run on the server")
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      yield* Deferred.succeed(served.gate, undefined) // the first answer is lost
      yield* Effect.sleep("20 millis")
      yield* reopen(proxy)
      // The second run answers at once (the gate is open) with its run number.
      expect(yield* within(Fiber.join(call), "callWithResend")).toEqual([2])
      expect(served.holds).toBe(2)
    }))

  // A -1 is produced locally, by a restore (protocol.md §7-§8); 2.3.0 resends
  // only on that local -1. A peer that answers [-1] itself (a handler failing
  // with code -1, or a broken peer) must not make callWithResend call again,
  // let alone in a loop.
  it.scopedLive("callWithResend does not issue again a call the peer answered with error -1 over a healthy link", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy)
      const result = yield* connection.callWithResend("calc", "minusOne").pipe(
        Effect.timeout("500 millis"),
        Effect.either
      )
      const runs = served.tallies.get("minusOne")
      expect(runs).toBe(1)
      expect(result._tag).toBe("Left")
      if (result._tag === "Left") expectRemote(result.left, -1)
      // The peer's own answer: not resendable.
      expect(result._tag === "Left" && result.left._tag === "RemoteError" && result.left.resendable).toBe(false)
    }))

  it.scopedLive("callWithResend is at-least-once when a link drops at any moment: the handler runs once or twice, the call completes", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy)
      for (let round = 0; round < 6; round++) {
        const key = `k${round}`
        const call = yield* Effect.fork(connection.callWithResend("calc", "tally", [key]))
        // 0..5 ms: before the call leaves, while it is in flight, or after it is answered.
        yield* Effect.sleep(Duration.millis(round))
        proxy.drop()
        const [count] = yield* within(Fiber.join(call), `callWithResend ${key}`)
        expect([1, 2]).toContain(served.tallies.get(key))
        expect(count).toBe(served.tallies.get(key))
      }
    }))
})

// ======================================================== 3. server sessions

describe("server sessions", () => {
  it.scopedLive("within clientExpirationTime: the same engine is restored; calls to the client sent or made while down complete; events arrive", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const side = yield* makeClientSide
      const { proxy, server } = yield* serve(served)
      const serverEvents = yield* record(server.events)
      const connection = yield* dial(proxy, { client: clientApp(side) })
      const serverSide = onlyConnection(server)
      const serverLife = yield* record(serverSide.lifecycle)
      const news = yield* recordEvents(connection, "news")

      // A call that leaves the server but never reaches the client, then the link dies.
      proxy.blackhole()
      const inFlight = yield* Effect.fork(serverSide.call("ui", "echo", ["in flight"]))
      yield* serverSide.emit("news", "flash", ["in flight"])
      yield* waitUntil(() => proxy.discarded() > 0, "the proxy to swallow the call")
      yield* cutOff(proxy)
      proxy.resume()
      yield* bothDetached(connection, serverSide)
      expect(server.connections()).toEqual([])

      const whileDown = yield* Effect.fork(serverSide.call("ui", "echo", ["while down"]))
      yield* serverSide.emit("news", "flash", ["while down"])
      yield* reopen(proxy)

      expect(yield* within(Fiber.join(inFlight), "the call sent before the drop")).toEqual(["in flight"])
      expect(yield* within(Fiber.join(whileDown), "the call made while down")).toEqual(["while down"])
      expect(side.echoed).toEqual(["in flight", "while down"])
      yield* waitUntil(() => news.items.length >= 2, "the events")
      expect(news.items).toEqual(["flash [\"in flight\"]", "flash [\"while down\"]"])

      // The same connection lives on.
      expect(server.connections()).toEqual([serverSide])
      expect(serverSide.isOpen()).toBe(true)
      expect(serverLife.items.map(step)).toEqual(["Disconnected", "Restored 0"])
      yield* serverEvents.waitFor((event) => event._tag === "Restored", "Restored")
      expect(serverEvents.items.map(about(serverSide))).toEqual([["Connected", true], ["Disconnected", true], ["Restored", true]])
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
    }))

  /** A store that keeps Session objects and records how it is used. */
  const recordingStore = (answer: "sync" | "async") => {
    const sessions = new Map<string, Session>()
    const calls: Array<string> = []
    const delay = answer === "async" ? Effect.sleep("10 millis") : Effect.void
    const store: SessionStore.SessionStore = {
      get: (id) =>
        Effect.zipRight(delay, Effect.sync(() => {
          calls.push("get")
          return Option.fromNullable(sessions.get(id))
        })),
      set: (id, session) =>
        Effect.sync(() => {
          calls.push("set")
          sessions.set(id, session)
        }),
      setInactive: () => Effect.sync(() => void calls.push("setInactive"))
    }
    return { store, sessions, calls }
  }

  /** After clientExpirationTime, a restore comes from the store onto a new connection. */
  const restoreAfterExpiry = (provide: (effect: ReturnType<typeof serve>) => ReturnType<typeof serve>) =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const side = yield* makeClientSide
      const { proxy, server } = yield* provide(serve(served, { clientExpirationTime: "100 millis" }))
      const serverEvents = yield* record(server.events)
      const connection = yield* dial(proxy, { client: clientApp(side) })
      const life = yield* record(connection.lifecycle)
      const news = yield* recordEvents(connection, "news")
      const serverSide = onlyConnection(server)
      const sessionId = connection.session()!.id
      expect(serverSide.session()?.id).toBe(sessionId)

      yield* connection.call("calc", "add", [1, 1])
      proxy.blackhole()
      yield* serverSide.emit("news", "flash", ["in flight"])
      yield* waitUntil(() => proxy.discarded() > 0, "the proxy to swallow the event")
      yield* cutOff(proxy)
      proxy.resume()
      yield* bothDetached(connection, serverSide)
      // Made while down, before the session expires from the server's cache.
      yield* serverSide.emit("news", "flash", ["while down"])
      yield* connection.emit("chat", "message", ["while down"])
      // Expired: the cached connection is closed for good.
      expect(yield* within(serverSide.closed, "the session to expire from the cache")).toBe("Closed")
      yield* reopen(proxy)

      yield* life.waitFor(is("Restored"), "the restore")
      yield* Effect.ignore(waitUntil(() => news.items.length >= 2, "the resent events", 1000))
      expect(news.items).toEqual(["flash [\"in flight\"]", "flash [\"while down\"]"])
      yield* waitUntil(() => served.log.length >= 1, "the client's event")
      expect(served.log).toEqual(["event while down"])
      // A new connection on the server, with the same session.
      const restored = onlyConnection(server)
      expect(restored).not.toBe(serverSide)
      expect(restored.session()?.id).toBe(sessionId)
      expect(serverEvents.items.map(about(restored))).toEqual([["Connected", false], ["Disconnected", false], ["Restored", true]])
      expect(serverEvents.items.map(about(serverSide))).toEqual([["Connected", true], ["Disconnected", true], ["Restored", false]])
      // Ids continue past the most negative one used (handshake 0, events -1 and -2).
      yield* restored.emit("news", "flash", ["after"])
      expect(restored.session()?.latestBufferedMessageId).toBe(-3)
      yield* waitUntil(() => news.items.length >= 3, "the event after the restore")
      expect(news.items[2]).toBe("flash [\"after\"]")
      expect(yield* restored.call("ui", "echo", ["back"])).toEqual(["back"])
      expect(yield* connection.call("calc", "add", [2, 2])).toEqual([4])
      return sessionId
    })

  it.scopedLive("after clientExpirationTime: restored from the default in-memory SessionStore onto a new connection; buffered messages resent", () =>
    Effect.asVoid(restoreAfterExpiry((effect) => effect)))

  it.scopedLive("after clientExpirationTime: restored from a custom SessionStore that answers asynchronously (Layer)", () =>
    Effect.gen(function*() {
      const { calls, store } = recordingStore("async")
      yield* restoreAfterExpiry((effect) => Effect.provide(effect, Layer.succeed(SessionStore.SessionStore, store)))
      // Stored when the link dropped, and again when the cached session expired.
      expect(calls).toEqual(["set", "setInactive", "set", "setInactive", "get"])
    }))

  it.scopedLive("after clientExpirationTime: restored from SessionStore.layerKeyValueStore (sessions kept as text); buffered messages resent", () =>
    Effect.asVoid(restoreAfterExpiry((effect) =>
      Effect.provide(effect, SessionStore.layerKeyValueStore().pipe(Layer.provide(KeyValueStore.layerMemory)))
    )))

  it.scopedLive("after clientExpirationTime: restored from a custom SessionStore that answers synchronously (provideService)", () =>
    Effect.gen(function*() {
      const { calls, sessions, store } = recordingStore("sync")
      const sessionId = yield* restoreAfterExpiry((effect) => Effect.provideService(effect, SessionStore.SessionStore, store))
      // Stored when the link dropped, and again when the cached session expired.
      expect(calls).toEqual(["set", "setInactive", "set", "setInactive", "get"])
      expect([...sessions.keys()]).toEqual([sessionId])
    }))

  // The server stores a session when its link drops; what the application
  // sends to it afterwards (buffered, and `emit` succeeded) must still reach
  // the client when the session comes back from a store that copies it.
  it.scopedLive("after clientExpirationTime: a store that keeps sessions as text (toString/fromString) restores them, with what was sent while down", () =>
    Effect.gen(function*() {
      const texts = new Map<string, string>()
      const store: SessionStore.SessionStore = {
        get: (id) => Effect.sync(() => Option.map(Option.fromNullable(texts.get(id)), Session.fromString)),
        set: (id, session) => Effect.sync(() => void texts.set(id, session.toString())),
        setInactive: () => Effect.void
      }
      yield* restoreAfterExpiry((effect) => Effect.provideService(effect, SessionStore.SessionStore, store))
      expect(texts.size).toBe(1)
    }))

  it.scopedLive("a client that goes away while an asynchronous store is answering leaves no connection behind; its session stays restorable", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const known = new Session()
      const slow: SessionStore.SessionStore = {
        get: (id) => Effect.as(Effect.sleep("100 millis"), id === known.id ? Option.some(known) : Option.none()),
        set: () => Effect.void,
        setInactive: () => Effect.void
      }
      const { server } = yield* serve(served).pipe(Effect.provideService(SessionStore.SessionStore, slow))
      const serverEvents = yield* record(server.events)
      const impatient = yield* rawConnect(portOf(server))
      yield* impatient.send(`{handshake:[0,'calc'],session:['${known.id}',0]}`)
      yield* Effect.sleep("20 millis")
      impatient.socket.destroy()
      yield* Effect.sleep("200 millis") // the store has answered
      expect(server.connections().map((connection) => ({ id: connection.id, open: connection.isOpen() }))).toEqual([])
      expect(serverEvents.items.filter((event) => event._tag === "Restored")).toHaveLength(0)

      const patient = yield* rawConnect(portOf(server))
      yield* patient.send(`{handshake:[0,'calc'],session:['${known.id}',0]}`)
      expect(yield* patient.next("the handshake reply")).toBe("{\"handshake\":[0],\"ok\":0}")
      expect(server.connections()).toHaveLength(1)
    }))

  it.scopedLive("an unknown session id is refused with 11 (raw handshake)", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { server } = yield* serve(served)
      const serverEvents = yield* record(server.events)
      const peer = yield* rawConnect(portOf(server))
      yield* peer.send(`{handshake:[0,'calc'],session:['${globalThis.crypto.randomUUID()}',0]}`)
      expect(yield* peer.next("the handshake reply")).toBe("{\"handshake\":[0],\"error\":[11]}")
      yield* within(peer.closed, "the server to close the socket")
      const failed = yield* serverEvents.waitFor((event) => event._tag === "HandshakeFailed", "HandshakeFailed")
      expect(failed._tag === "HandshakeFailed" ? failed.error.code : undefined).toBe(11)
    }))

  it.scopedLive("an unknown session id: the client's restore is Rejected with 11, its lifecycle shows Failed then Closed", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const forgetful: SessionStore.SessionStore = {
        get: () => Effect.succeedNone,
        set: () => Effect.void,
        setInactive: () => Effect.void
      }
      const { proxy, server } = yield* serve(served, { clientExpirationTime: "50 millis" }).pipe(
        Effect.provideService(SessionStore.SessionStore, forgetful)
      )
      const connection = yield* dial(proxy)
      const life = yield* record(connection.lifecycle)
      const serverSide = onlyConnection(server)
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      const buffered = yield* Effect.fork(connection.call("calc", "add", [1, 2]))
      yield* within(serverSide.closed, "the session to expire")
      yield* reopen(proxy)

      const closed = yield* life.waitFor(is("Closed"), "Closed")
      // Attempts while the proxy refused failed with Transport; the first one
      // that reached the server was Rejected with 11, and it was the last.
      const steps = life.items.map(step)
      const n = (steps.length - 2) / 2
      expect(steps).toEqual([
        "Disconnected",
        ...Array.from({ length: n }, (_, i) => [`Attempt ${i + 1}`, `Failed ${i + 1}`]).flat(),
        "Closed"
      ])
      const failures = life.items.flatMap((event) => (event._tag === "Failed" ? [event.error] : []))
      failures.slice(0, -1).forEach((error) => expectHandshakeError(error, "Transport"))
      expectHandshakeError(failures.at(-1), "Rejected", 11)
      expect(closed._tag === "Closed" ? closed.reason : undefined).toBe("HandshakeRejected")
      expectConnectionError(yield* within(Fiber.join(buffered), "the buffered call").pipe(Effect.flip), "Closed")
      expect(connection.isOpen()).toBe(false)
      // No further attempt.
      const accepted = proxy.accepted()
      yield* Effect.sleep("100 millis")
      expect(life.items.map(step)).toEqual(steps)
      expect(proxy.accepted()).toBe(accepted)
    }))

  /**
   * A server that restarts behind the proxy refuses the restore; the client
   * (opened by `open`) starts a new session (Renewed): its calls in flight
   * fail with -1, callWithResend runs again, and the connection goes on.
   */
  const renewalScenario = (open: (proxy: Proxy.Proxy) => Effect.Effect<Conn, HandshakeError, Scope.Scope>) =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const first = yield* Effect.scopeWith((scope) => Scope.fork(scope, ExecutionStrategy.sequential))
      const old = yield* Server.make({ applications: [calc(served)], listen: [LISTEN] }).pipe(withStore, Scope.extend(first))
      const proxy = yield* Proxy.make(portOf(old))
      const connection = yield* open(proxy)
      const life = yield* record(connection.lifecycle)
      const inFlight = yield* Effect.fork(connection.call("calc", "hold"))
      const resent = yield* Effect.fork(connection.callWithResend("calc", "tally", ["renewed"]))
      yield* within(Deferred.await(served.reached), "the held call to run")
      yield* waitUntil(() => served.tallies.get("renewed") === 1, "the tally to run")
      // The server restarts: a new one, knowing no session, behind the same proxy.
      yield* cutOff(proxy)
      yield* Scope.close(first, Exit.void)
      const restarted = yield* makeServed
      const next = yield* Server.make({ applications: [calc(restarted)], listen: [LISTEN] }).pipe(withStore)
      proxy.retarget(portOf(next))
      yield* reopen(proxy)

      const renewed = yield* life.waitFor(is("Renewed"), "Renewed", 5000)
      const steps = life.items.map(step)
      expect(steps[0]).toBe("Disconnected")
      expect(steps.at(-1)).toMatch(/^Renewed \d+$/)
      const failures = life.items.flatMap((event) => (event._tag === "Failed" ? [event.error] : []))
      expectHandshakeError(failures.at(-1), "Rejected", 11)
      expect(renewed._tag === "Renewed" ? renewed.sessionId : undefined).toMatch(UUID_V4)
      // The held call's answer died with the old server; the resendable one ran again on the new one.
      const lost = yield* within(Fiber.join(inFlight), "the held call").pipe(Effect.flip)
      expectRemote(lost, -1)
      // Lost here, with the link: marked so (what callWithResend retries).
      expect(lost instanceof RemoteError.RemoteError && lost.resendable).toBe(true)
      expect(yield* within(Fiber.join(resent), "the resent call")).toEqual([1])
      expect(restarted.tallies.get("renewed")).toBe(1)
      // And the connection goes on.
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      expect(connection.isOpen()).toBe(true)
      expect(next.connections()).toHaveLength(1)
    })

  it.scopedLive("reconnect { renew: true }: after a server restart the client renews its session and goes on", () =>
    renewalScenario((proxy) => dial(proxy, { reconnect: { schedule: FAST, renew: true } })))

  it.scopedLive("Connection.layer renews by default when it reconnects", () =>
    renewalScenario((proxy) =>
      Layer.build(Connection.layer({
        address: proxy.address,
        application: "calc",
        reconnect: { schedule: FAST },
        handshakeTimeout: "1 second"
      })).pipe(Effect.map(Context.get(Connection.ClientConnection)))))

  it.scopedLive("restoring onto a session whose old connection is still open closes the old transport (our client sees Disconnected)", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { server } = yield* serve(served)
      const serverEvents = yield* record(server.events)
      const connection = yield* Connection.connect({
        address: server.addresses[0]!,
        application: "calc",
        reconnect: { schedule: Schedule.spaced("1 hour") }
      })
      const life = yield* record(connection.lifecycle)
      const serverSide = onlyConnection(server)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])

      const thief = yield* rawConnect(portOf(server))
      yield* thief.send(`{handshake:[0,'calc'],session:['${connection.session()!.id}',0]}`)
      expect(yield* thief.next("the handshake reply")).toBe("{\"handshake\":[0],\"ok\":1}")
      yield* life.waitFor(is("Disconnected"), "the first client's link to close")
      expect(connection.isOpen()).toBe(false)
      // The session goes on over the new socket, on the same server connection.
      yield* thief.send("{call:[2,'calc'],add:[20,22]}")
      expect(yield* thief.next("the callback")).toBe("{\"callback\":[2],\"ok\":[42]}")
      expect(server.connections()).toEqual([serverSide])
      yield* serverEvents.waitFor((event) => event._tag === "Restored", "Restored")
      expect(serverEvents.items.map(about(serverSide))).toEqual([["Connected", true], ["Restored", true]])
    }))

  it.scopedLive("restoring onto a session whose old connection is still open closes the old socket (raw clients)", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { server } = yield* serve(served)
      const first = yield* rawConnect(portOf(server))
      yield* first.send("{handshake:[0,'calc']}")
      const reply = /^\{"handshake":\[0\],"ok":"([0-9a-f-]+)"\}$/.exec(yield* first.next("the handshake reply"))
      const sessionId = reply?.[1]
      expect(sessionId).toMatch(UUID_V4)
      const second = yield* rawConnect(portOf(server))
      yield* second.send(`{handshake:[0,'calc'],session:['${sessionId}',0]}`)
      expect(yield* second.next("the handshake reply")).toBe("{\"handshake\":[0],\"ok\":0}")
      yield* within(first.closed, "the server to close the first socket")
      expect(second.socket.destroyed).toBe(false)
    }))

  // `get` is never used to watch for the purge: asking for a session is using it.
  it.scopedLive("the in-memory store purges sessions inactive longer than inactiveLifetime, and only those", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.memory({ inactiveLifetime: "200 millis", purgeInterval: "10 millis" })
      const inactive = new Session()
      const active = new Session()
      const revived = new Session()
      const young = new Session()
      yield* store.set(inactive.id, inactive)
      yield* store.setInactive(inactive.id)
      yield* store.set(active.id, active)
      yield* store.set(revived.id, revived)
      yield* store.setInactive(revived.id)
      yield* Effect.sleep("100 millis")
      yield* store.set(revived.id, revived) // in use again: active
      yield* Effect.sleep("150 millis")
      yield* store.set(young.id, young)
      yield* store.setInactive(young.id) // inactive for far less than the lifetime
      yield* Effect.sleep("50 millis")
      expect(yield* store.get(inactive.id)).toEqual(Option.none())
      expect(Option.getOrUndefined(yield* store.get(active.id))).toBe(active)
      expect(Option.getOrUndefined(yield* store.get(revived.id))).toBe(revived)
      expect(Option.getOrUndefined(yield* store.get(young.id))).toBe(young)
      expect(yield* store.get("unknown")).toEqual(Option.none())
    }))

  it.scopedLive("layerMemory provides the store under SessionStore.SessionStore, with the same purge", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore.SessionStore
      const session = new Session()
      const kept = new Session()
      yield* store.set(session.id, session)
      yield* store.setInactive(session.id)
      yield* store.set(kept.id, kept)
      yield* Effect.sleep("150 millis")
      expect(yield* store.get(session.id)).toEqual(Option.none())
      expect(Option.getOrUndefined(yield* store.get(kept.id))).toBe(kept)
    }).pipe(Effect.provide(SessionStore.layerMemory({ inactiveLifetime: "50 millis", purgeInterval: "10 millis" }))))

  it.live("the in-memory store's purge timer does not keep the process alive", () =>
    Effect.gen(function*() {
      const root = fileURLToPath(new URL("..", import.meta.url))
      // The store's scope is never closed: only an unref'd timer lets the process end.
      const script = [
        "import { Effect, Option, Scope } from \"effect\"",
        "import * as SessionStore from \"./src/SessionStore.ts\"",
        "import { Session } from \"./src/engine/Session.ts\"",
        "const scope = Effect.runSync(Scope.make())",
        "const store = Effect.runSync(Scope.extend(SessionStore.memory({ inactiveLifetime: \"1 hour\", purgeInterval: \"20 millis\" }), scope))",
        "const session = new Session()",
        "Effect.runSync(store.set(session.id, session))",
        "Effect.runSync(store.setInactive(session.id))",
        "console.log(\"stored\", Option.getOrUndefined(Effect.runSync(store.get(session.id))) === session)"
      ].join("\n")
      const started = Date.now()
      const result = yield* Effect.async<{ readonly code: number | null; readonly killed: boolean; readonly stdout: string; readonly stderr: string }>((resume) => {
        execFile(
          process.execPath,
          ["--import", "tsx", "--input-type=module", "-e", script],
          { cwd: root, timeout: 8000 },
          (error, stdout, stderr) => {
            resume(Effect.succeed({
              code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
              killed: error?.killed ?? false,
              stdout,
              stderr
            }))
          }
        )
      })
      expect({ killed: result.killed, code: result.code, stderr: result.stderr }).toEqual({ killed: false, code: 0, stderr: "" })
      expect(result.stdout.trim()).toBe("stored true")
      expect(Date.now() - started).toBeLessThan(8000)
    }), 15_000)
})

// ===================================================== 4. client reconnection

describe("client reconnection", () => {
  it.effect("defaultReconnectSchedule: 1-2 s, 2-3 s, 4-5 s, ... doubling, capped at 32-33 s, forever", () =>
    Effect.gen(function*() {
      const driver = yield* Schedule.driver(Connection.defaultReconnectSchedule)
      const delays: Array<number> = []
      for (let attempt = 1; attempt <= 14; attempt++) {
        const fiber = yield* Effect.fork(driver.next(undefined))
        yield* TestClock.adjust(0)
        const now = yield* Clock.currentTimeMillis
        const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
        expect(sleeps).toHaveLength(1)
        const delay = sleeps[0]! - now
        delays.push(delay)
        // Not a millisecond early.
        yield* TestClock.adjust(Duration.millis(delay - 1))
        expect(fiber.unsafePoll()).toBeNull()
        yield* TestClock.adjust(Duration.millis(1))
        const exit = yield* Fiber.await(fiber)
        expect(Exit.isSuccess(exit)).toBe(true)
      }
      const bases = [1, 2, 4, 8, 16, 32, 32, 32, 32, 32, 32, 32, 32, 32].map((seconds) => seconds * 1000)
      delays.forEach((delay, i) => {
        expect(delay, `attempt ${i + 1}`).toBeGreaterThanOrEqual(bases[i]!)
        expect(delay, `attempt ${i + 1}`).toBeLessThanOrEqual(bases[i]! + 1000)
      })
      // The jitter is random, not a constant.
      expect(new Set(delays.map((delay, i) => delay - bases[i]!)).size).toBeGreaterThan(1)
    }))

  it.scopedLive("no reconnection after connection.close: the lifecycle ends with Closed, no Attempt", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy)
      const life = yield* record(connection.lifecycle)
      yield* connection.close
      yield* life.waitFor(is("Closed"), "Closed")
      expect(yield* within(connection.closed, "closed")).toBe("Closed")
      yield* Effect.sleep("150 millis") // five periods of the schedule
      expect(life.items.map(step)).toEqual(["Closed"])
      expect(proxy.accepted()).toBe(1)
      expectConnectionError(yield* Effect.flip(connection.call("calc", "add", [1, 2])), "Closed")
    }))

  it.scopedLive("no reconnection if the first handshake fails: connect fails, nothing is dialled again", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const refused = yield* Effect.flip(Effect.scoped(dial(proxy, { application: "nope" })))
      expectHandshakeError(refused, "Rejected", 10)
      // A proxy to a dead port: the socket opens, then closes before any handshake.
      const dead = yield* freePort
      const nowhere = yield* Proxy.make(dead)
      const unreachable = yield* Effect.flip(Effect.scoped(dial(nowhere)))
      expect(unreachable._tag).toBe("HandshakeError")
      yield* Effect.sleep("150 millis")
      expect([proxy.accepted(), nowhere.accepted()]).toEqual([1, 1])
    }))

  it.scopedLive("the schedule is pluggable: Schedule.recurs(2) gives two attempts, then the connection closes", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy, { reconnect: { schedule: Schedule.recurs(2) } })
      const life = yield* record(connection.lifecycle)
      yield* cutOff(proxy)
      yield* life.waitFor(is("Closed"), "Closed")
      expect(life.items.map(step)).toEqual(["Disconnected", "Attempt 1", "Failed 1", "Attempt 2", "Failed 2", "Closed"])
      for (const event of life.items) {
        if (event._tag === "Failed") expectHandshakeError(event.error, "Transport")
        if (event._tag === "Attempt") expect(event.address).toEqual(proxy.address)
      }
      expect(yield* within(connection.closed, "closed")).toBe("Closed")
      expect(proxy.accepted()).toBe(3)
      yield* reopen(proxy)
      yield* Effect.sleep("100 millis")
      expect(proxy.accepted()).toBe(3)
    }))

  it.scopedLive("the target is pluggable: attempt n dials target(n)", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy, server } = yield* serve(served)
      const second = yield* Proxy.make(portOf(server))
      const targets: Array<number> = []
      const connection = yield* dial(proxy, {
        reconnect: {
          schedule: FAST,
          target: (attempt) => {
            targets.push(attempt)
            return attempt === 1 ? proxy.address : second.address
          }
        }
      })
      const life = yield* record(connection.lifecycle)
      yield* cutOff(proxy) // attempt 1 (first proxy) fails, attempt 2 (second) succeeds
      const restored = yield* life.waitFor(is("Restored"), "Restored")
      expect(life.items.map(step)).toEqual(["Disconnected", "Attempt 1", "Failed 1", "Attempt 2", "Restored 2"])
      expect(restored._tag === "Restored" ? restored.attempt : undefined).toBe(2)
      expect(life.items.flatMap((event) => (event._tag === "Attempt" ? [event.address] : [])))
        .toEqual([proxy.address, second.address])
      expect(targets).toEqual([1, 2])
      expect(second.accepted()).toBe(1)
      expect(yield* connection.call("calc", "add", [4, 5])).toEqual([9])
      expect(second.open()).toBe(1)
    }))

  it.scopedLive("lifecycle: Disconnected → Attempt n → Restored; calls and events made while down are delivered after the restore, in order, exactly once", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy)
      const life = yield* record(connection.lifecycle)
      const serverSide = onlyConnection(server)
      yield* connection.call("calc", "record", ["before"])
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      yield* life.waitFor((event) => event._tag === "Failed" && event.attempt >= 2, "two failed attempts")

      const calls: Array<Fiber.RuntimeFiber<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>> = []
      for (const n of [1, 2, 3]) {
        yield* connection.emit("chat", "message", [`e${n}`])
        calls.push(yield* Effect.fork(connection.call("calc", "record", [`c${n}`])))
        yield* waitUntil(() => connection.session()?.buffer.size === 2 * n, `call c${n} to be buffered`)
      }
      yield* reopen(proxy)
      const results = yield* within(Fiber.join(Fiber.all(calls)), "the calls made while down")
      expect(results).toEqual([["c1"], ["c2"], ["c3"]])
      yield* connection.ping
      yield* Effect.sleep("50 millis")
      expect(served.log).toEqual(["call before", "event e1", "call c1", "event e2", "call c2", "event e3", "call c3"])

      const steps = life.items.map(step)
      expect(steps[0]).toBe("Disconnected")
      const restoredAt = steps.findIndex((s) => s.startsWith("Restored"))
      expect(restoredAt).toBe(steps.length - 1)
      const attempts = steps.slice(1, restoredAt)
      const n = (attempts.length + 1) / 2
      expect(n).toBeGreaterThanOrEqual(3)
      expect(attempts).toEqual(Array.from({ length: attempts.length }, (_, i) => `${i % 2 === 0 ? "Attempt" : "Failed"} ${Math.floor(i / 2) + 1}`))
      expect(steps[restoredAt - 1]).toBe(`Attempt ${n}`)
      expect(steps[restoredAt]).toBe(`Restored ${n}`)
      // The schedule starts afresh after a restore: the next drop begins at attempt 1.
      yield* cutOff(proxy)
      yield* reopen(proxy)
      yield* waitUntil(() => life.items.filter(is("Restored")).length === 2, "the second restore")
      expect(life.items.slice(restoredAt + 1).map(step)).toEqual(["Disconnected", "Attempt 1", "Restored 1"])
    }))

  it.scopedLive("the buffer is bounded: with maxBuffered 5, the 6th request while down fails with BufferFull; the 5 complete after the restore", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy, { maxBuffered: 5 })
      const serverSide = onlyConnection(server)
      yield* cutOff(proxy)
      yield* bothDetached(connection, serverSide)
      const calls: Array<Fiber.RuntimeFiber<ReadonlyArray<unknown>, RemoteError.RemoteError | ConnectionError>> = []
      for (let i = 0; i < 4; i++) calls.push(yield* Effect.fork(connection.call("calc", "add", [i, i])))
      yield* connection.emit("chat", "message", ["fifth"])
      yield* waitUntil(() => connection.session()?.buffer.size === 5, "five buffered requests")
      expectConnectionError(yield* Effect.flip(connection.call("calc", "add", [9, 9])), "BufferFull")
      expectConnectionError(yield* Effect.flip(connection.emit("chat", "message", ["sixth"])), "BufferFull")
      expect(connection.session()?.buffer.size).toBe(5)
      yield* reopen(proxy)
      expect(yield* within(Fiber.join(Fiber.all(calls)), "the buffered calls")).toEqual([[0], [2], [4], [6]])
      yield* connection.ping
      yield* waitUntil(() => served.log.length === 1, "the buffered event")
      expect(served.log).toEqual(["event fifth"])
      expect(connection.session()?.buffer.size).toBe(0)
      // Room again.
      expect(yield* connection.call("calc", "add", [9, 9])).toEqual([18])
    }))

  it.scopedLive("memory does not grow: once everything is acknowledged, both buffers are empty and nothing is pending", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const side = yield* makeClientSide
      const { proxy, server } = yield* serve(served)
      const connection = yield* dial(proxy, { client: clientApp(side), maxBuffered: 40 })
      const serverSide = onlyConnection(server)
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 30; i++) {
          yield* connection.emit("chat", "message", [`${round}.${i}`])
          yield* serverSide.emit("news", "flash", [i])
          if (i % 10 === 9) yield* Effect.sleep("5 millis") // let the half-full pings be answered
        }
        yield* connection.call("calc", "add", [round, round])
        yield* serverSide.call("ui", "echo", [`${round}`])
        proxy.drop()
        yield* Effect.sleep("10 millis")
        yield* connection.emit("chat", "message", [`${round}.down`])
        yield* waitUntil(() => connection.isOpen() && serverSide.isOpen(), "the restore")
      }
      yield* connection.ping
      yield* serverSide.ping
      expect(connection.session()?.buffer.size).toBe(0)
      expect(serverSide.session()?.buffer.size).toBe(0)
      expect(connection.stats().pending).toBe(0)
      expect(serverSide.stats().pending).toBe(0)
      expect(served.log).toHaveLength(93)
      expect(new Set(served.log).size).toBe(93)
    }))
})

// ==================================================== 5. dead-peer detection

describe("dead peer", () => {
  it.scopedLive("heartbeatTimeout: a silent peer (traffic blackholed, socket open) is dropped within ~interval+timeout, then reconnected", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy, {
        heartbeatInterval: "50 millis",
        heartbeatTimeout: "100 millis",
        handshakeTimeout: "300 millis"
      })
      const life = yield* record(connection.lifecycle)
      // Healthy: pongs come back, nothing happens.
      yield* Effect.sleep("300 millis")
      expect(life.items).toEqual([])
      expect(connection.session()!.guaranteedDeliveredCount).toBeGreaterThanOrEqual(3)

      proxy.blackhole()
      const started = Date.now()
      yield* life.waitFor(is("Disconnected"), "the dead link to be dropped", 2000)
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(90)
      expect(elapsed).toBeLessThan(50 + 100 + 400)
      yield* life.waitFor(is("Attempt"), "a reconnection attempt")
      expect(life.items.map(step).slice(0, 2)).toEqual(["Disconnected", "Attempt 1"])
      proxy.resume()
      yield* life.waitFor(is("Restored"), "the restore", 3000)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
    }))

  it.scopedLive("without heartbeatTimeout a silent peer is not detected by the heartbeat alone", () =>
    Effect.gen(function*() {
      const served = yield* makeServed
      const { proxy } = yield* serve(served)
      const connection = yield* dial(proxy, { heartbeatInterval: "20 millis" })
      const life = yield* record(connection.lifecycle)
      proxy.blackhole()
      yield* Effect.sleep("300 millis")
      expect(life.items).toEqual([])
      expect(connection.isOpen()).toBe(true)
      proxy.resume()
    }))
})

// ============================================================ the proxy itself

describe("test support: the proxy", () => {
  /** A TCP echo server on loopback; counts the sockets that closed. */
  const echoServer = Effect.gen(function*() {
    const sockets = new Set<Net.Socket>()
    let closed = 0
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      socket.on("close", () => {
        sockets.delete(socket)
        closed++
      })
      socket.pipe(socket)
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, HOST, () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return { port, closed: () => closed }
  })

  it.scopedLive("forwards both ways; holds and discards on demand; drops both sockets of its pairs; refuses new ones", () =>
    Effect.gen(function*() {
      const echo = yield* echoServer
      const proxy = yield* Proxy.make(echo.port)
      const peer = yield* rawConnect(proxy.port)
      yield* peer.send("one")
      expect(yield* peer.next("one")).toBe("one")
      expect(proxy.open()).toBe(1)

      proxy.pause()
      yield* peer.send("two")
      yield* Effect.sleep("30 millis")
      expect(peer.waiting()).toBe(0)
      proxy.resume()
      expect(yield* peer.next("two, held then delivered")).toBe("two")

      proxy.blackhole()
      yield* peer.send("three")
      yield* waitUntil(() => proxy.discarded() === "three\0".length, "the bytes to be discarded")
      proxy.resume()
      yield* peer.send("four")
      expect(yield* peer.next("four")).toBe("four")
      expect(peer.waiting()).toBe(0)

      expect(proxy.drop()).toBe(1)
      yield* within(peer.closed, "the client socket to close")
      yield* waitUntil(() => echo.closed() === 1, "the target's socket to close")
      expect(proxy.open()).toBe(0)

      proxy.refuse(true)
      const refused = yield* rawConnect(proxy.port)
      yield* within(refused.closed, "a refused socket to close")
      proxy.refuse(false)
      const again = yield* rawConnect(proxy.port)
      yield* again.send("five")
      expect(yield* again.next("five")).toBe("five")
      expect(proxy.accepted()).toBe(3)
    }))
})

// ================================================================ raw peers

/** A raw TCP client that speaks NUL-framed text. */
interface RawPeer {
  readonly socket: Net.Socket
  readonly send: (text: string) => Effect.Effect<void>
  /** The next frame received (without its NUL). */
  readonly next: (what: string) => Effect.Effect<string, NotYet>
  /** Frames received and not yet taken by `next`. */
  readonly waiting: () => number
  /** Completes when the socket closes. */
  readonly closed: Effect.Effect<void>
}

const rawConnect = (port: number): Effect.Effect<RawPeer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* Effect.acquireRelease(
      Effect.async<Net.Socket, Error>((resume) => {
        const socket = Net.connect({ host: HOST, port })
        socket.once("error", (error) => resume(Effect.fail(error)))
        socket.once("connect", () => resume(Effect.succeed(socket)))
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const frames: Array<string> = []
    const closed = yield* Deferred.make<void>()
    let pending = ""
    socket.setEncoding("utf8")
    socket.on("error", () => {})
    socket.on("data", (chunk: string) => {
      pending += chunk
      for (let at = pending.indexOf("\0"); at !== -1; at = pending.indexOf("\0")) {
        frames.push(pending.slice(0, at))
        pending = pending.slice(at + 1)
      }
    })
    socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
    return {
      socket,
      send: (text) => Effect.sync(() => void socket.write(`${text}\0`)),
      next: (what) =>
        Effect.zipRight(waitUntil(() => frames.length > 0, what), Effect.sync(() => frames.shift()!)),
      waiting: () => frames.length,
      closed: Deferred.await(closed)
    } satisfies RawPeer
  })

/** A loopback port nothing listens on. */
const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, HOST, () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})
