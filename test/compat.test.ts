// The drop-in facade of the documented @metarhia/jstp 2.x API
// (`effect-jstp/compat`, shared/spec/compat-api.md), driven exactly as code
// written for 2.x drives it, over real TCP on 127.0.0.1 and Unix sockets.
//
// The reference, @metarhia/jstp 2.3.0, is the judge: this whole file runs
// against it too with `JSTP_COMPAT_TARGET=reference npx vitest run
// test/compat.test.ts`. `beyond` marks the tests of what the contract promises
// and 2.3.0 does not do (a handler that throws crashes its server; a lost
// callback is a bare -1; errors Node throws escape `connect`; ...): they are
// skipped against the reference, each with the reason.
import { afterAll, afterEach, describe, expect, it, vi } from "@effect/vitest"
import * as compat from "effect-jstp/compat"
import { spawn } from "node:child_process"
import { EventEmitter } from "node:events"
import { mkdtempSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  type Application,
  type AppSpec,
  call,
  type Callback,
  callResult,
  closeConnection,
  closeServer,
  codeOf,
  type Client,
  type Connection,
  connect,
  defer,
  delay,
  type ErrorFirst,
  facade,
  gatedReconnector,
  HOST,
  inspect,
  type Jstp,
  listen,
  nextEvent,
  noOpenSockets,
  noReconnect,
  openSockets,
  outcomeOf,
  portOf,
  proxyTo,
  rawConnect,
  recordEvents,
  reference,
  release,
  type RemoteError,
  type RemoteProxy,
  serve,
  type ServerOptions,
  type Session,
  type SessionStorageProvider,
  settle,
  socketOf,
  tolerateLeakedSockets,
  trackSockets,
  waitFor
} from "./support/compat.js"
import { root, run } from "./support/run.js"

const onReference = process.env.JSTP_COMPAT_TARGET === "reference"
const jstp: Jstp = onReference ? reference : facade

/** A test of what the contract promises beyond 2.3.0 (`why`: what 2.3.0 does instead). */
const beyond = (_why: string) => it.skipIf(onReference)

afterEach(async () => {
  vi.useRealTimers()
  await release()
})
// Every test closes what it opened.
afterAll(noOpenSockets)

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

// ================================================================== exports

describe("exports", () => {
  it("has every documented name and error code, as named exports and on the default export", () => {
    for (
      const name of [
        "Application",
        "createAppsIndex",
        "RemoteError",
        "RemoteProxy",
        "Connection",
        "Server",
        "Session",
        "SimpleConnectPolicy",
        "SimpleSessionStorageProvider",
        "net"
      ]
    ) {
      expect(jstp, name).toHaveProperty(name)
    }
    const codes = {
      ERR_CALLBACK_LOST: -1,
      ERR_NO_HANDSHAKE_RESPONSE: -2,
      ERR_APP_NOT_FOUND: 10,
      ERR_AUTH_FAILED: 11,
      ERR_INTERFACE_NOT_FOUND: 12,
      ERR_INTERFACE_INCOMPATIBLE: 13,
      ERR_METHOD_NOT_FOUND: 14,
      ERR_NOT_A_SERVER: 15,
      ERR_INTERNAL_API_ERROR: 16,
      ERR_INVALID_SIGNATURE: 17
    }
    for (const [name, code] of Object.entries(codes)) {
      expect((jstp as unknown as Record<string, unknown>)[name], name).toBe(code)
      expect((reference as unknown as Record<string, unknown>)[name], name).toBe(code)
    }
    for (const name of ["createServer", "connect", "connectAndInspect", "reconnect"]) {
      expect(typeof (jstp.net as unknown as Record<string, unknown>)[name], name).toBe("function")
    }
    // The named exports are the default export's members.
    expect(compat.default).toBe(facade)
    expect(compat.RemoteError).toBe(facade.RemoteError)
    expect(compat.net).toBe(facade.net)
    expect(compat.ERR_INVALID_SIGNATURE).toBe(17)
    expect(compat.ERR_CALLBACK_LOST).toBe(-1)
  })
})

// ============================================================== RemoteError

describe("RemoteError", () => {
  it("new RemoteError(code, [message], [info]): default messages, String(code) for other codes, name", () => {
    const standard = new jstp.RemoteError(12)
    expect(standard).toBeInstanceOf(Error)
    expect(standard).toBeInstanceOf(jstp.RemoteError)
    expect(standard.code).toBe(12)
    expect(standard.message).toBe("Interface not found")
    expect(standard.info).toBe(null)
    expect(standard.name).toBe("RemoteError")
    expect(String(standard)).toBe("RemoteError: Interface not found")
    expect(typeof standard.stack).toBe("string")

    const unknown = new jstp.RemoteError(42)
    expect(unknown.message).toBe("42")
    expect(new jstp.RemoteError(-1).message).toBe("Connection closed before receiving callback")
    expect(new jstp.RemoteError(-2).message).toBe("Connection closed before receiving handshake")

    const custom = new jstp.RemoteError(42, "Custom", ["a", 1])
    expect([custom.code, custom.message, custom.info]).toEqual([42, "Custom", ["a", 1]])
    // A custom message replaces a standard one.
    expect(new jstp.RemoteError(10, "No such app").message).toBe("No such app")
  })

  it("toJSTP(): a standard code alone, another code with its message and info", () => {
    expect(new jstp.RemoteError(12).toJSTP()).toEqual([12])
    expect(new jstp.RemoteError(12, "custom").toJSTP()).toEqual([12])
    expect(new jstp.RemoteError(42).toJSTP()).toEqual([42])
    expect(new jstp.RemoteError(42, "m").toJSTP()).toEqual([42, "m"])
    expect(new jstp.RemoteError(42, "m", ["a", 1]).toJSTP()).toEqual([42, "m", "a", 1])
  })

  it("toJstpArray() is a deprecated alias of toJSTP() that warns once (DeprecationWarning)", async () => {
    const warnings: Array<Error> = []
    const onWarning = (warning: Error) => void warnings.push(warning)
    process.on("warning", onWarning)
    try {
      const error = new jstp.RemoteError(42, "m", ["i"])
      const toJstpArray = (error as unknown as { toJstpArray(): Array<unknown> }).toJstpArray
      expect(toJstpArray.call(error)).toEqual([42, "m", "i"])
      expect(toJstpArray.call(new jstp.RemoteError(12))).toEqual([12])
      await settle()
    } finally {
      process.off("warning", onWarning)
    }
    const deprecations = warnings.filter((warning) => warning.name === "DeprecationWarning")
    expect(deprecations).toHaveLength(1)
    expect(deprecations[0]!.message).toContain("toJstpArray")
    expect(deprecations[0]!.message).toContain("toJSTP")
  })

  it("fromJstpArray(array)", () => {
    const standard = jstp.RemoteError.fromJstpArray([14])
    expect(standard).toBeInstanceOf(jstp.RemoteError)
    expect([standard.code, standard.message, standard.info]).toEqual([14, "Method not found", null])
    const custom = jstp.RemoteError.fromJstpArray([42, "m"])
    expect([custom.code, custom.message, custom.info]).toEqual([42, "m", null])
    const withInfo = jstp.RemoteError.fromJstpArray([42, "m", "a", { b: 1 }])
    expect([withInfo.code, withInfo.message, withInfo.info]).toEqual([42, "m", ["a", { b: 1 }]])
  })

  it("getJstpArrayFor(value), for every kind of value", () => {
    // A static method that uses `this` in 2.3.0.
    const getJstpArrayFor = (value: unknown) => jstp.RemoteError.getJstpArrayFor(value)
    expect(getJstpArrayFor(new jstp.RemoteError(42, "m", ["i"]))).toEqual([42, "m", "i"])
    expect(getJstpArrayFor(new jstp.RemoteError(11))).toEqual([11])
    // An Error with toJSTP(), whatever that returns.
    const withArray = Object.assign(new Error("x"), { toJSTP: () => [50, "from toJSTP"] })
    expect(getJstpArrayFor(withArray)).toEqual([50, "from toJSTP"])
    const withNumber = Object.assign(new Error("x"), { toJSTP: () => 51 })
    expect(getJstpArrayFor(withNumber)).toEqual([51])
    // Arrays as they are; numbers as codes; strings as [1, string].
    expect(getJstpArrayFor([43, "custom"])).toEqual([43, "custom"])
    expect(getJstpArrayFor([43, "custom", "info"])).toEqual([43, "custom", "info"])
    expect(getJstpArrayFor([10, "custom message of a standard code"])).toEqual([10, "custom message of a standard code"])
    expect(getJstpArrayFor(44)).toEqual([44])
    expect(getJstpArrayFor(12)).toEqual([12])
    expect(getJstpArrayFor("Something failed")).toEqual([1, "Something failed"])
    // Anything else as [1, String(value)]: a plain Error too.
    expect(getJstpArrayFor(new Error("boom"))).toEqual([1, "Error: boom"])
    expect(getJstpArrayFor(new TypeError("bad"))).toEqual([1, "TypeError: bad"])
    expect(getJstpArrayFor({})).toEqual([1, "[object Object]"])
    expect(getJstpArrayFor({ toString: () => "described" })).toEqual([1, "described"])
    expect(getJstpArrayFor(true)).toEqual([1, "true"])
  })

  it("defaultMessages", () => {
    expect({ ...jstp.RemoteError.defaultMessages }).toEqual({
      [-1]: "Connection closed before receiving callback",
      [-2]: "Connection closed before receiving handshake",
      10: "Application not found",
      11: "Authentication failed",
      12: "Interface not found",
      13: "Incompatible interface",
      14: "Method not found",
      15: "Not a server",
      16: "Internal API error",
      17: "Invalid signature"
    })
  })
})

// ============================================== Application, createAppsIndex

describe("Application", () => {
  it("name@version is preferred over version; the version defaults to 1.0.0; an invalid one throws a TypeError", () => {
    const fromName = new jstp.Application("app@2.0.0", {}, {}, "3.0.0")
    expect([fromName.name, fromName.version]).toEqual(["app", "2.0.0"])
    const fromArgument = new jstp.Application("app", {}, {}, "1.2.3")
    expect([fromArgument.name, fromArgument.version]).toEqual(["app", "1.2.3"])
    const byDefault = new jstp.Application("app", {})
    expect([byDefault.name, byDefault.version]).toEqual(["app", "1.0.0"])
    // Split at the last @.
    const scoped = new jstp.Application("@scope/app@1.1.0", {})
    expect([scoped.name, scoped.version]).toEqual(["@scope/app", "1.1.0"])
    expect(() => new jstp.Application("app@one", {})).toThrow(TypeError)
    expect(() => new jstp.Application("app", {}, {}, "^1.0.0")).toThrow(TypeError)
    expect(() => new jstp.Application("app", {}, {}, "1.0")).toThrow("Invalid semver version")
  })

  it("takes a session storage provider as its 4th or 5th argument", () => {
    const provider = new jstp.SimpleSessionStorageProvider()
    expect(new jstp.Application("app", {}, {}, provider).sessionsStorage).toBe(provider)
    const both = new jstp.Application("app", {}, {}, "2.0.0", provider)
    expect([both.version, both.sessionsStorage]).toEqual(["2.0.0", provider])
  })

  it("callMethod, getMethods and handleEvent", async () => {
    const events: Array<unknown> = []
    const app = new jstp.Application("app", {
      math: {
        add(_connection: unknown, a: number, b: number, callback: Callback) {
          callback(null, a + b, "sum")
        },
        async twice(_connection: unknown, a: number) {
          return a * 2
        }
      }
    }, {
      math: {
        changed(connection: unknown, value: number) {
          events.push([connection, value])
        }
      }
    })
    const callOn = (iface: string, method: string, args: Array<unknown>) =>
      new Promise<Array<unknown>>((resolve) =>
        app.callMethod("the connection", iface, method, args, (error, ...results) => resolve([error, ...results])))
    expect(await callOn("math", "add", [1, 2])).toEqual([null, 3, "sum"])
    expect(await callOn("math", "twice", [21])).toEqual([null, 42])
    // The reference hands these the bare code; the facade a RemoteError with it.
    expect(codeOf((await callOn("nope", "add", [1, 2]))[0])).toBe(12)
    expect(codeOf((await callOn("math", "nope", []))[0])).toBe(14)
    expect(codeOf((await callOn("math", "add", [1]))[0])).toBe(17)
    expect(codeOf((await callOn("math", "twice", [1, 2]))[0])).toBe(17)

    expect(app.getMethods("math")).toEqual(["add", "twice"])
    expect(app.getMethods("nope")).toBe(undefined)

    app.handleEvent("the connection", "math", "changed", [7])
    app.handleEvent("the connection", "math", "unknown", [8])
    app.handleEvent("the connection", "unknown", "changed", [9])
    expect(events).toEqual([["the connection", 7]])
  })

  it("createAppsIndex: name → version → application, and latest; a duplicate name and version throws", () => {
    const v1 = new jstp.Application("app@1.0.0", {})
    const v2 = new jstp.Application("app@2.0.0", {})
    const v15 = new jstp.Application("app@1.5.0", {})
    const other = new jstp.Application("other", {})
    const index = jstp.createAppsIndex([v1, v2, v15, other])
    expect([...index.keys()]).toEqual(["app", "other"])
    const versions = index.get("app")!
    expect(versions.get("1.0.0")).toBe(v1)
    expect(versions.get("1.5.0")).toBe(v15)
    expect(versions.get("2.0.0")).toBe(v2)
    expect(versions.get("latest")).toBe(v2)
    expect(index.get("other")!.get("latest")).toBe(other)
    expect(() => jstp.createAppsIndex([v1, new jstp.Application("app", {})])).toThrow(
      "Multiple instances of application: app with version: 1.0.0"
    )
  })
})

