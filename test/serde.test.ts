import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Equal } from "effect"
import { Message, Serde } from "effect-jstp"
import { mdsf } from "./support/reference.js"

const parse = Serde.parse

const failure = (text: string): Serde.SerdeError => {
  const result = Serde.parseEither(text)
  if (Either.isRight(result)) throw new Error(`expected ${JSON.stringify(text)} to be refused`)
  return result.left
}

describe("Serde.parse: the grammar of protocol.md §1", () => {
  it("reads JSON text", () => {
    expect(parse(`{"a":[1,2.5,-3e2,"x",true,false,null],"b":{"c":{}}}`)).toEqual({
      a: [1, 2.5, -300, "x", true, false, null],
      b: { c: {} }
    })
    expect(parse(` [ "a" , 1 ] `)).toEqual(["a", 1])
  })

  it("reads unquoted identifier keys and single- and double-quoted keys", () => {
    expect(parse(`{a:1,_b:2,$c:3,d4:4,'e f':5,"g-h":6}`)).toEqual({ a: 1, _b: 2, $c: 3, d4: 4, "e f": 5, "g-h": 6 })
  })

  it("reads single- and double-quoted strings with every escape", () => {
    expect(parse(`'it\\'s'`)).toBe("it's")
    expect(parse(`"say \\"hi\\""`)).toBe(`say "hi"`)
    expect(parse(`'\\' \\" \\\\ \\/ \\b \\f \\n \\r \\t \\v \\0'`)).toBe(`' " \\ / \b \f \n \r \t \v \0`)
    expect(parse(`'\\x41\\u0042\\u{43}\\u{1F600}'`)).toBe("ABC😀")
    expect(parse(`'\\uD83D\\uDE00'`)).toBe("😀")
    expect(parse(`"a'b"`)).toBe("a'b")
    expect(parse(`'a"b'`)).toBe(`a"b`)
    expect(parse(`''`)).toBe("")
  })

  it("reads raw U+2028, U+2029, astral characters and tabs inside strings", () => {
    expect(parse("'a\u2028b\u2029c😀\td'")).toBe("a\u2028b\u2029c😀\td")
  })

  it("reads every number form", () => {
    expect(parse("42")).toBe(42)
    expect(parse(".5")).toBe(0.5)
    expect(parse("5.")).toBe(5)
    expect(parse("1e3")).toBe(1000)
    expect(parse("1E-3")).toBe(0.001)
    expect(parse("+7")).toBe(7)
    expect(parse("-7.25")).toBe(-7.25)
    expect(Object.is(parse("-0"), -0)).toBe(true)
    expect(parse("0")).toBe(0)
    expect(parse("0.5")).toBe(0.5)
    expect(parse("0x1F")).toBe(31)
    expect(parse("0X1f")).toBe(31)
    expect(parse("-0x10")).toBe(-16)
    expect(parse("0o17")).toBe(15)
    expect(parse("0b101")).toBe(5)
    expect(parse("1.7976931348623157e308")).toBe(Number.MAX_VALUE)
    expect(parse("5e-324")).toBe(Number.MIN_VALUE)
  })

  it("reads true, false, null, undefined, and NaN and Infinity (which we never write)", () => {
    expect(parse("true")).toBe(true)
    expect(parse("false")).toBe(false)
    expect(parse("null")).toBe(null)
    expect(parse("undefined")).toBe(undefined)
    expect(parse("NaN")).toBeNaN()
    expect(parse("Infinity")).toBe(Infinity)
    expect(parse("-Infinity")).toBe(-Infinity)
  })

  it("reads array holes and trailing commas", () => {
    const holes = parse("[1,,2]") as Array<unknown>
    expect(holes).toHaveLength(3)
    expect(holes[1]).toBeUndefined()
    expect(parse("[,]")).toHaveLength(1)
    expect(parse("[1,]")).toEqual([1])
    expect(parse("[1,,]")).toHaveLength(2)
    expect(parse("[,,]")).toHaveLength(2)
    expect(parse("[]")).toEqual([])
    expect(parse("{a:1,}")).toEqual({ a: 1 })
  })

  it("skips comments and any whitespace between tokens", () => {
    const text = "/* lead */ {\n\ta // key\n : /* v */ [ 1 , // one\r\n 2 ]\u00a0,\u2028b:\ufeff3 } // end"
    expect(parse(text)).toEqual({ a: [1, 2], b: 3 })
    expect(parse("1 /**/")).toBe(1)
  })

  it("drops a key whose value is undefined", () => {
    const value = parse("{a:undefined,b:1}") as object
    expect(Object.keys(value)).toEqual(["b"])
    expect(Object.keys(parse("{a:1,a:undefined}") as object)).toEqual(["a"])
  })

  it("keeps __proto__, constructor and prototype as own keys and pollutes nothing", () => {
    for (const text of [`{__proto__:{polluted:1}}`, `{"__proto__":{"polluted":1}}`, `{'__proto__':{polluted:1}}`]) {
      const value = parse(text) as Record<string, unknown>
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
      expect(Object.keys(value)).toEqual(["__proto__"])
      expect(Object.getOwnPropertyDescriptor(value, "__proto__")?.value).toEqual({ polluted: 1 })
      expect((value as { polluted?: unknown }).polluted).toBeUndefined()
    }
    const nested = parse(`{a:[{constructor:{prototype:{polluted:1}}}],prototype:{polluted:2}}`)
    expect(nested).toEqual({ a: [{ constructor: { prototype: { polluted: 1 } } }], prototype: { polluted: 2 } })
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty("polluted")
  })

  it("accepts nesting up to MAX_DEPTH in both the JSON and the full grammar", () => {
    const depth = Serde.MAX_DEPTH
    const json = "[".repeat(depth) + "]".repeat(depth)
    const literal = "{a:".repeat(depth - 1) + "[,]" + "}".repeat(depth - 1)
    expect(Array.isArray(parse(json))).toBe(true)
    expect(typeof parse(literal)).toBe("object")
  })
})

