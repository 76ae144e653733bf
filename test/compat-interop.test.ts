// The compat facade (`effect-jstp/compat`) against the reference,
// @metarhia/jstp 2.3.0, over real TCP on 127.0.0.1, both ways: the facade's
// client with the reference server, and the reference client with the
// facade's server. Both sides are driven through the same documented API.
// Sessions are restored after killing the socket (through a proxy), never the
// process.
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { EventEmitter } from "node:events"
import {
  type Application,
  call,
  type Callback,
  callResult,
  codeOf,
  type Connection,
  connect,
  facade,
  gatedReconnector,
  HOST,
  inspect,
  type Jstp,
  nextEvent,
  noOpenSockets,
  noReconnect,
  outcomeOf,
  proxyTo,
  recordEvents,
  reference,
  release,
  type RemoteError,
  serve,
  settle,
  socketOf,
  waitFor
} from "./support/compat.js"

afterEach(release)
// Every test closes what it opened.
afterAll(noOpenSockets)

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** What the server's handlers fail with, by name. */
const failuresOf = (jstp: Jstp): Record<string, unknown> => ({
  remote: new jstp.RemoteError(42, "Custom failure", ["detail", 7]),
  standard: new jstp.RemoteError(14),
  array: [43, "From an array"],
  standardArray: [12, "A custom message of a standard code"],
  number: 44,
  string: "From a string",
  error: new Error("Plain failure")
})

/** The server's `calc` application, made with `jstp`; records the events it gets. */
const calcOf = (jstp: Jstp, version = "1.0.0") => {
  const events: Array<Array<unknown>> = []
  const held: Array<[unknown, Callback]> = []
  const app = new jstp.Application(`calc@${version}`, {
    calc: {
      add(_connection: Connection, a: number, b: number, callback: Callback) {
        callback(null, a + b)
      },
      multi(_connection: Connection, callback: Callback) {
        callback(null, 1, "two", { three: [3] }, null)
      },
      async double(_connection: Connection, x: number) {
        return x * 2
      },
      fail(_connection: Connection, kind: string, callback: Callback) {
        callback(failuresOf(jstp)[kind])
      },
      who(connection: Connection, callback: Callback) {
        callback(null, connection.username, connection.session?.id ?? null, version)
      },
      hold(_connection: Connection, x: unknown, callback: Callback) {
        held.push([x, callback])
      }
    },
    news: {
      latest(_connection: Connection, callback: Callback) {
        callback(null, "no news")
      }
    }
  }, {
    calc: {
      note(connection: Connection, ...args: Array<unknown>) {
        events.push(["calc", "note", connection.username, ...args])
      }
    },
    chat: {
      message(_connection: Connection, ...args: Array<unknown>) {
        events.push(["chat", "message", ...args])
      }
    }
  })
  return { app, events, held }
}

/** The client's application, made with `jstp`: `ui.echo`, and the `news` events it gets. */
const clientOf = (jstp: Jstp) => {
  const received: Array<Array<unknown>> = []
  const application = new jstp.Application("client", {
    ui: {
      echo(_connection: Connection, text: string, callback: Callback) {
        callback(null, `echo ${text}`)
      },
      async upper(_connection: Connection, text: string) {
        return text.toUpperCase()
      }
    }
  }, {
    news: {
      flash(_connection: Connection, ...args: Array<unknown>) {
        received.push(["handler", ...args])
      }
    }
  })
  return { application, received }
}

/** `ada`/`secret` logs in as `ada`. */
const authenticate = (
  _connection: Connection,
  _application: Application,
  strategy: string,
  credentials: unknown,
  callback: (error: unknown, username?: string | null) => void
) => {
  const [login, password] = credentials as [string, string]
  if (strategy === "login" && login === "ada" && password === "secret") callback(null, "ada")
  else callback(new Error("Wrong credentials"))
}

const directions = [
  { name: "the facade's client, the reference server", server: reference, client: facade },
  { name: "the reference client, the facade's server", server: facade, client: reference }
] as const