// ============================================== Session and session storage

describe("Session", () => {
  it("is a Map with an id (UUID v4), a connection and a username; toString / Session.fromString round-trip it", () => {
    const session = new jstp.Session(null, "ada")
    expect(session).toBeInstanceOf(Map)
    expect(session.id).toMatch(UUID_V4)
    expect(new jstp.Session(null, null).id).not.toBe(session.id)
    expect(session.username).toBe("ada")
    expect(session.connection).toBe(null)
    session.set("cart", ["apple", 2])
    session.set("visits", 3)
    expect(session.get("cart")).toEqual(["apple", 2])
    expect(session.size).toBe(2)

    const text = session.toString()
    expect(typeof text).toBe("string")
    expect(() => JSON.parse(text)).not.toThrow()
    const copy = jstp.Session.fromString(text)
    expect(copy).toBeInstanceOf(jstp.Session)
    expect(copy).toBeInstanceOf(Map)
    expect(copy.id).toBe(session.id)
    expect(copy.username).toBe("ada")
    expect([...copy]).toEqual([["cart", ["apple", 2]], ["visits", 3]])
    expect(copy.receivedCount).toBe(0)
    expect(copy.buffer.size).toBe(0)

    const named = new jstp.Session(null, null, "my-id", [["k", "v"]])
    expect(named.id).toBe("my-id")
    expect(named.get("k")).toBe("v")
  })

  it("reads the session text the reference writes, and the reference reads the facade's", () => {
    const written = new reference.Session(null, "ada", "0c2a4e57-8a60-4e0e-9d3e-7d7c3c1f3a77")
    written.set("k", [1, 2])
    const read = facade.Session.fromString(written.toString())
    expect([read.id, read.username, read.get("k")]).toEqual([written.id, "ada", [1, 2]])
    const back = reference.Session.fromString(read.toString())
    expect([back.id, back.username, back.get("k")]).toEqual([written.id, "ada", [1, 2]])
  })

  it("SimpleSessionStorageProvider keeps sessions, and purges those inactive for its lifetime on its interval", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval", "setTimeout", "clearTimeout", "Date"] })
    const provider = new jstp.SimpleSessionStorageProvider(1000, 100)
    expect(provider.isAsync()).toBe(false)
    const active = new jstp.Session(null, null)
    const inactive = new jstp.Session(null, "ada")
    const revived = new jstp.Session(null, null)
    provider.set(active.id, active)
    provider.set(inactive.id, inactive)
    provider.set(revived.id, revived)
    provider.setInactive(inactive.id)
    provider.setInactive(revived.id)
    expect(provider.get(inactive.id)).toBe(inactive) // a get makes it active again
    provider.setInactive(inactive.id)
    await vi.advanceTimersByTimeAsync(500)
    expect(provider.get(revived.id)).toBe(revived)
    await vi.advanceTimersByTimeAsync(600)
    // Inactive for 1100 ms: purged. Active ones stay.
    expect(provider.get(inactive.id)).toBe(undefined)
    expect(provider.get(active.id)).toBe(active)
    expect(provider.get(revived.id)).toBe(revived)
    await vi.advanceTimersByTimeAsync(60 * 60 * 1000)
    expect(provider.get(active.id)).toBe(active)
    expect(provider.get("no such session")).toBe(undefined)
  })
})

// ===================================================================== calls

/** What the `calc` application of the tests fails with, by name (values cannot cross the wire). */
const failures = (): Record<string, unknown> => ({
  remote: new jstp.RemoteError(42, "Custom failure", ["detail", 7]),
  standard: new jstp.RemoteError(14),
  array: [43, "From an array"],
  standardArray: [12, "A custom message of a standard code"],
  number: 44,
  string: "From a string",
  error: new Error("Plain failure"),
  object: { toString: () => "An object" }
})

interface Calc {
  readonly app: Application
  /** Events the server's application received: [iface, event, ...args]. */
  readonly events: Array<Array<unknown>>
  /** How many times `calc.throws` ran. */
  readonly thrown: { count: number }
  /** The calls of `calc.hold` ([argument, callback]): answered by the test. */
  readonly held: Array<[unknown, Callback]>
}


const calcApp = (name = "calc", sessionStorageProvider?: SessionStorageProvider): Calc => {
  const events: Array<Array<unknown>> = []
  const thrown = { count: 0 }
  const held: Array<[unknown, Callback]> = []
  const app = new jstp.Application(name, {
    calc: {
      hold(_connection: Connection, x: unknown, callback: Callback) {
        held.push([x, callback])
      },
      // `hold` without arguments (2.3.0 resends a lost call without them).
      pause(_connection: Connection, callback: Callback) {
        held.push(["pause", callback])
      },
      add(_connection: Connection, a: number, b: number, callback: Callback) {
        callback(null, a + b)
      },
      multi(_connection: Connection, callback: Callback) {
        callback(null, 1, "two", { three: [3] })
      },
      none(_connection: Connection, callback: Callback) {
        callback(null)
      },
      async double(_connection: Connection, x: number) {
        return x * 2
      },
      later(_connection: Connection, x: number, callback: Callback) {
        setImmediate(() => callback(null, x))
      },
      fail(_connection: Connection, kind: string, callback: Callback) {
        callback(failures()[kind])
      },
      async reject(_connection: Connection, kind: string) {
        throw failures()[kind]
      },
      throws(_connection: Connection, callback: Callback) {
        thrown.count++
        if (thrown.count > 0) throw new Error("A bug in a handler")
        callback(null, "unreachable")
      },
      who(connection: Connection, callback: Callback) {
        callback(null, connection.username, connection.session?.id ?? null)
      }
    },
    news: {
      latest(_connection: Connection, callback: Callback) {
        callback(null, "no news")
      }
    }
  }, {
    calc: {
      note(_connection: Connection, ...args: Array<unknown>) {
        events.push(["calc", "note", ...args])
      }
    },
    chat: {
      message(connection: Connection, text: string) {
        events.push(["chat", "message", text, connection.username])
      }
    }
  }, undefined, sessionStorageProvider)
  return { app, events, thrown, held }
}

/** A `calc` server and one client of it. */
const calcPair = async (client: Client = {}) => {
  const calc = calcApp()
  const served = await serve(jstp, { applications: [calc.app] })
  const accepted = nextEvent(served.server, "connect")
  const { connection, session } = await connect(jstp, "calc", noReconnect(client), served.port)
  const [serverSide] = (await accepted) as [Connection]
  return { ...calc, ...served, connection, session, serverSide }
}

describe("calls", () => {
  it("callback-style handlers answer with all their results, async ones with their value", async () => {
    const { connection } = await calcPair()
    expect(await call(connection, "calc", "add", [2, 3])).toEqual([5])
    expect(await call(connection, "calc", "multi")).toEqual([1, "two", { three: [3] }])
    expect(await call(connection, "calc", "none")).toEqual([])
    expect(await call(connection, "calc", "double", [21])).toEqual([42])
    expect(await call(connection, "calc", "later", ["x"])).toEqual(["x"])
    // Many in flight at once, each answered once.
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => call(connection, "calc", i % 2 === 0 ? "add" : "double", i % 2 === 0 ? [i, 1] : [i])))
    expect(many).toEqual(Array.from({ length: 50 }, (_, i) => [i % 2 === 0 ? i + 1 : i * 2]))
  })

  it("a handler is async by Symbol.toStringTag === 'AsyncFunction', not by what it returns", async () => {
    const tagged = Object.assign((_connection: Connection, x: number) => Promise.resolve(x + 1), {
      [Symbol.toStringTag]: "AsyncFunction"
    })
    const untagged = (_connection: Connection, x: number) => Promise.resolve(x + 1)
    const app = new jstp.Application("app", { f: { tagged, untagged } })
    const { port } = await serve(jstp, [app])
    const { connection } = await connect(jstp, "app", noReconnect(), port)
    expect(await call(connection, "f", "tagged", [1])).toEqual([2])
    // Not async: called as (connection, x, callback), so one argument needs 3 parameters.
    expect(codeOf((await callResult(connection, "f", "untagged", [1])).error)).toBe(17)
  })

  it("a call whose argument count does not fit the handler's arity gets 17, and the handler does not run", async () => {
    const ran: Array<string> = []
    const app = new jstp.Application("app", {
      f: {
        two(_connection: Connection, a: unknown, b: unknown, callback: Callback) {
          ran.push("two")
          callback(null, a, b)
        },
        async one(_connection: Connection, a: unknown) {
          ran.push("one")
          return a
        }
      }
    })
    const { port } = await serve(jstp, [app])
    const { connection } = await connect(jstp, "app", noReconnect(), port)
    for (const [method, args] of [["two", [1]], ["two", [1, 2, 3]], ["one", []], ["one", [1, 2]]] as const) {
      const { error } = await callResult(connection, "f", method, [...args])
      expect(error, `${method}(${args.length})`).toBeInstanceOf(jstp.RemoteError)
      expect(codeOf(error)).toBe(17)
      expect(error!.message).toBe("Invalid signature")
    }
    expect(ran).toEqual([])
    expect(await call(connection, "f", "two", [1, 2])).toEqual([1, 2])
    expect(await call(connection, "f", "one", [1])).toEqual([1])
  })

  it("an unknown interface gets 12, an unknown method 14", async () => {
    const { connection } = await calcPair()
    const noInterface = await callResult(connection, "nope", "add", [1, 2])
    expect(noInterface.error).toBeInstanceOf(jstp.RemoteError)
    expect([codeOf(noInterface.error), noInterface.error!.message]).toEqual([12, "Interface not found"])
    const noMethod = await callResult(connection, "calc", "nope", [])
    expect([codeOf(noMethod.error), noMethod.error!.message]).toEqual([14, "Method not found"])
  })

  beyond("2.3.0 looks names up through the prototype chain: it runs Object.prototype's functions, answering 17")(
    "names of Object.prototype are neither interfaces nor methods",
    async () => {
      const { connection } = await calcPair()
      expect(codeOf((await callResult(connection, "calc", "toString", [])).error)).toBe(14)
      expect(codeOf((await callResult(connection, "calc", "hasOwnProperty", ["x"])).error)).toBe(14)
      expect(codeOf((await callResult(connection, "constructor", "name", [])).error)).toBe(12)
      expect(codeOf((await callResult(connection, "__proto__", "valueOf", [])).error)).toBe(12)
    }
  )

  it("what a handler fails with reaches the caller as protocol.md §6 maps it", async () => {
    const { connection } = await calcPair()
    const failed = async (method: string, kind: string) => {
      const { error, results } = await callResult(connection, "calc", method, [kind])
      expect(results).toEqual([])
      expect(error).toBeInstanceOf(jstp.RemoteError)
      const remote = error as RemoteError
      return [remote.code, remote.message, remote.info]
    }
    for (const method of ["fail", "reject"]) {
      expect(await failed(method, "remote"), method).toEqual([42, "Custom failure", ["detail", 7]])
      expect(await failed(method, "standard"), method).toEqual([14, "Method not found", null])
      expect(await failed(method, "array"), method).toEqual([43, "From an array", null])
      // An array travels as it is: 2.3.0 sends [12, 'A custom ...'].
      expect(await failed(method, "standardArray"), method).toEqual([12, "A custom message of a standard code", null])
      expect(await failed(method, "number"), method).toEqual([44, "44", null])
      expect(await failed(method, "string"), method).toEqual([1, "From a string", null])
      expect(await failed(method, "object"), method).toEqual([1, "An object", null])
    }
    // A callback-style handler failing with a plain Error: [1, 'Error: message'].
    expect(await failed("fail", "error")).toEqual([1, "Error: Plain failure", null])
  })

  beyond("2.3.0 answers 16 and rethrows: its server process crashes")(
    "a handler that throws answers 16, and the server goes on serving",
    async () => {
      const { connection, thrown, server } = await calcPair()
      const { error } = await callResult(connection, "calc", "throws", [])
      expect(error).toBeInstanceOf(jstp.RemoteError)
      expect([codeOf(error), error!.message]).toEqual([16, "Internal API error"])
      expect(thrown.count).toBe(1)
      expect(await call(connection, "calc", "add", [1, 1])).toEqual([2])
      expect(server.getClientsArray()).toHaveLength(1)
    }
  )

  beyond("2.3.0 answers 16 and rethrows from the promise: an unhandled rejection")(
    "an async handler rejecting with a plain Error answers 16",
    async () => {
      const { connection } = await calcPair()
      const { error } = await callResult(connection, "calc", "reject", ["error"])
      expect([codeOf(error), error!.message]).toEqual([16, "Internal API error"])
      expect(await call(connection, "calc", "double", [2])).toEqual([4])
    }
  )

  it("callMethod without a callback emits a failure as the connection's 'error'", async () => {
    const { connection } = await calcPair()
    const errored = nextEvent(connection, "error")
    connection.callMethod("calc", "nope", [], null)
    const [error] = await errored
    expect(codeOf(error)).toBe(14)
  })

  it("ping(callback) is answered", async () => {
    const { connection } = await calcPair()
    await new Promise<void>((resolve) => connection.ping(() => resolve()))
    await new Promise<void>((resolve) => connection.ping(() => resolve()))
  })
})

