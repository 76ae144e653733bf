// The Effect API (Application, Connection, Server, errors) over real TCP and
// Unix sockets, against protocol.md §3-§7 and design.md: handler styles and
// error mapping, calls and events both ways, handshake and version
// selection, auth, the server's registry and lifecycle, timeouts and
// interruption, heartbeats, and hostile input on the raw wire.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Queue, Schema, Scope, Stream } from "effect"
import {
  Application,
  type CloseReason,
  Connection,
  ConnectionError,
  HandshakeError,
  Net,
  RemoteError,
  Serde,
  Server,
  Session,
  SessionFormatError,
  SessionStore,
  TransportError
} from "effect-jstp"
import {
  captureLogs,
  collect,
  eventually,
  freePort,
  portOf,
  rawConnect,
  type RawPeer,
  rawServer,
  receiveWhile,
  subscribe,
  takeUntil,
  takeWithin,
  TCP,
  unixAddress,
  withStore
} from "./support/servers.js"

type Conn = Connection.Connection
type Callback = (error: unknown, ...results: Array<unknown>) => void
type ServerEvent = Server.ServerEvent

// ------------------------------------------------------------ fixtures

/** What the `failWith` method hands its callback, by name (protocol.md §6). */
const callbackErrors: Readonly<Record<string, unknown>> = {
  number: 42,
  string: "bad thing",
  array: [77, "custom", "extra", 5],
  plainError: new Error("plain"),
  remote: RemoteError.make(422, "Division by zero"),
  toJSTP: Object.assign(new Error("hidden"), { toJSTP: () => [33, "from toJSTP"] }),
  object: { some: "object" }
}

/**
 * The calculator every test talks to. `gate` holds back the `late` method
 * until a test completes it.
 */
const calc = (options: {
  readonly gate?: Deferred.Deferred<void> | undefined
  readonly inbox?: Queue.Queue<{ readonly text: string; readonly side: string }> | undefined
} = {}) =>
  Application.make({
    name: "calc@1.2.0",
    api: {
      calc: {
        // Effect-returning
        add: (_c: Conn, a: number, b: number) => Effect.succeed(a + b),
        // callback-style, two results
        divmod: Application.callback((_c: Conn, a: number, b: number, callback: Callback) => callback(null, Math.floor(a / b), a % b)),
        // async
        double: async (_c: Conn, a: number) => a * 2,
        // plain value
        negate: (_c: Conn, a: number) => -a,
        refuse: (_c: Conn) => Effect.fail(RemoteError.make(42, "nope", [1])),
        failString: (_c: Conn) => Effect.fail("oops"),
        throws: (_c: Conn): number => {
          throw new Error("kaboom")
        },
        dies: (_c: Conn) => Effect.die(new Error("died")),
        rejects: async (_c: Conn): Promise<number> => {
          throw new Error("rejected")
        },
        rejectsRemote: async (_c: Conn): Promise<number> => {
          throw RemoteError.make(409, "conflict")
        },
        failWith: Application.callback((_c: Conn, kind: string, callback: Callback) => callback(callbackErrors[kind])),
        // never answers
        hang: Application.callback((_c: Conn, _callback: Callback) => undefined),
        late: (_c: Conn) =>
          options.gate === undefined ? Effect.succeed("no gate") : Effect.as(Deferred.await(options.gate), "late"),
        whoami: (c: Conn) =>
          Effect.succeed({ side: c.side, application: c.application, username: c.username() }),
        askClient: (c: Conn, question: string) =>
          Effect.map(c.call("ui", "confirm", [question]), (results) => results[0])
      }
    },
    events: {
      chat: {
        message: (c: Conn, text: string) => {
          if (options.inbox !== undefined) Queue.unsafeOffer(options.inbox, { text, side: c.side })
        }
      }
    }
  })

/** An application `name@version` whose `version` method tells which one served the call. */
const versioned = (version: string) =>
  Application.make({
    name: `calc@${version}`,
    api: {
      calc: {
        version: (c: Conn) => Effect.succeed({ served: version, application: c.application.version })
      }
    }
  })

const versionOf = (connection: Conn) =>
  Effect.map(connection.call("calc", "version"), (results) => (results[0] as { readonly served: string }).served)

const addressOf = (server: Server.Server) => server.addresses[0]!

/** Connects to `server` for application `calc`. */
const connectTo = (
  server: Server.Server,
  options: Partial<Connection.ConnectOptions> = {}
) => Connection.connect({ address: addressOf(server), application: "calc", ...options })

/** A server with `calc` and a client connected to it. */
const setup = (options: {
  readonly gate?: Deferred.Deferred<void>
  readonly inbox?: Queue.Queue<{ readonly text: string; readonly side: string }>
} = {}) =>
  Effect.gen(function*() {
    const server = yield* Server.make({ applications: [calc(options)], listen: [TCP] }).pipe(withStore)
    const connection = yield* connectTo(server)
    return { server, connection }
  })

const isEvent = <T extends ServerEvent["_tag"]>(tag: T) => (event: ServerEvent): event is Extract<ServerEvent, { _tag: T }> =>
  event._tag === tag

const expectRemote = (
  error: unknown,
  expected: { readonly code: number; readonly message?: string; readonly info?: ReadonlyArray<unknown> }
) => {
  expect(error).toBeInstanceOf(RemoteError.RemoteError)
  const remote = error as RemoteError.RemoteError
  expect(remote._tag).toBe("RemoteError")
  expect(remote.code).toBe(expected.code)
  if (expected.message !== undefined) expect(remote.message).toBe(expected.message)
  if (expected.info !== undefined) expect(remote.info).toEqual(expected.info)
}

const expectConnectionError = (error: unknown, reason: ConnectionError["reason"]) => {
  expect(error).toBeInstanceOf(ConnectionError)
  expect((error as ConnectionError)._tag).toBe("ConnectionError")
  expect((error as ConnectionError).reason).toBe(reason)
}

const expectHandshakeError = (error: unknown, reason: HandshakeError["reason"], code?: number) => {
  expect(error).toBeInstanceOf(HandshakeError)
  expect((error as HandshakeError)._tag).toBe("HandshakeError")
  expect((error as HandshakeError).reason).toBe(reason)
  if (code !== undefined) expect((error as HandshakeError).code).toBe(code)
}

/** Parses a frame the implementation wrote (our own parser accepts JSON and more). */
const parseFrame = (text: string) => Serde.parse(text) as Record<string, unknown>

/** A raw client's handshake for `calc`; succeeds with the server's reply. */
const rawHandshake = (peer: RawPeer) =>
  Effect.gen(function*() {
    yield* peer.send("{handshake:[0,'calc']}")
    const reply = parseFrame(yield* takeWithin(peer.frames, "handshake reply"))
    expect(reply.handshake).toEqual([0])
    expect(typeof reply.ok).toBe("string")
    return reply
  })

