// Transports of the user's own, with 2.x's Transport interface (send, end,
// getRawTransport; events message, close, error): the facade's
// `new Connection(transport, null, client)` and `net.Transport`, run against
// 2.3.0 too, a facade server's `handleTransport`, and the Effect API's
// `{ _tag: "Transport" }` address.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Application, Connection, type ConnectionError, type HandshakeError, Server } from "effect-jstp"
import { EventEmitter } from "node:events"
import * as Net from "node:net"
import {
  type Callback,
  call,
  type Client,
  type Connection as CompatConnection,
  facade,
  HOST,
  type Jstp,
  nextEvent,
  recordEvents,
  reference,
  release,
  serve,
  type Session,
  settle,
  waitFor
} from "./support/compat.js"
import { mdsf } from "./support/reference.js"
import { withStore } from "./support/servers.js"

afterEach(release)

/**
 * A transport as a 2.x user writes one: NUL-terminated messages over a
 * socket, parsed with the reference's serializer.
 */
class NulTransport extends EventEmitter {
  private buffer = ""
  readonly ended: Array<string | undefined> = []

  constructor(readonly socket: Net.Socket) {
    super()
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      this.buffer += chunk
      let end = this.buffer.indexOf("\0")
      while (end !== -1) {
        const text = this.buffer.slice(0, end)
        this.buffer = this.buffer.slice(end + 1)
        this.emit("message", mdsf.parse(text))
        end = this.buffer.indexOf("\0")
      }
    })
    socket.on("close", () => this.emit("close"))
    socket.on("error", (error: Error) => this.emit("error", error))
  }

  send(data: string): void {
    this.socket.write(data + "\0")
  }

  end(data?: string): void {
    this.ended.push(data)
    if (data !== undefined) this.socket.write(data + "\0")
    this.socket.end()
  }

  getRawTransport(): Net.Socket {
    return this.socket
  }
}

const connected = (port: number): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, HOST, () => resolve(socket))
    socket.once("error", reject)
  })

const calc = (jstp: Jstp) => {
  const events: Array<unknown> = []
  const app = new jstp.Application("calc", {
    calc: {
      add(_connection: CompatConnection, a: number, b: number, callback: Callback) {
        callback(null, a + b)
      },
      ping(connection: CompatConnection, callback: Callback) {
        connection.emitRemoteEvent("calc", "pinged", ["pong"])
        callback(null)
      }
    }
  })
  return { app, events }
}

const handshake = (connection: CompatConnection, app: string) =>
  new Promise<Session>((resolve, reject) =>
    connection.handshake(app, null, null, (error: Error | null, session?: unknown) =>
      error === null ? resolve(session as Session) : reject(error)))

describe.each([["effect-jstp/compat", facade], ["@metarhia/jstp 2.3.0", reference]] as const)("%s", (_name, jstp) => {
  it("new Connection(transport, null, client) over a transport of the user's own: handshake, calls, events, getTransport, close ends it", async () => {
    const { port, server } = await serve(jstp, [calc(jstp).app])
    const socket = await connected(port)
    const transport = new NulTransport(socket)
    // As in 2.x, a Connection made by hand has no default reconnector.
    const client: Client = { application: new jstp.Application("jstp", {}), reconnector: () => {} }
    const connection = new jstp.Connection(transport, null, client)
    expect(connection.getTransport()).toBe(socket)
    expect(connection.remoteAddress).toBe(HOST)
    const accepted = nextEvent(server, "connect")
    const session = await handshake(connection, "calc")
    await accepted
    expect(session).toBeInstanceOf(jstp.Session)
    expect(await call(connection, "calc", "add", [2, 3])).toEqual([5])

    const proxy = await new Promise<{ on: (event: string, listener: (...args: Array<unknown>) => void) => void }>((resolve, reject) =>
      connection.inspectInterface("calc", (error, proxy) => error === null ? resolve(proxy as never) : reject(error)))
    const pinged: Array<unknown> = []
    proxy.on("pinged", (value) => void pinged.push(value))
    expect(await call(connection, "calc", "ping")).toEqual([])
    await waitFor(() => pinged.length === 1, "the event")
    expect(pinged).toEqual(["pong"])

    const closed = recordEvents(connection, "close")
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    connection.close()
    expect(transport.ended).toEqual([undefined])
    await socketClosed
    await waitFor(() => closed.length === 1, "the connection's close")
  })

  it("net.Transport over a connected socket, given to new Connection", async () => {
    const { port } = await serve(jstp, [calc(jstp).app])
    const socket = await connected(port)
    const transport = new jstp.net.Transport(socket)
    expect(transport.getRawTransport()).toBe(socket)
    const connection = new jstp.Connection(transport, null, { application: new jstp.Application("jstp", {}), reconnector: () => {} })
    await handshake(connection, "calc")
    expect(await call(connection, "calc", "add", [20, 22])).toEqual([42])
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    connection.close()
    await socketClosed
  })

  it("a transport that fails: the connection gets 'error', then 'close'", async () => {
    const { port } = await serve(jstp, [calc(jstp).app])
    const socket = await connected(port)
    const transport = new NulTransport(socket)
    const connection = new jstp.Connection(transport, null, { application: new jstp.Application("jstp", {}), reconnector: () => {} })
    await handshake(connection, "calc")
    const events = recordEvents(connection, "error", "close")
    transport.emit("error", new Error("the wire broke"))
    await waitFor(() => events.some(([name]) => name === "close"), "the close")
    expect(events.map(([name]) => name)).toEqual(["error", "close"])
    expect((events[0]![1] as Error).message).toBe("the wire broke")
  })
})