// ======================================================== inspect and proxies

describe("inspect and remote proxies", () => {
  it("inspectInterface gives a RemoteProxy with one method per remote method, kept in remoteProxies", async () => {
    const { connection } = await calcPair()
    expect(connection.remoteProxies).toEqual({})
    const proxy = await inspect(connection, "calc")
    expect(proxy).toBeInstanceOf(jstp.RemoteProxy)
    expect(proxy).toBeInstanceOf(EventEmitter)
    expect(connection.remoteProxies.calc).toBe(proxy)
    const method = (name: string) => proxy[name] as (...args: Array<unknown>) => void
    for (const name of ["add", "multi", "double", "fail", "reject"]) expect(typeof proxy[name], name).toBe("function")
    const viaProxy = (name: string, ...args: Array<unknown>) =>
      new Promise<Array<unknown>>((resolve) => method(name)(...args, (error: unknown, ...results: Array<unknown>) => resolve([error, ...results])))
    expect(await viaProxy("add", 1, 2)).toEqual([null, 3])
    expect(await viaProxy("multi")).toEqual([null, 1, "two", { three: [3] }])
    expect(await viaProxy("double", 4)).toEqual([null, 8])
    // (..., callback, resend): with resend, as callMethodWithResend.
    const resent = await new Promise<Array<unknown>>((resolve) =>
      method("add")(5, 6, (error: unknown, ...results: Array<unknown>) => resolve([error, ...results]), true))
    expect(resent).toEqual([null, 11])
    const failed = await viaProxy("fail", "array")
    expect(codeOf(failed[0])).toBe(43)
    // Without a callback, a failure is the connection's 'error'.
    const errored = nextEvent(connection, "error")
    method("fail")("number")
    expect(codeOf((await errored)[0])).toBe(44)
  })

  it("inspecting an unknown interface fails with 12", async () => {
    const { connection } = await calcPair()
    const error = await inspect(connection, "nope").then(() => null, (failure: unknown) => failure)
    expect(error).toBeInstanceOf(jstp.RemoteError)
    expect(codeOf(error)).toBe(12)
    expect(connection.remoteProxies.nope).toBe(undefined)
    // Without a callback, as the connection's 'error'.
    const errored = nextEvent(connection, "error")
    connection.inspectInterface("nope")
    expect(codeOf((await errored)[0])).toBe(12)
  })

  it("a remote method named like an EventEmitter method does not replace it", async () => {
    const app = new jstp.Application("app", {
      e: {
        on(_connection: Connection, callback: Callback) {
          callback(null, "remote on")
        },
        go(_connection: Connection, callback: Callback) {
          callback(null, "went")
        }
      }
    })
    const { port } = await serve(jstp, [app])
    const { connection } = await connect(jstp, "app", noReconnect(), port)
    const proxy = await inspect(connection, "e")
    expect(proxy.on).toBe(EventEmitter.prototype.on)
    expect(typeof proxy.go).toBe("function")
  })

  it("connectAndInspect gives proxies by name; an inspect failure still gives the usable connection", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    const ok = await outcomeOf(jstp.net.connectAndInspect, "calc", noReconnect(), ["calc", "news"], port, HOST)
    expect(ok.error).toBe(null)
    const proxies = ok.third as Record<string, RemoteProxy>
    expect(Object.keys(proxies).sort()).toEqual(["calc", "news"])
    expect(proxies.calc).toBe(ok.connection!.remoteProxies.calc)
    const latest = await new Promise<Array<unknown>>((resolve) =>
      (proxies.news!.latest as (callback: Callback) => void)((error, ...results) => resolve([error, ...results])))
    expect(latest).toEqual([null, "no news"])

    const none = await outcomeOf(jstp.net.connectAndInspect, "calc", noReconnect(), [], port, HOST)
    expect(none.error).toBe(null)
    expect({ ...(none.third as object) }).toEqual({})

    const failed = await outcomeOf(jstp.net.connectAndInspect, "calc", noReconnect(), ["calc", "nope"], port, HOST)
    expect(failed.error).toBeInstanceOf(jstp.RemoteError)
    expect(codeOf(failed.error)).toBe(12)
    expect(failed.connection).toBeInstanceOf(EventEmitter)
    expect(await call(failed.connection!, "calc", "add", [1, 2])).toEqual([3])
    await settle()
    expect(failed.calls()).toBe(1)
  })
})


// ==================================================================== events

describe("events", () => {
  it("proxy.emit sends the event to the peer AND emits it locally; emitRemoteEvent sends it; the peer's event handlers get it", async () => {
    const { connection, events } = await calcPair()
    const proxy = await inspect(connection, "calc")
    const local: Array<Array<unknown>> = []
    proxy.on("note", (...args: Array<unknown>) => void local.push(args))
    proxy.emit("note", "hello", { n: 2 })
    expect(local).toEqual([["hello", { n: 2 }]])
    await waitFor(() => events.length === 1, "the server's event handler")
    expect(events).toEqual([["calc", "note", "hello", { n: 2 }]])
    connection.emitRemoteEvent("chat", "message", ["hi"])
    // An event nobody handles is dropped quietly.
    connection.emitRemoteEvent("nobody", "listens", [1])
    connection.emitRemoteEvent("calc", "unhandled", [1])
    await waitFor(() => events.length === 2, "the second event")
    expect(events[1]).toEqual(["chat", "message", "hi", null])
    expect(await call(connection, "calc", "add", [1, 1])).toEqual([2])
    expect(events).toHaveLength(2)
  })

  it("the peer's events reach the proxy of their interface ('on') and the application's event handlers", async () => {
    const received: Array<Array<unknown>> = []
    const application = new jstp.Application("client", {}, {
      news: {
        flash(_connection: Connection, ...args: Array<unknown>) {
          received.push(["handler", ...args])
        }
      },
      other: {
        ping(_connection: Connection, ...args: Array<unknown>) {
          received.push(["other handler", ...args])
        }
      }
    })
    const { connection, serverSide } = await calcPair({ application })
    const proxy = await inspect(connection, "news")
    proxy.on("flash", (...args: Array<unknown>) => void received.push(["proxy", ...args]))
    serverSide.emitRemoteEvent("news", "flash", ["breaking", 1])
    await waitFor(() => received.length === 2, "the event")
    expect(received).toEqual([["proxy", "breaking", 1], ["handler", "breaking", 1]])
    // No proxy for this interface: the handler alone.
    serverSide.emitRemoteEvent("other", "ping", [])
    await waitFor(() => received.length === 3, "the other event")
    expect(received[2]).toEqual(["other handler"])
  })

  it("server.broadcast(iface, event, ...args) sends the event to every client", async () => {
    const { app } = calcApp()
    const { server, port } = await serve(jstp, [app])
    const received: Array<Array<unknown>> = []
    for (const name of ["a", "b"]) {
      const { connection } = await connect(jstp, "calc", noReconnect(), port)
      const proxy = await inspect(connection, "news")
      proxy.on("flash", (...args: Array<unknown>) => void received.push([name, ...args]))
    }
    expect(server.getClientsArray()).toHaveLength(2)
    server.broadcast("news", "flash", "x", { y: 1 })
    await waitFor(() => received.length === 2, "both clients")
    expect(received.sort()).toEqual([["a", "x", { y: 1 }], ["b", "x", { y: 1 }]])
  })

  it("the server calls and inspects the client's application", async () => {
    const application = new jstp.Application("client", {
      ui: {
        echo(connection: Connection, text: string, callback: Callback) {
          callback(null, `echo ${text}`, connection.server === null || connection.server === undefined)
        },
        async count(_connection: Connection, items: Array<unknown>) {
          return items.length
        }
      }
    })
    const { serverSide } = await calcPair({ application })
    expect(await call(serverSide, "ui", "echo", ["x"])).toEqual(["echo x", true])
    expect(await call(serverSide, "ui", "count", [[1, 2, 3]])).toEqual([3])
    expect(codeOf((await callResult(serverSide, "ui", "nope", [])).error)).toBe(14)
    const proxy = await inspect(serverSide, "ui")
    expect(serverSide.remoteProxies.ui).toBe(proxy)
    const viaProxy = await new Promise<Array<unknown>>((resolve) =>
      (proxy.echo as (text: string, callback: Callback) => void)("y", (error, ...results) => resolve([error, ...results])))
    expect(viaProxy).toEqual([null, "echo y", true])
  })

  it("a client without an application offers jstp@1.0.0 with no interfaces", async () => {
    const { connection, serverSide } = await calcPair()
    expect(connection.application).toBeInstanceOf(jstp.Application)
    expect([connection.application!.name, connection.application!.version]).toEqual(["jstp", "1.0.0"])
    expect(codeOf((await callResult(serverSide, "ui", "echo", ["x"])).error)).toBe(12)
    expect(codeOf(await inspect(serverSide, "ui").catch((error: unknown) => error))).toBe(12)
  })
})

// ======================================================= handshake strategies

interface AuthCall {
  readonly strategy: string
  readonly credentials: unknown
  readonly application: unknown
  readonly connection: unknown
}

/** An auth policy: `ada`/`secret` logs in as `ada`; `fail` answers what `answers` says. */
const authPolicy = (answers: Record<string, [unknown, unknown]> = {}) => {
  const calls: Array<AuthCall> = []
  const authenticate = (
    connection: Connection,
    application: Application,
    strategy: string,
    credentials: unknown,
    callback: (error: unknown, username?: string | null) => void
  ) => {
    calls.push({ strategy, credentials, application, connection })
    const [login, password] = credentials as [string, string]
    const answer = answers[login]
    if (answer !== undefined) return callback(...(answer as [unknown, string | null]))
    if (strategy === "login" && login === "ada" && password === "secret") return callback(null, "ada")
    if (strategy === "token" && login === "t0k3n") return callback(null, "token user")
    callback(new Error("Wrong credentials"))
  }
  return { authenticate, calls }
}