const within = <A, E, R>(effect: Effect.Effect<A, E, R>, what: string, millis = 2000) =>
  Effect.timeoutFail(effect, { duration: millis, onTimeout: () => new Error(`timed out: ${what}`) })

// ====================================================== 1. Application

describe("Application.make", () => {
  it("splits name@version at the last @", () => {
    const app = Application.make({ name: "calc@1.2.0", api: {} })
    expect(app.name).toBe("calc")
    expect(app.version).toBe("1.2.0")
    const scoped = Application.make({ name: "@acme/calc@3.1.4", api: {} })
    expect(scoped.name).toBe("@acme/calc")
    expect(scoped.version).toBe("3.1.4")
  })

  it("defaults the version to 1.0.0, or takes the version option", () => {
    expect(Application.make({ name: "calc", api: {} }).version).toBe("1.0.0")
    expect(Application.make({ name: "calc", version: "2.3.4", api: {} }).version).toBe("2.3.4")
    // the version in the name wins
    expect(Application.make({ name: "calc@5.0.0", version: "2.3.4", api: {} }).version).toBe("5.0.0")
  })

  it("keeps the api and events, events defaulting to none", () => {
    const add = (_c: Conn, a: number, b: number) => Effect.succeed(a + b)
    const app = Application.make({ name: "calc", api: { calc: { add } } })
    expect(app.api).toEqual({ calc: { add } })
    expect(app.events).toEqual({})
  })

  it("throws InvalidApplicationError for an invalid version", () => {
    expect(() => Application.make({ name: "calc@1.x", api: {} })).toThrow(Application.InvalidApplicationError)
    expect(() => Application.make({ name: "calc", version: "banana", api: {} })).toThrow(
      Application.InvalidApplicationError
    )
    try {
      Application.make({ name: "calc@not-a-version", api: {} })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(Application.InvalidApplicationError)
      expect(error).toMatchObject({ _tag: "InvalidApplicationError", reason: "InvalidVersion" })
      expect((error as Error).message).toContain("not-a-version")
    }
    expect(() => Application.make({ name: "", api: {} })).toThrow(
      expect.objectContaining({ _tag: "InvalidApplicationError", reason: "MissingName" })
    )
  })

  it.scopedLive("Server.make refuses two instances of the same name and version", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Server.make({ applications: [versioned("1.0.0"), versioned("1.0.0")], listen: [TCP] }).pipe(withStore)
      )
      expect(error).toBeInstanceOf(Application.InvalidApplicationError)
      // A tagged error: catchTag reaches it, with its reason.
      const caught = yield* Server.make({ applications: [versioned("1.0.0"), versioned("1.0.0")], listen: [TCP] }).pipe(withStore, 
        Effect.as("served"),
        Effect.catchTag("InvalidApplicationError", (error) => Effect.succeed(error.reason))
      )
      expect(caught).toBe("Duplicate")
    }))
})

describe("the package's top-level exports", () => {
  it("Session, with fromString, as the README promises", () => {
    const session = new Session("d5e7c3a2-0d4b-4c6e-9a7f-1b2c3d4e5f60", "alice")
    session.set("cart", ["tea"])
    const restored = Session.fromString(session.toString())
    expect([restored.id, restored.username, restored.get("cart")]).toEqual([session.id, "alice", ["tea"]])
    expect(() => Session.fromString("not a session")).toThrow(SessionFormatError)
  })

  it("RemoteError.reason names what its code means; a code of the application's own is Application", () => {
    expect([-1, -2, 10, 11, 12, 13, 14, 15, 16, 17, 0, 1, 42, 409].map((code) => RemoteError.make(code).reason)).toEqual([
      "CallbackLost",
      "NoHandshakeResponse",
      "AppNotFound",
      "AuthFailed",
      "InterfaceNotFound",
      "InterfaceIncompatible",
      "MethodNotFound",
      "NotAServer",
      "InternalApiError",
      "InvalidSignature",
      "Application",
      "Application",
      "Application",
      "Application"
    ])
  })

  it.scopedLive("TransportError, from a dial that finds nobody; CloseReason, from a closed connection", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* Effect.flip(Net.open({ _tag: "Tcp", host: "127.0.0.1", port }))
      expect(error).toBeInstanceOf(TransportError)
      expect(error.reason).toBe("Open")
      const { connection } = yield* setup()
      yield* connection.close
      const reason: CloseReason = yield* connection.closed
      expect(reason).toBe("Closed")
    }))
})

