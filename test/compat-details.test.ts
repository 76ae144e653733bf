// Details 2.x code relies on (issue 13), each observed on the facade and on
// the reference, @metarhia/jstp 2.3.0, side by side:
// - a RemoteError subclass that still overrides the deprecated toJstpArray();
// - the order of the module's keys (ERR_* in code order), in the built
//   CommonJS package;
// - what arguments JSON cannot say (undefined, functions, symbols) become on
//   the wire, and so what the peer's handler gets.
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { Serde } from "effect-jstp"
import * as Net from "node:net"
import {
  type Application,
  callResult,
  codeOf,
  connect,
  defer,
  facade,
  HOST,
  type Jstp,
  listen,
  mdsf,
  noOpenSockets,
  noReconnect,
  portOf,
  reference,
  release,
  serve,
  settle,
  trackSockets,
  waitFor
} from "./support/compat.js"
import { run } from "./support/run.js"

afterEach(release)
afterAll(noOpenSockets)

const implementations: ReadonlyArray<readonly [string, Jstp]> = [["facade", facade], ["reference", reference]]

/** The DeprecationWarnings emitted while `body` runs (they come on a later tick). */
const deprecations = async (body: () => unknown): Promise<Array<string>> => {
  const warnings: Array<Error> = []
  const onWarning = (warning: Error) => void warnings.push(warning)
  process.on("warning", onWarning)
  try {
    await body()
    await settle()
  } finally {
    process.off("warning", onWarning)
  }
  return warnings.filter((warning) => warning.name === "DeprecationWarning").map((warning) => warning.message)
}

const OVERRIDE_WARNING = "toJstpArray() method is deprecated, implement toJSTP() instead"
const INHERITED_WARNING = "toJstpArray() method is deprecated, use toJSTP() instead"

/** A RemoteError subclass of `jstp` written for 1.x: it overrides toJstpArray() only. */
const legacyError = (jstp: Jstp) =>
  class LegacyError extends jstp.RemoteError {
    override toJstpArray(): Array<unknown> {
      return [this.code + 1000, `legacy: ${this.message}`, "extra"]
    }
  }

// ======================================================= RemoteError.toJstpArray

describe.each(implementations)("a RemoteError subclass overriding only toJstpArray() (%s)", (_name, jstp) => {
  it("the inherited toJstpArray() warns once in all, the first time any error calls it", async () => {
    const messages = await deprecations(() => {
      const error = new jstp.RemoteError(42, "m", ["i"])
      expect(error.toJstpArray()).toEqual([42, "m", "i"])
      expect(error.toJstpArray()).toEqual([42, "m", "i"])
      expect(new jstp.RemoteError(12).toJstpArray()).toEqual([12])
      // Creating errors warns about nothing.
      new jstp.RemoteError(43)
    })
    expect(messages).toEqual([INHERITED_WARNING])
    expect(await deprecations(() => new jstp.RemoteError(1).toJstpArray())).toEqual([])
  })

  it("toJSTP() and getJstpArrayFor() give what the override returns; each error warns on its first call", async () => {
    const LegacyError = legacyError(jstp)
    const first = new LegacyError(5, "five")
    const second = new LegacyError(6)
    const messages = await deprecations(() => {
      expect(first.toJSTP()).toEqual([1005, "legacy: five", "extra"])
      expect(first.toJSTP()).toEqual([1005, "legacy: five", "extra"])
      expect(first.toJstpArray()).toEqual([1005, "legacy: five", "extra"])
      expect(jstp.RemoteError.getJstpArrayFor(second)).toEqual([1006, "legacy: 6", "extra"])
    })
    // Once per error: 2.3.0 wraps each one's override in its constructor.
    expect(messages).toEqual([OVERRIDE_WARNING, OVERRIDE_WARNING])
    expect(await deprecations(() => first.toJSTP())).toEqual([])
    // Creating one warns about nothing.
    expect(await deprecations(() => new LegacyError(7))).toEqual([])
  })

  it("has 2.x's own keys, in 2.x's order (the wrapped override among them)", () => {
    const LegacyError = legacyError(jstp)
    expect(Object.keys(new LegacyError(5, "five"))).toEqual(["message", "code", "toJstpArray", "info"])
    expect(Object.keys(new jstp.RemoteError(5, "five"))).toEqual(["message", "code", "info"])
    expect(Object.getOwnPropertyNames(new jstp.RemoteError(5))).toEqual(["stack", "message", "code", "info"])
  })

  it("an override assigned to one error later is honoured too, with no warning", async () => {
    const error = new jstp.RemoteError(42, "m")
    Object.assign(error, { toJstpArray: () => [7, "assigned"] })
    expect(await deprecations(() => expect(error.toJSTP()).toEqual([7, "assigned"]))).toEqual([])
  })
})