describe("handshake", () => {
  it("anonymous: a new session (UUID v4) on both sides, no username, handshakeDone", async () => {
    const requests: Array<Array<unknown>> = []
    const { app } = calcApp()
    const { server, port } = await serve(jstp, [app])
    server.on("handshakeRequest", (...args: Array<unknown>) => void requests.push(args))
    const accepted = nextEvent(server, "connect")
    const { connection, session } = await connect(jstp, "calc", noReconnect(), port)
    const [serverSide] = (await accepted) as [Connection]
    expect(session).toBeInstanceOf(jstp.Session)
    expect(session.id).toMatch(UUID_V4)
    expect(connection.session).toBe(session)
    expect(serverSide.session).toBeInstanceOf(jstp.Session)
    expect(serverSide.session!.id).toBe(session.id)
    expect([connection.username, serverSide.username, session.username, serverSide.session!.username]).toEqual([null, null, null, null])
    expect([connection.handshakeDone, serverSide.handshakeDone]).toEqual([true, true])
    expect(requests).toEqual([[serverSide, "calc", "anonymous"]])
    expect(await call(connection, "calc", "who")).toEqual([null, session.id])
  })

  it("login through SimpleConnectPolicy(login, password): the auth policy names the user on both sides", async () => {
    const policy = authPolicy()
    const { app } = calcApp()
    const { server, port } = await serve(jstp, { applications: [app], authPolicy: policy.authenticate })
    const requests = recordEvents(server, "handshakeRequest")
    const accepted = nextEvent(server, "connect")
    const { connection, session } = await connect(jstp, "calc", noReconnect({ connectPolicy: new jstp.SimpleConnectPolicy("ada", "secret") }), port)
    const [serverSide] = (await accepted) as [Connection]
    expect([connection.username, session.username]).toEqual(["ada", "ada"])
    expect([serverSide.username, serverSide.session!.username]).toEqual(["ada", "ada"])
    expect(policy.calls).toEqual([{ strategy: "login", credentials: ["ada", "secret"], application: app, connection: serverSide }])
    expect(requests).toEqual([["handshakeRequest", serverSide, "calc", "login"]])
    expect(await call(connection, "calc", "who")).toEqual(["ada", session.id])
  })

  it("an auth policy may be an object with authenticate (called as its method), a connect policy a function", async () => {
    const users = new Map([["bob", "hunter2"]])
    const policy = {
      users,
      authenticate(
        _connection: Connection,
        _application: Application,
        _strategy: string,
        credentials: unknown,
        callback: (error: unknown, username?: string | null) => void
      ) {
        const [login, password] = credentials as [string, string]
        // Asynchronously, and through `this`.
        setImmediate(() => callback(null, this.users.get(login) === password ? login : null))
      }
    }
    const { app } = calcApp()
    const { port } = await serve(jstp, { applications: [app], authPolicy: policy })
    const used: Array<unknown> = []
    const connectPolicy = (appName: AppSpec, connection: Connection, session: Session | undefined, callback: ErrorFirst) => {
      used.push([appName, session])
      connection.handshake(appName, "bob", "hunter2", (error, newSession) => callback(error, connection, newSession))
    }
    const { connection, session } = await connect(jstp, "calc", noReconnect({ connectPolicy }), port)
    expect(used).toEqual([["calc", undefined]])
    expect(connection.username).toBe("bob")
    expect(session.username).toBe("bob")
    const rejected = await outcomeOf(jstp.net.connect, "calc", noReconnect({ connectPolicy: new jstp.SimpleConnectPolicy("bob", "wrong") }), port, HOST)
    expect(codeOf(rejected.error)).toBe(11)
  })

  it("an object connect policy ({ connect }) is called as its method", async () => {
    const { app } = calcApp()
    const policy = authPolicy()
    const { port } = await serve(jstp, { applications: [app], authPolicy: policy.authenticate })
    const connectPolicy = {
      login: "ada",
      connect(appName: AppSpec, connection: Connection, _session: Session | undefined, callback: ErrorFirst) {
        connection.handshake(appName, this.login, "secret", (error, session) => callback(error, connection, session))
      }
    }
    const { connection } = await connect(jstp, "calc", noReconnect({ connectPolicy }), port)
    expect(connection.username).toBe("ada")
  })

  it("auth failures: 11 (the policy's Error message is not sent: 11 is a standard code), or the policy's RemoteError", async () => {
    const { app } = calcApp()
    const policy = authPolicy({ nobody: [null, null], empty: [null, undefined], locked: [new jstp.RemoteError(42, "Locked out"), null] })
    const { server, port } = await serve(jstp, { applications: [app], authPolicy: policy.authenticate })
    const failedLogin = async (login: string, password: string) => {
      const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect({ connectPolicy: new jstp.SimpleConnectPolicy(login, password) }), port, HOST)
      expect(outcome.error).toBeInstanceOf(jstp.RemoteError)
      // The callback gets the connection too, which the server closes.
      expect(outcome.connection).toBeInstanceOf(EventEmitter)
      await waitFor(() => socketOf(outcome.connection!).closed, "the server to close the connection")
      await settle()
      expect(outcome.calls()).toBe(1)
      return [outcome.error!.code, outcome.error!.message]
    }
    expect(await failedLogin("ada", "wrong")).toEqual([11, "Authentication failed"])
    expect(await failedLogin("nobody", "x")).toEqual([11, "Authentication failed"])
    expect(await failedLogin("empty", "x")).toEqual([11, "Authentication failed"])
    expect(await failedLogin("locked", "x")).toEqual([42, "Locked out"])
    expect(server.getClientsArray()).toEqual([])
    // Without an auth policy, only anonymous (and session) handshakes pass.
    const open = await serve(jstp, [calcApp().app])
    const noPolicy = await outcomeOf(jstp.net.connect, "calc", noReconnect({ connectPolicy: new jstp.SimpleConnectPolicy("ada", "secret") }), open.port, HOST)
    expect(codeOf(noPolicy.error)).toBe(11)
  })

  it("a custom strategy (any other verb) goes to the auth policy with its credentials", async () => {
    const policy = authPolicy()
    const { app } = calcApp()
    const { server, port } = await serve(jstp, { applications: [app], authPolicy: policy.authenticate })
    const requests = recordEvents(server, "handshakeRequest")
    const peer = await rawConnect(port)
    peer.send("{handshake:[0,'calc'],token:['t0k3n']}")
    const reply = await peer.frame(0)
    expect(reply.handshake).toEqual([0])
    expect(reply.ok).toMatch(UUID_V4)
    expect(policy.calls.map(({ credentials, strategy }) => [strategy, credentials])).toEqual([["token", ["t0k3n"]]])
    expect(requests.map(([, , app, strategy]) => [app, strategy])).toEqual([["calc", "token"]])
    await waitFor(() => server.getClientsArray().length === 1, "the client")
    expect(server.getClientsArray()[0]!.username).toBe("token user")
  })

  it("an unknown application gets 10 and the connection is closed", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const outcome = await outcomeOf(jstp.net.connect, "nope", noReconnect(), port, HOST)
    expect(outcome.error).toBeInstanceOf(jstp.RemoteError)
    expect([codeOf(outcome.error), outcome.error!.message]).toEqual([10, "Application not found"])
    await waitFor(() => socketOf(outcome.connection!).closed, "the server to close the connection")
    await settle()
    expect(outcome.calls()).toBe(1)
    expect(server.getClientsArray()).toEqual([])
  })

  it("versions: no version → the highest; an exact version → that one; a range → the highest in it; name@range or { name, version }", async () => {
    const versions = ["1.0.0", "1.5.0", "1.5.1-beta", "2.0.0"]
    const apps = versions.map((version) =>
      new jstp.Application(`app@${version}`, {
        v: {
          get(_connection: Connection, callback: Callback) {
            callback(null, version)
          }
        }
      })
    )
    const { port } = await serve(jstp, apps)
    const versionFor = async (app: string | { name: string; version?: string }) => {
      const outcome = await outcomeOf(jstp.net.connect, app, noReconnect(), port, HOST)
      if (outcome.error !== null) return outcome.error.code
      return (await call(outcome.connection!, "v", "get"))[0]
    }
    expect(await versionFor("app")).toBe("2.0.0")
    expect(await versionFor("app@1.0.0")).toBe("1.0.0")
    expect(await versionFor("app@1.5.1-beta")).toBe("1.5.1-beta")
    expect(await versionFor("app@^1.0.0")).toBe("1.5.0")
    expect(await versionFor("app@~1.0.0")).toBe("1.0.0")
    expect(await versionFor("app@1.x || 2.x")).toBe("2.0.0")
    expect(await versionFor("app@>=1.2.0 <2.0.0")).toBe("1.5.0")
    expect(await versionFor({ name: "app", version: "~1.5.0" })).toBe("1.5.0")
    expect(await versionFor({ name: "app" })).toBe("2.0.0")
    expect(await versionFor("app@1.2.0")).toBe(10)
    expect(await versionFor("app@^3.0.0")).toBe(10)
  })

  it("an invalid version range is refused locally with an Error, before anything is sent", async () => {
    const listener = Net.createServer()
    const sockets = trackSockets(listener)
    const received: Array<string> = []
    const ended: Array<Promise<void>> = []
    listener.on("connection", (socket: Net.Socket) => {
      // A reset from the client must not be an unhandled 'error' event.
      socket.on("error", () => {})
      socket.on("data", (chunk: Buffer) => void received.push(chunk.toString()))
      ended.push(new Promise((resolve) => socket.once("close", () => resolve())))
    })
    await listen(listener, 0, HOST)
    defer(() => closeServer(listener, sockets))
    for (const app of ["app@not a range!", { name: "app", version: "=>1" }]) {
      const outcome = await outcomeOf(jstp.net.connect, app, noReconnect(), portOf(listener), HOST)
      expect(outcome.error).toBeInstanceOf(Error)
      expect(outcome.error).not.toBeInstanceOf(jstp.RemoteError)
      expect(outcome.error!.message).toBe("Invalid semver version range")
      outcome.connection?.close()
    }
    await waitFor(() => ended.length === 2, "both sockets")
    await Promise.all(ended)
    expect(received).toEqual([])
  })
})

// ================================================================ connections

describe("connection properties and events", () => {
  it("server, client, id, remoteAddress, handshakeDone, username, session, application, remoteProxies, getTransport()", async () => {
    const client = noReconnect()
    const { connection, session, serverSide, server, app } = await calcPair(client)
    expect(connection).toBeInstanceOf(EventEmitter)
    expect(serverSide).toBeInstanceOf(EventEmitter)
    expect(serverSide.server).toBe(server)
    expect(serverSide.client ?? null).toBe(null)
    expect(connection.server ?? null).toBe(null)
    expect(connection.client).toBe(client)
    expect(client.application).toBeInstanceOf(jstp.Application)
    expect(connection.application).toBe(client.application)
    expect(serverSide.application).toBe(app)
    expect(connection.remoteAddress).toBe(HOST)
    expect(serverSide.remoteAddress).toBe(HOST)
    expect(connection.handshakeDone).toBe(true)
    expect(serverSide.handshakeDone).toBe(true)
    expect(connection.session).toBe(session)
    expect(session.connection).toBe(connection)
    expect(serverSide.session!.connection).toBe(serverSide)
    expect(connection.remoteProxies).toEqual({})
    expect(connection.getTransport()).toBeInstanceOf(Net.Socket)
    expect(socketOf(connection).remotePort).toBe(socketOf(serverSide).localPort)
    // Ids are numbers unique in the process, whichever side.
    const { connection: second, serverSide: secondServerSide } = await calcPair()
    const ids = [connection.id, serverSide.id, second.id, secondServerSide.id]
    for (const id of ids) expect(typeof id).toBe("number")
    expect(new Set(ids).size).toBe(4)
  })

  it("'close' (connection) on both sides and the server's 'disconnect' (connection) when a client closes", async () => {
    const { connection, serverSide, server } = await calcPair()
    const closed = nextEvent(connection, "close")
    const serverClosed = nextEvent(serverSide, "close")
    const disconnected = nextEvent(server, "disconnect")
    connection.close()
    expect(await closed).toEqual([connection])
    expect(await serverClosed).toEqual([serverSide])
    expect(await disconnected).toEqual([serverSide])
    expect(server.getClientsArray()).toEqual([])
    expect(connection.closedIntentionally).toBe(true)
  })

  it("'error' (error) when the socket fails; on the server side also the server's 'connectionError' (error, connection)", async () => {
    const { connection } = await calcPair()
    const errored = nextEvent(connection, "error")
    const closed = nextEvent(connection, "close")
    const failure = new Error("the client's socket failed")
    socketOf(connection).destroy(failure)
    expect((await errored)[0]).toBe(failure)
    await closed

    const second = await calcPair()
    const serverErrored = nextEvent(second.serverSide, "error")
    const connectionError = nextEvent(second.server, "connectionError")
    const serverFailure = new Error("the server's socket failed")
    socketOf(second.serverSide).destroy(serverFailure)
    expect((await serverErrored)[0]).toBe(serverFailure)
    expect(await connectionError).toEqual([serverFailure, second.serverSide])
  })

  it("the server side emits 'client' (session, connection) when its handshake completes, before the server's 'connect'", async () => {
    const order: Array<Array<unknown>> = []
    const slowPolicy = (
      _connection: Connection,
      _application: Application,
      _strategy: string,
      credentials: unknown,
      callback: (error: unknown, username?: string | null) => void
    ) => setImmediate(() => callback(null, (credentials as Array<string>)[0]))
    const { server, port } = await serve(jstp, { applications: [calcApp().app], authPolicy: slowPolicy })
    server.on("handshakeRequest", (connection: Connection, app: string, strategy: string) => {
      order.push(["handshakeRequest", app, strategy, connection.handshakeDone])
      connection.on("client", (session: Session, same: Connection) => order.push(["client", session.username, same === connection]))
    })
    server.on("connect", (connection: Connection) => order.push(["connect", connection.username]))
    const { connection } = await connect(jstp, "calc", noReconnect({ connectPolicy: new jstp.SimpleConnectPolicy("eve", "pw") }), port)
    expect(connection.username).toBe("eve")
    expect(order).toEqual([["handshakeRequest", "calc", "login", false], ["client", "eve", true], ["connect", "eve"]])
  })
})