describe("Application handlers over a connection", () => {
  it.scopedLive("an Effect handler answers [value]", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
    }))

  it.scopedLive("a callback-style handler answers all its results", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expect(yield* connection.call("calc", "divmod", [17, 5])).toEqual([3, 2])
    }))

  it.scopedLive("an async handler answers [resolved value]", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expect(yield* connection.call("calc", "double", [21])).toEqual([42])
    }))

  it.scopedLive("a plain synchronous handler answers [returned value]", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expect(yield* connection.call("calc", "negate", [7])).toEqual([-7])
    }))

  it.scopedLive("handlers get the calling server-side connection first", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const [who] = yield* connection.call("calc", "whoami")
      expect(who).toEqual({ side: "server", application: { name: "calc", version: "1.2.0" }, username: null })
    }))

  it.scopedLive("Effect.fail(RemoteError) reaches the caller with code, message and info", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const error = yield* Effect.flip(connection.call("calc", "refuse"))
      expectRemote(error, { code: 42, message: "nope", info: [1] })
    }))

  it.scopedLive("Effect.fail with a string is [1, string]", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const error = yield* Effect.flip(connection.call("calc", "failString"))
      expectRemote(error, { code: 1, message: "oops" })
    }))

  it.scopedLive("an async handler rejecting with a RemoteError keeps its code", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const error = yield* Effect.flip(connection.call("calc", "rejectsRemote"))
      expectRemote(error, { code: 409, message: "conflict" })
    }))

  for (const [method, trace] of [["throws", "kaboom"], ["dies", "died"], ["rejects", "rejected"]] as const) {
    it.scopedLive(`${method}: 16 for the caller, logged naming the handler, server keeps serving`, () => {
      const logs = captureLogs()
      return Effect.gen(function*() {
        const { connection, server } = yield* setup()
        const error = yield* Effect.flip(connection.call("calc", method))
        expectRemote(error, { code: 16, message: "Internal API error" })
        // the same connection and a new one still work
        expect(connection.isOpen()).toBe(true)
        expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
        const other = yield* connectTo(server)
        expect(yield* other.call("calc", "add", [2, 2])).toEqual([4])
        const line = yield* eventually(
          Effect.sync(() => logs.lines.find((entry) => entry.text.includes(trace))),
          (entry) => entry !== undefined,
          `a log line with the defect '${trace}'`
        )
        expect(line!.level).toBe("ERROR")
        expect(line!.text).toContain(`calc.${method}`)
      }).pipe(Effect.provide(logs.layer))
    })
  }

  describe("callback(error) is mapped per protocol.md §6", () => {
    const cases: ReadonlyArray<
      readonly [string, { readonly code: number; readonly message?: string; readonly info?: ReadonlyArray<unknown> }]
    > = [
      ["number", { code: 42 }],
      ["string", { code: 1, message: "bad thing", info: [] }],
      ["array", { code: 77, message: "custom", info: ["extra", 5] }],
      ["plainError", { code: 1, message: "Error: plain", info: [] }],
      ["remote", { code: 422, message: "Division by zero", info: [] }],
      ["toJSTP", { code: 33, message: "from toJSTP", info: [] }],
      ["object", { code: 1, message: "[object Object]", info: [] }]
    ]
    for (const [kind, expected] of cases) {
      it.scopedLive(kind, () =>
        Effect.gen(function*() {
          const { connection } = yield* setup()
          const error = yield* Effect.flip(connection.call("calc", "failWith", [kind]))
          expectRemote(error, expected)
        }))
    }
  })

  it.scopedLive("a wrong number of arguments is 17, and the handler does not run", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expectRemote(yield* Effect.flip(connection.call("calc", "add", [1, 2, 3])), { code: 17 })
      // one short looks callback-style by arity; the Effect result gives it away
      expectRemote(yield* Effect.flip(connection.call("calc", "add", [1])), { code: 17 })
      expectRemote(yield* Effect.flip(connection.call("calc", "double", [])), { code: 17 })
      expectRemote(yield* Effect.flip(connection.call("calc", "divmod", [1])), { code: 17 })
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
    }))

  it.scopedLive("an unknown interface is 12, an unknown method 14", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      expectRemote(yield* Effect.flip(connection.call("nope", "add", [1, 2])), {
        code: 12,
        message: "Interface not found"
      })
      expectRemote(yield* Effect.flip(connection.call("calc", "nope", [1, 2])), {
        code: 14,
        message: "Method not found"
      })
    }))

  it.scopedLive("prototype members are never methods or interfaces", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      for (const method of ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]) {
        const error = yield* Effect.flip(connection.call("calc", method, []))
        expectRemote(error, { code: 14 })
      }
      for (const iface of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
        const error = yield* Effect.flip(connection.call(iface, "add", [1, 2]))
        expectRemote(error, { code: 12 })
      }
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
    }))
})

// ======================================================= 2. Connection

const transports = [
  { name: "TCP", listen: Effect.succeed(TCP) },
  { name: "a Unix socket", listen: unixAddress }
] as const

describe.each(transports)("Connection over $name", ({ listen }) => {
  const start = (options: {
    readonly inbox?: Queue.Queue<{ readonly text: string; readonly side: string }>
  } = {}) =>
    Effect.gen(function*() {
      const address = yield* listen
      const server = yield* Server.make({ applications: [calc(options)], listen: [address] }).pipe(withStore)
      expect(addressOf(server)._tag).toBe(address._tag)
      const connection = yield* connectTo(server)
      return { server, connection }
    })

  it.scopedLive("calls and pings", () =>
    Effect.gen(function*() {
      const { connection } = yield* start()
      expect(connection.side).toBe("client")
      expect(connection.isOpen()).toBe(true)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
      expect(yield* connection.call("calc", "divmod", [7, 2])).toEqual([3, 1])
      yield* connection.ping
      const many = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => connection.call("calc", "add", [n, n]), {
        concurrency: "unbounded"
      })
      expect(many).toEqual([[2], [4], [6], [8], [10]])
    }))

  it.scopedLive("inspect gives a proxy of the methods", () =>
    Effect.gen(function*() {
      const { connection } = yield* start()
      const proxy = yield* connection.inspect("calc")
      expect(proxy.iface).toBe("calc")
      expect(proxy.methodNames).toContain("add")
      expect(proxy.methodNames).toContain("divmod")
      expect(proxy.methodNames).not.toContain("constructor")
      expect([...proxy.methodNames].sort()).toEqual(Object.keys(calc().api.calc!).sort())
      expect(yield* proxy.methods.add!(1, 2)).toEqual([3])
      expect(yield* proxy.methods.divmod!(9, 4)).toEqual([2, 1])
      expectRemote(yield* Effect.flip(connection.inspect("nope")), { code: 12 })
    }))

  it.scopedLive("server → client events: broadcast, a server connection's emit", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* start()
      const received = yield* collect(connection.events("chat"))
      const broadcast = yield* receiveWhile(received, server.broadcast("chat", "message", ["to all"]), "broadcast")
      expect(broadcast).toEqual({ iface: "chat", event: "message", args: ["to all"] })
      const serverSide = server.connections()[0]!
      expect(serverSide.side).toBe("server")
      const direct = yield* receiveWhile(
        received,
        serverSide.emit("chat", "direct", ["just you", 2]),
        "emit",
        (event) => event.event === "direct"
      )
      expect(direct).toEqual({ iface: "chat", event: "direct", args: ["just you", 2] })
    }))

  it.scopedLive("events of one interface do not reach another's stream", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* start()
      const other = yield* collect(connection.events("other"))
      const chat = yield* collect(connection.events("chat"))
      yield* receiveWhile(chat, server.broadcast("chat", "message", ["x"]), "chat event")
      // an event sent after is delivered after: once it is here, `other` had its chance
      const first = yield* receiveWhile(other, server.broadcast("other", "ping", ["y"]), "other event")
      expect(first).toEqual({ iface: "other", event: "ping", args: ["y"] })
      for (const event of yield* Queue.takeAll(other)) expect(event.iface).toBe("other")
    }))

  it.scopedLive("onEvent sees every interface's events as they arrive, before the answer of a call the server makes after them", () =>
    Effect.gen(function*() {
      const address = yield* listen
      const seen: Array<string> = []
      const server = yield* Server.make({
        applications: [Application.make({
          name: "calc",
          api: {
            calc: {
              announce: (connection: Conn) =>
                Effect.as(
                  Effect.zipRight(connection.emit("chat", "first", [1]), connection.emit("other", "second", [2])),
                  "done"
                )
            }
          }
        })],
        listen: [address]
      }).pipe(withStore)
      const connection = yield* connectTo(server, { onEvent: (event) => void seen.push(`${event.iface}.${event.event} ${JSON.stringify(event.args)}`) })
      const stream = yield* collect(connection.events("chat"))
      expect(yield* connection.call("calc", "announce", [])).toEqual(["done"])
      expect(seen).toEqual(["chat.first [1]", "other.second [2]"])
      // The interface's stream still gets its own.
      expect(yield* takeWithin(stream, "the chat event")).toEqual({ iface: "chat", event: "first", args: [1] })
    }))

  it.scopedLive("client → server events reach the application's handler and the server's stream", () =>
    Effect.gen(function*() {
      const inbox = yield* Queue.unbounded<{ readonly text: string; readonly side: string }>()
      const { connection, server } = yield* start({ inbox })
      yield* connection.emit("chat", "message", ["hello"])
      expect(yield* takeWithin(inbox, "event at the handler")).toEqual({ text: "hello", side: "server" })
      const serverSide = server.connections()[0]!
      const stream = yield* collect(serverSide.events("chat"))
      const seen = yield* receiveWhile(stream, connection.emit("chat", "message", ["again"]), "server-side stream")
      expect(seen).toEqual({ iface: "chat", event: "message", args: ["again"] })
      // the inspect proxy sends events too; one nobody handles breaks nothing
      const proxy = yield* connection.inspect("calc")
      yield* proxy.emit("nothing-handles-this", 1)
      yield* connection.emit("chat", "message", ["via connection"])
      const last = yield* takeUntil(
        inbox,
        (entry): entry is { readonly text: string; readonly side: string } => entry.text === "via connection",
        "event after an unhandled one"
      )
      expect(last.side).toBe("server")
    }))

  it.scopedLive("close: pending calls fail with Closed, later requests too", () =>
    Effect.gen(function*() {
      const { connection } = yield* start()
      const pending = yield* Effect.fork(connection.call("calc", "hang"))
      yield* eventually(Effect.sync(() => connection.stats().pending), (n) => n === 1, "the call to be pending")
      yield* connection.close
      expectConnectionError(yield* within(Effect.flip(Fiber.join(pending)), "the pending call"), "Closed")
      expect(connection.isOpen()).toBe(false)
      expect(yield* within(connection.closed, "closed")).toBe("Closed")
      expectConnectionError(yield* Effect.flip(connection.call("calc", "add", [1, 2])), "Closed")
      expectConnectionError(yield* Effect.flip(connection.emit("chat", "message", ["x"])), "Closed")
      expectConnectionError(yield* Effect.flip(connection.ping), "Closed")
      expectConnectionError(yield* Effect.flip(connection.inspect("calc")), "Closed")
    }))

  it.scopedLive("closing the scope closes the connection; the server sees Disconnected", () =>
    Effect.gen(function*() {
      const address = yield* listen
      const server = yield* Server.make({ applications: [calc()], listen: [address] }).pipe(withStore)
      const events = yield* subscribe(server.events)
      const scope = yield* Scope.make()
      const connection = yield* connectTo(server).pipe(Scope.extend(scope))
      const connected = yield* takeUntil(events, isEvent("Connected"), "Connected")
      expect(server.connections()).toEqual([connected.connection])
      yield* Scope.close(scope, Exit.void)
      expect(connection.isOpen()).toBe(false)
      const disconnected = yield* takeUntil(events, isEvent("Disconnected"), "Disconnected")
      expect(disconnected.connection).toBe(connected.connection)
      expect(server.connections()).toEqual([])
      expect(connected.connection.isOpen()).toBe(false)
    }))
})