describe("Serde.parse: refusals", () => {
  const cases: ReadonlyArray<readonly [string, Serde.SerdeErrorReason, number]> = [
    ["", "UnexpectedEnd", 0],
    ["   ", "UnexpectedEnd", 3],
    ["{a:1", "UnexpectedEnd", 4],
    ["[1 2]", "UnexpectedCharacter", 3],
    ["{a 1}", "UnexpectedCharacter", 3],
    ["{1:2}", "UnexpectedCharacter", 1],
    ["{-a:2}", "UnexpectedCharacter", 1],
    ["{,}", "UnexpectedCharacter", 1],
    ["[1,,2", "UnexpectedEnd", 5],
    ["{a:1}x", "UnexpectedCharacter", 5],
    ["tru", "UnexpectedCharacter", 0],
    ["nul", "UnexpectedCharacter", 0],
    ["@", "UnexpectedCharacter", 0],
    ["`tpl`", "UnexpectedCharacter", 0],
    ["new Date(0)", "UnexpectedCharacter", 0],
    ["function(){}", "UnexpectedCharacter", 0],
    ["/re/", "UnexpectedCharacter", 0],
    ["017", "InvalidNumber", 0],
    ["-017", "InvalidNumber", 0],
    ["0x", "InvalidNumber", 2],
    ["0b2", "InvalidNumber", 2],
    ["0o8", "InvalidNumber", 2],
    ["0xG", "InvalidNumber", 2],
    ["1e", "InvalidNumber", 2],
    ["1e+", "InvalidNumber", 3],
    [".", "InvalidNumber", 1],
    ["-", "InvalidNumber", 1],
    ["+-1", "InvalidNumber", 1],
    ["1_000", "UnexpectedCharacter", 1],
    ["-Infinit", "UnexpectedCharacter", 1],
    ["-true", "InvalidNumber", 1],
    ["'abc", "UnterminatedString", 0],
    ["\"abc'", "UnterminatedString", 0],
    ["'a\\'", "UnterminatedString", 0],
    ["'a\nb'", "UnexpectedCharacter", 2],
    ["'a\rb'", "UnexpectedCharacter", 2],
    ["'\\q'", "InvalidEscape", 1],
    ["'\\1'", "InvalidEscape", 1],
    ["'\\01'", "InvalidEscape", 1],
    ["'\\x4'", "InvalidEscape", 4],
    ["'\\u12'", "InvalidEscape", 5],
    ["'\\u{}'", "InvalidEscape", 1],
    ["'\\u{110000}'", "InvalidEscape", 1],
    ["'\\u{123456789}'", "InvalidEscape", 1],
    ["'\\u{12'", "InvalidEscape", 1],
    ["'a\\\nb'", "InvalidEscape", 2],
    ["/* open", "UnterminatedComment", 0],
    ["[1 /* open", "UnterminatedComment", 3],
    ["{\"a\":1,}x", "UnexpectedCharacter", 8]
  ]

  it.each(cases.map(([text, reason, position]) => ({ text, reason, position })))(
    "refuses $text with $reason at $position",
    ({ position, reason, text }) => {
    const error = failure(text)
    expect(error).toBeInstanceOf(Serde.SerdeError)
    expect(error._tag).toBe("SerdeError")
    expect(error.reason).toBe(reason)
    expect(error.position).toBe(position)
    expect(error.message).toContain(`at position ${position}`)
    }
  )

  it("throws the SerdeError from parse", () => {
    expect(() => parse("{a:")).toThrow(Serde.SerdeError)
  })

  it("refuses nesting beyond MAX_DEPTH with a clear error, never a stack overflow", () => {
    const depth = Serde.MAX_DEPTH + 1
    // [text, position of the opener one level too deep]
    for (const [text, position] of [
      ["[".repeat(depth) + "]".repeat(depth), Serde.MAX_DEPTH],
      ["{a:".repeat(depth) + "1" + "}".repeat(depth), 3 * Serde.MAX_DEPTH],
      [`{"a":`.repeat(depth) + "1" + "}".repeat(depth), 5 * Serde.MAX_DEPTH],
      ["[".repeat(1_000_000), Serde.MAX_DEPTH],
      ["[".repeat(100_000) + "]".repeat(100_000), Serde.MAX_DEPTH]
    ] as const) {
      const error = failure(text)
      expect(error.reason).toBe("TooDeep")
      expect(error.position).toBe(position)
      expect(error.message).toContain("Nesting deeper than 512 levels")
    }
  })
})