// =========================================================== logging events

/** The logging events of the documented API. */
const LOGGING = ["call", "callback", "event", "handshake", "inspect", "messageRejected", "heartbeat", "incomingMessage", "outgoingMessage"]

describe("logging events", () => {
  const nodeEnv = process.env.NODE_ENV
  afterEach(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = nodeEnv
  })

  /** A client and its server side, with every logging event recorded on the client and through the server's 'log'. */
  const loggedPair = async () => {
    const pair = await calcPair()
    const client = recordEvents(pair.connection, ...LOGGING)
    const server: Array<Array<unknown>> = []
    pair.server.on("log", (connection: Connection, event: string, ...args: Array<unknown>) => {
      if (connection === pair.serverSide) server.push([event, ...args])
    })
    return { ...pair, client, serverLog: server }
  }

  it("call, callback, event, inspect, incomingMessage, outgoingMessage: on the connection, and through the server's 'log' (connection, event, ...args)", async () => {
    expect(process.env.NODE_ENV).not.toBe("production")
    const { connection, serverSide, client, serverLog } = await loggedPair()
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    expect(client).toEqual([
      ["outgoingMessage", { call: [1, "calc"], add: [1, 2] }],
      ["incomingMessage", { callback: [1], ok: [3] }],
      ["callback", undefined, [3]]
    ])
    expect(serverLog).toEqual([
      ["incomingMessage", { call: [1, "calc"], add: [1, 2] }],
      ["call", "calc", "add", [1, 2]],
      ["outgoingMessage", { callback: [1], ok: [3] }]
    ])
    client.length = 0
    serverLog.length = 0

    expect(codeOf((await callResult(connection, "calc", "nope", [])).error)).toBe(14)
    expect(client.at(-1)).toEqual(["callback", [14], undefined])
    await inspect(connection, "news")
    expect(serverLog).toContainEqual(["inspect", "news"])
    expect(client.at(-1)).toEqual(["callback", undefined, ["latest"]])
    client.length = 0
    serverLog.length = 0

    connection.emitRemoteEvent("chat", "message", ["hi"])
    serverSide.emitRemoteEvent("news", "flash", ["x"])
    await waitFor(() => client.some(([name]) => name === "event") && serverLog.some(([name]) => name === "event"), "both events")
    expect(serverLog).toContainEqual(["event", "chat", "message", ["hi"]])
    expect(serverLog).toContainEqual(["outgoingMessage", { event: [-1, "news"], flash: ["x"] }])
    expect(client).toContainEqual(["event", "news", "flash", ["x"]])
    expect(client).toContainEqual(["incomingMessage", { event: [-1, "news"], flash: ["x"] }])

    client.length = 0
    await new Promise<void>((resolve) => connection.ping(() => resolve()))
    expect(client).toEqual([["outgoingMessage", { ping: [5] }], ["incomingMessage", { pong: [5] }]])
  })

  it("handshake (error, ok) on the client; heartbeat and messageRejected (message) on the server", async () => {
    const { app } = calcApp()
    const { server, port } = await serve(jstp, [app])
    const serverLog: Array<Array<unknown>> = []
    server.on("log", (_connection: Connection, event: string, ...args: Array<unknown>) => void serverLog.push([event, ...args]))
    const logger = new EventEmitter()
    const logged = recordEvents(logger, ...LOGGING)
    const { session } = await connect(jstp, "calc", noReconnect({ logger }), port)
    expect(logged).toContainEqual(["handshake", undefined, session.id])
    expect(logged).toContainEqual(["outgoingMessage", { handshake: [0, "calc"] }])
    expect(logged).toContainEqual(["incomingMessage", { handshake: [0], ok: session.id }])
    const refused = await outcomeOf(jstp.net.connect, "nope", noReconnect({ logger }), port, HOST)
    expect(codeOf(refused.error)).toBe(10)
    expect(logged).toContainEqual(["handshake", [10], undefined])
    expect(serverLog).toContainEqual(["handshakeRequest", "calc", "anonymous"])

    const peer = await rawConnect(port)
    peer.send("{handshake:[0,'calc']}")
    await peer.frame(0)
    serverLog.length = 0
    peer.send("{}")
    peer.send("{callback:[99],ok:[1]}")
    await waitFor(() => serverLog.some(([event]) => event === "messageRejected"), "the rejected message")
    expect(serverLog.filter(([event]) => event !== "incomingMessage")).toEqual([
      ["heartbeat", {}],
      ["callback", undefined, [1]],
      ["messageRejected", { callback: [99], ok: [1] }]
    ])
    // Rejected, not fatal.
    peer.send("{call:[1,'calc'],add:[2,2]}")
    expect(await peer.frame(1)).toEqual({ callback: [1], ok: [4] })
  })

  it("a message of an unknown kind is rejected (messageRejected), not fatal", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const rejected: Array<unknown> = []
    server.on("log", (_connection: Connection, event: string, ...args: Array<unknown>) => {
      if (event === "messageRejected") rejected.push(args[0])
    })
    const peer = await rawConnect(port)
    peer.send("{handshake:[0,'calc']}")
    await peer.frame(0)
    peer.send("{hello:[1,'calc'],there:[]}")
    peer.send("{call:[2,'calc'],add:[2,3]}")
    expect(await peer.frame(1)).toEqual({ callback: [2], ok: [5] })
    expect(rejected).toEqual([{ hello: [1, "calc"], there: [] }])
  })

  it("heartbeat, incomingMessage and outgoingMessage only when NODE_ENV is not 'production'", async () => {
    const { connection, client, server, port } = await loggedPair()
    const everything: Array<string> = []
    server.on("log", (_connection: Connection, event: string) => void everything.push(event))
    const peer = await rawConnect(port)
    peer.send("{handshake:[0,'calc']}")
    await peer.frame(0)
    process.env.NODE_ENV = "production"
    everything.length = 0
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    peer.send("{}")
    peer.send("{call:[1,'calc'],add:[2,2]}")
    expect(await peer.frame(1)).toEqual({ callback: [1], ok: [4] })
    expect(client).toEqual([["callback", undefined, [3]]])
    expect(everything).toEqual(["call", "call"])

    process.env.NODE_ENV = "development"
    everything.length = 0
    peer.send("{}")
    expect(await call(connection, "calc", "add", [2, 2])).toEqual([4])
    expect(client.map(([event]) => event)).toEqual(["callback", "outgoingMessage", "incomingMessage", "callback"])
    await waitFor(() => everything.includes("heartbeat"), "the heartbeat")
    expect(everything).toContain("incomingMessage")
    expect(everything).toContain("outgoingMessage")
  })

  it("with client.logger, the logging events go to the logger instead of the connection", async () => {
    const logger = new EventEmitter()
    const logged = recordEvents(logger, ...LOGGING)
    const { connection, serverSide } = await calcPair({ logger })
    const onConnection = recordEvents(connection, ...LOGGING)
    logged.length = 0
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    serverSide.emitRemoteEvent("news", "flash", [1])
    await waitFor(() => logged.some(([event]) => event === "event"), "the event")
    expect(logged.map(([event]) => event)).toEqual(["outgoingMessage", "incomingMessage", "callback", "incomingMessage", "event"])
    expect(onConnection).toEqual([])
  })
})

// ==================================================================== servers