describe("Server.subscribe", () => {
  it.scopedLive("keeps what happens before its stream first runs: a connection that came and went", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const subscribed = yield* server.subscribe
      const late = server.events
      yield* Effect.scoped(Effect.gen(function*() {
        const connection = yield* connectTo(server)
        yield* connection.close
      }))
      yield* eventually(Effect.sync(() => server.connections().length), (n) => n === 0, "the server to see the close")
      const tags = yield* subscribed.pipe(
        Stream.map((event) => event._tag),
        Stream.takeUntil((tag) => tag === "Disconnected"),
        Stream.runCollect
      )
      expect([...tags]).toEqual(["Connected", "Disconnected"])
      // A stream that runs only now has none of it.
      const missed = yield* late.pipe(Stream.take(1), Stream.runCollect, Effect.timeoutOption("100 millis"))
      expect(missed._tag).toBe("None")
    }))
})

// ========================================= 3. Server-initiated calls

describe("server → client calls", () => {
  const clientApp = Application.make({
    name: "client",
    api: { ui: { confirm: (_c: Conn, question: string) => Effect.succeed(`yes: ${question}`) } }
  })

  it.scopedLive("the server calls the client's application", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const events = yield* subscribe(server.events)
      const connection = yield* connectTo(server, { client: clientApp })
      const { connection: fromEvent } = yield* takeUntil(events, isEvent("Connected"), "Connected")
      expect(fromEvent.side).toBe("server")
      expect(yield* fromEvent.call("ui", "confirm", ["sure?"])).toEqual(["yes: sure?"])
      const [listed] = server.connections()
      expect(yield* listed!.call("ui", "confirm", ["listed?"])).toEqual(["yes: listed?"])
      const proxy = yield* listed!.inspect("ui")
      expect(proxy.methodNames).toEqual(["confirm"])
      expectRemote(yield* Effect.flip(listed!.call("ui", "nope", [])), { code: 14 })
      expectRemote(yield* Effect.flip(listed!.call("nope", "confirm", ["x"])), { code: 12 })
      // from inside a handler, with the connection it is given
      expect(yield* connection.call("calc", "askClient", ["really?"])).toEqual(["yes: really?"])
    }))

  it.scopedLive("a client that offers no application answers 12", () =>
    Effect.gen(function*() {
      const { server } = yield* setup()
      const error = yield* Effect.flip(server.connections()[0]!.call("ui", "confirm", ["x"]))
      expectRemote(error, { code: 12 })
    }))
})

// ======================================================= 4. Handshake