describe("Serde.stringify", () => {
  const stringify = Serde.stringify

  it("writes JSON for what JSON can say", () => {
    const value = { call: [17, "auth"], newAccount: ["Payload", { a: 1.5, b: true, c: null, "d e": "x" }] }
    expect(stringify(value)).toBe(JSON.stringify(value))
  })

  it("writes undefined array elements and holes as holes, a trailing one with its own comma", () => {
    expect(stringify([1, undefined, 2])).toBe("[1,,2]")
    // eslint-disable-next-line no-sparse-arrays
    expect(stringify([1, , 2])).toBe("[1,,2]")
    expect(stringify([1, undefined])).toBe("[1,,]")
    expect(stringify([undefined])).toBe("[,]")
    expect(stringify([])).toBe("[]")
    expect(parse(stringify([1, undefined]))).toHaveLength(2)
  })

  it("omits undefined, function and symbol members, and writes them as holes in arrays", () => {
    expect(stringify({ a: undefined, b: () => 1, c: Symbol("s"), d: 1 })).toBe(`{"d":1}`)
    expect(stringify([() => 1, Symbol("s")])).toBe("[,,]")
  })

  it("writes a top-level undefined as undefined", () => {
    expect(stringify(undefined)).toBe("undefined")
    expect(parse(stringify(undefined))).toBeUndefined()
  })

  it("writes NaN and ±Infinity as null, and keeps -0", () => {
    expect(stringify([NaN, Infinity, -Infinity])).toBe("[null,null,null]")
    expect(stringify(-0)).toBe("-0")
    expect(stringify(1e21)).toBe("1e+21")
  })

  it("honours toJSON with the key, and writes a Buffer as base64", () => {
    expect(stringify({ when: new Date(0) })).toBe(`{"when":"1970-01-01T00:00:00.000Z"}`)
    const keys: Array<string> = []
    const spy = { toJSON: (key: string) => (keys.push(key), { seen: key }) }
    expect(stringify({ a: spy, b: [spy] })).toBe(`{"a":{"seen":"a"},"b":[{"seen":"0"}]}`)
    expect(keys).toEqual(["a", "0"])
    expect(stringify({ bytes: Buffer.from([0, 1, 2, 255]) })).toBe(`{"bytes":"AAEC/w=="}`)
    expect(stringify({ gone: { toJSON: () => undefined } })).toBe("{}")
  })

  it("unwraps boxed primitives", () => {
    expect(stringify([new Number(1), new String("s"), new Boolean(false)])).toBe(`[1,"s",false]`)
  })

  it("never writes a raw NUL and escapes quotes, backslashes, controls and lone surrogates", () => {
    const text = stringify({ "k\0": "a\0b\"c\\d\n\u0001\ud800" })
    expect(text).not.toContain("\0")
    expect(text).toBe(`{"k\\u0000":"a\\u0000b\\"c\\\\d\\n\\u0001\\ud800"}`)
  })

  it("keeps __proto__ keys as own keys through a round trip", () => {
    const value = JSON.parse(`{"__proto__":{"polluted":1}}`) as object
    const back = parse(stringify(value)) as object
    expect(Object.keys(back)).toEqual(["__proto__"])
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
  })

  it("refuses cycles, bigints and nesting beyond MAX_DEPTH with typed errors", () => {
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = { again: cycle }
    const reasons: Array<string> = []
    for (const value of [cycle, { n: 1n }, nest(Serde.MAX_DEPTH + 1)]) {
      const result = Serde.stringifyEither(value)
      if (Either.isRight(result)) throw new Error("expected a failure")
      reasons.push(result.left.reason)
    }
    expect(reasons).toEqual(["Circular", "Unserializable", "TooDeep"])
    expect(() => stringify(nest(Serde.MAX_DEPTH))).not.toThrow()
    expect(parse(stringify(nest(Serde.MAX_DEPTH)))).toEqual(nest(Serde.MAX_DEPTH))
  })

  it("writes what the reference parser reads back", () => {
    const value = { a: [1, undefined, "x'y\"z", { b: -0.5 }], "key with space": "\u2028", when: new Date(5) }
    expect(mdsf.parse(stringify(value))).toEqual({
      a: [1, undefined, "x'y\"z", { b: -0.5 }],
      "key with space": "\u2028",
      when: "1970-01-01T00:00:00.005Z"
    })
  })
})

