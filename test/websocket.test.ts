// The Effect API over real WebSockets: our client and server over ws and wss,
// a listener attached to an existing http server, the listener's refusals
// (400, 403, 404), the size limit (1009), the server going away (1001), and
// both sides against @metarhia/jstp 2.3.0 over ws and wss.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Schedule, Scope, Stream } from "effect"
import { Application, Connection, Server } from "effect-jstp"
import * as Http from "node:http"
import type * as Https from "node:https"
import { createRequire } from "node:module"
import type { Duplex } from "node:stream"
import WebSocket from "ws"
import { type Certificate, makeCertificate } from "./support/certificate.js"
import { quietly } from "./support/reference.js"
import { withStore } from "./support/servers.js"

type Conn = Connection.Connection
type Callback = (error: unknown, ...results: Array<unknown>) => void
interface RefConnection {
  callMethod(iface: string, method: string, args: Array<unknown>, callback: Callback): void
  emitRemoteEvent(iface: string, event: string, args: Array<unknown>): void
  on(event: string, listener: (...args: Array<unknown>) => void): void
  close(): void
}
type RefConnect = (
  app: string,
  client: Record<string, unknown>,
  webSocketConfig: Record<string, unknown>,
  url: string,
  callback: (error: unknown, connection: RefConnection) => void
) => void
interface Reference {
  Application: new (name: string, api: Record<string, Record<string, unknown>>) => unknown
  ws: { createServer(options: Record<string, unknown>): Http.Server; connect: RefConnect }
  wss: { createServer(options: Record<string, unknown>): Https.Server; connect: RefConnect }
}
const reference = quietly(() => createRequire(import.meta.url)("@metarhia/jstp") as Reference)

const HOST = "127.0.0.1"
const PROTOCOL = "metarhia-jstp"

let certificate: Certificate
beforeAll(() => {
  certificate = makeCertificate()
})

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

/** What the server's application saw. */
interface Served {
  readonly log: Array<string>
}

const calc = (served: Served) =>
  Application.make({
    name: "calc",
    api: {
      calc: {
        add: (_c: Conn, a: number, b: number) => Effect.succeed(a + b),
        echo: (_c: Conn, text: string) => Effect.succeed(text)
      }
    },
    events: {
      chat: {
        message: (_c: Conn, text: string) => {
          served.log.push(`event ${text}`)
        }
      },
      calc: {
        note: (_c: Conn, text: string) => {
          served.log.push(`calc.note ${text}`)
        }
      }
    }
  })

const clientApp = (seen: Array<string>) =>
  Application.make({
    name: "client",
    api: {
      ui: {
        shout: (_c: Conn, text: string) =>
          Effect.sync(() => {
            seen.push(text)
            return text.toUpperCase()
          })
      }
    }
  })

/** A WebSocket address of `server` (the first it listens on). */
const wsAddressOf = (server: Server.Server): Extract<Server.Options["listen"][number], { _tag: "WebSocket" }> => {
  const address = server.addresses[0]
  if (address?._tag !== "WebSocket") throw new Error(`not a WebSocket address: ${JSON.stringify(address)}`)
  return address
}

type ServerOptions = Omit<Server.Options<never>, "applications" | "listen">

/** Our server over ws on 127.0.0.1 (port 0), with `calc`. */
const serveWs = (served: Served, listen: Partial<Omit<Extract<Server.Options["listen"][number], { _tag: "WebSocket" }>, "_tag">> = {}, options: ServerOptions = {}) =>
  Server.make({ ...options, applications: [calc(served)], listen: [{ _tag: "WebSocket", host: HOST, port: 0, ...listen }] }).pipe(withStore)

/** A plain HTTP GET: the status and the body. */
const httpGet = (port: number, path = "/") =>
  Effect.async<{ status: number | undefined; body: string }, Error>((resume) => {
    const request = Http.get({ host: HOST, port, path }, (response) => {
      let body = ""
      response.setEncoding("utf8")
      response.on("data", (chunk: string) => (body += chunk))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode, body })))
    })
    request.on("error", (error) => resume(Effect.fail(error)))
  })