describe("handshake", () => {
  it.scopedLive("an unknown application is Rejected with 10, and the server reports HandshakeFailed", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const events = yield* subscribe(server.events)
      const error = yield* Effect.flip(Connection.connect({ address: addressOf(server), application: "nope" }))
      expectHandshakeError(error, "Rejected", 10)
      const failed = yield* takeUntil(events, isEvent("HandshakeFailed"), "HandshakeFailed")
      expect(failed.app).toBe("nope")
      expectRemote(failed.error, { code: 10 })
      expect(server.connections()).toEqual([])
    }))

  it.scopedLive("version selection: highest, exact, highest in range, none", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({
        applications: [versioned("1.0.0"), versioned("2.0.0"), versioned("1.5.0")],
        listen: [TCP]
      }).pipe(withStore)
      const address = addressOf(server)
      const latest = yield* Connection.connect({ address, application: "calc" })
      expect(yield* versionOf(latest)).toBe("2.0.0")
      const exact = yield* Connection.connect({ address, application: "calc@1.0.0" })
      expect(yield* versionOf(exact)).toBe("1.0.0")
      const exactObject = yield* Connection.connect({ address, application: { name: "calc", version: "1.0.0" } })
      expect(yield* versionOf(exactObject)).toBe("1.0.0")
      const ranged = yield* Connection.connect({ address, application: "calc@^1.0.0" })
      expect(yield* versionOf(ranged)).toBe("1.5.0")
      const [answer] = yield* ranged.call("calc", "version")
      expect(answer).toEqual({ served: "1.5.0", application: "1.5.0" })
      expect(server.connections().map((c) => c.application.version).sort()).toEqual(
        ["1.0.0", "1.0.0", "1.5.0", "2.0.0"]
      )
      const none = yield* Effect.flip(Connection.connect({ address, application: "calc@^3" }))
      expectHandshakeError(none, "Rejected", 10)
      const missing = yield* Effect.flip(Connection.connect({ address, application: "calc@1.2.0" }))
      expectHandshakeError(missing, "Rejected", 10)
    }))

  it.scopedLive("an invalid range fails with InvalidVersion before dialing", () =>
    Effect.gen(function*() {
      const raw = yield* rawServer
      const error = yield* Effect.flip(
        Connection.connect({ address: { _tag: "Tcp", host: "127.0.0.1", port: raw.port }, application: "calc@banana" })
      )
      expectHandshakeError(error, "InvalidVersion")
      const objectForm = yield* Effect.flip(
        Connection.connect({
          address: { _tag: "Tcp", host: "127.0.0.1", port: raw.port },
          application: { name: "calc", version: "not a range" }
        })
      )
      expectHandshakeError(objectForm, "InvalidVersion")
      expect(raw.count()).toBe(0)
    }))

  it.scopedLive("an empty application name fails with InvalidApplication before dialing", () =>
    Effect.gen(function*() {
      const raw = yield* rawServer
      const address = { _tag: "Tcp", host: "127.0.0.1", port: raw.port } as const
      for (const application of ["", { name: "" }, { name: "", version: "^1.0.0" }]) {
        const error = yield* Effect.flip(Connection.connect({ address, application }))
        expectHandshakeError(error, "InvalidApplication")
        expect((error as HandshakeError).message).toMatch(/application name is required/)
      }
      expect(raw.count()).toBe(0)
    }))

  describe("login", () => {
    const policyServer = (authPolicy: Server.AuthPolicy | undefined) =>
      Server.make({ applications: [calc()], listen: [TCP], authPolicy }).pipe(withStore)
    const login = { _tag: "Login", login: "ada", password: "secret" } as const

    it.scopedLive("a policy answering a username logs the connection in as that user", () =>
      Effect.gen(function*() {
        const requests: Array<Server.AuthRequest> = []
        const server = yield* policyServer((request) => {
          requests.push(request)
          return Effect.succeed(request.strategy === "login" ? "ada-the-user" : undefined)
        })
        const connection = yield* connectTo(server, { credentials: login })
        expect(requests).toHaveLength(1)
        expect(requests[0]!.strategy).toBe("login")
        expect(requests[0]!.credentials).toEqual(["ada", "secret"])
        expect(requests[0]!.application.name).toBe("calc")
        expect(server.connections()[0]!.username()).toBe("ada-the-user")
        const [who] = yield* connection.call("calc", "whoami")
        expect(who).toMatchObject({ username: "ada-the-user" })
      }))

    it.scopedLive("a policy answering no username refuses with 11", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(() => Effect.succeed(undefined))
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 11)
        expect(server.connections()).toEqual([])
      }))

    // A standard code travels alone, `[11]`, as 2.3.0 writes it: the
    // policy's message stays on the server.
    it.scopedLive("a policy failing with a RemoteError sends its code", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(() => Effect.fail(RemoteError.make(11, "bad password")))
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 11)
        expect(error.message).toBe("Authentication failed")
      }))

    it.scopedLive("a policy failing with a RemoteError of its own code sends code and message", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(() => Effect.fail(RemoteError.make(4011, "account locked")))
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 4011)
        expect(error.message).toBe("account locked")
      }))

    it.scopedLive("a policy failing with a plain Error is 11", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(() => Effect.fail(new Error("x")))
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 11)
        expect(error.message).toBe("Authentication failed")
      }))

    it.scopedLive("a policy that throws does not crash the server: 11", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(() => {
          throw new Error("policy bug")
        })
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 11)
        const anonymous = yield* connectTo(server)
        expect(yield* anonymous.call("calc", "add", [1, 1])).toEqual([2])
      }))

    it.scopedLive("login without an auth policy is 11; anonymous needs none", () =>
      Effect.gen(function*() {
        const server = yield* policyServer(undefined)
        const error = yield* Effect.flip(connectTo(server, { credentials: login }))
        expectHandshakeError(error, "Rejected", 11)
        const anonymous = yield* connectTo(server, { credentials: { _tag: "Anonymous" } })
        expect(server.connections()[0]!.username()).toBe(null)
        expect(yield* anonymous.call("calc", "add", [1, 1])).toEqual([2])
      }))

    it.scopedLive("a custom strategy reaches the policy with its name and credentials", () =>
      Effect.gen(function*() {
        const requests: Array<Server.AuthRequest> = []
        const server = yield* policyServer((request) => {
          requests.push(request)
          return Effect.succeed("token-user")
        })
        yield* connectTo(server, { credentials: { _tag: "Custom", strategy: "token", credentials: ["abc"] } })
        expect(requests).toHaveLength(1)
        expect(requests[0]!.strategy).toBe("token")
        expect(requests[0]!.credentials).toEqual(["abc"])
        expect(server.connections()[0]!.username()).toBe("token-user")
      }))
  })

  it.scopedLive("an unreachable port is a Transport error", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* Effect.flip(
        Connection.connect({ address: { _tag: "Tcp", host: "127.0.0.1", port }, application: "calc" })
      )
      expectHandshakeError(error, "Transport")
    }))

  it.scopedLive("a server that never answers the handshake: Timeout after handshakeTimeout", () =>
    Effect.gen(function*() {
      const raw = yield* rawServer
      const started = Date.now()
      const error = yield* Effect.flip(
        Connection.connect({
          address: { _tag: "Tcp", host: "127.0.0.1", port: raw.port },
          application: "calc",
          handshakeTimeout: "200 millis"
        })
      )
      expectHandshakeError(error, "Timeout")
      expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      const peer = yield* takeWithin(raw.accepted, "the dial")
      expect(parseFrame(yield* takeWithin(peer.frames, "the request"))).toEqual({ handshake: [0, "calc"] })
    }))

  it.scopedLive("the server closes a socket that sends no handshake within handshakeTimeout", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP], handshakeTimeout: "200 millis" }).pipe(withStore)
      const events = yield* subscribe(server.events)
      const started = Date.now()
      const peer = yield* rawConnect(portOf(addressOf(server)))
      yield* within(Deferred.await(peer.closed), "the server to close the socket")
      expect(Date.now() - started).toBeGreaterThanOrEqual(150)
      const timeout = yield* takeUntil(events, isEvent("HandshakeTimeout"), "HandshakeTimeout")
      expect(timeout.remoteAddress).toContain("127.0.0.1")
      // a client that does handshake in time stays
      const connection = yield* connectTo(server)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
    }))
})