describe("Serde.stringify: what cannot be written is refused with a TypeError naming its path", () => {
  const refusal = (value: unknown): Serde.SerdeError => {
    try {
      Serde.stringify(value)
    } catch (error) {
      if (error instanceof Serde.SerdeError) return error
      throw error
    }
    throw new Error("expected a refusal")
  }

  it("a bigint: the path from the root, through indexes, identifiers and quoted keys", () => {
    const cases: ReadonlyArray<readonly [unknown, string]> = [
      [1n, "value"],
      [[1, { user: { id: 5n } }], "value[1].user.id"],
      [{ "a b": [0, [1n]] }, "value[\"a b\"][1][0]"],
      [{ $x_1: { "0": 2n } }, "value.$x_1[\"0\"]"],
      [{ when: { toJSON: () => 3n } }, "value.when"]
    ]
    for (const [value, path] of cases) {
      const error = refusal(value)
      expect(error).toBeInstanceOf(TypeError)
      expect(error).toMatchObject({ _tag: "SerdeError", name: "SerdeError", reason: "Unserializable", position: -1, path })
      expect(error.message).toBe(`Cannot serialize a bigint at ${path}`)
    }
  })

  it("a cycle: where it closes, and the ancestor it comes back to", () => {
    const user: Record<string, unknown> = { name: "ada" }
    user.friends = [{ name: "bob", best: user }]
    const error = refusal({ users: [user] })
    expect(error).toBeInstanceOf(TypeError)
    expect(error.reason).toBe("Circular")
    expect(error.path).toBe("value.users[0].friends[0].best")
    expect(error.message).toBe("Cannot serialize a circular structure: value.users[0].friends[0].best is value.users[0]")
    const self: Array<unknown> = []
    self.push(self)
    expect(refusal(self).message).toBe("Cannot serialize a circular structure: value[0] is value")
  })

  it("too deep: the path to the top-level member in the message, the whole path in `path`", () => {
    const error = refusal({ deep: nest(Serde.MAX_DEPTH + 1) })
    expect(error).toBeInstanceOf(TypeError)
    expect(error.reason).toBe("TooDeep")
    expect(error.message).toBe(`Nesting deeper than ${Serde.MAX_DEPTH} levels at value.deep`)
    expect(error.path).toBe("value.deep" + "[0]".repeat(Serde.MAX_DEPTH - 1))
  })

  it("the same object twice, not on one path, is no cycle", () => {
    const shared = { a: 1 }
    expect(Serde.stringify([shared, { b: shared }])).toBe(`[{"a":1},{"b":{"a":1}}]`)
  })

  it("a parse failure is a SerdeError too, with no path", () => {
    const error = failure("{a:")
    expect(error).toBeInstanceOf(TypeError)
    expect(error.path).toBeUndefined()
  })

  it("is a tagged error of Effect: yieldable, structurally equal, its fields in JSON", () => {
    const error = refusal([1n])
    const exit = Effect.runSync(Effect.either(Effect.gen(function*() {
      return yield* error
    })))
    expect(Either.isLeft(exit) && exit.left === error).toBe(true)
    expect(Equal.equals(error, new Serde.SerdeError({ reason: "Unserializable", position: -1, path: "value[0]", message: error.message })))
      .toBe(true)
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      _tag: "SerdeError",
      reason: "Unserializable",
      position: -1,
      path: "value[0]",
      message: "Cannot serialize a bigint at value[0]"
    })
    expect(String(error)).toBe("SerdeError: Cannot serialize a bigint at value[0]")
  })

  it("stringifyEither gives the refusal as a value", () => {
    const result = Serde.stringifyEither({ n: 1n })
    expect(Either.isLeft(result) && result.left.path).toBe("value.n")
  })

  it("calls toJSON once, as JSON.stringify does, not again on what it returns", () => {
    const inner = { toJSON: () => "inner", x: 1 }
    const value = { toJSON: () => inner }
    expect(Serde.stringify(value)).toBe(JSON.stringify(value))
    expect(Serde.stringify(value)).toBe(`{"x":1}`)
    const self = { toJSON(): unknown {
      return this
    }, y: 2 }
    expect(Serde.stringify(self)).toBe(`{"y":2}`)
  })
})