for (const { client: clientJstp, name, server: serverJstp } of directions) {
  describe(name, () => {
    /** A `calc` server (with an auth policy) and a client of it with its own application. */
    const pair = async () => {
      const calc = calcOf(serverJstp)
      const served = await serve(serverJstp, { applications: [calc.app], authPolicy: authenticate })
      const clientApp = clientOf(clientJstp)
      const accepted = nextEvent(served.server, "connect")
      const { connection, session } = await connect(clientJstp, "calc", noReconnect({ application: clientApp.application }), served.port)
      const [serverSide] = (await accepted) as [Connection]
      return { ...calc, ...served, ...clientApp, connection, session, serverSide }
    }

    it("anonymous handshake, calls with all their results, ping", async () => {
      const { connection, session, serverSide } = await pair()
      expect(session.id).toMatch(UUID_V4)
      expect(serverSide.session!.id).toBe(session.id)
      expect([connection.username, serverSide.username]).toEqual([null, null])
      expect(await call(connection, "calc", "add", [2, 3])).toEqual([5])
      expect(await call(connection, "calc", "multi")).toEqual([1, "two", { three: [3] }, null])
      expect(await call(connection, "calc", "double", [21])).toEqual([42])
      expect(await call(connection, "calc", "who")).toEqual([null, session.id, "1.0.0"])
      const many = await Promise.all(Array.from({ length: 30 }, (_, i) => call(connection, "calc", "add", [i, i])))
      expect(many).toEqual(Array.from({ length: 30 }, (_, i) => [2 * i]))
      await new Promise<void>((resolve) => connection.ping(() => resolve()))
      await new Promise<void>((resolve) => serverSide.ping(() => resolve()))
    })

    it("errors: 12, 14, 17, and what handlers fail with", async () => {
      const { connection } = await pair()
      const errorOf = async (iface: string, method: string, args: Array<unknown>) => {
        const { error } = await callResult(connection, iface, method, args)
        expect(error).toBeInstanceOf(clientJstp.RemoteError)
        const remote = error as RemoteError
        return [remote.code, remote.message, remote.info]
      }
      expect(await errorOf("nope", "add", [1, 2])).toEqual([12, "Interface not found", null])
      expect(await errorOf("calc", "nope", [])).toEqual([14, "Method not found", null])
      expect(await errorOf("calc", "add", [1])).toEqual([17, "Invalid signature", null])
      expect(await errorOf("calc", "double", [1, 2])).toEqual([17, "Invalid signature", null])
      expect(await errorOf("calc", "fail", ["remote"])).toEqual([42, "Custom failure", ["detail", 7]])
      expect(await errorOf("calc", "fail", ["standard"])).toEqual([14, "Method not found", null])
      expect(await errorOf("calc", "fail", ["array"])).toEqual([43, "From an array", null])
      expect(await errorOf("calc", "fail", ["standardArray"])).toEqual([12, "A custom message of a standard code", null])
      expect(await errorOf("calc", "fail", ["number"])).toEqual([44, "44", null])
      expect(await errorOf("calc", "fail", ["string"])).toEqual([1, "From a string", null])
      expect(await errorOf("calc", "fail", ["error"])).toEqual([1, "Error: Plain failure", null])
      const inspected = await inspect(connection, "nope").catch((error: unknown) => error)
      expect(codeOf(inspected)).toBe(12)
    })

    it("events both ways: proxies (emit sends and emits locally; on receives), event handlers, broadcast", async () => {
      const { connection, serverSide, events, received, server } = await pair()
      const calcProxy = await inspect(connection, "calc")
      const local: Array<Array<unknown>> = []
      calcProxy.on("note", (...args: Array<unknown>) => void local.push(args))
      calcProxy.emit("note", "hello", { n: 1 })
      expect(local).toEqual([["hello", { n: 1 }]])
      connection.emitRemoteEvent("chat", "message", ["hi", 2])
      await waitFor(() => events.length === 2, "the server's handlers")
      expect(events).toEqual([["calc", "note", null, "hello", { n: 1 }], ["chat", "message", "hi", 2]])

      const newsProxy = await inspect(connection, "news")
      newsProxy.on("flash", (...args: Array<unknown>) => void received.push(["proxy", ...args]))
      serverSide.emitRemoteEvent("news", "flash", ["breaking", 1])
      server.broadcast("news", "flash", "broadcast")
      await waitFor(() => received.length === 4, "the client's proxy and handler")
      expect(received).toEqual([
        ["proxy", "breaking", 1],
        ["handler", "breaking", 1],
        ["proxy", "broadcast"],
        ["handler", "broadcast"]
      ])
    })

    it("the server calls and inspects the client's application", async () => {
      const { serverSide } = await pair()
      expect(await call(serverSide, "ui", "echo", ["x"])).toEqual(["echo x"])
      expect(await call(serverSide, "ui", "upper", ["x"])).toEqual(["X"])
      expect(codeOf((await callResult(serverSide, "ui", "nope", [])).error)).toBe(14)
      expect(codeOf((await callResult(serverSide, "nope", "echo", [])).error)).toBe(12)
      const proxy = await inspect(serverSide, "ui")
      const echoed = await new Promise<Array<unknown>>((resolve) =>
        (proxy.echo as (text: string, callback: Callback) => void)("y", (error, ...results) => resolve([error, ...results])))
      expect(echoed).toEqual([null, "echo y"])
    })

    it("connectAndInspect, and an inspect failure that still gives the connection", async () => {
      const { port } = await serve(serverJstp, [calcOf(serverJstp).app])
      const ok = await outcomeOf(clientJstp.net.connectAndInspect, "calc", noReconnect(), ["calc", "news"], port, HOST)
      expect(ok.error).toBe(null)
      expect(Object.keys(ok.third as object).sort()).toEqual(["calc", "news"])
      const failed = await outcomeOf(clientJstp.net.connectAndInspect, "calc", noReconnect(), ["nope"], port, HOST)
      expect(codeOf(failed.error)).toBe(12)
      expect(await call(failed.connection!, "calc", "add", [1, 2])).toEqual([3])
    })

    it("login: the username on both sides; auth failure 11; unknown application 10", async () => {
      const calc = calcOf(serverJstp)
      const { server, port } = await serve(serverJstp, { applications: [calc.app], authPolicy: authenticate })
      const accepted = nextEvent(server, "connect")
      const { connection, session } = await connect(
        clientJstp,
        "calc",
        noReconnect({ connectPolicy: new clientJstp.SimpleConnectPolicy("ada", "secret") }),
        port
      )
      const [serverSide] = (await accepted) as [Connection]
      expect([connection.username, session.username, serverSide.username, serverSide.session!.username]).toEqual(["ada", "ada", "ada", "ada"])
      expect(await call(connection, "calc", "who")).toEqual(["ada", session.id, "1.0.0"])
      const calcProxy = await inspect(connection, "calc")
      calcProxy.emit("note", "as ada")
      await waitFor(() => calc.events.length === 1, "the event")
      expect(calc.events).toEqual([["calc", "note", "ada", "as ada"]])

      for (const [login, password] of [["ada", "wrong"], ["bob", "secret"]]) {
        const refused = await outcomeOf(clientJstp.net.connect, "calc", noReconnect({ connectPolicy: new clientJstp.SimpleConnectPolicy(login, password) }), port, HOST)
        expect(refused.error).toBeInstanceOf(clientJstp.RemoteError)
        expect([codeOf(refused.error), refused.error!.message]).toEqual([11, "Authentication failed"])
        await waitFor(() => socketOf(refused.connection!).closed, "the server to close the connection")
        await settle()
        expect(refused.calls()).toBe(1)
      }
      const noApp = await outcomeOf(clientJstp.net.connect, "nope", noReconnect(), port, HOST)
      expect([codeOf(noApp.error), noApp.error!.message]).toEqual([10, "Application not found"])
    })

    it("versions: name@range, { name, version }, exact, none; out of range 10", async () => {
      const apps = ["1.0.0", "1.5.0", "2.0.0"].map((version) => calcOf(serverJstp, version).app)
      const { port } = await serve(serverJstp, apps)
      const versionFor = async (app: string | { name: string; version?: string }) => {
        const outcome = await outcomeOf(clientJstp.net.connect, app, noReconnect(), port, HOST)
        if (outcome.error !== null) return outcome.error.code
        return (await call(outcome.connection!, "calc", "who"))[2]
      }
      expect(await versionFor("calc")).toBe("2.0.0")
      expect(await versionFor("calc@^1.0.0")).toBe("1.5.0")
      expect(await versionFor("calc@1.0.0")).toBe("1.0.0")
      expect(await versionFor({ name: "calc", version: "~1.0.0" })).toBe("1.0.0")
      expect(await versionFor("calc@>=1.0.0")).toBe("2.0.0")
      expect(await versionFor("calc@^3.0.0")).toBe(10)
      expect(await versionFor("calc@1.2.3")).toBe(10)
    })

    it("a session restored after the socket is killed: what both sides sent while down arrives, once", async () => {
      const calc = calcOf(serverJstp)
      const served = await serve(serverJstp, { applications: [calc.app], authPolicy: authenticate })
      const proxy = await proxyTo(served.port)
      const gate = gatedReconnector()
      const clientApp = clientOf(clientJstp)
      const accepted = nextEvent(served.server, "connect")
      const { connection, session } = await connect(clientJstp, "calc", {
        application: clientApp.application,
        connectPolicy: new clientJstp.SimpleConnectPolicy("ada", "secret"),
        reconnector: gate.reconnector
      }, proxy.port)
      const [serverSide] = (await accepted) as [Connection]
      const serverEvents = recordEvents(served.server, "restoreSession", "reconnect")
      const newsProxy = await inspect(connection, "news")
      newsProxy.on("flash", (...args: Array<unknown>) => void clientApp.received.push(["proxy", ...args]))
      expect(await call(connection, "calc", "add", [1, 1])).toEqual([2])

      // A call whose answer will be lost with the link.
      const lost = callResult(connection, "calc", "hold", ["lost"])
      await waitFor(() => calc.held.length === 1, "the held call")

      const closed = nextEvent(connection, "close")
      const serverClosed = nextEvent(serverSide, "close")
      expect(proxy.drop()).toBe(1)
      await closed
      await serverClosed
      await waitFor(gate.isWaiting, "the reconnector")
      calc.held[0]![1](null, "lost with the link")

      // While down, on both sides.
      const added = call(connection, "calc", "add", [2, 3])
      connection.emitRemoteEvent("chat", "message", ["sent while down"])
      const doubled = call(connection, "calc", "double", [5])
      serverSide.emitRemoteEvent("news", "flash", ["flash while down"])
      const echoed = call(serverSide, "ui", "echo", ["while down"])
      await settle()
      expect(calc.events).toEqual([])

      const reconnected = nextEvent(connection, "reconnect")
      gate.allow()
      expect(await reconnected).toEqual([null])
      expect(connection.session).toBe(session)
      expect(await added).toEqual([5])
      expect(await doubled).toEqual([10])
      expect(await echoed).toEqual(["echo while down"])
      await waitFor(() => calc.events.length === 1 && clientApp.received.length === 2, "the events sent while down")
      expect(calc.events).toEqual([["chat", "message", "sent while down"]])
      expect(clientApp.received).toEqual([["proxy", "flash while down"], ["handler", "flash while down"]])
      // The held call reached the server, its answer did not reach the client: ERR_CALLBACK_LOST (-1).
      expect(codeOf((await lost).error)).toBe(-1)
      expect(serverEvents.map(([event]) => event)).toEqual(["restoreSession", "reconnect"])
      expect((serverEvents[0]![1] as { id: string }).id).toBe(session.id)

      // Once each, and the link works on.
      expect(await call(connection, "calc", "who")).toEqual(["ada", session.id, "1.0.0"])
      expect(await call(serverSide, "ui", "upper", ["after"])).toEqual(["AFTER"])
      expect(calc.events).toHaveLength(1)
      expect(clientApp.received).toHaveLength(2)
      expect(calc.held).toHaveLength(1)
      expect(connection).toBeInstanceOf(EventEmitter)
    })
  })
}