// ======================================================= 5. Server API

describe("Server", () => {
  it.scopedLive("events: Connected, Disconnected, HandshakeFailed in order", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const events = yield* subscribe(server.events)
      const scope = yield* Scope.make()
      yield* connectTo(server).pipe(Scope.extend(scope))
      yield* Scope.close(scope, Exit.void)
      yield* Effect.flip(Connection.connect({ address: addressOf(server), application: "other" }))
      const first = yield* takeWithin(events, "Connected")
      const second = yield* takeWithin(events, "Disconnected")
      const third = yield* takeWithin(events, "HandshakeFailed")
      expect([first._tag, second._tag, third._tag]).toEqual(["Connected", "Disconnected", "HandshakeFailed"])
      if (first._tag === "Connected" && second._tag === "Disconnected") {
        expect(second.connection).toBe(first.connection)
        expect(first.connection.application).toEqual({ name: "calc", version: "1.2.0" })
      }
    }))

  it.scopedLive("connections() lists handshaked connections only", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      expect(server.connections()).toEqual([])
      const peer = yield* rawConnect(portOf(addressOf(server)))
      const a = yield* connectTo(server)
      const b = yield* connectTo(server)
      expect(server.connections()).toHaveLength(2)
      expect(new Set(server.connections().map((c) => c.id)).size).toBe(2)
      for (const c of server.connections()) expect(c.side).toBe("server")
      yield* rawHandshake(peer)
      expect(server.connections()).toHaveLength(3)
      yield* a.close
      yield* eventually(Effect.sync(() => server.connections().length), (n) => n === 2, "a's server side to go")
      expect(yield* b.call("calc", "add", [1, 2])).toEqual([3])
    }))

  it.scopedLive("broadcast reaches every connection", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const a = yield* connectTo(server)
      const b = yield* connectTo(server)
      const qa = yield* collect(a.events("news"))
      const qb = yield* collect(b.events("news"))
      // until both are subscribed, repeat; then the next broadcast reaches both
      yield* receiveWhile(qa, server.broadcast("news", "warmup"), "a subscribed")
      yield* receiveWhile(qb, server.broadcast("news", "warmup"), "b subscribed")
      yield* server.broadcast("news", "headline", ["JSTP on Effect", 1])
      const isHeadline = (event: Connection.RemoteEvent): event is Connection.RemoteEvent => event.event === "headline"
      const expected = { iface: "news", event: "headline", args: ["JSTP on Effect", 1] }
      expect(yield* takeUntil(qa, isHeadline, "a's headline")).toEqual(expected)
      expect(yield* takeUntil(qb, isHeadline, "b's headline")).toEqual(expected)
    }))

  it.scopedLive("updateApplications + updateConnectionsApi move ranges, keep exact versions, stay in the major", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [versioned("1.0.0"), versioned("2.1.0")], listen: [TCP] }).pipe(withStore)
      const address = addressOf(server)
      const ranged = yield* Connection.connect({ address, application: "calc@^1.0.0" })
      const exact = yield* Connection.connect({ address, application: "calc@1.0.0" })
      const latest = yield* Connection.connect({ address, application: "calc" })
      expect(yield* Effect.all([versionOf(ranged), versionOf(exact), versionOf(latest)])).toEqual(
        ["1.0.0", "1.0.0", "2.1.0"]
      )
      yield* server.updateApplications([
        versioned("1.0.0"),
        versioned("1.4.0"),
        versioned("2.1.0"),
        versioned("2.4.0"),
        versioned("3.0.0")
      ])
      // existing connections keep their application until updateConnectionsApi
      expect(yield* versionOf(ranged)).toBe("1.0.0")
      const fresh = yield* Connection.connect({ address, application: "calc" })
      expect(yield* versionOf(fresh)).toBe("3.0.0")
      yield* server.updateConnectionsApi
      expect(yield* Effect.all([versionOf(ranged), versionOf(exact), versionOf(latest), versionOf(fresh)])).toEqual(
        ["1.4.0", "1.0.0", "2.4.0", "3.0.0"]
      )
      // the server-side connections tell the same
      const [answer] = yield* ranged.call("calc", "version")
      expect(answer).toEqual({ served: "1.4.0", application: "1.4.0" })
      expect(server.connections().map((c) => c.application.version).sort()).toEqual(
        ["1.0.0", "1.4.0", "2.4.0", "3.0.0"]
      )
    }))

  it.scopedLive("closing the server's scope closes its connections and listener", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore, Scope.extend(scope))
      const a = yield* connectTo(server)
      const b = yield* connectTo(server)
      expect(yield* a.call("calc", "add", [1, 2])).toEqual([3])
      yield* Scope.close(scope, Exit.void)
      yield* within(Effect.all([a.closed, b.closed]), "the clients to see the close")
      expect(a.isOpen()).toBe(false)
      expect(b.isOpen()).toBe(false)
      expectConnectionError(yield* Effect.flip(a.call("calc", "add", [1, 2])), "Closed")
      const again = yield* Effect.flip(connectTo(server, { handshakeTimeout: "500 millis" }))
      expect(again).toBeInstanceOf(HandshakeError)
    }))

  it.scopedLive("a pending call fails with Closed when the server goes away", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore, Scope.extend(scope))
      const connection = yield* connectTo(server)
      const pending = yield* Effect.fork(connection.call("calc", "hang"))
      yield* eventually(Effect.sync(() => connection.stats().pending), (n) => n === 1, "the call to be pending")
      yield* Scope.close(scope, Exit.void)
      const error = yield* within(Effect.flip(Fiber.join(pending)), "the pending call to fail")
      expectConnectionError(error, "Closed")
    }))

  it.live("Server.layer and Connection.layer compose", () => {
    const ServerLive = Server.layer({ applications: [calc()], listen: [TCP] }).pipe(Layer.provide(SessionStore.layerMemory()))
    const ClientLive = Layer.unwrapEffect(
      Effect.map(Server.Server, (server) => Connection.layer({ address: addressOf(server), application: "calc@^1.0.0" }))
    )
    return Effect.gen(function*() {
      const connection = yield* Connection.ClientConnection
      const server = yield* Server.Server
      expect(connection.side).toBe("client")
      expect(yield* connection.call("calc", "add", [20, 22])).toEqual([42])
      expect(server.connections()).toHaveLength(1)
      return connection
    }).pipe(
      Effect.provide(Layer.provideMerge(ClientLive, ServerLive)),
      // the layers are released with the program: the connection is closed
      Effect.map((connection) => expect(connection.isOpen()).toBe(false))
    )
  })

  it.live("Connection.layer fails with the HandshakeError", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const error = yield* Effect.flip(
        Effect.provide(
          Connection.ClientConnection,
          Connection.layer({ address: { _tag: "Tcp", host: "127.0.0.1", port }, application: "calc" })
        )
      )
      expect(error).toBeInstanceOf(HandshakeError)
    }))
})