describe("Message.serialize: payloads as 2.3.0 writes them", () => {
  const call = (args: Array<unknown>): Message.Message => ({ _tag: "Call", id: 1, iface: "i", method: "m", args })

  it("names a refused value from the payload: args, results, message", () => {
    const messageOf = (run: () => unknown): string => {
      try {
        run()
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError)
        expect(error).toBeInstanceOf(Serde.SerdeError)
        return (error as Error).message
      }
      throw new Error("expected a refusal")
    }
    expect(messageOf(() => Message.serialize(call(["x", { user: { id: 1n } }])))).toBe("Cannot serialize a bigint at args[1].user.id")
    expect(messageOf(() => Message.serialize({ _tag: "Event", id: -1, iface: "i", event: "e", args: [[1n]] })))
      .toBe("Cannot serialize a bigint at args[0][0]")
    expect(messageOf(() => Message.prepareEvent("i", "e", [0, 1n]))).toBe("Cannot serialize a bigint at args[1]")
    expect(messageOf(() => Message.serialize({ _tag: "CallbackOk", id: 1, results: [2n] }))).toBe("Cannot serialize a bigint at results[0]")
    expect(messageOf(() =>
      Message.serialize({
        _tag: "HandshakeRequest",
        id: 0,
        app: "a",
        version: undefined,
        auth: { _tag: "Custom", strategy: "token", credentials: [3n] }
      })
    )).toBe("Cannot serialize a bigint at message.token[0]")
    const cycle: Record<string, unknown> = {}
    cycle.self = { again: cycle }
    expect(messageOf(() => Message.serialize(call([1, cycle])))).toBe("Cannot serialize a circular structure: args[1].self.again is args[1]")
  })

  it("loses a trailing undefined, function or symbol array element, as mdsf does; keeps it inside", () => {
    const cases: ReadonlyArray<Array<unknown>> = [
      [1, undefined],
      [undefined],
      [undefined, undefined],
      [1, () => 1],
      [Symbol("s")],
      [1, undefined, 2],
      [[1, undefined], { a: [undefined], b: undefined, c: () => 1, d: Symbol("s") }],
      [1, { toJSON: () => undefined }],
      [{ toJSON: () => undefined }, { toJSON: () => () => 1 }],
      // eslint-disable-next-line no-sparse-arrays
      [1, , 2, ,]
    ]
    for (const args of cases) {
      const ours = Message.serialize(call(args))
      const theirs = mdsf.stringify({ call: [1, "i"], m: args })
      expect({ args, read: mdsf.parse(ours) }).toEqual({ args, read: mdsf.parse(theirs) })
      expect(Message.deserialize(ours)).toEqual(Message.deserialize(theirs))
    }
    expect(Message.serialize(call([1, undefined]))).toBe(`{"call":[1,"i"],"m":[1,]}`)
    expect(Message.serialize(call([undefined]))).toBe(`{"call":[1,"i"],"m":[]}`)
    expect(Message.serialize(call([1, { toJSON: () => undefined }]))).toBe(`{"call":[1,"i"],"m":[1,undefined]}`)
    // Serde.stringify itself still round-trips the last element.
    expect(Serde.stringify([1, undefined])).toBe("[1,,]")
    expect(Serde.stringify([1, { toJSON: () => undefined }])).toBe("[1,,]")
  })
})

const nest = (depth: number): unknown => {
  let value: unknown = []
  for (let i = 1; i < depth; i++) value = [value]
  return value
}