describe("server", () => {
  it("net.createServer returns a real net.Server: listen(port, host, cb), address(), maxConnections, close(cb)", async () => {
    const server = jstp.net.createServer([calcApp().app])
    expect(server).toBeInstanceOf(Net.Server)
    const sockets = trackSockets(server)
    defer(() => closeServer(server, sockets))
    await new Promise<void>((resolve) => server.listen(0, HOST, () => resolve()))
    const address = server.address() as Net.AddressInfo
    expect(address.address).toBe(HOST)
    expect(address.port).toBeGreaterThan(0)
    server.maxConnections = 1
    expect(server.maxConnections).toBe(1)
    const { connection } = await connect(jstp, "calc", noReconnect(), address.port)
    // Node refuses the connection over the limit: no handshake answer.
    const refused = await outcomeOf(jstp.net.connect, "calc", noReconnect(), address.port, HOST)
    expect(refused.error).toBeInstanceOf(Error)
    await settle()
    expect(refused.calls()).toBe(1)
    expect(server.getClientsArray()).toHaveLength(1)
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    await closeConnection(connection)
    await new Promise<void>((resolve) => server.close(() => resolve()))
    expect(server.listening).toBe(false)
  })

  it("listens on a Unix socket: listen(path, cb), connect(app, client, path, cb)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jstp-compat-"))
    defer(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "server.sock")
    const server = jstp.net.createServer({ applications: [calcApp().app] })
    const sockets = trackSockets(server)
    defer(() => closeServer(server, sockets))
    await new Promise<void>((resolve) => server.listen(path, () => resolve()))
    expect(server.address()).toBe(path)
    const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect(), path)
    expect(outcome.error).toBe(null)
    const connection = outcome.connection!
    expect(await call(connection, "calc", "add", [20, 22])).toEqual([42])
    expect((outcome.third as Session).id).toMatch(UUID_V4)
    expect(server.getClientsArray()).toHaveLength(1)
    // connectAndInspect too.
    const inspected = await outcomeOf(jstp.net.connectAndInspect, "calc", noReconnect(), ["calc"], path)
    expect(inspected.error).toBe(null)
    expect(Object.keys(inspected.third as object)).toEqual(["calc"])
  })

  it("messages larger than a socket read arrive whole both ways, with other connections read in between (TCP and a Unix socket)", async () => {
    const echo = new jstp.Application("big", { big: { echo: (_connection: unknown, value: string, callback: Callback) => callback(null, value) } })
    const dir = mkdtempSync(join(tmpdir(), "jstp-compat-"))
    defer(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, "server.sock")
    const unix = jstp.net.createServer({ applications: [echo] })
    const unixSockets = trackSockets(unix)
    defer(() => closeServer(unix, unixSockets))
    await new Promise<void>((resolve) => unix.listen(path, () => resolve()))
    const { port } = await serve(jstp, [echo])
    const connections: Array<Connection> = []
    for (const target of [[port, HOST], [path], [port, HOST], [path]]) {
      const outcome = await outcomeOf(jstp.net.connect, "big", noReconnect(), ...target)
      expect(outcome.error).toBe(null)
      connections.push(outcome.connection!)
    }
    // About 1.5 MB each, multi-byte characters cut at read boundaries.
    const texts = connections.map((_, i) => `${i}:` + "жизнь € 😀 'q' \"dq\" ".repeat(60_000) + i)
    const results = await Promise.all(connections.map((connection, i) => call(connection, "big", "echo", [texts[i]])))
    results.forEach((result, i) => expect(result[0] === texts[i], `connection ${i}`).toBe(true))
  })

  it("connect(app, client, port, host, listener, callback): the listener is net.connect's connect listener", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    let heard = 0
    const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect(), port, HOST, () => heard++)
    expect(outcome.error).toBe(null)
    expect(heard).toBe(1)
    expect(await call(outcome.connection!, "calc", "add", [1, 2])).toEqual([3])
  })

  beyond("2.3.0's client socket emits 'data' events; the facade reads it through net.connect's onread")(
    "a net client's socket is read through onread: it emits no 'data' events, and its calls work",
    async () => {
      const { port } = await serve(jstp, [calcApp().app])
      const { connection } = await connect(jstp, "calc", noReconnect(), port)
      const socket = connection.getTransport() as Net.Socket
      let data = 0
      socket.on("data", () => data++)
      expect(await call(connection, "calc", "add", [20, 22])).toEqual([42])
      expect(data).toBe(0)
    }
  )

  it("createServer(applications, listener): the listener gets each new connection ('connect')", async () => {
    const connected: Array<Connection> = []
    const { server, port } = await serve(jstp, [calcApp().app], (connection) => connected.push(connection))
    const { connection } = await connect(jstp, "calc", noReconnect(), port)
    await waitFor(() => connected.length === 1, "the listener")
    expect(connected[0]!.session!.id).toBe(connection.session!.id)
    expect(server.getClientsArray()).toEqual(connected)
    // applications as an index (createAppsIndex) works too.
    const indexed = await serve(jstp, { applications: jstp.createAppsIndex([calcApp().app]) })
    expect(await call((await connect(jstp, "calc", noReconnect(), indexed.port)).connection, "calc", "add", [1, 2])).toEqual([3])
  })

  it("getClients() iterates the connected clients; getClientsArray() lists them", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    expect([...server.getClients()]).toEqual([])
    const first = await connect(jstp, "calc", noReconnect(), port)
    await connect(jstp, "calc", noReconnect(), port)
    await waitFor(() => server.getClientsArray().length === 2, "two clients")
    const iterator = server.getClients()
    expect(typeof iterator.next).toBe("function")
    const listed = [...iterator]
    expect(listed).toEqual(server.getClientsArray())
    expect(listed.map((connection) => connection.session!.id)).toContain(first.session.id)
    for (const connection of listed) expect(connection.server).toBe(server)
    await closeConnection(first.connection)
    await waitFor(() => server.getClientsArray().length === 1, "one client")
  })

  it("updateApplications + updateConnectionsApi: a range moves to the highest now in it, an exact version stays, no version stays in its major", async () => {
    const make = (version: string) =>
      new jstp.Application(`app@${version}`, {
        v: {
          get(_connection: Connection, callback: Callback) {
            callback(null, version)
          }
        }
      })
    const { server, port } = await serve(jstp, [make("1.0.0"), make("2.1.0")])
    const clients: Record<string, Connection> = {}
    for (const [name, app] of [["range", "app@^1.0.0"], ["exact", "app@1.0.0"], ["none", "app"], ["minor", "app@~2.1.0"]] as const) {
      clients[name] = (await connect(jstp, app, noReconnect(), port)).connection
    }
    const versions = async () => {
      const result: Record<string, unknown> = {}
      for (const [name, connection] of Object.entries(clients)) result[name] = (await call(connection, "v", "get"))[0]
      return result
    }
    expect(await versions()).toEqual({ range: "1.0.0", exact: "1.0.0", none: "2.1.0", minor: "2.1.0" })
    server.updateApplications([make("1.0.0"), make("1.2.0"), make("2.1.0"), make("2.1.5"), make("2.4.0"), make("3.0.0")])
    // Applications only: connections keep theirs until updateConnectionsApi.
    expect(await versions()).toEqual({ range: "1.0.0", exact: "1.0.0", none: "2.1.0", minor: "2.1.0" })
    server.updateConnectionsApi()
    expect(await versions()).toEqual({ range: "1.2.0", exact: "1.0.0", none: "2.4.0", minor: "2.1.5" })
    const byVersion = server.getClientsArray().map((connection) => connection.application!.version).sort()
    expect(byVersion).toEqual(["1.0.0", "1.2.0", "2.1.5", "2.4.0"])
    // An index works as well as an array.
    server.updateApplications(jstp.createAppsIndex([make("1.0.0"), make("1.2.0"), make("1.3.0"), make("2.1.0"), make("2.1.5"), make("2.4.0"), make("3.0.0")]))
    server.updateConnectionsApi()
    expect((await versions()).range).toBe("1.3.0")
    // New connections see the new applications.
    expect((await call((await connect(jstp, "app", noReconnect(), port)).connection, "v", "get"))[0]).toBe("3.0.0")
  })

  it("a connection that does not complete its handshake within 3000 ms is closed ('handshakeTimeout')", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const accepted = nextEvent(server, "connection")
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
    const peer = await rawConnect(port)
    await accepted
    const timeouts = recordEvents(server, "handshakeTimeout")
    await vi.advanceTimersByTimeAsync(2990)
    expect(timeouts).toEqual([])
    await vi.advanceTimersByTimeAsync(20)
    expect(timeouts).toHaveLength(1)
    const [, connection] = timeouts[0]! as [string, Connection]
    expect(connection.handshakeDone).toBe(false)
    vi.useRealTimers()
    await peer.closed
    expect(server.getClientsArray()).toEqual([])
  })

  beyond("2.3.0 has no handshakeTimeout option: always 3000 ms")(
    "the handshakeTimeout option sets that time",
    async () => {
      const { server, port } = await serve(jstp, { applications: [calcApp().app], handshakeTimeout: 150 })
      const timedOut = nextEvent(server, "handshakeTimeout")
      const peer = await rawConnect(port)
      const [connection] = (await timedOut) as [Connection]
      expect(connection).toBeInstanceOf(EventEmitter)
      await peer.closed
      expect(peer.frames).toEqual([])
      // A client that handshakes in time is not closed by it.
      const { connection: client } = await connect(jstp, "calc", noReconnect(), port)
      const closed = recordEvents(client, "close")
      await delay(250)
      expect(closed).toEqual([])
      expect(await call(client, "calc", "add", [1, 2])).toEqual([3])
    }
  )

  it("before its handshake a server accepts nothing else; a second handshake closes the connection too", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    const early = await rawConnect(port)
    early.send("{call:[1,'calc'],add:[1,2]}")
    await early.closed
    expect(early.frames).toEqual([])
    const twice = await rawConnect(port)
    twice.send("{handshake:[0,'calc']}")
    await twice.frame(0)
    twice.send("{handshake:[1,'calc']}")
    await twice.closed
    expect(twice.frames).toHaveLength(1)
  })

  it("a message that does not parse fails the connection: its 'error', the server's 'connectionError'", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const errors = recordEvents(server, "connectionError", "disconnect")
    const peer = await rawConnect(port)
    peer.send("{handshake:[0,'calc']}")
    await peer.frame(0)
    peer.send("{call:[1,'calc'],add:[1,2]]]")
    await peer.closed
    await waitFor(() => errors.some(([event]) => event === "disconnect"), "the disconnect")
    expect(server.getClientsArray()).toEqual([])
    // 2.3.0: ['connectionError', SyntaxError(', expected at position 27'), connection], then 'disconnect'.
    expect(errors.map(([event]) => event)).toEqual(["connectionError", "disconnect"])
    const [, error, connection] = errors[0]!
    expect(error).toBeInstanceOf(Error)
    expect(connection).toBe(errors[1]![1])

    // In the same chunk as the handshake.
    errors.length = 0
    const early = await rawConnect(port)
    early.send("{handshake:[0,'calc']}\0{call:[1,'calc'],add:[1,2]]]")
    await early.closed
    await waitFor(() => errors.some(([event]) => event === "disconnect"), "the second disconnect")
    expect(errors.map(([event]) => event)).toEqual(["connectionError", "disconnect"])
    expect(server.getClientsArray()).toEqual([])
  })

  it("a peer whose input does not parse is dropped at once, even one that never reads nor closes (2.3.0 destroys the socket)", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const silent = Net.connect(port, HOST)
    defer(() => silent.destroy())
    silent.on("error", () => {})
    const accepted = nextEvent(server, "connect")
    silent.write("{handshake:[0,'calc']}\0")
    await accepted
    const dropped = nextEvent(server, "disconnect", 2000)
    silent.write("{call:[1,'calc'],add:[1,2]]]\0")
    await dropped
    expect(server.getClientsArray()).toEqual([])
  })
})

// ====================================================== reconnect and sessions

/** A `calc` server behind a proxy, and a client of it through the proxy with a gated reconnector. */
const droppablePair = async (
  options: { client?: Client; server?: Partial<ServerOptions>; appStorage?: SessionStorageProvider } = {}
) => {
  const calc = calcApp("calc", options.appStorage)
  const served = await serve(jstp, { applications: [calc.app], ...options.server })
  const proxy = await proxyTo(served.port)
  const gate = gatedReconnector()
  const client: Client = options.client ?? {}
  client.reconnector = gate.reconnector
  const accepted = nextEvent(served.server, "connect")
  const { connection, session } = await connect(jstp, "calc", client, proxy.port)
  const [serverSide] = (await accepted) as [Connection]
  /** Kills the socket (both ends, through the proxy) and waits until both sides have seen it. */
  const drop = async () => {
    const closed = nextEvent(connection, "close")
    const serverClosed = nextEvent(serverSide, "close")
    expect(proxy.drop()).toBe(1)
    await closed
    await serverClosed
    await waitFor(gate.isWaiting, "the reconnector")
  }
  /** Lets the reconnector reconnect; resolves with the 'reconnect' event's error. */
  const restore = async () => {
    const reconnected = nextEvent(connection, "reconnect")
    gate.allow()
    const [error] = await reconnected
    return error
  }
  return { ...calc, ...served, proxy, gate, client, connection, session, serverSide, drop, restore }
}