/** How a raw ws client's upgrade went: `status N` if refused, `opened` (then closed) if accepted. */
const upgrade = (url: string, protocols: string | Array<string> | undefined, options: WebSocket.ClientOptions = {}) =>
  Effect.async<string>((resume) => {
    const socket = protocols === undefined ? new WebSocket(url, options) : new WebSocket(url, protocols, options)
    socket.on("unexpected-response", (_request, response) => {
      response.resume()
      resume(Effect.succeed(`status ${response.statusCode}`))
      socket.terminate()
    })
    socket.on("open", () => {
      resume(Effect.succeed(`opened ${socket.protocol}`))
      socket.close()
    })
    socket.on("error", () => {})
  })

/** A raw ws client with the subprotocol, open, recording what it receives and how it closes. */
interface RawClient {
  readonly socket: WebSocket
  readonly messages: Array<string>
  readonly closed: () => { code: number; reason: string } | undefined
}

const rawClient = (url: string, options: WebSocket.ClientOptions = {}) =>
  Effect.acquireRelease(
    Effect.async<RawClient, Error>((resume) => {
      const socket = new WebSocket(url, PROTOCOL, options)
      const messages: Array<string> = []
      let closed: { code: number; reason: string } | undefined
      socket.on("message", (data) => messages.push(String(data)))
      socket.on("close", (code, reason) => (closed = { code, reason: String(reason) }))
      socket.on("error", (error) => resume(Effect.fail(error)))
      socket.once("open", () => resume(Effect.succeed({ socket, messages, closed: () => closed })))
    }),
    (client) => Effect.sync(() => client.socket.terminate())
  )

/** Does the JSTP handshake over a raw client; gives the session id. */
const rawHandshake = (client: RawClient) =>
  Effect.gen(function*() {
    client.socket.send("{handshake:[0,'calc']}")
    yield* waitUntil(() => client.messages.length > 0, "the handshake reply")
    const reply = client.messages[0]!
    expect(reply).toMatch(/^\{"handshake":\[0\],"ok":"[0-9a-f-]{36}"\}$/)
    return reply
  })

/** Listens on 127.0.0.1 port 0 until the scope closes; gives the port. */
const listenHttp = (server: Http.Server | Https.Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, HOST, () => resume(Effect.succeed((server.address() as { port: number }).port)))
    }),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A reference client, connected (`reconnector` disabled). */
const refConnect = (connect: RefConnect, url: string, config: Record<string, unknown> = {}) =>
  Effect.acquireRelease(
    Effect.async<RefConnection, Error>((resume) => {
      connect("calc", { reconnector: () => {} }, config, url, (error, connection) => {
        if (error) return resume(Effect.fail(new Error(String(error))))
        // 2.3.0 rethrows socket errors without an 'error' listener.
        connection.on("error", () => {})
        resume(Effect.succeed(connection))
      })
    }),
    (connection) => Effect.sync(() => connection.close())
  )

const refCall = (connection: RefConnection, method: string, args: Array<unknown>) =>
  Effect.async<Array<unknown>, Error>((resume) => {
    connection.callMethod("calc", method, args, (error, ...results) =>
      resume(error ? Effect.fail(new Error(String(error))) : Effect.succeed(results)))
  })

const refApi = {
  calc: {
    add: (_connection: unknown, a: number, b: number, callback: Callback) => callback(null, a + b)
  }
}

/** A reference server (ws or wss), listening on 127.0.0.1 until the scope closes; gives the port. */
const refServer = (server: Http.Server | Https.Server) => listenHttp(server)

