import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { Serde } from "effect-jstp"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Command from "../src/cli/Command.js"
import * as Completion from "../src/cli/Completion.js"
import * as Literal from "../src/cli/Literal.js"
import * as Options from "../src/cli/Options.js"
import * as Terminal from "../src/cli/Terminal.js"
import { jsonLike } from "./support/arbitraries.js"

const RUNS = { fastCheck: { numRuns: 300 } }

/** The value of a Right, failing the test on a Left. */
const right = <A, E>(either: Either.Either<A, E> | undefined): A => {
  if (either === undefined) throw new Error("expected a Right, got undefined")
  if (Either.isLeft(either)) throw new Error(`expected a Right, got ${JSON.stringify(either.left)}`)
  return either.right
}

/** The error of a Left, failing the test on a Right. */
const left = <A, E>(either: Either.Either<A, E> | undefined): E => {
  if (either === undefined) throw new Error("expected a Left, got undefined")
  if (Either.isRight(either)) throw new Error(`expected a Left, got ${JSON.stringify(either.right)}`)
  return either.left
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[\d+m/g
const stripAnsi = (text: string): string => text.replace(ANSI, "")

/** Checks `fn(input)` is `expected` (Object.is) for each case. */
const each = <I, O>(fn: (input: I) => O, cases: ReadonlyArray<readonly [I, O]>): void => {
  for (const [input, expected] of cases) {
    expect(fn(input), typeof input === "bigint" ? `${input}n` : JSON.stringify(input)).toBe(expected)
  }
}

// ---------------------------------------------------------------------------
// Literal
// ---------------------------------------------------------------------------

const tricky = fc.constantFrom(
  "'", "\"", "\\", "\0", "\u0001", "\u001b", "\u007f", "\u0085", "\u00a0", "\u2028", "\u2029", "\ufeff",
  "\ud800", "\udbff", "\udc00", "\udfff", "😀", "𝄞", "\n", "\r", "\t", "\b", "\f", "\v", "é", "/", "*/", "//",
  "a", " ", "\\u0041", "\\n", "${x}", "`"
)

const text = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: "binary-ascii" }),
  fc.array(tricky, { maxLength: 12 }).map((parts) => parts.join("")),
  fc.string()
)

const number = fc.oneof(
  fc.constant(-0),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(
    -0, 0, 1, -1, 0.1, 1e21, -1e21, 1e-7, -1e-7, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 2 ** 53 + 2
  )
)

const key = fc.oneof(
  { weight: 3, arbitrary: text },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "a", "a-b", "1x", "", "0", "1", "01", "1e3", "-1", "$", "_", "$x", "_y", "a b", "a.b", "é", "true", "null",
      "undefined", "constructor", "prototype", "toString", "hasOwnProperty", "__proto__", "'", "\"", "\\", ":",
      "\u2028", "\ud800"
    )
  }
)

// JSON-like values with every awkward corner the format has.
const value = jsonLike({ text, number, key })

describe("Literal.format (property)", () => {
  it.prop("compact output parses back to a deep-equal value", [value], ([v]) => {
    expect(Serde.parse(Literal.format(v))).toEqual(v)
  }, RUNS)

  it.prop("indented output parses back to a deep-equal value", [value], ([v]) => {
    expect(Serde.parse(Literal.format(v, { indent: "  " }))).toEqual(v)
    expect(Serde.parse(Literal.format(v, { indent: "\t" }))).toEqual(v)
  }, RUNS)

  it.prop("compact output is one line: no raw line terminator", [value], ([v]) => {
    expect(Literal.format(v)).not.toMatch(/[\n\r\u2028\u2029]/)
  }, RUNS)

  it.prop("coloured output without its ANSI codes is the uncoloured output", [value], ([v]) => {
    const plain = Literal.format(v)
    expect(stripAnsi(Literal.format(v, { color: true }))).toBe(plain)
    expect(stripAnsi(Literal.format(v, { color: true, indent: "  " }))).toBe(Literal.format(v, { indent: "  " }))
    // Uncoloured output carries no escape character at all: strings escape it.
    expect(plain).not.toContain("\u001b")
  }, RUNS)

  it.prop("every string parses back, whatever its code units", [text], ([s]) => {
    const quoted = Literal.quote(s)
    expect(quoted.startsWith("'") && quoted.endsWith("'")).toBe(true)
    expect(Serde.parse(quoted)).toBe(s)
    expect(Serde.parse(Literal.format(s))).toBe(s)
  }, RUNS)

  it.prop("-0 stays -0 at any position", [fc.array(fc.constantFrom(-0, 0), { minLength: 1, maxLength: 5 })], ([xs]) => {
    const back = Serde.parse(Literal.format({ xs, n: xs[0] })) as { xs: Array<number>; n: number }
    expect(back.xs.map((x) => Object.is(x, -0))).toEqual(xs.map((x) => Object.is(x, -0)))
    expect(Object.is(back.n, xs[0])).toBe(true)
  })
})