// ================================== 6. Per-call timeout and interruption

describe("per-call timeout and interruption", () => {
  it.scopedLive("{ timeout } fails with ConnectionError Timeout and forgets the call", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const started = Date.now()
      const error = yield* Effect.flip(connection.call("calc", "hang", [], { timeout: "50 millis" }))
      expectConnectionError(error, "Timeout")
      expect(error.message).toContain("calc.hang")
      expect(Date.now() - started).toBeGreaterThanOrEqual(40)
      expect(connection.stats().pending).toBe(0)
      expect(yield* connection.call("calc", "add", [1, 2], { timeout: "1 second" })).toEqual([3])
    }))

  it.scopedLive("a late answer to a call given up is dropped; the connection stays usable", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { connection } = yield* setup({ gate })
      const error = yield* Effect.flip(connection.call("calc", "late", [], { timeout: "50 millis" }))
      expectConnectionError(error, "Timeout")
      expect(connection.stats()).toEqual({ pending: 0, droppedCallbacks: 0 })
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(Effect.sync(() => connection.stats().droppedCallbacks), (n) => n === 1, "the late callback")
      expect(connection.isOpen()).toBe(true)
      expect(yield* connection.call("calc", "add", [2, 2])).toEqual([4])
      expect(yield* connection.call("calc", "late")).toEqual(["late"])
      expect(connection.stats()).toEqual({ pending: 0, droppedCallbacks: 1 })
    }))

  it.scopedLive("Fiber.interrupt of a pending call removes it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { connection } = yield* setup({ gate })
      const fiber = yield* Effect.fork(connection.call("calc", "late"))
      yield* eventually(Effect.sync(() => connection.stats().pending), (n) => n === 1, "the call to be pending")
      const exit = yield* Fiber.interrupt(fiber)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(connection.stats().pending).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(Effect.sync(() => connection.stats().droppedCallbacks), (n) => n === 1, "the late callback")
      expect(yield* connection.call("calc", "add", [3, 4])).toEqual([7])
    }))

  it.scopedLive("an interrupted call is forgotten even when the fiber calls the same connection again on its way out", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const { connection } = yield* setup({ gate })
      const cleaned = yield* Deferred.make<ReadonlyArray<unknown>>()
      const fiber = yield* Effect.fork(connection.call("calc", "late").pipe(
        Effect.onInterrupt(() => Effect.orDie(Effect.flatMap(connection.call("calc", "add", [1, 2]), (results) => Deferred.succeed(cleaned, results))))
      ))
      yield* eventually(Effect.sync(() => connection.stats().pending), (n) => n === 1, "the call to be pending")
      yield* Fiber.interrupt(fiber)
      expect(yield* Deferred.await(cleaned)).toEqual([3])
      expect(connection.stats().pending).toBe(0)
    }))

  it.scopedLive("Effect.timeout and Effect.interrupt leave the connection usable", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup()
      const timedOut = yield* Effect.flip(connection.call("calc", "hang").pipe(Effect.timeout("30 millis")))
      expect(timedOut._tag).toBe("TimeoutException")
      expect(connection.stats().pending).toBe(0)
      const exit = yield* Effect.exit(
        Effect.all([
          connection.call("calc", "hang"),
          Effect.zipRight(
            eventually(Effect.sync(() => connection.stats().pending), (n) => n === 1, "the call to be pending"),
            Effect.interrupt
          )
        ], { concurrency: "unbounded" })
      )
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(connection.stats().pending).toBe(0)
      expect(connection.isOpen()).toBe(true)
      expect(yield* connection.call("calc", "add", [5, 5])).toEqual([10])
      yield* connection.ping
    }))
})

// ======================================================== 7. Heartbeat

describe("heartbeat", () => {
  it.scopedLive("the server pings a handshaked client every heartbeatInterval", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP], heartbeatInterval: "30 millis" }).pipe(withStore)
      const peer = yield* rawConnect(portOf(addressOf(server)))
      yield* rawHandshake(peer)
      const first = yield* takeWithin(peer.frames, "first ping")
      expect(parseFrame(first)).toEqual({ ping: [-1] })
      yield* peer.send("{pong:[-1]}")
      const second = yield* takeWithin(peer.frames, "second ping")
      expect(parseFrame(second)).toEqual({ ping: [-2] })
      yield* peer.send("{pong:[-2]}")
      // answering pings keeps it alive
      yield* peer.send("{call:[1,'calc'],add:[1,2]}")
      const frames: Array<Record<string, unknown>> = []
      for (;;) {
        const frame = parseFrame(yield* takeWithin(peer.frames, "the callback"))
        frames.push(frame)
        if ("callback" in frame) break
      }
      expect(frames.at(-1)).toEqual({ callback: [1], ok: [3] })
    }))

  it.scopedLive("the client pings the server every heartbeatInterval", () =>
    Effect.gen(function*() {
      const raw = yield* rawServer
      const handshakes = yield* Queue.unbounded<string>()
      const pings = yield* Queue.unbounded<Record<string, unknown>>()
      // a minimal JSTP server: accept the handshake, answer pings
      yield* Effect.forkScoped(Effect.gen(function*() {
        const peer = yield* Queue.take(raw.accepted)
        yield* Queue.offer(handshakes, yield* Queue.take(peer.frames))
        yield* peer.send("{handshake:[0],ok:'session-id'}")
        for (;;) {
          const frame = parseFrame(yield* Queue.take(peer.frames))
          if (Array.isArray(frame.ping)) {
            yield* Queue.offer(pings, frame)
            yield* peer.send(`{pong:[${String(frame.ping[0])}]}`)
          }
        }
      }))
      const connection = yield* Connection.connect({
        address: { _tag: "Tcp", host: "127.0.0.1", port: raw.port },
        application: "calc",
        heartbeatInterval: "30 millis"
      })
      expect(parseFrame(yield* takeWithin(handshakes, "handshake"))).toEqual({ handshake: [0, "calc"] })
      expect(yield* takeWithin(pings, "first ping")).toEqual({ ping: [1] })
      expect(yield* takeWithin(pings, "second ping")).toEqual({ ping: [2] })
      expect(connection.isOpen()).toBe(true)
    }))
})

// ====================================================== 8. Bad input

