// Interoperability with the reference implementation, @metarhia/jstp@2.3.0,
// over real TCP on 127.0.0.1, both ways:
//   A. our server (Server.make) with the reference client (jstp.net.connect);
//   B. the reference server (jstp.net.createServer) with our client
//      (Connection.connect).
// Every test closes its connections, then its server.
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Duration, Effect, Fiber, Logger, LogLevel, Stream } from "effect"
import { Application, Connection, Contract, type HandshakeError, RemoteError, Server } from "effect-jstp"
import { EventEmitter } from "node:events"
import type { AddressInfo } from "node:net"
import * as Ref from "./support/jstp.js"
import { cleared, OutOfStock, Shop, shopApp, stockLayer } from "./support/shop.js"
import { withStore } from "./support/servers.js"

const { jstp } = Ref
const HOST = "127.0.0.1"
const WITHIN = Duration.seconds(2)

// ------------------------------------------------------------------ payloads

const strings = [
  "it's",
  "say \"hi\"",
  "both ' and \"",
  "back\\slash \\n not a newline",
  "line\nbreak\r\nand more",
  "tab\there",
  "é 日本語 😀",
  "line\u2028separator\u2029paragraph",
  "nul\u0000inside",
  ""
]
const nested = {
  level1: { level2: { level3: [1, [2, [3, { deep: "yes" }]]] } },
  list: [{ a: 1 }, { b: [true, null] }, [], {}]
}
const quotedKeys = { "a b": 1, "x-y": 2, "0": 3, "": 4, "it's": 5, "say \"x\"": 6, "é": 7, "$ok_1": 8 }
const numbers = [-1, -0.5, 0.125, 3.14159, -273.15, 1e21, 1.5e-10, 9007199254740991, -9007199254740991, 0, 42]
const booleans = [true, false, null]
const everything = { strings, nested, quotedKeys, numbers, booleans }

/** Every sample a call carries alone, as the only argument. */
const samples: ReadonlyArray<unknown> = [
  ...strings,
  nested,
  quotedKeys,
  numbers,
  ...numbers,
  ...booleans,
  [],
  {},
  everything
]

// ------------------------------------------------------------------- helpers

const timeout = (label: string) => Effect.timeoutFail({ duration: WITHIN, onTimeout: () => new Error(`Timed out: ${label}`) })

const awaitValue = <A>(deferred: Deferred.Deferred<A>, label: string) => Deferred.await(deferred).pipe(timeout(label))

const tcp = (port: number) => ({ _tag: "Tcp" as const, host: HOST, port })

/** A reference callback as an Effect: fails with the error, succeeds with the results. */
const refCallback = (
  register: (callback: Ref.Callback) => void
): Effect.Effect<ReadonlyArray<unknown>, unknown> =>
  Effect.async((resume) => {
    register((error, ...results) => resume(error ? Effect.fail(error) : Effect.succeed(results)))
  })

const refCall = (connection: Ref.Connection, iface: string, method: string, args: ReadonlyArray<unknown> = []) =>
  refCallback((callback) => connection.callMethod(iface, method, args, callback)).pipe(timeout(`${iface}.${method}`))

const proxyCall = (proxy: Ref.RemoteProxy | undefined, method: string, ...args: Array<unknown>) =>
  refCallback((callback) => {
    const fn = proxy?.[method]
    if (typeof fn !== "function") throw new Error(`The proxy has no method ${method}`)
    ;(fn as (...args: Array<unknown>) => void).apply(proxy, [...args, callback])
  }).pipe(timeout(`proxy.${method}`))

const expectRefError = (error: unknown, code: number, message: string, info: ReadonlyArray<unknown> | null = null) => {
  expect(error).toBeInstanceOf(jstp.RemoteError)
  const { code: actualCode, info: actualInfo, message: actualMessage, name } = error as Ref.RemoteError
  expect({ name, code: actualCode, message: actualMessage, info: actualInfo }).toEqual({ name: "RemoteError", code, message, info })
}

// Effect's errors are compared through plain projections: chai's inspect of a
// failing match on them recurses until the stack overflows.
const expectOurError = (error: unknown, code: number, message: string, info: ReadonlyArray<unknown> = []) => {
  expect(error).toBeInstanceOf(RemoteError.RemoteError)
  const { _tag, code: actualCode, info: actualInfo, message: actualMessage } = error as RemoteError.RemoteError
  expect({ _tag, code: actualCode, message: actualMessage, info: actualInfo }).toEqual({ _tag: "RemoteError", code, message, info })
}

const expectRejected = (error: HandshakeError, code: number, message: string) => {
  expect({ _tag: error._tag, reason: error.reason, code: error.code, message: error.message })
    .toEqual({ _tag: "HandshakeError", reason: "Rejected", code, message })
}

/** Waits until a reference connection's socket has closed, closing it first. */
const closeRef = (connection: Ref.Connection) =>
  Effect.async<void>((resume) => {
    const socket = connection.getTransport()
    if (socket.closed) return resume(Effect.void)
    socket.once("close", () => resume(Effect.void))
    connection.close()
  }).pipe(timeout(`closing reference connection ${connection.id}`), Effect.orDie)

/** The reference client; closed when the scope closes. It never reconnects. */
const refConnect = (app: string, port: number, client: Ref.Client = {}) =>
  Effect.acquireRelease(
    Effect.async<{ readonly connection: Ref.Connection; readonly session: Ref.Session | undefined }, unknown>((resume) => {
      jstp.net.connect(app, { reconnector: () => {}, ...client }, port, HOST, (error, connection, session) => {
        if (error === null && connection !== undefined) return resume(Effect.succeed({ connection, session }))
        const fail = Effect.fail(error)
        if (connection === undefined) return resume(fail)
        resume(Effect.zipRight(closeRef(connection), fail))
      })
    }).pipe(timeout(`connect to ${app}`)),
    ({ connection }) => closeRef(connection)
  )

/** The reference client's `connectAndInspect`; closed when the scope closes. */
const refConnectAndInspect = (app: string, port: number, interfaces: ReadonlyArray<string>, client: Ref.Client = {}) =>
  Effect.acquireRelease(
    Effect.async<
      { readonly connection: Ref.Connection; readonly proxies: Readonly<Record<string, Ref.RemoteProxy>> },
      unknown
    >((resume) => {
      jstp.net.connectAndInspect(app, { reconnector: () => {}, ...client }, interfaces, port, HOST, (error, connection, proxies) => {
        if (error === null && connection !== undefined && proxies !== undefined) {
          return resume(Effect.succeed({ connection, proxies }))
        }
        const fail = Effect.fail(error)
        if (connection === undefined) return resume(fail)
        resume(Effect.zipRight(closeRef(connection), fail))
      })
    }).pipe(timeout(`connectAndInspect ${app}`)),
    ({ connection }) => closeRef(connection)
  )

/** A reference connect that must fail: its error, once the socket closed. */
const refConnectError = (app: string, port: number, client: Ref.Client = {}) =>
  Effect.flip(Effect.scoped(refConnect(app, port, client)))