describe.each(implementations.flatMap(([server, serverJstp]) =>
  implementations.map(([client, clientJstp]) => [server, client, serverJstp, clientJstp] as const)
))("a handler failing with such an error: %s server, %s client", (_server, _client, serverJstp, clientJstp) => {
  it("the peer's callback gets the override's array, from a callback or an async handler", async () => {
    const LegacyError = legacyError(serverJstp)
    const app: Application = new serverJstp.Application("app", {
      calc: {
        fail: (_connection: unknown, callback: (error: unknown) => void) => callback(new LegacyError(5, "five")),
        reject: async (_connection: unknown) => {
          throw new LegacyError(6, "six")
        }
      }
    })
    const { port } = await serve(serverJstp, [app])
    const { connection } = await connect(clientJstp, "app", noReconnect(), port)
    await deprecations(async () => {
      for (const [method, code, message] of [["fail", 1005, "legacy: five"], ["reject", 1006, "legacy: six"]] as const) {
        const { error } = await callResult(connection, "calc", method, [])
        expect(error).toBeInstanceOf(clientJstp.RemoteError)
        expect([codeOf(error), error?.message, error?.info]).toEqual([code, message, ["extra"]])
      }
    })
  })
})

describe("an override that calls back into the base class", () => {
  // In 2.3.0, toJSTP() calls an override of toJstpArray() and the inherited
  // toJstpArray() calls toJSTP(): an override calling either of them loops
  // until the stack overflows.
  const cases = (jstp: Jstp) => {
    class CallsSuperToJSTP extends jstp.RemoteError {
      override toJstpArray(): Array<unknown> {
        return [...super.toJSTP(), "more"]
      }
    }
    class CallsSuperToJstpArray extends jstp.RemoteError {
      override toJstpArray(): Array<unknown> {
        return [...super.toJstpArray(), "more"]
      }
    }
    class CallsOwnToJSTP extends jstp.RemoteError {
      override toJstpArray(): Array<unknown> {
        return [...this.toJSTP(), "more"]
      }
    }
    class ToJSTPCallsToJstpArray extends jstp.RemoteError {
      override toJSTP(): Array<unknown> {
        return [...this.toJstpArray(), "more"]
      }
    }
    return { CallsSuperToJSTP, CallsSuperToJstpArray, CallsOwnToJSTP, ToJSTPCallsToJstpArray }
  }

  it("2.3.0 overflows the stack", async () => {
    const { CallsSuperToJSTP, CallsSuperToJstpArray, CallsOwnToJSTP } = cases(reference)
    await deprecations(() => {
      for (const Class of [CallsSuperToJSTP, CallsSuperToJstpArray, CallsOwnToJSTP]) {
        expect(() => new Class(42, "m").toJSTP()).toThrow(RangeError)
      }
    })
  })

  it("the facade gives the standard array where the base class is re-entered", async () => {
    const { CallsSuperToJSTP, CallsSuperToJstpArray, CallsOwnToJSTP, ToJSTPCallsToJstpArray } = cases(facade)
    await deprecations(() => {
      for (const Class of [CallsSuperToJSTP, CallsSuperToJstpArray, CallsOwnToJSTP]) {
        expect(new Class(42, "m", ["i"]).toJSTP(), Class.name).toEqual([42, "m", "i", "more"])
        expect(facade.RemoteError.getJstpArrayFor(new Class(12)), Class.name).toEqual([12, "more"])
        // And again: nothing is left marked as running.
        expect(new Class(42).toJSTP(), Class.name).toEqual([42, "more"])
      }
      // toJSTP() -> the inherited toJstpArray() -> toJSTP() -> toJstpArray(),
      // re-entered: the standard array, and the override's part twice.
      expect(new ToJSTPCallsToJstpArray(42, "m").toJSTP()).toEqual([42, "m", "more", "more"])
      expect(new ToJSTPCallsToJstpArray(42, "m").toJstpArray()).toEqual([42, "m", "more"])
    })
  })
})