describe("effect-jstp/compat only", () => {
  it("server.handleTransport(transport) serves a connection over a transport of the user's own", async () => {
    const jstp = facade
    const server = jstp.net.createServer([calc(jstp).app])
    const raw = Net.createServer((socket) => server.handleTransport(new NulTransport(socket)))
    await new Promise<void>((resolve) => raw.listen(0, HOST, resolve))
    try {
      const port = (raw.address() as Net.AddressInfo).port
      const { connection } = await new Promise<{ connection: CompatConnection }>((resolve, reject) =>
        jstp.net.connect("calc", { reconnector: () => {} }, port, HOST, (error: Error | null, connection?: CompatConnection) =>
          error === null ? resolve({ connection: connection! }) : reject(error)))
      expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
      expect(server.getClientsArray()).toHaveLength(1)
      const closed = nextEvent(server.getClientsArray()[0]!, "close")
      connection.close()
      await closed
      await settle()
      expect(server.getClientsArray()).toHaveLength(0)
    } finally {
      await new Promise<void>((resolve) => raw.close(() => resolve()))
    }
  })

  it("new Connection(transport, server) says how a server takes a transport", () => {
    const jstp = facade
    const server = jstp.net.createServer([calc(jstp).app])
    expect(() => new jstp.Connection(new EventEmitter() as never, server as never)).toThrow(/server\.handleTransport/)
  })
})

describe("Effect API: a { _tag: \"Transport\" } address", () => {
  const effectCalc = Application.make({
    name: "calc",
    api: { calc: { add: (_connection: unknown, a: number, b: number) => Effect.succeed(a + b) } }
  })

  it.scopedLive("dials through the transport `open` makes: calls work, and each dial opens a new one", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [effectCalc], listen: [{ _tag: "Tcp", host: HOST, port: 0 }] }).pipe(withStore)
      const address = server.addresses[0]!
      const port = address._tag === "Tcp" ? address.port : 0
      const opened: Array<NulTransport> = []
      const open = Effect.promise(() => connected(port)).pipe(Effect.map((socket) => {
        const transport = new NulTransport(socket)
        opened.push(transport)
        return transport
      }))
      const connection = yield* Connection.connect({ address: { _tag: "Transport", name: "nul pipe", open }, application: "calc" })
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      expect(connection.remoteAddress).toBe("nul pipe")
      expect(opened).toHaveLength(1)
      const second = yield* Connection.connect({ address: { _tag: "Transport", name: "nul pipe", open }, application: "calc" })
      expect(yield* second.call("calc", "add", [1, 1])).toEqual([2])
      expect(opened).toHaveLength(2)
    }))

  it.scopedLive("a transport that cannot be opened fails the connect with reason Transport, naming it", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Connection.connect({
        address: { _tag: "Transport", name: "broken pipe", open: Effect.fail(new Error("no pipe today")) },
        application: "calc"
      }))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? (exit.cause as { error?: HandshakeError | ConnectionError }).error : undefined
      expect(error?.reason).toBe("Transport")
      expect(error?.message).toContain("no pipe today")
    }))
})