/** Our server on 127.0.0.1, an ephemeral port. */
const ourServer = (options: Omit<Server.Options<never>, "listen">) =>
  Effect.map(Server.make({ ...options, listen: [tcp(0)] }).pipe(withStore), (server) => {
    const address = server.addresses[0]
    if (address?._tag !== "Tcp") throw new Error("Expected a TCP address")
    return { server, port: address.port }
  })

/** The only connection of our server. */
const onlyConnection = (server: Server.Server): Connection.Connection => {
  const connections = server.connections()
  expect(connections).toHaveLength(1)
  return connections[0]!
}

/** The reference server on 127.0.0.1, an ephemeral port; closed when the scope closes. */
const refServer = (options: Ref.ServerOptions) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Ref.Server; readonly port: number }>((resume) => {
      const server = jstp.net.createServer(options)
      server.listen(0, HOST, () => resume(Effect.succeed({ server, port: (server.address() as AddressInfo).port })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      }).pipe(timeout("closing the reference server (a connection is still open?)"), Effect.orDie)
  )

/** The only connection of the reference server. */
const onlyRefConnection = (server: Ref.Server): Ref.Connection => {
  const connections = server.getClientsArray()
  expect(connections).toHaveLength(1)
  return connections[0]!
}

type Message = Readonly<Record<string, unknown>>

/** A logger for a reference client, recording its traffic from the start. */
const recordTraffic = () => {
  const incoming: Array<Message> = []
  const outgoing: Array<Message> = []
  const logger = new EventEmitter()
  logger.on("incomingMessage", (message: Message) => incoming.push(message))
  logger.on("outgoingMessage", (message: Message) => outgoing.push(message))
  return { incoming, outgoing, logger }
}

/** Records the traffic of every connection of a reference server, from its `log` event. */
const recordServerTraffic = (server: Ref.Server) => {
  const incoming: Array<Message> = []
  const outgoing: Array<Message> = []
  server.on("log", (_connection: Ref.Connection, event: string, message: Message) => {
    if (event === "incomingMessage") incoming.push(message)
    if (event === "outgoingMessage") outgoing.push(message)
  })
  return { incoming, outgoing }
}

const idsOf = (messages: ReadonlyArray<Message>, kind: "ping" | "pong"): Array<number> =>
  messages.flatMap((message) => {
    const header = message[kind]
    return Array.isArray(header) ? [header[0] as number] : []
  })

/** Our handlers' defects are logged; keep the test output quiet. */
const quiet = Effect.provide(Logger.minimumLogLevel(LogLevel.None))

type Cb = (error: unknown, ...results: Array<unknown>) => void
type C = Connection.Connection

// ----------------------------------------------------------- our applications

const makeOurPayloadApp = (received: Array<unknown>) =>
  Application.make({
    name: "payload",
    api: {
      payload: {
        echo: (_c: C, value: unknown) => {
          received.push(value)
          return Effect.succeed(value)
        },
        echo3: Application.callback((_c: C, a: unknown, b: unknown, c: unknown, callback: Cb) => callback(null, a, b, c)),
        get: (_c: C) => Effect.succeed(everything)
      }
    }
  })

// Every test closed its sockets and servers. (Closing a scope does not wait
// for Node to release the handles, so give them a moment.)
afterAll(async () => {
  const open = () =>
    process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap")
  for (let i = 0; i < 50 && open().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(open()).toEqual([])
})

// ============================================================================
// A. Our server, the reference client.
// ============================================================================

describe("interop A: our server, the reference client", () => {
  it.scopedLive("payloads round-trip exactly, both ways", () =>
    Effect.gen(function*() {
      const received: Array<unknown> = []
      const { port } = yield* ourServer({ applications: [makeOurPayloadApp(received)] })
      const { connection } = yield* refConnect("payload", port)

      for (const sample of samples) {
        expect(yield* refCall(connection, "payload", "echo", [sample])).toEqual([sample])
      }
      // What our server parsed is exactly what the reference sent.
      expect(received).toEqual(samples)
      // What our server wrote is exactly what the reference reads.
      expect(yield* refCall(connection, "payload", "get")).toEqual([everything])
      expect(yield* refCall(connection, "payload", "echo3", [strings, quotedKeys, nested]))
        .toEqual([strings, quotedKeys, nested])
    }))

  it.scopedLive("multiple, single and no results", () =>
    Effect.gen(function*() {
      const app = Application.make({
        name: "results",
        api: {
          results: {
            multi: Application.callback((_c: C, callback: Cb) => callback(null, 1, "two", { three: 3 })),
            none: Application.callback((_c: C, callback: Cb) => callback(null)),
            effect: (_c: C) => Effect.succeed("one"),
            plain: (_c: C, x: number) => x + 1,
            effectResults: (_c: C, a: number, b: number) => Effect.succeed(Application.results(Math.floor(a / b), a % b)),
            promiseResults: (_c: C, x: string) => Promise.resolve(Application.results(x, x.length)),
            noResults: (_c: C) => Application.results(),
            array: (_c: C) => Effect.succeed([1, 2])
          }
        }
      })
      const { port } = yield* ourServer({ applications: [app] })
      const { connection } = yield* refConnect("results", port)
      expect(yield* refCall(connection, "results", "multi")).toEqual([1, "two", { three: 3 }])
      expect(yield* refCall(connection, "results", "none")).toEqual([])
      expect(yield* refCall(connection, "results", "effect")).toEqual(["one"])
      expect(yield* refCall(connection, "results", "plain", [41])).toEqual([42])
      // Application.results: as the callback's arguments.
      expect(yield* refCall(connection, "results", "effectResults", [17, 5])).toEqual([3, 2])
      expect(yield* refCall(connection, "results", "promiseResults", ["abc"])).toEqual(["abc", 3])
      expect(yield* refCall(connection, "results", "noResults")).toEqual([])
      // An array is one result.
      expect(yield* refCall(connection, "results", "array")).toEqual([[1, 2]])
    }))

  it.scopedLive("every error path arrives with its code, message and info", () =>
    Effect.gen(function*() {
      const app = Application.make({
        name: "errors",
        api: {
          errors: {
            echo: Application.callback((_c: C, value: unknown, callback: Cb) => callback(null, value)),
            asyncEcho: async (_c: C, value: unknown) => value,
            failRemote: (_c: C) => Effect.fail(RemoteError.make(400, "Custom")),
            failInfo: (_c: C) => Effect.fail(RemoteError.make(403, "Forbidden", ["extra", 1])),
            failStandard: Application.callback((_c: C, callback: Cb) => callback(RemoteError.make(14))),
            failArray: Application.callback((_c: C, callback: Cb) => callback([42, "custom message"])),
            failString: Application.callback((_c: C, callback: Cb) => callback("plain string")),
            failNumber: Application.callback((_c: C, callback: Cb) => callback(1001)),
            asyncRemote: async (_c: C) => {
              throw RemoteError.make(409, "Conflict")
            },
            asyncArray: async (_c: C) => {
              throw [410, "Gone"]
            },
            asyncPlainError: async (_c: C) => {
              throw new Error("hidden")
            },
            // `: unknown`: a handler typed `=> never` would count as an Effect needing `unknown`.
            throws: (_c: C): unknown => {
              throw new Error("boom")
            },
            throwsCallbackStyle: Application.callback((_c: C, _callback: Cb): void => {
              throw new Error("boom")
            }),
            dies: (_c: C) => Effect.die(new Error("boom"))
          }
        }
      })
      const { port } = yield* ourServer({ applications: [app] })
      const { connection } = yield* refConnect("errors", port)
      const fails = (iface: string, method: string, args: ReadonlyArray<unknown> = []) =>
        Effect.flip(refCall(connection, iface, method, args))

      expectRefError(yield* fails("nope", "echo", [1]), 12, "Interface not found")
      expectRefError(yield* fails("errors", "nope", [1]), 14, "Method not found")
      expectRefError(yield* fails("errors", "toString", []), 14, "Method not found")
      expectRefError(yield* fails("errors", "echo", []), 17, "Invalid signature")
      expectRefError(yield* fails("errors", "asyncEcho", []), 17, "Invalid signature")
      expectRefError(yield* fails("errors", "asyncEcho", [1, 2]), 17, "Invalid signature")
      expectRefError(yield* fails("errors", "failRemote"), 400, "Custom")
      expectRefError(yield* fails("errors", "failInfo"), 403, "Forbidden", ["extra", 1])
      expectRefError(yield* fails("errors", "failStandard"), 14, "Method not found")
      expectRefError(yield* fails("errors", "failArray"), 42, "custom message")
      expectRefError(yield* fails("errors", "failString"), 1, "plain string")
      expectRefError(yield* fails("errors", "failNumber"), 1001, "1001")
      expectRefError(yield* fails("errors", "asyncRemote"), 409, "Conflict")
      expectRefError(yield* fails("errors", "asyncArray"), 410, "Gone")
      expectRefError(yield* fails("errors", "asyncPlainError"), 16, "Internal API error")
      expectRefError(yield* fails("errors", "throws"), 16, "Internal API error")
      expectRefError(yield* fails("errors", "throwsCallbackStyle"), 16, "Internal API error")
      expectRefError(yield* fails("errors", "dies"), 16, "Internal API error")

      // Inspecting an unknown interface fails with 12; the connection lives on.
      const inspectError = yield* Effect.flip(
        refCallback((callback) => connection.inspectInterface("nope", callback)).pipe(timeout("inspect"))
      )
      expectRefError(inspectError, 12, "Interface not found")
      expect(yield* refCall(connection, "errors", "echo", ["still open"])).toEqual(["still open"])
    }).pipe(quiet))

  it.scopedLive("a callback-style handler called with one argument too many answers 17 without running", () =>
    Effect.gen(function*() {
      const ran: Array<ReadonlyArray<unknown>> = []
      const app = Application.make({
        name: "arity",
        api: {
          arity: {
            echo: Application.callback((_c: C, value: unknown, callback: Cb) => {
              ran.push([value])
              callback(null, value)
            })
          }
        }
      })
      const { port } = yield* ourServer({ applications: [app] })
      const { connection } = yield* refConnect("arity", port)
      // The reference answers 17: `echo` takes connection, one argument, callback.
      expectRefError(yield* Effect.flip(refCall(connection, "arity", "echo", [1, 2])), 17, "Invalid signature")
      expect(ran).toEqual([])
      expect(yield* refCall(connection, "arity", "echo", [1])).toEqual([1])
      expect(ran).toEqual([[1]])
    }).pipe(quiet))

  it.scopedLive("async handlers answer the reference client", () =>
    Effect.gen(function*() {
      const app = Application.make({
        name: "async",
        api: {
          math: {
            sum: async (_c: C, a: number, b: number) => a + b,
            later: async (_c: C, value: unknown) => {
              await new Promise((resolve) => setTimeout(resolve, 10))
              return { value }
            },
            promise: (_c: C, x: number) => Promise.resolve(x * 2)
          }
        }
      })
      const { port } = yield* ourServer({ applications: [app] })
      const { connection } = yield* refConnect("async", port)
      expect(yield* refCall(connection, "math", "sum", [2, 3])).toEqual([5])
      expect(yield* refCall(connection, "math", "later", [everything])).toEqual([{ value: everything }])
      expect(yield* refCall(connection, "math", "promise", [21])).toEqual([42])
    }))

  it.scopedLive("inspect gives the reference client a working proxy", () =>
    Effect.gen(function*() {
      const { port } = yield* ourServer({ applications: [makeOurPayloadApp([])] })
      const { proxies } = yield* refConnectAndInspect("payload", port, ["payload"])
      const proxy = proxies["payload"]
      expect(Object.keys(proxies)).toEqual(["payload"])
      expect(["echo", "echo3", "get"].map((method) => typeof proxy?.[method])).toEqual(["function", "function", "function"])
      expect(yield* proxyCall(proxy, "echo", everything)).toEqual([everything])
      expect(yield* proxyCall(proxy, "echo3", "a", 2, [3])).toEqual(["a", 2, [3]])

      // connectAndInspect of a missing interface: the error is 12.
      const error = yield* Effect.flip(Effect.scoped(refConnectAndInspect("payload", port, ["payload", "nope"])))
      expectRefError(error, 12, "Interface not found")
    }))

  it.scopedLive("events from the reference client reach our application and event streams", () =>
    Effect.gen(function*() {
      const delivered = yield* Deferred.make<{ readonly id: number; readonly args: ReadonlyArray<unknown> }>()
      const app = Application.make({
        name: "chat",
        api: { chat: { say: (_c: C, text: string) => Effect.succeed(text) } },
        events: {
          chat: {
            message: (connection: C, who: unknown, text: unknown, extra: unknown) =>
              Deferred.succeed(delivered, { id: connection.id, args: [who, text, extra] })
          }
        }
      })
      const { port, server } = yield* ourServer({ applications: [app] })
      const { connection } = yield* refConnect("chat", port)
      const serverSide = onlyConnection(server)
      const streamed = yield* serverSide.events("chat").pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("20 millis") // let the stream subscribe

      connection.emitRemoteEvent("chat", "message", ["Marcus", "Hi, 'all' \"😀\"\n", everything])
      connection.emitRemoteEvent("chat", "typing", [])
      expect(yield* awaitValue(delivered, "chat.message")).toEqual({
        id: serverSide.id,
        args: ["Marcus", "Hi, 'all' \"😀\"\n", everything]
      })
      const events = Chunk.toReadonlyArray(yield* Fiber.join(streamed).pipe(timeout("event stream")))
      expect(events).toEqual([
        { iface: "chat", event: "message", args: ["Marcus", "Hi, 'all' \"😀\"\n", everything] },
        { iface: "chat", event: "typing", args: [] }
      ])
    }))

  it.scopedLive("events from our server reach the reference proxy and client application", () =>
    Effect.gen(function*() {
      const app = Application.make({ name: "chat", api: { chat: { say: (_c: C, text: string) => Effect.succeed(text) } } })
      const { port, server } = yield* ourServer({ applications: [app] })

      const byHandler = yield* Deferred.make<ReadonlyArray<unknown>>()
      const byProxy = yield* Deferred.make<ReadonlyArray<unknown>>()
      const direct = yield* Deferred.make<ReadonlyArray<unknown>>()
      const client = new jstp.Application("client", {}, {
        chat: {
          notice: (_c: Ref.Connection, ...args: Array<unknown>) => Deferred.unsafeDone(byHandler, Effect.succeed(args))
        }
      })
      const { proxies } = yield* refConnectAndInspect("chat", port, ["chat"], { application: client })
      proxies["chat"]!.on("notice", (...args: Array<unknown>) => Deferred.unsafeDone(byProxy, Effect.succeed(args)))
      proxies["chat"]!.on("direct", (...args: Array<unknown>) => Deferred.unsafeDone(direct, Effect.succeed(args)))

      yield* server.broadcast("chat", "notice", ["server", everything])
      expect(yield* awaitValue(byHandler, "notice by handler")).toEqual(["server", everything])
      expect(yield* awaitValue(byProxy, "notice by proxy")).toEqual(["server", everything])

      yield* onlyConnection(server).emit("chat", "direct", [strings, 1, null])
      expect(yield* awaitValue(direct, "direct")).toEqual([strings, 1, null])
    }))

  it.scopedLive("our server calls the reference client's application", () =>
    Effect.gen(function*() {
      const app = Application.make({ name: "app", api: { app: { noop: (_c: C) => Effect.void } } })
      const { port, server } = yield* ourServer({ applications: [app] })
      const client = new jstp.Application("client", {
        ui: {
          confirm: (_c: Ref.Connection, x: unknown, callback: Ref.Callback) => callback(null, x),
          multi: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, "a", 2, { b: [3] }),
          double: async (_c: Ref.Connection, x: number) => x * 2,
          refuse: (_c: Ref.Connection, callback: Ref.Callback) => callback(new jstp.RemoteError(42, "nope", ["why"]))
        }
      })
      yield* refConnect("app", port, { application: client })
      const serverSide = onlyConnection(server)

      expect(yield* serverSide.call("ui", "confirm", [everything])).toEqual([everything])
      expect(yield* serverSide.call("ui", "multi")).toEqual(["a", 2, { b: [3] }])
      expect(yield* serverSide.call("ui", "double", [21])).toEqual([42])
      expectOurError(yield* Effect.flip(serverSide.call("ui", "refuse")), 42, "nope", ["why"])
      expectOurError(yield* Effect.flip(serverSide.call("ui", "missing")), 14, "Method not found")
      expectOurError(yield* Effect.flip(serverSide.call("nope", "confirm", [1])), 12, "Interface not found")
      expectOurError(yield* Effect.flip(serverSide.call("ui", "confirm", [1, 2])), 17, "Invalid signature")

      const proxy = yield* serverSide.inspect("ui")
      expect(proxy.methodNames).toEqual(["confirm", "multi", "double", "refuse"])
      expect(yield* proxy.methods["confirm"]!("via proxy")).toEqual(["via proxy"])
    }))

  it.scopedLive("ping both ways", () =>
    Effect.gen(function*() {
      const app = Application.make({ name: "app", api: { app: {} } })
      const { port, server } = yield* ourServer({ applications: [app] })
      const traffic = recordTraffic()
      const { connection } = yield* refConnect("app", port, { logger: traffic.logger })

      yield* refCallback((callback) => connection.ping(() => callback(null))).pipe(timeout("reference ping"))
      expect(idsOf(traffic.outgoing, "ping")).toEqual([1])
      expect(idsOf(traffic.incoming, "pong")).toEqual([1])

      yield* onlyConnection(server).ping.pipe(timeout("our ping"))
      expect(idsOf(traffic.incoming, "ping")).toEqual([-1])
      expect(idsOf(traffic.outgoing, "pong")).toEqual([-1])
    }))

  it.scopedLive("login: success, wrong password, custom refusal", () =>
    Effect.gen(function*() {
      const asked: Array<{ readonly strategy: string; readonly credentials: unknown }> = []
      const app = Application.make({
        name: "app",
        api: { app: { whoami: (connection: C) => Effect.succeed(connection.username()) } }
      })
      const { port, server } = yield* ourServer({
        applications: [app],
        authPolicy: ({ credentials, strategy }) => {
          asked.push({ strategy, credentials })
          const [login, password] = credentials as [string, string]
          if (login === "locked") return Effect.fail(new Error("Account locked"))
          if (login === "banned") return Effect.fail(RemoteError.make(403, "Banned"))
          return Effect.succeed(login === "user" && password === "pass" ? "user" : null)
        }
      })

      const wrong = yield* refConnectError("app", port, { connectPolicy: new jstp.SimpleConnectPolicy("user", "wrong") })
      expectRefError(wrong, 11, "Authentication failed")
      // A plain Error becomes [11] on the wire, as 2.3.0 writes a standard code.
      const locked = yield* refConnectError("app", port, { connectPolicy: new jstp.SimpleConnectPolicy("locked", "x") })
      expectRefError(locked, 11, "Authentication failed")
      const banned = yield* refConnectError("app", port, { connectPolicy: new jstp.SimpleConnectPolicy("banned", "x") })
      expectRefError(banned, 403, "Banned")
      expect(server.connections()).toEqual([])

      const { connection, session } = yield* refConnect("app", port, {
        connectPolicy: new jstp.SimpleConnectPolicy("user", "pass")
      })
      expect(connection.username).toBe("user")
      expect(session?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(onlyConnection(server).username()).toBe("user")
      expect(onlyConnection(server).session()?.id).toBe(session?.id)
      expect(yield* refCall(connection, "app", "whoami")).toEqual(["user"])
      expect(asked).toEqual([
        { strategy: "login", credentials: ["user", "wrong"] },
        { strategy: "login", credentials: ["locked", "x"] },
        { strategy: "login", credentials: ["banned", "x"] },
        { strategy: "login", credentials: ["user", "pass"] }
      ])

      // Anonymous needs no policy call, and has no username.
      const anonymous = yield* refConnect("app", port)
      expect(anonymous.connection.username).toBe(null)
      expect(yield* refCall(anonymous.connection, "app", "whoami")).toEqual([null])
      expect(asked).toHaveLength(4)
    }))

  it.scopedLive("application versions: range, exact, none, unsatisfiable", () =>
    Effect.gen(function*() {
      const versioned = (version: string) =>
        Application.make({
          name: "app",
          version,
          api: { meta: { version: Application.callback((_c: C, callback: Cb) => callback(null, version)) } }
        })
      const { port, server } = yield* ourServer({
        applications: [versioned("1.0.0"), versioned("1.5.0"), versioned("2.0.0")]
      })
      const versionOf = (app: string) =>
        Effect.scoped(Effect.flatMap(refConnect(app, port), ({ connection }) => refCall(connection, "meta", "version")))

      expect(yield* versionOf("app@^1.0.0")).toEqual(["1.5.0"])
      expect(yield* versionOf("app@1.0.0")).toEqual(["1.0.0"])
      expect(yield* versionOf("app@~1.5.0")).toEqual(["1.5.0"])
      expect(yield* versionOf("app")).toEqual(["2.0.0"])
      expectRefError(yield* refConnectError("app@^3.0.0", port), 10, "Application not found")
      expectRefError(yield* refConnectError("app@1.2.0", port), 10, "Application not found")
      expectRefError(yield* refConnectError("other", port), 10, "Application not found")

      const { connection } = yield* refConnect("app@^1.0.0", port)
      expect(onlyConnection(server).application).toEqual({ name: "app", version: "1.5.0" })
      expect(yield* refCall(connection, "meta", "version")).toEqual(["1.5.0"])
    }))

  it.scopedLive("heartbeat: our server pings, the reference client answers", () =>
    Effect.gen(function*() {
      const app = Application.make({ name: "app", api: { app: { echo: (_c: C, x: unknown) => Effect.succeed(x) } } })
      const { port, server } = yield* ourServer({ applications: [app], heartbeatInterval: "30 millis" })
      const traffic = recordTraffic()
      const { connection } = yield* refConnect("app", port, { logger: traffic.logger })
      yield* Effect.sleep("250 millis")

      const pings = idsOf(traffic.incoming, "ping")
      expect(pings.length).toBeGreaterThanOrEqual(3)
      // Server ids: the handshake reply is 0, then -1, -2, ...
      expect(pings).toEqual(pings.map((_, i) => -1 - i))
      const pongs = idsOf(traffic.outgoing, "pong")
      expect(pongs).toEqual(pings)
      expect(onlyConnection(server).isOpen()).toBe(true)
      expect(yield* refCall(connection, "app", "echo", ["alive"])).toEqual(["alive"])
    }))

  it.scopedLive("heartbeat: the reference client pings, our server answers", () =>
    Effect.gen(function*() {
      const app = Application.make({ name: "app", api: { app: { echo: (_c: C, x: unknown) => Effect.succeed(x) } } })
      const { port, server } = yield* ourServer({ applications: [app] })
      const traffic = recordTraffic()
      const { connection } = yield* refConnect("app", port, { heartbeatInterval: 30, logger: traffic.logger })
      yield* Effect.sleep("250 millis")

      const pings = idsOf(traffic.outgoing, "ping")
      expect(pings.length).toBeGreaterThanOrEqual(3)
      // Client ids: the handshake is 0, then 1, 2, ...
      expect(pings).toEqual(pings.map((_, i) => 1 + i))
      // Every ping answered, the last one at most one interval later.
      const pongs = idsOf(traffic.incoming, "pong")
      expect(pongs.length).toBeGreaterThanOrEqual(pings.length - 1)
      expect(pongs).toEqual(pings.slice(0, pongs.length))
      expect(onlyConnection(server).isOpen()).toBe(true)
      expect(yield* refCall(connection, "app", "echo", ["alive"])).toEqual(["alive"])
    }))
})

// ============================================================================
// B. The reference server, our client.
// ============================================================================

const refPayloadApp = (received: Array<unknown>) =>
  new jstp.Application("payload", {
    payload: {
      echo: (_c: Ref.Connection, value: unknown, callback: Ref.Callback) => {
        received.push(value)
        callback(null, value)
      },
      echo3: (_c: Ref.Connection, a: unknown, b: unknown, c: unknown, callback: Ref.Callback) => callback(null, a, b, c),
      get: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, everything)
    }
  })

describe("interop B: the reference server, our client", () => {
  it.scopedLive("payloads round-trip exactly, both ways", () =>
    Effect.gen(function*() {
      const received: Array<unknown> = []
      const { port } = yield* refServer({ applications: [refPayloadApp(received)] })
      const connection = yield* Connection.connect({ address: tcp(port), application: "payload" })

      for (const sample of samples) {
        expect(yield* connection.call("payload", "echo", [sample])).toEqual([sample])
      }
      // What the reference parsed is exactly what our client sent.
      expect(received).toEqual(samples)
      // What the reference wrote is exactly what our client reads.
      expect(yield* connection.call("payload", "get")).toEqual([everything])
      expect(yield* connection.call("payload", "echo3", [strings, quotedKeys, nested])).toEqual([strings, quotedKeys, nested])
    }))

  it.scopedLive("multiple, single and no results", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("results", {
        results: {
          multi: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, 1, "two", { three: 3 }),
          none: (_c: Ref.Connection, callback: Ref.Callback) => callback(null),
          one: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, "one")
        }
      })
      const { port } = yield* refServer({ applications: [app] })
      const connection = yield* Connection.connect({ address: tcp(port), application: "results" })
      expect(yield* connection.call("results", "multi")).toEqual([1, "two", { three: 3 }])
      expect(yield* connection.call("results", "none")).toEqual([])
      expect(yield* connection.call("results", "one")).toEqual(["one"])
    }))

  it.scopedLive("every error path arrives with its code, message and info", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("errors", {
        errors: {
          echo: (_c: Ref.Connection, value: unknown, callback: Ref.Callback) => callback(null, value),
          asyncEcho: async (_c: Ref.Connection, value: unknown) => value,
          failRemote: (_c: Ref.Connection, callback: Ref.Callback) => callback(new jstp.RemoteError(400, "Custom")),
          failInfo: (_c: Ref.Connection, callback: Ref.Callback) =>
            callback(new jstp.RemoteError(403, "Forbidden", ["extra", 1])),
          failStandard: (_c: Ref.Connection, callback: Ref.Callback) => callback(new jstp.RemoteError(14)),
          failArray: (_c: Ref.Connection, callback: Ref.Callback) => callback([42, "custom message"]),
          failString: (_c: Ref.Connection, callback: Ref.Callback) => callback("plain string"),
          failNumber: (_c: Ref.Connection, callback: Ref.Callback) => callback(1001),
          failInternal: (_c: Ref.Connection, callback: Ref.Callback) => callback(16),
          asyncRemote: async (_c: Ref.Connection) => {
            throw new jstp.RemoteError(409, "Conflict")
          },
          asyncArray: async (_c: Ref.Connection) => {
            throw [410, "Gone"]
          }
        }
      })
      const { port } = yield* refServer({ applications: [app] })
      const connection = yield* Connection.connect({ address: tcp(port), application: "errors" })
      const fails = (iface: string, method: string, args: ReadonlyArray<unknown> = []) =>
        Effect.flip(connection.call(iface, method, args))

      expectOurError(yield* fails("nope", "echo", [1]), 12, "Interface not found")
      expectOurError(yield* fails("errors", "nope", [1]), 14, "Method not found")
      expectOurError(yield* fails("errors", "echo", []), 17, "Invalid signature")
      expectOurError(yield* fails("errors", "echo", [1, 2]), 17, "Invalid signature")
      expectOurError(yield* fails("errors", "asyncEcho", [1, 2]), 17, "Invalid signature")
      expectOurError(yield* fails("errors", "failRemote"), 400, "Custom")
      expectOurError(yield* fails("errors", "failInfo"), 403, "Forbidden", ["extra", 1])
      expectOurError(yield* fails("errors", "failStandard"), 14, "Method not found")
      expectOurError(yield* fails("errors", "failArray"), 42, "custom message")
      expectOurError(yield* fails("errors", "failString"), 1, "plain string")
      expectOurError(yield* fails("errors", "failNumber"), 1001, "1001")
      expectOurError(yield* fails("errors", "failInternal"), 16, "Internal API error")
      expectOurError(yield* fails("errors", "asyncRemote"), 409, "Conflict")
      expectOurError(yield* fails("errors", "asyncArray"), 410, "Gone")

      expectOurError(yield* Effect.flip(connection.inspect("nope")), 12, "Interface not found")
      expect(connection.isOpen()).toBe(true)
      expect(yield* connection.call("errors", "echo", ["still open"])).toEqual(["still open"])
    }))

  it.scopedLive("async handlers of the reference server answer our client", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("async", {
        math: {
          sum: async (_c: Ref.Connection, a: number, b: number) => a + b,
          later: async (_c: Ref.Connection, value: unknown) => {
            await new Promise((resolve) => setTimeout(resolve, 10))
            return { value }
          }
        }
      })
      const { port } = yield* refServer({ applications: [app] })
      const connection = yield* Connection.connect({ address: tcp(port), application: "async" })
      expect(yield* connection.call("math", "sum", [2, 3])).toEqual([5])
      expect(yield* connection.call("math", "later", [everything])).toEqual([{ value: everything }])
    }))

  it.scopedLive("inspect gives our client a working proxy", () =>
    Effect.gen(function*() {
      const { port } = yield* refServer({ applications: [refPayloadApp([])] })
      const { connection, proxies } = yield* Connection.connectAndInspect(
        { address: tcp(port), application: "payload" },
        ["payload"]
      )
      const proxy = proxies["payload"]!
      expect(proxy.methodNames).toEqual(["echo", "echo3", "get"])
      expect(yield* proxy.methods["echo"]!(everything)).toEqual([everything])
      expect(yield* proxy.methods["echo3"]!("a", 2, [3])).toEqual(["a", 2, [3]])
      expectOurError(yield* Effect.flip(connection.inspect("nope")), 12, "Interface not found")
    }))

  it.scopedLive("events from our client reach the reference application", () =>
    Effect.gen(function*() {
      const delivered = yield* Deferred.make<{ readonly id: number; readonly args: ReadonlyArray<unknown> }>()
      const typing = yield* Deferred.make<ReadonlyArray<unknown>>()
      const app = new jstp.Application("chat", { chat: { say: (_c: Ref.Connection, callback: Ref.Callback) => callback(null) } }, {
        chat: {
          message: (connection: Ref.Connection, ...args: Array<unknown>) =>
            Deferred.unsafeDone(delivered, Effect.succeed({ id: connection.id, args })),
          typing: (_c: Ref.Connection, ...args: Array<unknown>) => Deferred.unsafeDone(typing, Effect.succeed(args))
        }
      })
      const { port, server } = yield* refServer({ applications: [app] })
      const connection = yield* Connection.connect({ address: tcp(port), application: "chat" })
      const serverSide = onlyRefConnection(server)

      yield* connection.emit("chat", "message", ["Marcus", "Hi, 'all' \"😀\"\n", everything])
      expect(yield* awaitValue(delivered, "chat.message")).toEqual({
        id: serverSide.id,
        args: ["Marcus", "Hi, 'all' \"😀\"\n", everything]
      })
      const proxy = yield* connection.inspect("chat")
      yield* proxy.emit("typing")
      expect(yield* awaitValue(typing, "chat.typing")).toEqual([])
    }))

  it.scopedLive("events from the reference server reach our client's streams and application", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("chat", { chat: { say: (_c: Ref.Connection, callback: Ref.Callback) => callback(null) } })
      const { port, server } = yield* refServer({ applications: [app] })
      const byHandler = yield* Deferred.make<ReadonlyArray<unknown>>()
      const client = Application.make({
        name: "client",
        api: {},
        events: {
          chat: {
            notice: (_c: C, ...args: Array<unknown>) => Deferred.unsafeDone(byHandler, Effect.succeed(args))
          }
        }
      })
      const connection = yield* Connection.connect({ address: tcp(port), application: "chat", client })
      const proxy = yield* connection.inspect("chat")
      const streamed = yield* connection.events("chat").pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      const proxied = yield* proxy.events.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("20 millis") // let the streams subscribe

      onlyRefConnection(server).emitRemoteEvent("chat", "notice", ["server", everything])
      server.broadcast("chat", "all", strings, 1, null)
      expect(yield* awaitValue(byHandler, "notice by handler")).toEqual(["server", everything])
      const expected = [
        { iface: "chat", event: "notice", args: ["server", everything] },
        { iface: "chat", event: "all", args: [strings, 1, null] }
      ]
      expect(Chunk.toReadonlyArray(yield* Fiber.join(streamed).pipe(timeout("events")))).toEqual(expected)
      expect(Chunk.toReadonlyArray(yield* Fiber.join(proxied).pipe(timeout("proxy events")))).toEqual(expected)
    }))

  it.scopedLive("the reference server calls our client's application", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("app", { app: {} })
      const { port, server } = yield* refServer({ applications: [app] })
      const client = Application.make({
        name: "client",
        api: {
          ui: {
            confirm: (_c: C, x: unknown) => Effect.succeed(x),
            multi: Application.callback((_c: C, callback: Cb) => callback(null, "a", 2, { b: [3] })),
            double: async (_c: C, x: number) => x * 2,
            refuse: (_c: C) => Effect.fail(RemoteError.make(42, "nope", ["why"])),
            throws: (_c: C): unknown => {
              throw new Error("boom")
            }
          }
        }
      })
      yield* Connection.connect({ address: tcp(port), application: "app", client })
      const serverSide = onlyRefConnection(server)
      const call = (method: string, args: ReadonlyArray<unknown> = [], iface = "ui") => refCall(serverSide, iface, method, args)

      expect(yield* call("confirm", [everything])).toEqual([everything])
      expect(yield* call("multi")).toEqual(["a", 2, { b: [3] }])
      expect(yield* call("double", [21])).toEqual([42])
      expectRefError(yield* Effect.flip(call("refuse")), 42, "nope", ["why"])
      expectRefError(yield* Effect.flip(call("throws")), 16, "Internal API error")
      expectRefError(yield* Effect.flip(call("missing")), 14, "Method not found")
      expectRefError(yield* Effect.flip(call("confirm", [1], "nope")), 12, "Interface not found")
      expectRefError(yield* Effect.flip(call("confirm", [1, 2])), 17, "Invalid signature")

      const proxy = yield* refCallback((callback) => serverSide.inspectInterface("ui", callback)).pipe(timeout("inspect"))
      const uiProxy = proxy[0] as Ref.RemoteProxy
      expect(yield* proxyCall(uiProxy, "confirm", "via proxy")).toEqual(["via proxy"])
    }).pipe(quiet))

  it.scopedLive("a callback-style handler of our client called with one argument too many answers 17", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("app", { app: {} })
      const { port, server } = yield* refServer({ applications: [app] })
      const ran: Array<string> = []
      const client = Application.make({
        name: "client",
        api: {
          ui: {
            multi: Application.callback((_c: C, callback: Cb) => {
              ran.push("multi")
              callback(null, "a", 2)
            })
          }
        }
      })
      yield* Connection.connect({ address: tcp(port), application: "app", client })
      const serverSide = onlyRefConnection(server)
      expectRefError(yield* Effect.flip(refCall(serverSide, "ui", "multi", [1])), 17, "Invalid signature")
      expect(ran).toEqual([])
      expect(yield* refCall(serverSide, "ui", "multi")).toEqual(["a", 2])
      expect(ran).toEqual(["multi"])
    }).pipe(quiet))

  it.scopedLive("ping both ways", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("app", { app: {} })
      const { port, server } = yield* refServer({ applications: [app] })
      const traffic = recordServerTraffic(server)
      const connection = yield* Connection.connect({ address: tcp(port), application: "app" })

      yield* connection.ping.pipe(timeout("our ping"))
      expect(idsOf(traffic.incoming, "ping")).toEqual([1])
      expect(idsOf(traffic.outgoing, "pong")).toEqual([1])

      yield* refCallback((callback) => onlyRefConnection(server).ping(() => callback(null))).pipe(timeout("reference ping"))
      expect(idsOf(traffic.outgoing, "ping")).toEqual([-1])
      expect(idsOf(traffic.incoming, "pong")).toEqual([-1])
    }))

  it.scopedLive("login: success, wrong password, custom refusal", () =>
    Effect.gen(function*() {
      const asked: Array<{ readonly strategy: string; readonly credentials: unknown }> = []
      const app = new jstp.Application("app", {
        app: { whoami: (connection: Ref.Connection, callback: Ref.Callback) => callback(null, connection.username) }
      })
      const { port, server } = yield* refServer({
        applications: [app],
        authPolicy: (_connection, _application, strategy, credentials, callback) => {
          asked.push({ strategy, credentials })
          const [login, password] = credentials as [string, string]
          if (login === "locked") return callback(new Error("Account locked"))
          if (login === "banned") return callback(new jstp.RemoteError(403, "Banned"))
          if (login === "user" && password === "pass") return callback(null, "user")
          callback(new jstp.RemoteError(jstp.ERR_AUTH_FAILED))
        }
      })
      const login = (user: string, password: string) =>
        Connection.connect({ address: tcp(port), application: "app", credentials: { _tag: "Login", login: user, password } })
      const rejected = (user: string, password: string) => Effect.flip(Effect.scoped(login(user, password)))

      expectRejected(yield* rejected("user", "wrong"), 11, "Authentication failed")
      // The reference wraps a plain Error as RemoteError(11, message), but
      // writes a standard code without its message: `error:[11]`.
      expectRejected(yield* rejected("locked", "x"), 11, "Authentication failed")
      expectRejected(yield* rejected("banned", "x"), 403, "Banned")

      const connection = yield* login("user", "pass")
      expect(connection.username()).toBe("user")
      const serverSide = onlyRefConnection(server)
      expect(serverSide.username).toBe("user")
      expect(connection.session()?.id).toBe(serverSide.session?.id)
      expect(yield* connection.call("app", "whoami")).toEqual(["user"])
      expect(asked).toEqual([
        { strategy: "login", credentials: ["user", "wrong"] },
        { strategy: "login", credentials: ["locked", "x"] },
        { strategy: "login", credentials: ["banned", "x"] },
        { strategy: "login", credentials: ["user", "pass"] }
      ])

      const anonymous = yield* Connection.connect({ address: tcp(port), application: "app" })
      expect(anonymous.username()).toBe(null)
      expect(yield* anonymous.call("app", "whoami")).toEqual([null])
      expect(asked).toHaveLength(4)
    }))

  it.scopedLive("application versions: range, exact, none, unsatisfiable", () =>
    Effect.gen(function*() {
      const versioned = (version: string) =>
        new jstp.Application("app", {
          meta: { version: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, version) }
        }, {}, version)
      const { port, server } = yield* refServer({
        applications: [versioned("1.0.0"), versioned("1.5.0"), versioned("2.0.0")]
      })
      const connectTo = (application: Connection.ConnectOptions["application"]) =>
        Connection.connect({ address: tcp(port), application })
      const versionOf = (application: Connection.ConnectOptions["application"]) =>
        Effect.scoped(Effect.flatMap(connectTo(application), (connection) => connection.call("meta", "version")))
      const rejected = (application: Connection.ConnectOptions["application"]) =>
        Effect.flip(Effect.scoped(connectTo(application)))

      expect(yield* versionOf("app@^1.0.0")).toEqual(["1.5.0"])
      expect(yield* versionOf("app@1.0.0")).toEqual(["1.0.0"])
      expect(yield* versionOf({ name: "app", version: "1.0.0" })).toEqual(["1.0.0"])
      expect(yield* versionOf("app@~1.5.0")).toEqual(["1.5.0"])
      expect(yield* versionOf("app")).toEqual(["2.0.0"])
      expectRejected(yield* rejected("app@^3.0.0"), 10, "Application not found")
      expectRejected(yield* rejected("app@1.2.0"), 10, "Application not found")
      expectRejected(yield* rejected("other"), 10, "Application not found")

      const connection = yield* connectTo("app@^1.0.0")
      expect(onlyRefConnection(server).application?.version).toBe("1.5.0")
      expect(yield* connection.call("meta", "version")).toEqual(["1.5.0"])
    }))

  it.scopedLive("heartbeat: the reference server pings, our client answers", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("app", {
        app: { echo: (_c: Ref.Connection, x: unknown, callback: Ref.Callback) => callback(null, x) }
      })
      const { port, server } = yield* refServer({ applications: [app], heartbeatInterval: 30 })
      const traffic = recordServerTraffic(server)
      const connection = yield* Connection.connect({ address: tcp(port), application: "app" })
      yield* Effect.sleep("250 millis")

      const pings = idsOf(traffic.outgoing, "ping")
      expect(pings.length).toBeGreaterThanOrEqual(3)
      expect(pings).toEqual(pings.map((_, i) => -1 - i))
      const pongs = idsOf(traffic.incoming, "pong")
      expect(pongs.length).toBeGreaterThanOrEqual(pings.length - 1)
      expect(pongs).toEqual(pings.slice(0, pongs.length))
      expect(connection.isOpen()).toBe(true)
      expect(server.getClientsArray()).toHaveLength(1)
      expect(yield* connection.call("app", "echo", ["alive"])).toEqual(["alive"])
    }))

  it.scopedLive("heartbeat: our client pings, the reference server answers", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("app", {
        app: { echo: (_c: Ref.Connection, x: unknown, callback: Ref.Callback) => callback(null, x) }
      })
      const { port, server } = yield* refServer({ applications: [app] })
      const traffic = recordServerTraffic(server)
      const connection = yield* Connection.connect({
        address: tcp(port),
        application: "app",
        heartbeatInterval: "30 millis"
      })
      yield* Effect.sleep("250 millis")

      const pings = idsOf(traffic.incoming, "ping")
      expect(pings.length).toBeGreaterThanOrEqual(3)
      // Client ids: the handshake is 0, then 1, 2, ...
      expect(pings).toEqual(pings.map((_, i) => 1 + i))
      const pongs = idsOf(traffic.outgoing, "pong")
      expect(pongs).toEqual(pings)
      expect(connection.isOpen()).toBe(true)
      expect(connection.stats().pending).toBeLessThanOrEqual(1)
      expect(yield* connection.call("app", "echo", ["alive"])).toEqual(["alive"])
    }))
})