// ============================================================== module keys

describe("the module's keys", () => {
  it("require() of the built package lists the ERR_* constants, and all of 2.x's names, in 2.3.0's order", async () => {
    const program = `
      const keys = (name) => Object.keys(require(name)).filter((key) => key !== "default")
      console.warn = () => {} // mdsf warns on load
      console.log(JSON.stringify([keys("effect-jstp/compat"), keys("@metarhia/jstp")]))`
    const { code, stdout } = await run(process.execPath, ["-e", program])
    expect(code).toBe(0)
    const [ours, theirs] = JSON.parse(stdout) as [Array<string>, Array<string>]
    const errors = (keys: Array<string>) => keys.filter((key) => key.startsWith("ERR_"))
    expect(errors(theirs)).toEqual([
      "ERR_CALLBACK_LOST",
      "ERR_NO_HANDSHAKE_RESPONSE",
      "ERR_APP_NOT_FOUND",
      "ERR_AUTH_FAILED",
      "ERR_INTERFACE_NOT_FOUND",
      "ERR_INTERFACE_INCOMPATIBLE",
      "ERR_METHOD_NOT_FOUND",
      "ERR_NOT_A_SERVER",
      "ERR_INTERNAL_API_ERROR",
      "ERR_INVALID_SIGNATURE"
    ])
    expect(errors(ours)).toEqual(errors(theirs))
    expect(ours).toEqual(theirs)
  })

  it("so does the default export", () => {
    expect(Object.keys(facade)).toEqual(Object.keys(reference))
  })
})

// ================================================= arguments JSON cannot say

// What a peer reads a frame as (a 2.x peer, or with our parser), the call's
// or event's id left out.
const payloadOf = (text: string, parse: (text: string) => unknown = mdsf.parse): unknown => {
  const parsed = parse(text) as Record<string, Array<unknown>>
  const [kind, verb] = Object.keys(parsed)
  return { kind, header: parsed[kind!]!.slice(1), verb, args: parsed[verb!] }
}

/** A raw server that completes any handshake and records every later frame. */
const recordingServer = async () => {
  const frames: Array<string> = []
  const server = Net.createServer((socket) => {
    let buffer = ""
    let handshaken = false
    socket.setEncoding("utf8")
    socket.on("error", () => {})
    socket.on("data", (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf("\0")) !== -1) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 1)
        if (!handshaken) {
          handshaken = true
          socket.write("{handshake:[0],ok:'a-session'}\0")
        } else if (!/^\{"?(?:ping|pong)"?:/.test(frame) && frame !== "{}") {
          frames.push(frame)
        }
      }
    })
  })
  const sockets = trackSockets(server)
  await listen(server, 0, HOST)
  defer(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  return { port: portOf(server), frames }
}

const symbol = Symbol("s")
const fn = () => 1
// Arguments with what JSON cannot say: as arguments, in arrays, as members.
const argumentLists: ReadonlyArray<Array<unknown>> = [
  [1, undefined],
  [undefined],
  [undefined, undefined],
  [1, undefined, 2],
  [1, fn],
  [symbol, 2, symbol],
  [fn, undefined, symbol],
  [{ a: undefined, b: fn, c: symbol, d: 1 }],
  [[1, undefined], [undefined], [fn, 2]],
  [{ list: [1, fn], deeper: { x: [symbol] } }],
  [1, { toJSON: () => undefined }],
  [{ toJSON: () => fn }, { toJSON: () => ({ x: 1, y: undefined }) }],
  [new Array(3), new Date(0)]
]