// The tests leave no socket or server open. (Closing a scope does not wait
// for Node to release the handles: give them a moment.)
afterAll(async () => {
  const open = () => process.getActiveResourcesInfo().filter((name) => name === "TCPSocketWrap" || name === "TCPServerWrap")
  for (let i = 0; i < 200 && open().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(open()).toEqual([])
})

// ================================================================ tests

describe("WebSocket (Effect API)", () => {
  it.scopedLive("our client and server over ws: calls, inspect, events both ways, addresses", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const server = yield* serveWs(served)
      const address = wsAddressOf(server)
      expect(address).toEqual({ _tag: "WebSocket", host: HOST, port: address.port, path: undefined, secure: false })
      expect(address.port).toBeGreaterThan(0)
      const shouted: Array<string> = []
      const connection = yield* Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: address.port },
        application: "calc",
        client: clientApp(shouted)
      })
      expect(connection.remoteAddress).toBe(`ws://${HOST}:${address.port}/`)
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      expect(yield* connection.call("calc", "echo", ["привет, мир ✓"])).toEqual(["привет, мир ✓"])

      const proxy = yield* connection.inspect("calc")
      expect([...proxy.methodNames].sort()).toEqual(["add", "echo"])
      expect(yield* proxy.methods.add!(40, 2)).toEqual([42])

      // Client → server events, in order.
      yield* connection.emit("chat", "message", ["one"])
      // A proxy's events belong to its interface.
      yield* proxy.emit("note", "two")
      yield* connection.emit("chat", "message", ["three"])
      yield* waitUntil(() => served.log.length === 3, "the events")
      expect(served.log).toEqual(["event one", "calc.note two", "event three"])

      // Server → client: events and a call of the client's application.
      const serverSide = server.connections()
      expect(serverSide).toHaveLength(1)
      expect(serverSide[0]!.remoteAddress).toBe(HOST)
      const news = yield* record(connection.events("news"))
      yield* serverSide[0]!.emit("news", "flash", [1, "a"])
      yield* server.broadcast("news", "flash", [2, "b"])
      yield* waitUntil(() => news.length === 2, "the server's events")
      expect(news).toEqual([
        { iface: "news", event: "flash", args: [1, "a"] },
        { iface: "news", event: "flash", args: [2, "b"] }
      ])
      expect(yield* serverSide[0]!.call("ui", "shout", ["hey"])).toEqual(["HEY"])
      expect(shouted).toEqual(["hey"])
    }))

  it.scopedLive("wss with a certificate: the client that trusts it calls; one that does not fails with Transport", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] }, { tls: certificate })
      const address = wsAddressOf(server)
      // The bound address keeps no key or certificate.
      expect(address).toEqual({ _tag: "WebSocket", host: HOST, port: address.port, path: undefined, secure: true })
      const connection = yield* Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: address.port, tls: { ca: certificate.cert } },
        application: "calc"
      })
      expect(connection.remoteAddress).toBe(`wss://${HOST}:${address.port}/`)
      expect(yield* connection.call("calc", "add", [20, 22])).toEqual([42])

      const refused = yield* Effect.flip(Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: address.port, secure: true },
        application: "calc"
      }))
      expect({ tag: refused._tag, reason: refused.reason }).toEqual({ tag: "HandshakeError", reason: "Transport" })
      expect(refused.message).toMatch(/refused|certificate/i)

      // A plain ws client cannot talk to the wss server either.
      const plain = yield* Effect.flip(Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: address.port },
        application: "calc",
        handshakeTimeout: "2 seconds"
      }))
      expect(plain._tag).toBe("HandshakeError")
      expect(server.connections()).toHaveLength(1)
    }))

  it.scopedLive("attached to an existing http server on a path: JSTP there, the owner's requests and upgrades untouched", () =>
    Effect.gen(function*() {
      const httpServer = Http.createServer((request, response) => {
        response.writeHead(200, { "Content-Type": "text/plain" })
        response.end(`owner ${request.url}`)
      })
      // The owner serves its own upgrades on another path.
      const ownerUpgrade = (request: Http.IncomingMessage, socket: Duplex) => {
        if (request.url === "/owner") socket.end("HTTP/1.1 418 I'm a teapot\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
      }
      httpServer.on("upgrade", ownerUpgrade)
      const port = yield* listenHttp(httpServer)

      const scope = yield* Scope.make()
      const server = yield* Scope.extend(serveWs({ log: [] }, { server: httpServer, path: "/jstp", port: 0 }), scope)
      expect(wsAddressOf(server)).toEqual({ _tag: "WebSocket", host: HOST, port, path: "/jstp", secure: false })

      const connection = yield* Scope.extend(
        Connection.connect({ address: { _tag: "WebSocket", host: HOST, port, path: "/jstp" }, application: "calc" }),
        scope
      )
      expect(connection.remoteAddress).toBe(`ws://${HOST}:${port}/jstp`)
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
      // A query string does not change the path.
      expect(yield* upgrade(`ws://${HOST}:${port}/jstp?token=1`, PROTOCOL)).toBe(`opened ${PROTOCOL}`)

      expect(yield* httpGet(port, "/hello")).toEqual({ status: 200, body: "owner /hello" })
      expect(yield* httpGet(port, "/jstp")).toEqual({ status: 200, body: "owner /jstp" })
      expect(yield* upgrade(`ws://${HOST}:${port}/owner`, PROTOCOL)).toBe("status 418")
      // On its path, the listener still refuses upgrades without the subprotocol.
      expect(yield* upgrade(`ws://${HOST}:${port}/jstp`, "chat")).toBe("status 400")

      // Stopping the JSTP server leaves the http server to its owner.
      yield* Scope.close(scope, Exit.void)
      expect(httpServer.listening).toBe(true)
      expect(httpServer.listeners("upgrade")).toEqual([ownerUpgrade])
      expect(yield* httpGet(port, "/after")).toEqual({ status: 200, body: "owner /after" })
      expect(yield* upgrade(`ws://${HOST}:${port}/owner`, PROTOCOL)).toBe("status 418")
    }))

  it.scopedLive("a server of its own answers a plain HTTP request with 400", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const response = yield* httpGet(wsAddressOf(server).port)
      expect(response.status).toBe(400)
      expect(response.body).toContain("metarhia-jstp")
    }))

  it.scopedLive("an upgrade without the subprotocol gets 400, and the server keeps serving", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const port = wsAddressOf(server).port
      expect(yield* upgrade(`ws://${HOST}:${port}/`, "chat")).toBe("status 400")
      expect(yield* upgrade(`ws://${HOST}:${port}/`, undefined)).toBe("status 400")
      // Offered among others, the subprotocol is chosen.
      expect(yield* upgrade(`ws://${HOST}:${port}/`, ["chat", PROTOCOL])).toBe(`opened ${PROTOCOL}`)
      const connection = yield* Connection.connect({ address: { _tag: "WebSocket", host: HOST, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [1, 1])).toEqual([2])
    }))

  it.scopedLive("a server of its own on a path answers upgrades on another path with 404", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] }, { path: "/jstp" })
      const port = wsAddressOf(server).port
      expect(wsAddressOf(server).path).toBe("/jstp")
      expect(yield* upgrade(`ws://${HOST}:${port}/other`, PROTOCOL)).toBe("status 404")
      expect(yield* upgrade(`ws://${HOST}:${port}/`, PROTOCOL)).toBe("status 404")
      const connection = yield* Connection.connect({ address: { _tag: "WebSocket", host: HOST, port, path: "/jstp" }, application: "calc" })
      expect(yield* connection.call("calc", "add", [2, 2])).toEqual([4])
    }))

  it.scopedLive("originCheck refuses an origin with 403; allowed ones (and our client, without an origin) get through", () =>
    Effect.gen(function*() {
      const origins: Array<string | undefined> = []
      const server = yield* serveWs({ log: [] }, {
        originCheck: (origin) => {
          origins.push(origin)
          return origin !== "https://evil.example"
        }
      })
      const port = wsAddressOf(server).port
      const url = `ws://${HOST}:${port}/`
      expect(yield* upgrade(url, PROTOCOL, { origin: "https://evil.example" })).toBe("status 403")
      expect(yield* upgrade(url, PROTOCOL, { origin: "https://good.example" })).toBe(`opened ${PROTOCOL}`)
      const connection = yield* Connection.connect({ address: { _tag: "WebSocket", host: HOST, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [3, 4])).toEqual([7])
      expect(origins).toEqual(["https://evil.example", "https://good.example", undefined])
      // A refused origin through our client: a Transport HandshakeError.
      const refusing = yield* serveWs({ log: [] }, { originCheck: () => false })
      const refused = yield* Effect.flip(Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: wsAddressOf(refusing).port },
        application: "calc"
      }))
      expect({ tag: refused._tag, reason: refused.reason }).toEqual({ tag: "HandshakeError", reason: "Transport" })
      expect(refused.message).toMatch(/403/)
    }))

  it.scopedLive("a message over the limit from a raw client: the server closes with 1009 and reports a ConnectionError", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] }, {}, { maxMessageSize: 1024 })
      const events = yield* record(server.events)
      const client = yield* rawClient(`ws://${HOST}:${wsAddressOf(server).port}/`)
      yield* rawHandshake(client)
      client.socket.send(`{call:[1,'calc'],echo:['${"x".repeat(900)}']}`)
      yield* waitUntil(() => client.messages.length === 2, "the answer under the limit")
      expect(client.messages[1]).toBe(`{"callback":[1],"ok":["${"x".repeat(900)}"]}`)
      client.socket.send(`{call:[2,'calc'],echo:['${"x".repeat(1100)}']}`)
      yield* waitUntil(() => client.closed() !== undefined, "the close")
      expect(client.closed()!.code).toBe(1009)
      expect(client.messages).toHaveLength(2)
      yield* waitUntil(() => events.some((event) => event._tag === "ConnectionError"), "the ConnectionError event")
      const error = events.find((event) => event._tag === "ConnectionError")
      expect(error?._tag === "ConnectionError" ? [error.error._tag, error.error.reason] : undefined)
        .toEqual(["TransportError", "MessageTooLarge"])
      // The link is gone from the live connections.
      expect(server.connections()).toEqual([])
    }))

  it.scopedLive("our client's limit: a server message over the client's maxMessageSize drops the link (Transport)", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const connection = yield* Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port: wsAddressOf(server).port },
        application: "calc",
        maxMessageSize: 1024
      })
      expect(yield* connection.call("calc", "echo", ["x".repeat(900)])).toEqual(["x".repeat(900)])
      yield* server.connections()[0]!.emit("news", "big", ["y".repeat(2000)])
      expect(yield* within(connection.closed, "the client's close")).toBe("Transport")
      yield* waitUntil(() => server.connections().length === 0, "the server to see the link end")
    }))

  it.scopedLive("a binary frame is read as UTF-8 text (as 2.3.0 reads it)", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const client = yield* rawClient(`ws://${HOST}:${wsAddressOf(server).port}/`)
      client.socket.send(Buffer.from("{handshake:[0,'calc']}"), { binary: true })
      yield* waitUntil(() => client.messages.length === 1, "the handshake reply")
      expect(client.messages[0]).toMatch(/^\{"handshake":\[0\],"ok":"[0-9a-f-]{36}"\}$/)
      client.socket.send(Buffer.from("{call:[1,'calc'],echo:['ü']}"), { binary: true })
      yield* waitUntil(() => client.messages.length === 2, "the answer")
      expect(client.messages[1]).toBe("{\"callback\":[1],\"ok\":[\"ü\"]}")
      expect(client.closed()).toBeUndefined()
    }))

  it.scopedLive("the default limit is 8 MiB: a raw client's 8 MiB + 1 message is closed with 1009", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const client = yield* rawClient(`ws://${HOST}:${wsAddressOf(server).port}/`)
      yield* rawHandshake(client)
      client.socket.send("x".repeat(8 * 1024 * 1024 + 1))
      yield* waitUntil(() => client.closed() !== undefined, "the close", 10_000)
      expect(client.closed()!.code).toBe(1009)
    }))

  it.scopedLive("closing our server: a raw client sees 1001, our client's connection closes as PeerClosed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const server = yield* Scope.extend(serveWs({ log: [] }), scope)
      const port = wsAddressOf(server).port
      const raw = yield* rawClient(`ws://${HOST}:${port}/`)
      yield* rawHandshake(raw)
      const connection = yield* Connection.connect({ address: { _tag: "WebSocket", host: HOST, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [1, 2])).toEqual([3])
      yield* waitUntil(() => server.connections().length === 2, "both connections")
      yield* within(Scope.close(scope, Exit.void), "the server to close")
      yield* waitUntil(() => raw.closed() !== undefined, "the raw client's close")
      expect(raw.closed()).toEqual({ code: 1001, reason: "Server closing" })
      expect(yield* within(connection.closed, "our client's close")).toBe("PeerClosed")
      expect(connection.isOpen()).toBe(false)
    }))

  it.scopedLive("a client that closes normally: the server sees its link end as PeerClosed", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const events = yield* record(server.events)
      const port = wsAddressOf(server).port
      const scope = yield* Scope.make()
      const connection = yield* Scope.extend(
        Connection.connect({ address: { _tag: "WebSocket", host: HOST, port }, application: "calc" }),
        scope
      )
      expect(yield* connection.call("calc", "add", [5, 5])).toEqual([10])
      const serverSide = server.connections()[0]!
      yield* connection.close
      yield* waitUntil(() => events.some((event) => event._tag === "Disconnected"), "the Disconnected event")
      const disconnected = events.filter((event) => event._tag === "Disconnected")
      expect(disconnected.map((event) => [event.connection === serverSide, event.reason])).toEqual([[true, "PeerClosed"]])
      expect(events.some((event) => event._tag === "ConnectionError")).toBe(false)
      expect(server.connections()).toEqual([])
      expect(yield* within(connection.closed, "the client's close")).toBe("Closed")
      yield* Scope.close(scope, Exit.void)
    }))

  it.scopedLive("a raw client that closes with 1000: the server's connection ends as PeerClosed, with no ConnectionError", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] })
      const events = yield* record(server.events)
      const raw = yield* rawClient(`ws://${HOST}:${wsAddressOf(server).port}/`)
      yield* rawHandshake(raw)
      yield* waitUntil(() => server.connections().length === 1, "the connection")
      raw.socket.close(1000)
      yield* waitUntil(() => events.some((event) => event._tag === "Disconnected"), "the Disconnected event")
      expect(events.map((event) => event._tag === "Disconnected" ? `Disconnected ${event.reason}` : event._tag))
        .toEqual(["Connected", "Disconnected PeerClosed"])
      yield* waitUntil(() => raw.closed() !== undefined, "the close handshake")
      expect(raw.closed()!.code).toBe(1000)
    }))
})