// A typed contract (src/Contract.ts, fixtures in test/support/shop.ts) with
// 2.x peers: what decodes works, what does not gets the documented error.
describe("interop C: typed contracts with 2.3.0 peers", () => {
  it.scopedLive("the reference client calls a typed server: results, several results, declared failures, bad arguments", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [shopApp], listen: [tcp(0)] }).pipe(withStore, Effect.provide(stockLayer))
      const port = (server.addresses[0] as { readonly port: number }).port
      const { connection, proxies } = yield* refConnectAndInspect("shop", port, ["cart"])
      expect(yield* proxyCall(proxies.cart, "add", "apple", 2)).toEqual([3])
      expect(yield* proxyCall(proxies.cart, "totals")).toEqual([3, "EUR"])
      expect(yield* proxyCall(proxies.cart, "clear", "ref-cart")).toEqual([])
      expect(cleared).toContain("ref-cart")
      // Encoded values: a date is its string.
      expect(yield* proxyCall(proxies.cart, "since", "2026-01-01T00:00:00.000Z")).toEqual(["2026-01-01T00:00:01.000Z"])
      // A declared failure: its code, its tag as the message, its data as info.
      const outOfStock = yield* Effect.flip(proxyCall(proxies.cart, "add", "pear", 1))
      expectRefError(outOfStock, 409, "OutOfStock", [{ _tag: "OutOfStock", item: "pear", left: 0 }])
      const banned = yield* Effect.flip(proxyCall(proxies.cart, "add", "banned", 1))
      expectRefError(banned, 403, "Banned", [{ _tag: "Banned", until: "2030-01-01T00:00:00.000Z" }])
      // Arguments that do not decode: 17 with a message; the handler does not run.
      const before = cleared.length
      const wrong = yield* Effect.flip(proxyCall(proxies.cart, "clear", 42))
      expect(wrong).toBeInstanceOf(jstp.RemoteError)
      expect((wrong as Ref.RemoteError).code).toBe(17)
      expect((wrong as Ref.RemoteError).message).toContain("Invalid arguments for cart.clear")
      expect(cleared.length).toBe(before)
      const negative = yield* Effect.flip(refCall(connection, "cart", "add", ["apple", -3]))
      expect((negative as Ref.RemoteError).code).toBe(17)
      // An undeclared failure: 16.
      expectRefError(yield* Effect.flip(proxyCall(proxies.cart, "broken")), 16, "Internal API error")
      // Typed events reach the reference's remote proxy.
      const got = yield* Deferred.make<ReadonlyArray<unknown>>()
      proxies.cart!.on("changed", (...args: Array<unknown>) => Deferred.unsafeDone(got, Effect.succeed(args)))
      yield* Contract.emitter(Shop, server.broadcast).cart.changed("apple", 4)
      expect(yield* awaitValue(got, "cart.changed")).toEqual(["apple", 4])
    }))

  it.scopedLive("a typed client calls the reference server: decoded results and failures, or ContractError", () =>
    Effect.gen(function*() {
      const app = new jstp.Application("shop@1.3.0", {
        cart: {
          add: (_c: Ref.Connection, item: string, count: number, callback: Ref.Callback) => {
            if (item === "pear") return callback([409, "OutOfStock", { _tag: "OutOfStock", item, left: 0 }])
            if (item === "plum") return callback(new jstp.RemoteError(409, "Out of plums"))
            if (item === "fig") return callback(new jstp.RemoteError(400, "Not sold here"))
            if (item === "kiwi") return callback(null, "three")
            callback(null, 10 - count)
          },
          totals: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, 7, "USD"),
          clear: (_c: Ref.Connection, _cart: string, callback: Ref.Callback) => callback(null),
          since: (_c: Ref.Connection, date: string, callback: Ref.Callback) => callback(null, date),
          broken: (_c: Ref.Connection, callback: Ref.Callback) => callback(null, 1)
        }
      })
      const { port, server } = yield* refServer({ applications: [app] })
      // The client asks for shop@^1.2.0; the reference serves 1.3.0.
      const shop = yield* Contract.connect(Shop, { address: tcp(port) })
      expect(yield* shop.methods.cart.add("apple", 2)).toBe(8)
      expect(yield* shop.methods.cart.totals()).toEqual([7, "USD"])
      expect(yield* shop.methods.cart.clear("c")).toBeUndefined()
      const since = yield* shop.methods.cart.since(new Date("2026-02-03T00:00:00.000Z"))
      expect(since.toISOString()).toBe("2026-02-03T00:00:00.000Z")
      // A 2.x failure written as the contract declares it is the tagged error.
      const outOfStock = yield* Effect.flip(shop.methods.cart.add("pear", 1))
      expect(outOfStock).toBeInstanceOf(OutOfStock)
      const { _tag, item, left } = outOfStock as OutOfStock
      expect({ _tag, item, left }).toEqual({ _tag: "OutOfStock", item: "pear", left: 0 })
      // The declared code without the declared data: ContractError.
      const plum = yield* Effect.flip(shop.methods.cart.add("plum", 1))
      expect({ _tag: plum._tag, reason: (plum as Contract.ContractError).reason }).toEqual({ _tag: "ContractError", reason: "InvalidFailure" })
      // An undeclared code stays a RemoteError.
      expectOurError(yield* Effect.flip(shop.methods.cart.add("fig", 1)), 400, "Not sold here")
      const kiwi = yield* Effect.flip(shop.methods.cart.add("kiwi", 1))
      expect({ _tag: kiwi._tag, reason: (kiwi as Contract.ContractError).reason }).toEqual({ _tag: "ContractError", reason: "InvalidResults" })
      // The reference's events, decoded; one that does not decode fails the stream.
      const events = yield* shop.events.cart.changed.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      const failing = yield* shop.events.cart.changed.pipe(Stream.drop(1), Stream.runCollect, Effect.either, Effect.fork)
      yield* Effect.sleep("50 millis")
      onlyRefConnection(server).emitRemoteEvent("cart", "changed", ["apple", 1])
      onlyRefConnection(server).emitRemoteEvent("cart", "changed", ["apple", "one"])
      expect(Chunk.toReadonlyArray(yield* Fiber.join(events))).toEqual([["apple", 1]])
      const failed = yield* Fiber.join(failing)
      expect(failed._tag === "Left" ? { _tag: failed.left._tag, reason: failed.left.reason } : failed)
        .toEqual({ _tag: "ContractError", reason: "InvalidEvent" })
    }))
})