describe("arguments JSON cannot say, on the wire", () => {
  const sent = async (jstp: Jstp, send: (connection: InstanceType<Jstp["Connection"]>, args: Array<unknown>) => void) => {
    const { port, frames } = await recordingServer()
    const { connection } = await connect(jstp, "app", noReconnect(), port)
    for (const args of argumentLists) send(connection, args)
    await waitFor(() => frames.length === argumentLists.length, "every frame")
    return frames
  }

  it("callMethod: a 2.x peer reads every call of the facade as the same call of 2.3.0", async () => {
    const call = (connection: InstanceType<Jstp["Connection"]>, args: Array<unknown>) =>
      connection.callMethod("calc", "method", args, () => {})
    const ours = await sent(facade, call)
    const theirs = await sent(reference, call)
    argumentLists.forEach((args, i) => {
      expect({ args, read: payloadOf(ours[i]!) }).toEqual({ args, read: payloadOf(theirs[i]!) })
      // Our parser reads both alike too.
      expect({ args, read: payloadOf(ours[i]!, Serde.parse) }).toEqual({ args, read: payloadOf(theirs[i]!, Serde.parse) })
    })
    // For instance: a trailing undefined is lost, one inside stays.
    expect(payloadOf(ours[0]!)).toMatchObject({ kind: "call", header: ["calc"], verb: "method", args: [1] })
    expect((payloadOf(ours[3]!) as { args: Array<unknown> }).args).toHaveLength(3)
  })

  it("emitRemoteEvent: likewise", async () => {
    const emit = (connection: InstanceType<Jstp["Connection"]>, args: Array<unknown>) =>
      connection.emitRemoteEvent("chat", "message", args)
    const ours = await sent(facade, emit)
    const theirs = await sent(reference, emit)
    argumentLists.forEach((args, i) => {
      expect({ args, read: payloadOf(ours[i]!) }).toEqual({ args, read: payloadOf(theirs[i]!) })
    })
  })
})

describe.each(implementations.flatMap(([server, serverJstp]) =>
  implementations.map(([client, clientJstp]) => [server, client, serverJstp, clientJstp] as const)
))("what the peer's handler gets: %s server, %s client", (_server, _client, serverJstp, clientJstp) => {
  it("a trailing undefined argument is lost (the handler's arity is checked against what is left); others reach it", async () => {
    const events: Array<Array<unknown>> = []
    const app: Application = new serverJstp.Application(
      "app",
      {
        calc: {
          one: (_connection: unknown, a: unknown, callback: (error: unknown, ...results: Array<unknown>) => void) =>
            callback(null, "one", a),
          two: (_connection: unknown, a: unknown, b: unknown, callback: (error: unknown, ...results: Array<unknown>) => void) =>
            callback(null, "two", a, b === undefined ? "undefined" : b)
        }
      },
      { chat: { message: (_connection: unknown, ...args: Array<unknown>) => void events.push(args) } }
    )
    const { port } = await serve(serverJstp, [app])
    const { connection } = await connect(clientJstp, "app", noReconnect(), port)
    expect((await callResult(connection, "calc", "one", [1, undefined])).results).toEqual(["one", 1])
    expect(codeOf((await callResult(connection, "calc", "one", [fn])).error)).toBe(facade.ERR_INVALID_SIGNATURE)
    expect(codeOf((await callResult(connection, "calc", "two", [1, undefined])).error)).toBe(facade.ERR_INVALID_SIGNATURE)
    expect((await callResult(connection, "calc", "two", [undefined, 2])).results).toEqual(["two", undefined, 2])
    expect((await callResult(connection, "calc", "two", [1, symbol, undefined])).results).toEqual(["two", 1, "undefined"])
    connection.emitRemoteEvent("chat", "message", [1, fn])
    connection.emitRemoteEvent("chat", "message", [{ a: fn, b: 2 }, undefined, 3, undefined])
    await waitFor(() => events.length === 2, "the events")
    expect(events).toEqual([[1], [{ b: 2 }, undefined, 3]])
    expect(events.map((args) => args.length)).toEqual([1, 3])
  })
})