describe("bad input never crashes the server", () => {
  const start = Effect.gen(function*() {
    const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
    const bystander = yield* connectTo(server)
    const peer = yield* rawConnect(portOf(addressOf(server)))
    return { server, bystander, peer }
  })

  const stillServing = (server: Server.Server, bystander: Conn) =>
    Effect.gen(function*() {
      expect(yield* bystander.call("calc", "add", [1, 2])).toEqual([3])
      const fresh = yield* connectTo(server)
      expect(yield* fresh.call("calc", "add", [2, 3])).toEqual([5])
    })

  it.scopedLive("garbage before the handshake closes that connection", () =>
    Effect.gen(function*() {
      const { bystander, peer, server } = yield* start
      yield* peer.send("}{")
      yield* within(Deferred.await(peer.closed), "the socket to close")
      yield* stillServing(server, bystander)
    }))

  it.scopedLive("garbage after the handshake closes that connection", () =>
    Effect.gen(function*() {
      const { bystander, peer, server } = yield* start
      yield* rawHandshake(peer)
      yield* peer.send("}{")
      yield* within(Deferred.await(peer.closed), "the socket to close")
      yield* stillServing(server, bystander)
    }))

  it.scopedLive("a call before the handshake closes the connection without an answer", () =>
    Effect.gen(function*() {
      const { bystander, peer, server } = yield* start
      yield* peer.send("{call:[1,'calc'],add:[1,2]}")
      yield* within(Deferred.await(peer.closed), "the socket to close")
      const answered = yield* Queue.takeAll(peer.frames)
      expect([...answered].filter((frame) => frame.includes("callback"))).toEqual([])
      yield* stillServing(server, bystander)
    }))

  it.scopedLive("a second handshake closes the connection", () =>
    Effect.gen(function*() {
      const { bystander, peer, server } = yield* start
      yield* rawHandshake(peer)
      yield* peer.send("{handshake:[0,'calc']}")
      yield* within(Deferred.await(peer.closed), "the socket to close")
      yield* stillServing(server, bystander)
    }))

  it.scopedLive("an unknown message kind after the handshake is ignored", () =>
    Effect.gen(function*() {
      const { bystander, peer, server } = yield* start
      yield* rawHandshake(peer)
      yield* peer.send("{whatever:[1,'calc'],foo:['bar']}")
      yield* peer.send("{event:[1,'chat'],message:'not an array'}")
      yield* peer.send("{callback:[99],ok:[1]}")
      yield* peer.send("{}")
      yield* peer.send("{call:[2,'calc'],add:[40,2]}")
      expect(parseFrame(yield* takeWithin(peer.frames, "the callback"))).toEqual({ callback: [2], ok: [42] })
      expect(yield* Deferred.isDone(peer.closed)).toBe(false)
      yield* stillServing(server, bystander)
    }))

  it.scopedLive("a call without an argument array is 17, and a __proto__ method is 14", () =>
    Effect.gen(function*() {
      const { peer } = yield* start
      yield* rawHandshake(peer)
      yield* peer.send("{call:[1,'calc'],add:'nope'}")
      expect(parseFrame(yield* takeWithin(peer.frames, "the 17"))).toEqual({ callback: [1], error: [17] })
      yield* peer.send("{call:[2,'calc'],'__proto__':[]}")
      expect(parseFrame(yield* takeWithin(peer.frames, "the 14"))).toEqual({ callback: [2], error: [14] })
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain("calc")
      yield* peer.send("{call:[3,'calc'],add:[1,1]}")
      expect(parseFrame(yield* takeWithin(peer.frames, "the sum"))).toEqual({ callback: [3], ok: [2] })
    }))
})

// ====================================================== 9. Typed errors

describe("typed errors", () => {
  it("RemoteError is a Schema.TaggedError with code, message and info", () => {
    const error = RemoteError.make(42, "nope", [1])
    expect(error).toBeInstanceOf(Error)
    expect(error).toBeInstanceOf(RemoteError.RemoteError)
    expect(error._tag).toBe("RemoteError")
    expect(error.code).toBe(42)
    expect(error.message).toBe("nope")
    expect(error.info).toEqual([1])
    expect(Schema.is(RemoteError.RemoteError)(error)).toBe(true)
    expect(Schema.encodeSync(RemoteError.RemoteError)(error)).toEqual({
      _tag: "RemoteError",
      code: 42,
      message: "nope",
      info: [1],
      // Only a -1 made here by a restore is resendable (callWithResend).
      resendable: false
    })
    const decoded = Schema.decodeUnknownSync(RemoteError.RemoteError)({
      _tag: "RemoteError",
      code: 11,
      message: "denied",
      info: []
    })
    expect(decoded).toBeInstanceOf(RemoteError.RemoteError)
    expect(decoded.code).toBe(11)
    expect(decoded.resendable).toBe(false)
    expect(() => Schema.decodeUnknownSync(RemoteError.RemoteError)({ _tag: "RemoteError", code: "x" })).toThrow()
    // standard codes get their default message and travel as [code]
    expect(RemoteError.make(14).message).toBe("Method not found")
    expect(RemoteError.make(14).toJSTP()).toEqual([14])
    expect(error.toJSTP()).toEqual([42, "nope", 1])
  })

  it.effect("RemoteError, ConnectionError and HandshakeError are caught by tag", () =>
    Effect.gen(function*() {
      const remote = yield* Effect.fail(RemoteError.make(16)).pipe(
        Effect.catchTag("RemoteError", (error) => Effect.succeed(error.code))
      )
      expect(remote).toBe(16)
      const connection = new ConnectionError({ reason: "Timeout", message: "slow" })
      expect(connection).toBeInstanceOf(Error)
      expect(connection._tag).toBe("ConnectionError")
      expect(connection.reason).toBe("Timeout")
      expect(connection.message).toBe("slow")
      const handshake = new HandshakeError({ reason: "Rejected", code: 10, message: "Application not found" })
      expect(handshake).toBeInstanceOf(Error)
      expect(handshake._tag).toBe("HandshakeError")
      expect(handshake.reason).toBe("Rejected")
      expect(handshake.code).toBe(10)
      const reasons = yield* Effect.all([
        Effect.fail(connection).pipe(Effect.catchTag("ConnectionError", (error) => Effect.succeed(error.reason))),
        Effect.fail(handshake).pipe(Effect.catchTag("HandshakeError", (error) => Effect.succeed(error.reason)))
      ])
      expect(reasons).toEqual(["Timeout", "Rejected"])
    }))

  it.scopedLive("a rejected handshake carries the server's RemoteError as its cause", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc()], listen: [TCP] }).pipe(withStore)
      const error = yield* Effect.flip(Connection.connect({ address: addressOf(server), application: "nope" }))
      expectHandshakeError(error, "Rejected", 10)
      expect(error.message).toBe("Application not found")
      expectRemote(error.cause, { code: 10 })
    }))
})