describe("Literal.format (examples)", () => {
  it("writes single-quoted strings, bare identifier keys and quoted other keys", () => {
    expect(Literal.format({ a: [1, "x"], "b-c": null })).toBe("{ a: [1, 'x'], 'b-c': null }")
    expect(Literal.format({ "1x": 1, "": 2, $ok: 3, _ok: 4, "a b": 5 })).toBe("{ '1x': 1, '': 2, $ok: 3, _ok: 4, 'a b': 5 }")
    expect(Literal.format("it's")).toBe("'it\\'s'")
    expect(Literal.format("say \"hi\"")).toBe("'say \"hi\"'")
  })

  it("writes the primitives as JavaScript does, -0 included", () => {
    each(Literal.format, [
      [1, "1"],
      [-0, "-0"],
      [0, "0"],
      [1.5e300, "1.5e+300"],
      [true, "true"],
      [false, "false"],
      [null, "null"],
      [undefined, "undefined"],
      [10n, "10n"],
      [NaN, "NaN"],
      [-Infinity, "-Infinity"]
    ])
    expect(Serde.parse(Literal.format(NaN))).toBeNaN()
    expect(Serde.parse(Literal.format(-Infinity))).toBe(-Infinity)
    expect(Object.is(Serde.parse(Literal.format(-0)), -0)).toBe(true)
  })

  it("escapes quotes, backslashes, control characters, line separators and lone surrogates", () => {
    each(Literal.quote, [
      ["a\\b", "'a\\\\b'"],
      ["\n\r\t\b\f\v", "'\\n\\r\\t\\b\\f\\v'"],
      ["\0\u0001\u001f\u007f", "'\\u0000\\u0001\\u001f\\u007f'"],
      ["\u2028\u2029", "'\\u2028\\u2029'"],
      ["\ud800", "'\\ud800'"],
      ["\udc00x", "'\\udc00x'"],
      ["\udc00\ud800", "'\\udc00\\ud800'"],
      // A surrogate pair and other unicode are shown as they are.
      ["😀 é 世界", "'😀 é 世界'"],
      ["\ud800😀", "'\\ud800😀'"]
    ])
  })

  it("keeps holes as holes, a trailing one with a comma of its own", () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(Literal.format([1, , 3])).toBe("[1, , 3]")
    // eslint-disable-next-line no-sparse-arrays
    const trailing = [1, ,]
    expect(trailing).toHaveLength(2)
    expect(Literal.format(trailing)).toBe("[1, , ]")
    expect(Serde.parse(Literal.format(trailing))).toHaveLength(2)
    const lone = new Array<unknown>(1)
    expect(Literal.format(lone)).toBe("[, ]")
    expect(Serde.parse(Literal.format(lone))).toHaveLength(1)
    const three = new Array<unknown>(3)
    expect(Serde.parse(Literal.format(three))).toHaveLength(3)
    expect(Literal.format([1, undefined])).toBe("[1, undefined]")
  })

  it("writes empty arrays and objects alike compact and indented", () => {
    expect(Literal.format([])).toBe("[]")
    expect(Literal.format({})).toBe("{}")
    expect(Literal.format([], { indent: "  " })).toBe("[]")
    expect(Literal.format({ a: {}, b: [] }, { indent: "  " })).toBe("{\n  a: {},\n  b: []\n}")
  })

  it("spreads arrays and objects over lines by the indent", () => {
    expect(Literal.format({ a: [1, { b: "x" }], c: null }, { indent: "  " })).toBe(
      "{\n  a: [\n    1,\n    {\n      b: 'x'\n    }\n  ],\n  c: null\n}"
    )
    // eslint-disable-next-line no-sparse-arrays
    expect(Literal.format([1, , 3], { indent: "  " })).toBe("[\n  1,\n  ,\n  3\n]")
    expect(Literal.format([[1]], { indent: "\t" })).toBe("[\n\t[\n\t\t1\n\t]\n]")
    // An empty indent is compact.
    expect(Literal.format({ a: [1] }, { indent: "" })).toBe("{ a: [1] }")
  })

  it("leaves out undefined, function and symbol members", () => {
    expect(Literal.format({ a: undefined, b: () => 1, c: Symbol("s"), d: 1 })).toBe("{ d: 1 }")
  })

  it("shows a cycle as [Circular] instead of looping, but a shared value twice", () => {
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    expect(Literal.format(cyclic)).toBe("{ a: 1, self: [Circular] }")
    const shared = { x: 1 }
    expect(Literal.format([shared, shared])).toBe("[{ x: 1 }, { x: 1 }]")
  })

  it("writes a __proto__ key as an own member that parses back as one", () => {
    const v = JSON.parse("{\"__proto__\": {\"polluted\": true}, \"a-b\": [\"__proto__\"]}") as Record<string, unknown>
    const written = Literal.format(v)
    expect(written).toBe("{ __proto__: { polluted: true }, 'a-b': ['__proto__'] }")
    const back = Serde.parse(written) as Record<string, unknown>
    expect(Object.keys(back)).toEqual(["__proto__", "a-b"])
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(back).toEqual(v)
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it("colours strings green, numbers and booleans yellow, null and undefined grey", () => {
    expect(Literal.format({ a: ["x", 1, true, null, undefined] }, { color: true })).toBe(
      "{ a: [\u001b[32m'x'\u001b[39m, \u001b[33m1\u001b[39m, \u001b[33mtrue\u001b[39m, " +
        "\u001b[90mnull\u001b[39m, \u001b[90mundefined\u001b[39m] }"
    )
    expect(Literal.format("x", { color: false })).toBe("'x'")
  })
})

// ---------------------------------------------------------------------------
// Command
// ---------------------------------------------------------------------------

describe("Command.parseTarget", () => {
  const target = (text: string) => right(Command.parseTarget(text))

  /** `text` reads as `url` and `address`, with or without the default scheme. */
  const expectTarget = (text: string, url: string, address: Command.Target["address"], defaultScheme = false) =>
    expect(target(text)).toEqual({ url, address, defaultScheme })

  it("reads jstp as TCP, jstps (and no scheme) as TLS", () => {
    expectTarget("jstp://localhost:3000", "jstp://localhost:3000", { _tag: "Tcp", host: "localhost", port: 3000 })
    expectTarget("jstps://example.com:443", "jstps://example.com:443", { _tag: "Tls", host: "example.com", port: 443 })
    expectTarget("example.com:4000", "jstps://example.com:4000", { _tag: "Tls", host: "example.com", port: 4000 }, true)
  })

  it("reads ws and wss as WebSocket, with an optional path", () => {
    expectTarget("ws://127.0.0.1:8080", "ws://127.0.0.1:8080", {
      _tag: "WebSocket",
      host: "127.0.0.1",
      port: 8080,
      path: undefined,
      secure: false
    })
    expectTarget("wss://h.example:443/api/v1", "wss://h.example:443/api/v1", {
      _tag: "WebSocket",
      host: "h.example",
      port: 443,
      path: "/api/v1",
      secure: true
    })
    expect(target("ws://h:1/").address).toMatchObject({ _tag: "WebSocket", path: "/", secure: false })
  })

  it("reads ipc://path as a Unix socket", () => {
    expectTarget("ipc:///tmp/jstp.sock", "ipc:///tmp/jstp.sock", { _tag: "Unix", path: "/tmp/jstp.sock" })
    expect(target("ipc://relative/s.sock").address).toEqual({ _tag: "Unix", path: "relative/s.sock" })
  })

  it("reads bracketed IPv6 hosts and shows them bracketed", () => {
    expectTarget("[::1]:3000", "jstps://[::1]:3000", { _tag: "Tls", host: "::1", port: 3000 }, true)
    expectTarget("jstp://[fe80::1]:80", "jstp://[fe80::1]:80", { _tag: "Tcp", host: "fe80::1", port: 80 })
    expect(target("ws://[::1]:8080/x").address).toEqual({ _tag: "WebSocket", host: "::1", port: 8080, path: "/x", secure: false })
  })

  it("takes the scheme case-insensitively", () => {
    expectTarget("JSTP://h:1", "jstp://h:1", { _tag: "Tcp", host: "h", port: 1 })
    expect(target("WSS://h:2").address).toMatchObject({ _tag: "WebSocket", secure: true })
  })

  it("accepts the ports 1 and 65535", () => {
    expect(target("h:1").address).toMatchObject({ port: 1 })
    expect(target("h:65535").address).toMatchObject({ port: 65535 })
  })

  const badTarget = (target: string, ...fragments: ReadonlyArray<string>) => {
    const error = left(Command.parseTarget(target))
    expect(error).toBeInstanceOf(Command.CommandError)
    expect(error._tag).toBe("CommandError")
    expect(error.reason).toBe("BadTarget")
    for (const fragment of fragments) expect(error.message).toContain(fragment)
  }

  it("refuses an unknown scheme, naming it and the known ones", () => {
    badTarget("http://h:80", "Unknown scheme 'http'", "jstp, jstps, ws, wss, ipc")
    badTarget("tcp://h:80", "'tcp'")
    badTarget("://h:80", "Unknown scheme ''")
  })

  it("refuses a missing host or port", () => {
    badTarget(":3000", "host is missing")
    badTarget("jstp://:3000", "host is missing")
    badTarget("localhost", "port is missing", "jstps://localhost:<port>")
    badTarget("jstp://localhost:", "port is missing", "jstp://localhost:<port>")
    badTarget("[::1]", "port is missing")
    badTarget("ws://h/path", "port is missing")
    badTarget("ipc://", "socket path is missing")
  })

  it("refuses a malformed bracketed host", () => {
    badTarget("[]:3000", "host is not valid")
    badTarget("[::1]x:3000", "host is not valid")
  })

  it("refuses a port out of range or not a number", () => {
    badTarget("h:0", "1 to 65535", ": 0")
    badTarget("h:65536", "65535", "65536")
    badTarget("h:99999", "99999")
    badTarget("h:123456", "123456")
    badTarget("h:http", "http")
    badTarget("h:-1", "-1")
    badTarget("h:+80", "+80")
    badTarget("h:8.0", "8.0")
    badTarget("h:1e3", "1e3")
  })

  it("refuses a path on a scheme other than ws and wss", () => {
    badTarget("jstp://h:80/path", "A jstp target has no path", "jstp://h:80/path")
    badTarget("h:80/x", "A jstps target has no path")
    badTarget("jstps://h:80/", "no path")
  })
})

describe("Command.resolveName", () => {
  it("takes whole names and unambiguous prefixes", () => {
    for (const name of Command.NAMES) expect(Command.resolveName(name)).toBe(name)
    each(Command.resolveName, [["ca", "call"], ["co", "connect"], ["d", "disconnect"], ["ev", "event"], ["ex", "exit"], ["h", "help"]])
  })

  it("refuses ambiguous prefixes and other words", () => {
    expect(Command.resolveName("c")).toBeUndefined()
    expect(Command.resolveName("e")).toBeUndefined()
    expect(Command.resolveName("calls")).toBeUndefined()
    expect(Command.resolveName("x")).toBeUndefined()
    expect(Command.resolveName("CALL")).toBeUndefined()
  })
})

describe("Command.parse", () => {
  const error = (line: string, reason: Command.CommandError["reason"], ...fragments: ReadonlyArray<string>) => {
    const e = left(Command.parse(line))
    expect(e).toBeInstanceOf(Command.CommandError)
    expect(e.reason).toBe(reason)
    for (const fragment of fragments) expect(e.message).toContain(fragment)
    return e
  }

  it("gives undefined for a blank line", () => {
    expect(Command.parse("")).toBeUndefined()
    expect(Command.parse("   ")).toBeUndefined()
    expect(Command.parse("\t \t")).toBeUndefined()
  })

  it("reads call with its arguments as a literal", () => {
    expect(right(Command.parse("call calc add 1, 2"))).toEqual({ _tag: "Call", iface: "calc", method: "add", args: [1, 2] })
    expect(right(Command.parse("call calc add"))).toEqual({ _tag: "Call", iface: "calc", method: "add", args: [] })
    expect(right(Command.parse("call calc add   "))).toEqual({ _tag: "Call", iface: "calc", method: "add", args: [] })
    expect(right(Command.parse("  call\tcalc   add\t'x', -0, null  "))).toEqual({
      _tag: "Call",
      iface: "calc",
      method: "add",
      args: ["x", -0, null]
    })
  })

  it("keeps the spaces inside strings and reads holes, objects and arrays", () => {
    const command = right(Command.parse("call x y {a: 'b  c'}, [1,,3], \"d e\""))
    expect(command).toEqual({ _tag: "Call", iface: "x", method: "y", args: [{ a: "b  c" }, [1, undefined, 3], "d e"] })
    const args = (command as { args: ReadonlyArray<unknown> }).args
    expect((args[1] as Array<unknown>).length).toBe(3)
    expect(right(Command.parse("call x y 'a,b'")).valueOf()).toEqual({ _tag: "Call", iface: "x", method: "y", args: ["a,b"] })
  })

  it("reads a block comment in the arguments", () => {
    expect(right(Command.parse("call x y 1 /* one */, 2"))).toMatchObject({ args: [1, 2] })
  })

  it("reads a line comment at the end of the arguments; typed text cannot close the list", () => {
    expect(right(Command.parse("call calc add 1, 2 // sum"))).toMatchObject({ args: [1, 2] })
    error("call x y 1] //", "BadArguments")
    error("call x y 1], [2", "BadArguments")
  })

  it("reads event like call", () => {
    expect(right(Command.parse("event chat message 'hi', { from: 'me' }"))).toEqual({
      _tag: "Event",
      iface: "chat",
      event: "message",
      args: ["hi", { from: "me" }]
    })
    expect(right(Command.parse("ev chat joined"))).toEqual({ _tag: "Event", iface: "chat", event: "joined", args: [] })
  })

  it("takes unambiguous prefixes of command names", () => {
    expect(right(Command.parse("ca calc add 1"))).toEqual({ _tag: "Call", iface: "calc", method: "add", args: [1] })
    expect(right(Command.parse("d"))).toEqual({ _tag: "Disconnect" })
    expect(right(Command.parse("ex"))).toEqual({ _tag: "Exit" })
    expect(right(Command.parse("h"))).toEqual({ _tag: "Help" })
  })

  it("reads disconnect, exit and help, which take no arguments", () => {
    expect(right(Command.parse("disconnect"))).toEqual({ _tag: "Disconnect" })
    expect(right(Command.parse("  exit  "))).toEqual({ _tag: "Exit" })
    expect(right(Command.parse("help"))).toEqual({ _tag: "Help" })
    error("disconnect extra", "BadArguments", "disconnect takes no arguments", "Usage: disconnect")
    error("exit now", "BadArguments", "exit takes no arguments")
    error("help call", "BadArguments", "help takes no arguments")
  })

  it("reads connect with its target, application and interfaces", () => {
    expect(right(Command.parse("connect jstp://localhost:3000 app@1.0.0 calc chat"))).toEqual({
      _tag: "Connect",
      target: { url: "jstp://localhost:3000", address: { _tag: "Tcp", host: "localhost", port: 3000 }, defaultScheme: false },
      application: "app@1.0.0",
      interfaces: ["calc", "chat"]
    })
    expect(right(Command.parse("co  h:1   app"))).toEqual({
      _tag: "Connect",
      target: { url: "jstps://h:1", address: { _tag: "Tls", host: "h", port: 1 }, defaultScheme: true },
      application: "app",
      interfaces: []
    })
  })

  it("names what is missing, with the usage", () => {
    error("connect", "MissingArgument", "The server is missing", Command.USAGE.connect)
    error("connect h:1", "MissingArgument", "The application is missing", Command.USAGE.connect)
    error("call", "MissingArgument", "The interface is missing", Command.USAGE.call)
    error("call calc", "MissingArgument", "The method is missing", Command.USAGE.call)
    error("event", "MissingArgument", "The interface is missing", Command.USAGE.event)
    error("event chat", "MissingArgument", "The event is missing", Command.USAGE.event)
  })

  it("passes on a bad target of connect", () => {
    error("connect http://h:1 app", "BadTarget", "Unknown scheme 'http'")
    error("connect h:0 app", "BadTarget", "1 to 65535")
    error("connect jstp://h:1/x app", "BadTarget", "no path")
  })

  it("refuses bad arguments, naming the problem and the text", () => {
    const e = error("call x y {a:", "BadArguments", "not a valid literal", "{a:", "position")
    expect(e.message).toContain("Write them as in JavaScript")
    error("call x y 1 2", "BadArguments", "Expected ',' or ']'", "1 2")
    error("call x y 'open", "BadArguments", "Unterminated string")
    error("event x y foo", "BadArguments", "Expected a value")
    // The arguments cannot break out of their brackets.
    error("call x y 1], [2", "BadArguments", "Expected end of input")
    error("call x y ]", "BadArguments")
  })

  it("counts the position of a problem in the arguments as typed", () => {
    // "1 2": the 2 that should have been a comma is at offset 2.
    error("call x y 1 2", "BadArguments", "at position 2")
    error("call x y :", "BadArguments", "at position 0")
  })

  it("refuses unknown and ambiguous commands, listing the commands", () => {
    error("frobnicate", "UnknownCommand", "Unknown command 'frobnicate'", "call, connect, disconnect, event, exit, help")
    error("e", "UnknownCommand", "Ambiguous command 'e': event, exit")
    error("c x y", "UnknownCommand", "Ambiguous command 'c': call, connect")
    error("CALL x y", "UnknownCommand", "'CALL'")
  })
})

// ---------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------

describe("Completion.complete", () => {
  const api: Completion.Api = new Map([
    ["calc", ["add", "addAll", "sub"]],
    ["chat", ["send"]],
    ["auth", ["login"]]
  ])

  it("completes commands for the first word", () => {
    expect(Completion.complete("", api)).toEqual([["call", "connect", "disconnect", "event", "exit", "help"], ""])
    expect(Completion.complete("c", api)).toEqual([["call", "connect"], "c"])
    expect(Completion.complete("e", api)).toEqual([["event", "exit"], "e"])
    expect(Completion.complete("ca", api)).toEqual([["call "], "ca"])
    expect(Completion.complete("  di", api)).toEqual([["disconnect "], "di"])
    expect(Completion.complete("exit", api)).toEqual([["exit "], "exit"])
    expect(Completion.complete("x", api)).toEqual([[], "x"])
  })

  it("completes schemes after connect, ending in :// with no space", () => {
    expect(Completion.complete("connect ", api)).toEqual([["ipc://", "jstp://", "jstps://", "ws://", "wss://"], ""])
    expect(Completion.complete("connect j", api)).toEqual([["jstp://", "jstps://"], "j"])
    expect(Completion.complete("connect ws", api)).toEqual([["ws://", "wss://"], "ws"])
    expect(Completion.complete("connect i", api)).toEqual([["ipc://"], "i"])
    expect(Completion.complete("co wss", api)).toEqual([["wss://"], "wss"])
    expect(Completion.complete("connect jstp://", api)).toEqual([[], "jstp://"])
    expect(Completion.complete("connect jstp://h:1 ", api)).toEqual([[], ""])
  })

  it("completes interfaces after call and event", () => {
    expect(Completion.complete("call ", api)).toEqual([["auth", "calc", "chat"], ""])
    expect(Completion.complete("call c", api)).toEqual([["calc", "chat"], "c"])
    expect(Completion.complete("call ca", api)).toEqual([["calc "], "ca"])
    expect(Completion.complete("event a", api)).toEqual([["auth "], "a"])
    expect(Completion.complete("ca  ch", api)).toEqual([["chat "], "ch"])
    expect(Completion.complete("call z", api)).toEqual([[], "z"])
  })

  it("completes methods after call and an interface", () => {
    expect(Completion.complete("call calc ", api)).toEqual([["add", "addAll", "sub"], ""])
    expect(Completion.complete("call calc a", api)).toEqual([["add", "addAll"], "a"])
    expect(Completion.complete("call calc s", api)).toEqual([["sub "], "s"])
    expect(Completion.complete("call calc addA", api)).toEqual([["addAll "], "addA"])
    expect(Completion.complete("call nope ", api)).toEqual([[], ""])
  })

  it("offers nothing for arguments, events, or other commands", () => {
    expect(Completion.complete("call calc add ", api)).toEqual([[], ""])
    expect(Completion.complete("call calc add 1, ", api)).toEqual([[], ""])
    expect(Completion.complete("event chat ", api)).toEqual([[], ""])
    expect(Completion.complete("disconnect ", api)).toEqual([[], ""])
    expect(Completion.complete("e ", api)).toEqual([[], ""])
  })

  it("offers no interfaces when the server offered none", () => {
    expect(Completion.complete("call ", new Map())).toEqual([[], ""])
  })
})

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

describe("Options.parse", () => {
  const defaults: Options.Options = {
    verbose: 0,
    reconnect: true,
    heartbeatInterval: undefined,
    indent: undefined,
    help: false,
    version: false,
    connect: []
  }

  const usageError = (argv: ReadonlyArray<string>, ...fragments: ReadonlyArray<string>) => {
    const e = left(Options.parse(argv))
    expect(e).toBeInstanceOf(Options.UsageError)
    expect(e._tag).toBe("UsageError")
    expect(e.message).toContain("jstp-cli --help")
    for (const fragment of fragments) expect(e.message).toContain(fragment)
  }

  it("has defaults with no arguments", () => {
    expect(right(Options.parse([]))).toEqual(defaults)
  })

  it("counts -v, -vv and --verbose", () => {
    each((argv: Array<string>) => right(Options.parse(argv)).verbose, [
      [["-v"], 1],
      [["-v", "-v"], 2],
      [["-vv"], 2],
      [["-vvv"], 3],
      [["--verbose"], 1],
      [["--verbose", "--verbose"], 2],
      [["-v", "--verbose", "-vv"], 4]
    ])
  })

  it("reads -R and --no-reconnect", () => {
    expect(right(Options.parse(["-R"])).reconnect).toBe(false)
    expect(right(Options.parse(["--no-reconnect"])).reconnect).toBe(false)
  })

  it("reads the heartbeat interval, as a separate or an inline value", () => {
    expect(right(Options.parse(["-i", "500"])).heartbeatInterval).toBe(500)
    expect(right(Options.parse(["--heartbeat-interval", "1000"])).heartbeatInterval).toBe(1000)
    expect(right(Options.parse(["--heartbeat-interval=500"])).heartbeatInterval).toBe(500)
    expect(right(Options.parse(["-i", "1", "h:1", "app"]))).toEqual({ ...defaults, heartbeatInterval: 1, connect: ["h:1", "app"] })
  })

  it("refuses a heartbeat interval that is not a positive integer", () => {
    usageError(["-i"], "-i needs a number of milliseconds greater than 0", "not nothing")
    usageError(["-i", "0"], "not '0'")
    usageError(["-i", "-5"], "'-5'")
    usageError(["-i", "1.5"], "'1.5'")
    usageError(["-i", "abc"], "'abc'")
    usageError(["-i", "1e3"], "'1e3'")
    usageError(["--heartbeat-interval=0"], "--heartbeat-interval needs", "'0'")
    usageError(["--heartbeat-interval="], "''")
    usageError(["--heartbeat-interval"], "not nothing")
  })

  it("reads --pretty-print with an optional indent", () => {
    each((argv: Array<string>) => right(Options.parse(argv)).indent, [
      [["-p"], "  "],
      [["--pretty-print"], "  "],
      [["-p", "4"], "    "],
      [["-p", "10"], " ".repeat(10)],
      [["-p", "\t"], "\t"],
      [["--pretty-print=4"], "    "],
      [["--pretty-print=\t"], "\t"]
    ])
    expect(right(Options.parse(["-p", "4", "-v"]))).toEqual({ ...defaults, indent: "    ", verbose: 1 })
    expect(right(Options.parse(["-p", "-v"]))).toEqual({ ...defaults, indent: "  ", verbose: 1 })
  })

  it("leaves a positional after -p that is not an indent to connect", () => {
    expect(right(Options.parse(["-p", "localhost:3000", "app"]))).toEqual({
      ...defaults,
      indent: "  ",
      connect: ["localhost:3000", "app"]
    })
    expect(right(Options.parse(["-p", "3", "localhost:3000", "app", "calc"]))).toEqual({
      ...defaults,
      indent: "   ",
      connect: ["localhost:3000", "app", "calc"]
    })
  })

  it("refuses a bad inline indent", () => {
    usageError(["--pretty-print=x"], "--pretty-print takes a number of spaces", "'x'")
    usageError(["--pretty-print=11"], "'11'")
    usageError(["--pretty-print="], "''")
  })

  it("reads --help, -h and --version", () => {
    expect(right(Options.parse(["--help"])).help).toBe(true)
    expect(right(Options.parse(["-h"])).help).toBe(true)
    expect(right(Options.parse(["--version"]))).toEqual({ ...defaults, version: true })
  })

  it("refuses a value given to a long option that takes none", () => {
    usageError(["--no-reconnect=false"], "--no-reconnect takes no value")
    usageError(["--verbose=3"], "--verbose takes no value")
    usageError(["--help=x"], "--help takes no value")
    usageError(["--version=1"], "--version takes no value")
  })

  it("refuses unknown options", () => {
    usageError(["--frobnicate"], "Unknown option '--frobnicate'")
    usageError(["-x"], "Unknown option '-x'")
    usageError(["-vx"], "Unknown option '-vx'")
    usageError(["-"], "Unknown option '-'")
    usageError(["--frob=1"], "Unknown option '--frob=1'")
    usageError(["h:1", "app", "--nope"], "'--nope'")
  })

  it("takes positionals as connect's arguments, wherever they are", () => {
    expect(right(Options.parse(["jstp://h:1", "app"]))).toEqual({ ...defaults, connect: ["jstp://h:1", "app"] })
    expect(right(Options.parse(["h:1", "-R", "app", "calc", "chat", "-v"]))).toEqual({
      ...defaults,
      reconnect: false,
      verbose: 1,
      connect: ["h:1", "app", "calc", "chat"]
    })
  })

  it("refuses a server with no application", () => {
    usageError(["h:1"], "needs an application")
    usageError(["-v", "h:1", "-R"], "needs an application")
  })

  it("has a usage text naming the options and the version", () => {
    const text = Options.usage("9.9.9")
    for (const option of ["--verbose", "--no-reconnect", "--heartbeat-interval", "--pretty-print", "--version", "--help"]) {
      expect(text).toContain(option)
    }
    expect(text).toContain("JSTP_CLI_HISTORY")
    expect(text.endsWith("effect-jstp 9.9.9")).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// Terminal
// ---------------------------------------------------------------------------

describe("Terminal.historySettings", () => {
  it("defaults to ~/.jstp_cli_history and 1000 lines", () => {
    expect(Terminal.historySettings({})).toEqual({ path: Path.join(Os.homedir(), ".jstp_cli_history"), size: 1000 })
  })

  it("takes the file from JSTP_CLI_HISTORY; empty keeps no history", () => {
    expect(Terminal.historySettings({ JSTP_CLI_HISTORY: "/tmp/h" }).path).toBe("/tmp/h")
    expect(Terminal.historySettings({ JSTP_CLI_HISTORY: "" }).path).toBeUndefined()
    expect(Terminal.historySettings({ JSTP_CLI_HISTORY: "", JSTP_CLI_HISTORY_SIZE: "5" })).toEqual({ path: undefined, size: 5 })
  })

  it("takes a positive integer size from JSTP_CLI_HISTORY_SIZE, else 1000", () => {
    expect(Terminal.historySettings({ JSTP_CLI_HISTORY_SIZE: "50" }).size).toBe(50)
    expect(Terminal.historySettings({ JSTP_CLI_HISTORY_SIZE: "1" }).size).toBe(1)
    for (const bad of ["0", "-5", "1.5", "abc", "", "Infinity", "NaN"]) {
      expect(Terminal.historySettings({ JSTP_CLI_HISTORY_SIZE: bad }).size).toBe(1000)
    }
  })
})