describe("reconnect and sessions", () => {
  it("the default reconnector does not reconnect after connection.close()", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    const { connection } = await connect(jstp, "calc", {}, port)
    const attempts = recordEvents(connection, "reconnectAttempt", "reconnect")
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] })
    await closeConnection(connection)
    await vi.advanceTimersByTimeAsync(120_000)
    expect(attempts).toEqual([])
  })

  it("the default reconnector: backoff + 0..1000 ms, the backoff 1000 ms doubling after each failure up to 32000 ms, reset after a success", async () => {
    const served = await serve(jstp, [calcApp().app])
    const { port, server } = served
    const { connection, session } = await connect(jstp, "calc", {}, port)
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] })
    // Every event with the (fake) time it came at: the reconnector is called
    // on a 'close' or a failed 'reconnect', and its timer fires the next
    // 'reconnectAttempt' exactly `backoff + random` ms later.
    const timeline: Array<[string, number, unknown]> = []
    for (const event of ["close", "reconnectAttempt", "reconnect"]) {
      connection.on(event, (...args: Array<unknown>) => void timeline.push([event, Date.now(), event === "reconnect" ? args[0] : args]))
    }
    const count = (event: string) => timeline.filter(([name]) => name === event).length
    /**
     * Moves the fake clock on, 250 ms at a time, until `done`; while an
     * attempt is in flight, only real time passes (so that no timer of the
     * server's, such as its handshake timeout, fires meanwhile).
     */
    const runUntil = async (done: () => boolean, what: string) => {
      const start = performance.now()
      while (!done()) {
        if (performance.now() - start > 10_000) throw new Error(`timed out waiting for ${what}`)
        if (count("reconnectAttempt") > count("reconnect")) {
          await delay(1)
        } else {
          await vi.advanceTimersByTimeAsync(250)
          await settle(1)
        }
      }
    }

    // The server goes away: every attempt is refused.
    await closeServer(server, served.sockets)
    await waitFor(() => count("close") === 1, "the close")
    await runUntil(() => count("reconnect") === 7, "seven failed attempts")
    // Back: the next attempt restores the session (whenever it comes).
    await listen(server, port, HOST)
    await runUntil(() => count("reconnect") === 8, "the eighth attempt")
    expect(connection.session).toBe(session)
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    // Dropped again: the backoff starts over.
    for (const socket of served.sockets) socket.destroy()
    await waitFor(() => count("close") === 2, "the second close")
    await runUntil(() => count("reconnect") === 9, "the ninth attempt")
    // Connected: no more attempts.
    await vi.advanceTimersByTimeAsync(100_000)
    expect(count("reconnectAttempt")).toBe(9)

    const outcomes = timeline.filter(([event]) => event === "reconnect").map(([, , error]) => (error === null ? null : (error as { code?: unknown }).code))
    expect(outcomes).toEqual([...Array(7).fill("ECONNREFUSED"), null, null])
    expect(timeline.find(([event]) => event === "reconnectAttempt")![2]).toEqual(["net", port, HOST])
    // The delay of each attempt since the reconnector was called (the close or the failure before it).
    const delays: Array<number> = []
    let calledAt = 0
    for (const [event, time] of timeline) {
      if (event === "reconnectAttempt") delays.push(time - calledAt)
      else calledAt = time
    }
    const backoffs = [1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000, 1000]
    expect(delays).toHaveLength(backoffs.length)
    delays.forEach((delay, i) => {
      expect(delay, `attempt ${i + 1}`).toBeGreaterThanOrEqual(backoffs[i]!)
      expect(delay, `attempt ${i + 1}`).toBeLessThanOrEqual(backoffs[i]! + 1000)
    })
  })

  it("a custom reconnector drives reconnectFn: reconnectAttempt (transport, ...options), reconnect (error), the session restored", async () => {
    const { connection, session, serverSide, server, proxy, port, app, drop, restore, gate } = await droppablePair()
    const events = recordEvents(connection, "reconnectAttempt", "reconnect", "close")
    const serverEvents = recordEvents(server, "reconnect", "restoreSession", "connect", "disconnect")
    await drop()
    expect(await restore()).toBe(null)
    await settle()
    expect(gate.attempts).toEqual([null])
    expect(gate.calls()).toBe(1)
    expect(events).toEqual([["close", connection], ["reconnectAttempt", "net", proxy.port, HOST], ["reconnect", null]])
    expect(connection.session).toBe(session)
    expect(connection.handshakeDone).toBe(true)
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    expect(serverEvents).toEqual([
      ["disconnect", serverSide],
      ["restoreSession", serverSide.session, serverSide, app],
      ["reconnect", serverSide]
    ])
    expect(serverSide.session!.id).toBe(session.id)
    // A restored connection is still a client (2.3.0 forgets it: a bug of its own).
    if (!onReference) expect(server.getClientsArray().map((client) => client.session!.id)).toEqual([session.id])

    // A failed attempt: 'reconnect' (error), and the reconnector is asked again, once.
    await drop()
    expect(gate.calls()).toBe(2)
    proxy.refuse(true)
    expect(await restore()).toBeInstanceOf(Error)
    await waitFor(gate.isWaiting, "the reconnector, again")
    await settle()
    expect(gate.calls()).toBe(3)
    proxy.refuse(false)
    expect(await restore()).toBe(null)
    expect(await call(connection, "calc", "add", [2, 2])).toEqual([4])

    // reconnectFn([transport], ...options, [callback]) with other options: straight to the server.
    const closed = nextEvent(connection, "close")
    connection.client!.reconnector = (self, reconnectFn) => {
      if (!self.closedIntentionally) reconnectFn("net", port, HOST)
    }
    proxy.drop()
    await closed
    await nextEvent(connection, "reconnect")
    expect(events.at(-2)).toEqual(["reconnectAttempt", "net", port, HOST])
    expect(await call(connection, "calc", "add", [3, 3])).toEqual([6])
    expect(socketOf(connection).remotePort).toBe(port)
  })

  it("what both sides sent while the link was down is delivered after the restore", async () => {
    const received: Array<unknown> = []
    const application = new jstp.Application("client", {
      ui: {
        echo(_connection: Connection, text: string, callback: Callback) {
          callback(null, `echo ${text}`)
        }
      }
    }, {
      news: {
        flash(_connection: Connection, text: string) {
          received.push(text)
        }
      }
    })
    const { connection, serverSide, events, drop, restore } = await droppablePair({ client: { application } })
    expect(await call(connection, "calc", "add", [1, 1])).toEqual([2])
    await drop()
    const added = call(connection, "calc", "add", [1, 2])
    connection.emitRemoteEvent("chat", "message", ["sent while down"])
    const doubled = call(connection, "calc", "double", [4])
    serverSide.emitRemoteEvent("news", "flash", ["flash while down"])
    const echoed = call(serverSide, "ui", "echo", ["down"])
    await settle()
    expect(events).toEqual([])
    expect(received).toEqual([])
    expect(await restore()).toBe(null)
    expect(await added).toEqual([3])
    expect(await doubled).toEqual([8])
    expect(await echoed).toEqual(["echo down"])
    await waitFor(() => events.length === 1 && received.length === 1, "the events")
    expect(events).toEqual([["chat", "message", "sent while down", null]])
    expect(received).toEqual(["flash while down"])
    // Each once.
    expect(await call(connection, "calc", "add", [5, 5])).toEqual([10])
    expect(events).toHaveLength(1)
    expect(received).toHaveLength(1)
  })

  beyond("2.3.0 re-issues the call with the arguments of the lost callback (none): the resent call gets 17")(
    "callMethodWithResend issues a call again when its callback was lost in a restore",
    async () => {
      const { connection, drop, restore, held } = await droppablePair()
      const results: Array<Array<unknown>> = []
      connection.callMethodWithResend("calc", "hold", ["x"], (error, ...values) => void results.push([error, ...values]))
      await waitFor(() => held.length === 1, "the first run")
      await drop()
      held[0]![1](null, "lost with the link")
      expect(await restore()).toBe(null)
      await waitFor(() => held.length === 2, "the call issued again")
      expect(held.map(([x]) => x)).toEqual(["x", "x"])
      held[1]![1](null, "answered", 2)
      await waitFor(() => results.length === 1, "the answer")
      expect(results).toEqual([[null, "answered", 2]])
    }
  )

  it("a call whose callback was lost in a restore gets the bare number ERR_CALLBACK_LOST (-1); the peer's own -1 is a RemoteError", async () => {
    const { connection, drop, restore, held } = await droppablePair()
    const pending = callResult(connection, "calc", "hold", ["x"])
    await waitFor(() => held.length === 1, "the call")
    await drop()
    expect(await restore()).toBe(null)
    expect((await pending).error).toBe(jstp.ERR_CALLBACK_LOST)
    const answered = callResult(connection, "calc", "hold", ["y"])
    await waitFor(() => held.length === 2, "the second call")
    held[1]![1](new jstp.RemoteError(jstp.ERR_CALLBACK_LOST))
    const { error } = await answered
    expect(error).toBeInstanceOf(jstp.RemoteError)
    expect(codeOf(error)).toBe(-1)
  })

  it("connection.close() ends the link, not the session: calls wait or are buffered, and net.reconnect restores the session on the same connection", async () => {
    const { connection, session, proxy, held, server } = await droppablePair()
    const waiting = callResult(connection, "calc", "hold", ["x"])
    const resent: Array<Array<unknown>> = []
    connection.callMethodWithResend("calc", "pause", [], (error, ...values) => void resent.push([error, ...values]))
    await waitFor(() => held.length === 2, "both calls to reach the server")
    const closed = nextEvent(connection, "close")
    expect(() => connection.close()).not.toThrow()
    await closed
    // After close(): nothing answered, a new call buffered.
    const later = call(connection, "calc", "add", [2, 3])
    let laterSettled = false
    void later.then(() => laterSettled = true, () => laterSettled = true)
    await settle(20)
    expect(laterSettled).toBe(false)
    expect(resent).toEqual([])

    const reconnected = nextEvent(server, "reconnect")
    const outcome = await outcomeOf(jstp.net.reconnect, connection, proxy.port, HOST)
    expect(outcome.error).toBe(null)
    expect(outcome.connection).toBe(connection)
    expect(connection.session).toBe(session)
    await reconnected
    // The buffered call is sent; the calls the server got and never answered
    // lost their callbacks: the plain one gets -1, the resendable one is sent again.
    expect(await later).toEqual([5])
    expect((await waiting).error).toBe(jstp.ERR_CALLBACK_LOST)
    await waitFor(() => held.length === 3, "the resendable call sent again")
    expect(held[2]![0]).toBe("pause")
    held[2]![1](null, "answered")
    await waitFor(() => resent.length === 1, "its answer")
    expect(resent).toEqual([[null, "answered"]])
  })

  it("net.reconnect on a connection whose link is still open: no error, the server ends the old socket, the connection goes on over the new one", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const { connection, session } = await connect(jstp, "calc", noReconnect(), port)
    const oldSocket = socketOf(connection)
    const oldClosed = new Promise<void>((resolve) => oldSocket.once("close", () => resolve()))
    const reconnected = nextEvent(server, "reconnect")
    const outcome = await outcomeOf(jstp.net.reconnect, connection, port, HOST)
    expect(outcome.error).toBe(null)
    expect(outcome.connection).toBe(connection)
    await reconnected
    await oldClosed
    expect(socketOf(connection)).not.toBe(oldSocket)
    expect(connection.session).toBe(session)
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
  })

  it("connection.close() never throws: a call and an inspect with no callback still waiting are dropped, the socket is ended", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    const { connection } = await connect(jstp, "calc", noReconnect(), port)
    const errors = recordEvents(connection, "error")
    connection.callMethod("calc", "hold", ["x"])
    connection.inspectInterface("calc")
    const socket = socketOf(connection)
    const socketClosed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    expect(() => connection.close()).not.toThrow()
    await socketClosed
    await settle(10)
    expect(errors).toEqual([])
  })

  it("net.reconnect(connection, ...options, callback) restores the same connection and session over a new socket", async () => {
    const { connection, session, port, drop } = await droppablePair()
    await drop()
    const pending = call(connection, "calc", "add", [2, 3])
    const outcome = await outcomeOf(jstp.net.reconnect, connection, port, HOST)
    expect(outcome.error).toBe(null)
    expect(outcome.connection).toBe(connection)
    expect(connection.session).toBe(session)
    expect(await pending).toEqual([5])
  })

  it("client.session: a new connection restores an existing session", async () => {
    const { connection, session, port, drop, server } = await droppablePair()
    await drop()
    const reconnected = nextEvent(server, "reconnect")
    const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect({ session }), port, HOST)
    expect(outcome.error).toBe(null)
    const restored = outcome.connection!
    expect(restored).not.toBe(connection)
    expect(restored.session).toBe(session)
    await reconnected
    expect(await call(restored, "calc", "who")).toEqual([null, session.id])

    const unknown = await outcomeOf(jstp.net.connect, "calc", noReconnect({ session: new jstp.Session(null, null) }), port, HOST)
    expect(unknown.error).toBeInstanceOf(jstp.RemoteError)
    expect(codeOf(unknown.error)).toBe(11)
  })

  it("restoring a session whose old link is still open (half-open, or taken over) closes that old link", async () => {
    const { server, port, sockets } = await serve(jstp, [calcApp().app])
    const first = await connect(jstp, "calc", noReconnect(), port)
    const firstClosed = nextEvent(first.connection, "close", 1000)
    const reconnected = nextEvent(server, "reconnect")
    const second = await connect(jstp, "calc", noReconnect({ session: first.session }), port)
    await reconnected
    expect(await call(second.connection, "calc", "who")).toEqual([null, first.session.id])
    // 2.3.0 ends the old transport: the first connection closes, the server keeps one socket.
    expect(await firstClosed).toEqual([first.connection])
    await waitFor(() => sockets.size === 1, "the server to close the old socket", 1000)
  })

  it("a client session written with toString() and read back with Session.fromString restores, resending what it had buffered", async () => {
    const { connection, session, port, drop, events, server } = await droppablePair()
    await drop()
    connection.emitRemoteEvent("chat", "message", ["buffered"])
    const text = session.toString()
    connection.close()
    const copy = jstp.Session.fromString(text)
    expect(copy.id).toBe(session.id)
    expect(copy.buffer.size).toBe(1)
    const reconnected = nextEvent(server, "reconnect")
    const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect({ session: copy }), port, HOST)
    expect(outcome.error).toBe(null)
    await reconnected
    expect(outcome.connection!.session).toBe(copy)
    await waitFor(() => events.length === 1, "the buffered event")
    expect(events).toEqual([["chat", "message", "buffered", null]])
    expect(await call(outcome.connection!, "calc", "who")).toEqual([null, session.id])
    expect(events).toHaveLength(1)
  })

  /** A session storage provider that records what it is asked. */
  const recordingStorage = () => {
    const log: Array<Array<unknown>> = []
    const provider = new jstp.SimpleSessionStorageProvider()
    const storage: SessionStorageProvider = {
      get: (id: string) => {
        log.push(["get", id])
        return provider.get(id)
      },
      set: (id: string, session: unknown) => {
        log.push(["set", id])
        return provider.set(id, session as Session)
      },
      setInactive: (id: string) => {
        log.push(["setInactive", id])
        provider.setInactive(id)
      },
      isAsync: () => false
    }
    return { storage, log }
  }

  it("an application's own session storage provider is used instead of the server's", async () => {
    const ofServer = recordingStorage()
    const ofApp = recordingStorage()
    const { session, drop } = await droppablePair({ server: { sessionStorageProvider: ofServer.storage }, appStorage: ofApp.storage })
    await drop()
    expect(ofApp.log).toEqual([["set", session.id], ["setInactive", session.id]])
    expect(ofServer.log).toEqual([])
  })

  it("after clientExpirationTime the server forgets the link, and restores the session from its storage provider", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] })
    const { storage, log } = recordingStorage()
    const { connection, session, drop, restore, server } = await droppablePair({
      server: { sessionStorageProvider: storage, clientExpirationTime: 100 }
    })
    expect(await call(connection, "calc", "add", [1, 1])).toEqual([2])
    await drop()
    expect(log).toEqual([["set", session.id], ["setInactive", session.id]])
    const pending = call(connection, "calc", "add", [2, 2])
    await vi.advanceTimersByTimeAsync(1000)
    const restored = recordEvents(server, "restoreSession")
    expect(await restore()).toBe(null)
    expect(log.at(-1)).toEqual(["get", session.id])
    expect(await pending).toEqual([4])
    expect(restored).toHaveLength(1)
    expect((restored[0]![1] as Session).id).toBe(session.id)
  })

  for (const kind of ["sync", "async"] as const) {
    it(`a ${kind} session storage provider: another server restores the session from it`, async () => {
      const stored = new Map<string, string>()
      const log: Array<Array<unknown>> = []
      const read = (id: string) => (stored.has(id) ? jstp.Session.fromString(stored.get(id)!) : undefined)
      const sessionStorageProvider = {
        get: kind === "sync"
          ? (id: string) => {
            log.push(["get", id])
            return read(id)
          }
          : (id: string, callback?: (session: unknown) => void) => {
            log.push(["get", id])
            setImmediate(() => callback!(read(id)))
          },
        set: (id: string, session: Session) => {
          log.push(["set", id])
          stored.set(id, session.toString())
        },
        setInactive: (id: string) => void log.push(["setInactive", id]),
        isAsync: () => kind === "async"
      }
      const policy = authPolicy()
      const { connection, session, proxy, drop, restore, serverSide } = await droppablePair({
        client: { connectPolicy: new jstp.SimpleConnectPolicy("ada", "secret") },
        server: { sessionStorageProvider, authPolicy: policy.authenticate }
      })
      serverSide.session!.set("cart", ["apple"])
      const other = await serve(jstp, { applications: [calcApp().app], sessionStorageProvider })
      await drop()
      expect(log).toEqual([["set", session.id], ["setInactive", session.id]])
      expect(JSON.parse(stored.get(session.id)!)).toMatchObject({ id: session.id, username: "ada" })
      proxy.retarget(other.port)
      const pending = call(connection, "calc", "add", [4, 5])
      const restored = recordEvents(other.server, "restoreSession", "reconnect")
      expect(await restore()).toBe(null)
      expect(log.at(-1)).toEqual(["get", session.id])
      expect(await pending).toEqual([9])
      expect(restored.map(([event]) => event)).toEqual(["restoreSession", "reconnect"])
      const [, restoredSession, restoredConnection, application] = restored[0] as [string, Session, Connection, Application]
      expect(restoredSession.id).toBe(session.id)
      expect(restoredSession.username).toBe("ada")
      expect(restoredSession.get("cart")).toEqual(["apple"])
      expect(restoredConnection.username).toBe("ada")
      expect(application).toBeInstanceOf(jstp.Application)
      expect(await call(connection, "calc", "who")).toEqual(["ada", session.id])
    })
  }
})