describe("WebSocket: interoperability with @metarhia/jstp 2.3.0", () => {
  it.scopedLive("the reference ws client calls our ws server, and its events reach us", () =>
    Effect.gen(function*() {
      const served: Served = { log: [] }
      const server = yield* serveWs(served)
      const connection = yield* refConnect(reference.ws.connect, `ws://${HOST}:${wsAddressOf(server).port}`)
      expect(yield* refCall(connection, "add", [20, 22])).toEqual([42])
      expect(yield* refCall(connection, "echo", ["ünïcødé ✓"])).toEqual(["ünïcødé ✓"])
      connection.emitRemoteEvent("chat", "message", ["from the reference"])
      yield* waitUntil(() => served.log.length === 1, "the reference's event")
      expect(served.log).toEqual(["event from the reference"])
    }))

  it.scopedLive("our client calls a reference ws server", () =>
    Effect.gen(function*() {
      const port = yield* refServer(reference.ws.createServer({ applications: [new reference.Application("calc", refApi)] }))
      const connection = yield* Connection.connect({ address: { _tag: "WebSocket", host: HOST, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [40, 2])).toEqual([42])
      expect((yield* connection.inspect("calc")).methodNames).toEqual(["add"])
      yield* connection.close
    }))

  it.scopedLive("the reference wss client calls our wss server", () =>
    Effect.gen(function*() {
      const server = yield* serveWs({ log: [] }, { tls: certificate })
      const connection = yield* refConnect(
        reference.wss.connect,
        `wss://${HOST}:${wsAddressOf(server).port}`,
        { tlsOptions: { ca: certificate.cert } }
      )
      expect(yield* refCall(connection, "add", [5, 6])).toEqual([11])
    }))

  it.scopedLive("our client calls a reference wss server", () =>
    Effect.gen(function*() {
      const port = yield* refServer(
        reference.wss.createServer({ applications: [new reference.Application("calc", refApi)], ...certificate })
      )
      const connection = yield* Connection.connect({
        address: { _tag: "WebSocket", host: HOST, port, tls: { ca: certificate.cert } },
        application: "calc"
      })
      expect(yield* connection.call("calc", "add", [7, 8])).toEqual([15])
      yield* connection.close
    }))
})