// ================================================================= heartbeat

describe("heartbeat", () => {
  it("client.heartbeatInterval: the client pings the server every interval", async () => {
    const { server, port } = await serve(jstp, [calcApp().app])
    const pings: Array<unknown> = []
    server.on("log", (_connection: Connection, event: string, message: Record<string, unknown>) => {
      if (event === "incomingMessage" && "ping" in message) pings.push(message)
    })
    const { connection } = await connect(jstp, "calc", noReconnect({ heartbeatInterval: 15 }), port)
    const pongs = recordEvents(connection, "incomingMessage")
    await waitFor(() => pings.length >= 3 && pongs.length >= 3, "three pings and pongs")
    expect(pings.slice(0, 3)).toEqual([{ ping: [1] }, { ping: [2] }, { ping: [3] }])
    expect(pongs.slice(0, 3).map(([, message]) => message)).toEqual([{ pong: [1] }, { pong: [2] }, { pong: [3] }])
    // Calls go on between pings.
    expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
  })

  it("the server's heartbeatInterval: the server pings each client every interval", async () => {
    const { port } = await serve(jstp, { applications: [calcApp().app], heartbeatInterval: 15 })
    const logger = new EventEmitter()
    const pings = recordEvents(logger, "incomingMessage")
    await connect(jstp, "calc", noReconnect({ logger }), port)
    await waitFor(() => pings.filter(([, message]) => "ping" in (message as object)).length >= 2, "two pings")
    expect(pings.map(([, message]) => message).filter((message) => "ping" in (message as object)).slice(0, 2)).toEqual([
      { ping: [-1] },
      { ping: [-2] }
    ])
  })

  it("startHeartbeat(ms) and stopHeartbeat()", async () => {
    const { connection } = await calcPair()
    const sent = recordEvents(connection, "outgoingMessage")
    const pings = () => sent.filter(([, message]) => "ping" in (message as object)).length
    connection.startHeartbeat(10)
    await waitFor(() => pings() >= 3, "three pings")
    connection.stopHeartbeat()
    const stoppedAt = pings()
    await delay(60)
    expect(pings()).toBe(stoppedAt)
    // Stopping twice, or without a heartbeat, is harmless.
    connection.stopHeartbeat()
  })
})

// ============================================================ connect errors

describe("connect errors", () => {
  it("ECONNREFUSED reaches the callback exactly once, without a connection", async () => {
    const closed = Net.createServer()
    await listen(closed, 0, HOST)
    const port = portOf(closed)
    await closeServer(closed)
    for (const fn of [jstp.net.connect, jstp.net.connectAndInspect]) {
      const args = fn === jstp.net.connect ? ["calc", noReconnect(), port, HOST] : ["calc", noReconnect(), ["calc"], port, HOST]
      const outcome = await outcomeOf(fn, ...args)
      expect(outcome.error).toBeInstanceOf(Error)
      expect(outcome.error!.code).toBe("ECONNREFUSED")
      expect(outcome.connection).toBe(undefined)
      expect(outcome.synchronous).toBe(false)
      await settle()
      expect(outcome.calls()).toBe(1)
    }
    const dir = mkdtempSync(join(tmpdir(), "jstp-compat-"))
    defer(() => rmSync(dir, { recursive: true, force: true }))
    const noSocket = await outcomeOf(jstp.net.connect, "calc", null, join(dir, "nobody.sock"))
    expect(noSocket.error!.code).toBe("ENOENT")
    await settle()
    expect(noSocket.calls()).toBe(1)
  })

  beyond("2.3.0 lets the errors net.connect throws escape connect(): thrown at the caller, the callback never called")(
    "errors Node throws synchronously (a bad port, arguments of the wrong type) reach the callback once, asynchronously",
    async () => {
      const before = openSockets()
      const cases: ReadonlyArray<readonly [ReadonlyArray<unknown>, string]> = [
        [[-1], "ERR_SOCKET_BAD_PORT"],
        [[70000, HOST], "ERR_SOCKET_BAD_PORT"],
        [[{ port: "not a port" }], "ERR_SOCKET_BAD_PORT"],
        [[true], "ERR_INVALID_ARG_TYPE"],
        [[{ port: true }], "ERR_INVALID_ARG_TYPE"],
        [[{}], "ERR_MISSING_ARGS"]
      ]
      for (const [args, code] of cases) {
        for (const [name, fn, before] of [
          ["connect", jstp.net.connect, ["app", null]],
          ["connectAndInspect", jstp.net.connectAndInspect, ["app", null, ["iface"]]]
        ] as const) {
          const outcome = await outcomeOf(fn, ...before, ...args)
          const what = `${name}(${JSON.stringify(args)})`
          expect(outcome.error, what).toBeInstanceOf(Error)
          expect(outcome.error!.code, what).toBe(code)
          expect(outcome.connection, what).toBe(undefined)
          expect(outcome.synchronous, what).toBe(false)
          await settle()
          expect(outcome.calls(), what).toBe(1)
        }
      }
      // reconnect(connection, ...args, callback) too.
      // (Node leaves the handle of each socket it threw for open: nobody can close it.)
      tolerateLeakedSockets(openSockets() - before)
      const { connection } = await calcPair()
      const beforeReconnect = openSockets()
      const outcome = await outcomeOf(jstp.net.reconnect, connection, -1)
      tolerateLeakedSockets(openSockets() - beforeReconnect)
      expect(outcome.error!.code).toBe("ERR_SOCKET_BAD_PORT")
      expect(outcome.synchronous).toBe(false)
      await settle()
      expect(outcome.calls()).toBe(1)
      expect(await call(connection, "calc", "add", [1, 2])).toEqual([3])
    }
  )

  it("a handshake error reaches the callback once, with the connection", async () => {
    const { port } = await serve(jstp, [calcApp().app])
    const outcome = await outcomeOf(jstp.net.connect, "nope", noReconnect(), port, HOST)
    expect(codeOf(outcome.error)).toBe(10)
    expect(outcome.synchronous).toBe(false)
    await waitFor(() => socketOf(outcome.connection!).closed, "the close")
    await settle()
    expect(outcome.calls()).toBe(1)
  })

  it("a server that closes the connection before answering the handshake: ERR_NO_HANDSHAKE_RESPONSE (-2), once", async () => {
    const closing = Net.createServer((socket) => {
      // The client may reset the socket once it sees the end: no unhandled 'error' event.
      socket.on("error", () => {})
      socket.once("data", () => socket.end())
    })
    const sockets = trackSockets(closing)
    await listen(closing, 0, HOST)
    defer(() => closeServer(closing, sockets))
    const outcome = await outcomeOf(jstp.net.connect, "calc", noReconnect(), portOf(closing), HOST)
    expect(outcome.error).toBeInstanceOf(jstp.RemoteError)
    expect([codeOf(outcome.error), outcome.error!.message]).toEqual([-2, "Connection closed before receiving handshake"])
    await settle()
    expect(outcome.calls()).toBe(1)
  })
})

// ============================================ CommonJS, and the README example

describe("loaded as 2.x code loads it", () => {
  it("require('effect-jstp/compat') from a child node process (dist/): a server, a client, calls, an event; the process then exits by itself", async () => {
    const program = `
      const jstp = require("effect-jstp/compat")
      const app = new jstp.Application("testApp", {
        svc: {
          hi(connection, name, callback) { callback(null, "Hi, " + name + "!") },
          async twice(connection, x) { return 2 * x }
        }
      }, {
        svc: { note(connection, text) { console.log("event " + text); server.close() } }
      })
      const server = jstp.net.createServer({ applications: [app], sessionStorageProvider: new jstp.SimpleSessionStorageProvider() })
      server.listen(0, "127.0.0.1", () => {
        jstp.net.connectAndInspect("testApp", null, ["svc"], server.address().port, "127.0.0.1", (error, connection, api) => {
          if (error) throw error
          api.svc.hi("CommonJS", (error, text) => {
            api.svc.twice(21, (error2, n) => {
              console.log(JSON.stringify([error, text, error2, n, connection instanceof jstp.Connection,
                new jstp.RemoteError(14).message, jstp.ERR_APP_NOT_FOUND, typeof jstp.net.reconnect]))
              api.svc.emit("note", "bye")
              connection.close()
            })
          })
        })
      })`
    const { code, stderr, stdout } = await run(process.execPath, ["-e", program], 10_000)
    expect(stderr).toBe("")
    expect(stdout.trim().split("\n")).toEqual([
      JSON.stringify([null, "Hi, CommonJS!", null, 42, true, "Method not found", 10, "function"]),
      "event bye"
    ])
    // Exited by itself (no timer of the facade keeps the process alive), and cleanly.
    expect(code).toBe(0)
  })

  beyond("2.3.0 throws it too, from the socket's close event, but also never calls back a handshake its close() cut short before the socket closes")(
    "close() does not throw when a callback it completes throws: the socket is ended, the callback's error is thrown on a later tick",
    async () => {
      const program = `
        const jstp = require("effect-jstp/compat")
        const net = require("node:net")
        // A server that accepts and never answers the handshake.
        const silent = net.createServer((socket) => socket.resume().on("close", () => { console.log("server saw the socket end"); silent.close() }))
        process.on("uncaughtException", (error) => console.log("uncaught: " + error.message))
        silent.listen(0, "127.0.0.1", () => {
          const policy = (app, connection, session, callback) => {
            connection.handshake(app, null, null, () => { throw new Error("a bug in the callback") })
            setImmediate(() => {
              try { connection.close(); console.log("close returned") } catch (error) { console.log("close threw: " + error.message) }
            })
          }
          jstp.net.connect("app", { connectPolicy: policy, reconnector: () => {} }, silent.address().port, "127.0.0.1", () => {})
        })`
      const { code, stderr, stdout } = await run(process.execPath, ["-e", program], 10_000)
      expect(stderr).toBe("")
      expect(stdout.trim().split("\n").sort()).toEqual(["close returned", "server saw the socket end", "uncaught: a bug in the callback"])
      expect(code).toBe(0)
    }
  )

  it("examples/getting-started: the reference README's server and client, with only the require line changed", async () => {
    const free = await new Promise<boolean>((resolve) => {
      const probe = Net.createServer()
      probe.once("error", () => resolve(false))
      probe.listen(3000, () => probe.close(() => resolve(true)))
    })
    expect(free, "port 3000 must be free: examples/getting-started/server.cjs listens on it").toBe(true)
    const start = (file: string) => {
      const child = spawn(process.execPath, [file], { cwd: root })
      const output = { stdout: "", stderr: "" }
      child.stdout.on("data", (chunk: Buffer) => (output.stdout += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (output.stderr += chunk.toString()))
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
      defer(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill()
        await exited
      })
      return output
    }
    const server = start("examples/getting-started/server.cjs")
    await waitFor(() => server.stdout.includes("\n") || server.stderr !== "", "the server to start", 10_000)
    expect(server.stderr).toBe("")
    expect(server.stdout).toBe("TCP server listening on port 3000 🚀\n")
    const client = start("examples/getting-started/client.cjs")
    await waitFor(() => client.stdout.includes("\n") || client.stderr !== "", "the client's answer", 10_000)
    expect(client.stderr).toBe("")
    expect(client.stdout).toBe(`Server said "Hi, JSTP!" 😲\n`)
  })
})
