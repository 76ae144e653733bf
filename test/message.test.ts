import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { ErrorCode, Message, Serde } from "effect-jstp"

type Msg = Message.Message

const SESSION_ID = "9b71d224-bd62-4f0c-8a8b-0a0c6e5d3f15"

/**
 * Checks one wire text both ways: it decodes to `expected` (every field, no
 * extra ones), and the message encodes back to the object the text parses to,
 * with the kind first.
 */
const checkBothWays = (text: string, expected: Msg): void => {
  const parsed = Serde.parse(text)
  const decoded = Message.decode(parsed)
  expect(decoded).toStrictEqual(expected)
  expect(Message.deserialize(text)).toStrictEqual(expected)

  const encoded = Message.encode(decoded)
  expect(encoded).toEqual(parsed)
  expect(Object.keys(encoded)).toEqual(Object.keys(parsed as object))
  expect(Serde.parse(Serde.stringify(encoded))).toEqual(parsed)
  expect(Serde.parse(Message.serialize(decoded))).toEqual(parsed)
  expect(Message.deserialize(Message.serialize(decoded))).toStrictEqual(expected)
}

/** The `MessageError` that decoding `value` throws (fails if it does not). */
const decodeError = (value: unknown): Message.MessageError => {
  try {
    Message.decode(value)
  } catch (error) {
    expect(error).toBeInstanceOf(Message.MessageError)
    return error as Message.MessageError
  }
  throw new Error("expected decode to fail")
}

const expectError = (
  value: unknown,
  reason: Message.MessageErrorReason,
  kind: string | undefined,
  id: number | undefined
): Message.MessageError => {
  const error = decodeError(value)
  expect({ _tag: error._tag, reason: error.reason, kind: error.kind, id: error.id }).toEqual({
    _tag: "MessageError",
    reason,
    kind,
    id
  })
  expect(error.message.length).toBeGreaterThan(0)
  return error
}

describe("protocol.md §3 examples", () => {
  it("handshake request with login", () => {
    checkBothWays("{handshake:[0,'app'],login:['user','pass']}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Login", login: "user", password: "pass" }
    })
  })

  it("handshake reply with a session id", () => {
    checkBothWays("{handshake:[0],ok:'9b71d224-...'}", { _tag: "HandshakeOk", id: 0, ok: "9b71d224-..." })
  })

  it("call", () => {
    checkBothWays("{call:[17,'auth'],newAccount:['Payload']}", {
      _tag: "Call",
      id: 17,
      iface: "auth",
      method: "newAccount",
      args: ["Payload"],
      trace: undefined
    })
  })

  it("call with the caller's trace context, a third key", () => {
    const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    checkBothWays(`{call:[17,'auth'],newAccount:['Payload'],traceparent:'${trace}'}`, {
      _tag: "Call",
      id: 17,
      iface: "auth",
      method: "newAccount",
      args: ["Payload"],
      trace
    })
    // Only a well-formed value is taken; a method named traceparent keeps its arguments.
    expect(Message.deserialize("{call:[1,'a'],m:[],traceparent:42}")).toMatchObject({ trace: undefined })
    expect(Message.deserialize("{call:[1,'a'],traceparent:[1]}")).toMatchObject({ method: "traceparent", args: [1], trace: undefined })
    expect(Message.serialize({ _tag: "Call", id: 1, iface: "a", method: "traceparent", args: [1], trace })).toBe(
      "{\"call\":[1,\"a\"],\"traceparent\":[1]}"
    )
  })

  it("callback ok", () => {
    checkBothWays("{callback:[17],ok:[15703]}", { _tag: "CallbackOk", id: 17, results: [15703] })
  })

  it("event", () => {
    checkBothWays("{event:[-12,'chat'],message:['Marcus','Hi']}", {
      _tag: "Event",
      id: -12,
      iface: "chat",
      event: "message",
      args: ["Marcus", "Hi"]
    })
  })

  it("inspect", () => {
    checkBothWays("{inspect:[42,'iface']}", { _tag: "Inspect", id: 42, iface: "iface" })
  })

  it("ping", () => {
    checkBothWays("{ping:[5]}", { _tag: "Ping", id: 5 })
  })

  it("pong", () => {
    checkBothWays("{pong:[5]}", { _tag: "Pong", id: 5 })
  })

  it("the same messages written as JSON decode the same way", () => {
    expect(Message.deserialize("{\"call\":[17,\"auth\"],\"newAccount\":[\"Payload\"]}")).toStrictEqual(
      Message.deserialize("{call:[17,'auth'],newAccount:['Payload']}")
    )
    expect(Message.deserialize("{\"callback\":[17],\"ok\":[15703]}")).toStrictEqual({
      _tag: "CallbackOk",
      id: 17,
      results: [15703]
    })
  })

  it("serialize writes the kind first and the verb second", () => {
    const text = Message.serialize({ _tag: "Call", id: 17, iface: "auth", method: "newAccount", args: ["Payload"] })
    expect(text.indexOf("call")).toBeLessThan(text.indexOf("newAccount"))
    expect(text).not.toContain("\0")
  })
})

describe("handshake", () => {
  it("anonymous request", () => {
    checkBothWays("{handshake:[0,'app']}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Anonymous" }
    })
  })

  it("anonymous request with a version range", () => {
    checkBothWays("{handshake:[0,'app','^1.0.0']}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: "^1.0.0",
      auth: { _tag: "Anonymous" }
    })
  })

  it("login request with a version range", () => {
    checkBothWays("{handshake:[0,'app','^1.0.0'],login:['user','pass']}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: "^1.0.0",
      auth: { _tag: "Login", login: "user", password: "pass" }
    })
  })

  it("session request", () => {
    checkBothWays(`{handshake:[0,'app','^1.0.0'],session:['${SESSION_ID}',42]}`, {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: "^1.0.0",
      auth: { _tag: "Session", sessionId: SESSION_ID, receivedCount: 42 }
    })
    checkBothWays(`{handshake:[0,'app'],session:['${SESSION_ID}',0]}`, {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Session", sessionId: SESSION_ID, receivedCount: 0 }
    })
  })

  it("custom strategy request: the verb and its payload as they are", () => {
    checkBothWays("{handshake:[0,'app','^1.0.0'],token:['abc',{scope:['read'],ttl:60}]}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: "^1.0.0",
      auth: { _tag: "Custom", strategy: "token", credentials: ["abc", { scope: ["read"], ttl: 60 }] }
    })
    checkBothWays("{handshake:[0,'app'],otp:'123456'}", {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Custom", strategy: "otp", credentials: "123456" }
    })
  })

  it("reply ok with a session id string", () => {
    checkBothWays(`{handshake:[0],ok:'${SESSION_ID}'}`, { _tag: "HandshakeOk", id: 0, ok: SESSION_ID })
  })

  it("reply ok with a receivedCount number (restored session), including 0", () => {
    checkBothWays("{handshake:[0],ok:7}", { _tag: "HandshakeOk", id: 0, ok: 7 })
    checkBothWays("{handshake:[0],ok:0}", { _tag: "HandshakeOk", id: 0, ok: 0 })
  })

  it("reply error [10]", () => {
    checkBothWays("{handshake:[0],error:[10]}", {
      _tag: "HandshakeError",
      id: 0,
      error: { code: 10, message: undefined, info: [] }
    })
  })

  it("reply error [11,'msg']", () => {
    checkBothWays("{handshake:[0],error:[11,'msg']}", {
      _tag: "HandshakeError",
      id: 0,
      error: { code: 11, message: "msg", info: [] }
    })
  })

  it("a header whose application name is falsy is a reply (as 2.x decides: `if (message.handshake[1])`)", () => {
    expect(Message.decode({ handshake: [0, null], ok: SESSION_ID })).toStrictEqual({
      _tag: "HandshakeOk",
      id: 0,
      ok: SESSION_ID
    })
    expect(Message.decode({ handshake: [0, ""], error: [10] })).toStrictEqual({
      _tag: "HandshakeError",
      id: 0,
      error: { code: 10, message: undefined, info: [] }
    })
    expectError({ handshake: [0, ""], login: ["user", "pass"] }, "MissingVerb", "handshake", 0)
  })

  it("encodes an error reply with no message as [code]", () => {
    const text = Message.serialize({ _tag: "HandshakeError", id: 0, error: { code: 11, message: undefined, info: [] } })
    expect(Serde.parse(text)).toEqual({ handshake: [0], error: [11] })
  })
})

describe("callback", () => {
  it("ok with several results", () => {
    checkBothWays("{callback:[3],ok:[1,'two',{three:[3]},null]}", {
      _tag: "CallbackOk",
      id: 3,
      results: [1, "two", { three: [3] }, null]
    })
  })

  it("ok with no results", () => {
    checkBothWays("{callback:[-4],ok:[]}", { _tag: "CallbackOk", id: -4, results: [] })
  })

  it("error with a code only", () => {
    checkBothWays("{callback:[17],error:[12]}", {
      _tag: "CallbackError",
      id: 17,
      error: { code: 12, message: undefined, info: [] }
    })
  })

  it("error with a message", () => {
    checkBothWays("{callback:[17],error:[1,'Error: nope']}", {
      _tag: "CallbackError",
      id: 17,
      error: { code: 1, message: "Error: nope", info: [] }
    })
  })

  it("error with a message and info: [16,'boom',1,2]", () => {
    checkBothWays("{callback:[9],error:[16,'boom',1,2]}", {
      _tag: "CallbackError",
      id: 9,
      error: { code: 16, message: "boom", info: [1, 2] }
    })
  })

  it("error with a null message reads as no message", () => {
    expect(Message.deserialize("{callback:[9],error:[16,null]}")).toStrictEqual({
      _tag: "CallbackError",
      id: 9,
      error: { code: 16, message: undefined, info: [] }
    })
  })

  it("encodes an error with no message and no info as [code]", () => {
    const message: Msg = { _tag: "CallbackError", id: 9, error: { code: 14, message: undefined, info: [] } }
    expect(Message.encode(message)).toEqual({ callback: [9], error: [14] })
    expect(Serde.parse(Message.serialize(message))).toEqual({ callback: [9], error: [14] })
  })

  it("encodes an error with info but no message with a hole for the message, and reads it back", () => {
    const message: Msg = { _tag: "CallbackError", id: 9, error: { code: 16, message: undefined, info: [1] } }
    const text = Message.serialize(message)
    expect(text).toBe("{\"callback\":[9],\"error\":[16,,1]}")
    expect(Message.deserialize(text)).toStrictEqual(message)
  })
})

describe("heartbeat", () => {
  it("`{}` decodes as Heartbeat and encodes back to `{}`", () => {
    expect(Message.decode({})).toStrictEqual({ _tag: "Heartbeat" })
    expect(Message.deserialize("{}")).toStrictEqual({ _tag: "Heartbeat" })
    expect(Message.deserialize("{ }")).toStrictEqual({ _tag: "Heartbeat" })
    expect(Message.encode({ _tag: "Heartbeat" })).toStrictEqual({})
    expect(Message.serialize({ _tag: "Heartbeat" })).toBe("{}")
  })
})

describe("malformed messages", () => {
  it("not an object", () => {
    for (const value of [[], [1, 2], "{}", "call", null, undefined, 42, true]) {
      expectError(value, "NotAnObject", undefined, undefined)
    }
  })

  it("header not an array", () => {
    expectError({ call: "auth", newAccount: [] }, "HeaderNotArray", "call", undefined)
    expectError({ call: { 0: 1, 1: "auth" }, newAccount: [] }, "HeaderNotArray", "call", undefined)
    expectError({ callback: 17, ok: [] }, "HeaderNotArray", "callback", undefined)
    expectError({ event: null, message: [] }, "HeaderNotArray", "event", undefined)
    expectError({ inspect: "iface" }, "HeaderNotArray", "inspect", undefined)
    expectError({ ping: 5 }, "HeaderNotArray", "ping", undefined)
    expectError({ pong: "5" }, "HeaderNotArray", "pong", undefined)
    expectError({ handshake: 0, ok: "x" }, "HeaderNotArray", "handshake", undefined)
  })

  it("bad id: string, fraction, NaN, infinite, unsafe, missing", () => {
    const badIds: ReadonlyArray<unknown> = ["1", 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, null, true]
    for (const id of badIds) {
      expectError({ call: [id, "auth"], newAccount: [] }, "BadId", "call", undefined)
      expectError({ callback: [id], ok: [] }, "BadId", "callback", undefined)
      expectError({ event: [id, "chat"], message: [] }, "BadId", "event", undefined)
      expectError({ inspect: [id, "iface"] }, "BadId", "inspect", undefined)
      expectError({ ping: [id] }, "BadId", "ping", undefined)
      expectError({ pong: [id] }, "BadId", "pong", undefined)
      expectError({ handshake: [id, "app"] }, "BadId", "handshake", undefined)
    }
    expectError({ ping: [] }, "BadId", "ping", undefined)
    expectError({ handshake: [], ok: "x" }, "BadId", "handshake", undefined)
    // From text: a parser of ours may accept NaN; the message is still refused.
    expect(Message.deserializeEither("{ping:['5']}").pipe(Either.isLeft)).toBe(true)
  })

  it("missing verb", () => {
    expectError({ call: [17, "auth"] }, "MissingVerb", "call", 17)
    expectError({ event: [-12, "chat"] }, "MissingVerb", "event", -12)
    expectError({ callback: [17] }, "MissingVerb", "callback", 17)
    expectError({ callback: [17], results: [1] }, "MissingVerb", "callback", 17)
    expectError({ handshake: [0] }, "MissingVerb", "handshake", 0)
    expectError({ handshake: [0], session: ["x", 1] }, "MissingVerb", "handshake", 0)
  })

  it("call payload not an array carries kind 'call' and the id, so that an engine can answer 17", () => {
    for (const payload of ["Payload", { 0: "Payload" }, null, 5, undefined]) {
      const error = expectError({ call: [17, "auth"], newAccount: payload }, "PayloadNotArray", "call", 17)
      expect(error.message).toContain("newAccount")
    }
    const fromText = Message.deserializeEither("{call:[17,'auth'],newAccount:'Payload'}")
    expect(Either.isLeft(fromText)).toBe(true)
    if (Either.isLeft(fromText)) {
      expect(fromText.left).toBeInstanceOf(Message.MessageError)
      expect(fromText.left).toMatchObject({ reason: "PayloadNotArray", kind: "call", id: 17 })
    }
  })

  it("event payload not an array", () => {
    expectError({ event: [-12, "chat"], message: "Hi" }, "PayloadNotArray", "event", -12)
    expectError({ event: [-12, "chat"], message: { text: "Hi" } }, "PayloadNotArray", "event", -12)
  })

  it("callback ok not an array", () => {
    expectError({ callback: [17], ok: 15703 }, "PayloadNotArray", "callback", 17)
    expectError({ callback: [17], ok: null }, "PayloadNotArray", "callback", 17)
  })

  it("bad error payloads", () => {
    for (const kind of ["callback", "handshake"] as const) {
      const header = kind === "callback" ? [3] : [0]
      const id = header[0]
      expectError({ [kind]: header, error: 16 }, "PayloadNotArray", kind, id)
      expectError({ [kind]: header, error: "boom" }, "PayloadNotArray", kind, id)
      expectError({ [kind]: header, error: { code: 16 } }, "PayloadNotArray", kind, id)
      expectError({ [kind]: header, error: [] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: ["16"] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: [null, "boom"] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: [Number.NaN] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: [Number.POSITIVE_INFINITY] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: [16, 42] }, "BadPayload", kind, id)
      expectError({ [kind]: header, error: [16, { text: "boom" }] }, "BadPayload", kind, id)
    }
  })

  it("bad handshake ok value", () => {
    for (const ok of [-1, 1.5, Number.NaN, null, true, [SESSION_ID], { id: SESSION_ID }]) {
      expectError({ handshake: [0], ok }, "BadPayload", "handshake", 0)
    }
  })

  it("bad login credentials", () => {
    const bad: ReadonlyArray<unknown> = ["user", ["user"], ["user", 5], [1, "pass"], [], null, { login: "user" }]
    for (const credentials of bad) {
      expectError({ handshake: [0, "app"], login: credentials }, "BadPayload", "handshake", 0)
    }
  })

  it("bad session credentials", () => {
    const bad: ReadonlyArray<unknown> = [
      SESSION_ID,
      [SESSION_ID],
      [SESSION_ID, -1],
      [SESSION_ID, 1.5],
      [SESSION_ID, "1"],
      [SESSION_ID, Number.NaN],
      [42, 1],
      null
    ]
    for (const credentials of bad) {
      expectError({ handshake: [0, "app"], session: credentials }, "BadPayload", "handshake", 0)
    }
  })

  it("non-string interface name", () => {
    for (const name of [5, null, ["auth"], { name: "auth" }, undefined]) {
      expectError({ call: [17, name], newAccount: [] }, "BadName", "call", 17)
      expectError({ event: [-12, name], message: [] }, "BadName", "event", -12)
      expectError({ inspect: [42, name] }, "BadName", "inspect", 42)
    }
    expectError({ call: [17], newAccount: [] }, "BadName", "call", 17)
  })

  it("non-string application name or version", () => {
    expectError({ handshake: [0, 5], login: ["user", "pass"] }, "BadName", "handshake", 0)
    expectError({ handshake: [0, ["app"]] }, "BadName", "handshake", 0)
    expectError({ handshake: [0, "app", 1] }, "BadPayload", "handshake", 0)
    expectError({ handshake: [0, "app", ["^1.0.0"]] }, "BadPayload", "handshake", 0)
  })

  it("unknown kind", () => {
    expectError({ foo: [1] }, "UnknownKind", "foo", undefined)
    expectError({ callbacks: [1], ok: [] }, "UnknownKind", "callbacks", undefined)
    // The kind is the first key, whatever follows.
    expectError({ ok: [], callback: [1] }, "UnknownKind", "ok", undefined)
    expectError(Serde.parse("{state:[5,'x'],inc:[1]}"), "UnknownKind", "state", undefined)
  })

  it("deserialize throws a SerdeError on text that does not parse, a MessageError on a bad shape", () => {
    expect(() => Message.deserialize("{call:[1,'auth'],")).toThrow(Serde.SerdeError)
    expect(() => Message.deserialize("")).toThrow(Serde.SerdeError)
    expect(() => Message.deserialize("{call:[1,'auth']}")).toThrow(Message.MessageError)
  })

  it("deserializeEither gives the failure as a value", () => {
    const ok = Message.deserializeEither("{ping:[5]}")
    expect(ok).toStrictEqual(Either.right({ _tag: "Ping", id: 5 }))

    const serde = Message.deserializeEither("{ping:[5]")
    expect(Either.isLeft(serde)).toBe(true)
    if (Either.isLeft(serde)) {
      expect(serde.left).toBeInstanceOf(Serde.SerdeError)
      expect(serde.left._tag).toBe("SerdeError")
    }

    const shape = Message.deserializeEither("[5]")
    expect(Either.isLeft(shape)).toBe(true)
    if (Either.isLeft(shape)) {
      expect(shape.left).toBeInstanceOf(Message.MessageError)
      expect(shape.left).toMatchObject({ _tag: "MessageError", reason: "NotAnObject" })
    }
  })
})

describe("__proto__ as a method, event or strategy name", () => {
  const expectClean = (value: object): void => {
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted")).toBe(false)
  }

  it("a call named __proto__ round-trips as an own key", () => {
    const message: Msg = { _tag: "Call", id: 1, iface: "auth", method: "__proto__", args: [{ polluted: true }], trace: undefined }
    const encoded = Message.encode(message)
    expect(Object.keys(encoded)).toEqual(["call", "__proto__"])
    expect(Object.prototype.hasOwnProperty.call(encoded, "__proto__")).toBe(true)
    expectClean(encoded)

    const text = Message.serialize(message)
    expect(text).toContain("__proto__")
    const parsed = Serde.parse(text) as object
    expect(Object.keys(parsed)).toEqual(["call", "__proto__"])
    expectClean(parsed)

    const decoded = Message.deserialize(text)
    expect(decoded).toStrictEqual(message)
    expectClean(decoded)
  })

  it("an event named __proto__ round-trips as an own key", () => {
    const message: Msg = { _tag: "Event", id: -3, iface: "chat", event: "__proto__", args: [{ polluted: true }] }
    const encoded = Message.encode(message)
    expect(Object.keys(encoded)).toEqual(["event", "__proto__"])
    expectClean(encoded)
    expect(Message.deserialize(Message.serialize(message))).toStrictEqual(message)
    expectClean(encoded)
  })

  it("a custom handshake strategy named __proto__ round-trips as an own key", () => {
    const message: Msg = {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Custom", strategy: "__proto__", credentials: { polluted: true } }
    }
    const encoded = Message.encode(message)
    expect(Object.keys(encoded)).toEqual(["handshake", "__proto__"])
    expectClean(encoded)
    expect(Message.deserialize(Message.serialize(message))).toStrictEqual(message)
    expectClean(encoded)
  })

  it("a 2.x-style text with a __proto__ verb decodes without touching any prototype", () => {
    for (const text of [
      "{event:[1,'chat'],__proto__:[{polluted:1}]}",
      "{call:[1,'auth'],'__proto__':[{polluted:1}]}",
      "{\"call\":[1,\"auth\"],\"__proto__\":[{\"polluted\":1}]}"
    ]) {
      const decoded = Message.deserialize(text)
      expect(decoded).toMatchObject({ id: 1, args: [{ polluted: 1 }] })
      expect(decoded._tag === "Call" ? decoded.method : decoded._tag === "Event" ? decoded.event : "").toBe("__proto__")
      expectClean(decoded)
    }
  })

  it("a __proto__ key inside the arguments stays an own key of that argument", () => {
    const decoded = Message.deserialize("{call:[1,'auth'],signIn:[{__proto__:{polluted:1}}]}")
    expect(decoded._tag).toBe("Call")
    if (decoded._tag === "Call") {
      const arg = decoded.args[0] as object
      expect(Object.keys(arg)).toEqual(["__proto__"])
      expectClean(arg)
      expect(Message.deserialize(Message.serialize(decoded))).toStrictEqual(decoded)
    }
  })

  it("Object.prototype is still clean after all of the above", () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getPrototypeOf({})).toBe(Object.prototype)
  })
})

describe("round-trip property", () => {
  // A name that is a canonical array index ("0", "42") would be ordered before
  // the kind by Object.keys, and a verb equal to the kind would overwrite the
  // header; neither can be written as a JSTP message (see the report).
  const isIndexKey = (name: string): boolean => /^(0|[1-9][0-9]*)$/.test(name) && Number(name) < 2 ** 32 - 1
  const name = fc.string({ unit: "binary", maxLength: 12 })
  const verb = (kind: string) => name.filter((text) => !isIndexKey(text) && text !== kind)
  const id = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })
  const args = fc.array(fc.jsonValue({ stringUnit: "binary", maxDepth: 4 }), { maxLength: 5 })

  const call: fc.Arbitrary<Msg> = fc.record({
    _tag: fc.constant("Call" as const),
    id,
    iface: name,
    method: verb("call"),
    args
  })
  const event: fc.Arbitrary<Msg> = fc.record({
    _tag: fc.constant("Event" as const),
    id,
    iface: name,
    event: verb("event"),
    args
  })
  const callbackOk: fc.Arbitrary<Msg> = fc.record({
    _tag: fc.constant("CallbackOk" as const),
    id,
    results: args
  })

  it.prop(
    "deserialize(serialize(m)) deep-equals m for Call, Event and CallbackOk",
    [fc.oneof(call, event, callbackOk)],
    ([message]) => {
      const text = Message.serialize(message)
      expect(text).not.toContain("\0")
      expect(Message.deserialize(text)).toEqual(message)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "serialize writes what stringifying the wire object writes (its direct paths included)",
    [fc.oneof(call, event, callbackOk)],
    ([message]) => {
      expect(Message.serialize(message)).toBe(Serde.stringify(Message.encode(message)))
    },
    { fastCheck: { numRuns: 500 } }
  )
})

describe("Message.encode refuses verbs that would not decode", () => {
  it.each(["call", "0", "42", "4294967294"])("refuses a call to method %j", (method) => {
    expect(() => Message.serialize({ _tag: "Call", id: 1, iface: "i", method, args: [] })).toThrow(Message.MessageError)
  })

  it("refuses an event named event and a strategy named handshake", () => {
    expect(() => Message.serialize({ _tag: "Event", id: 1, iface: "i", event: "event", args: [] })).toThrow(
      Message.MessageError
    )
    expect(() =>
      Message.serialize({
        _tag: "HandshakeRequest",
        id: 0,
        app: "a",
        version: undefined,
        auth: { _tag: "Custom", strategy: "handshake", credentials: [] }
      })
    ).toThrow(Message.MessageError)
  })

  it.each(["01", "4294967295", "1e3", "-1", "callback", "x0"])("accepts method %j", (method) => {
    const message: Message.Message = { _tag: "Call", id: 1, iface: "i", method, args: [1] }
    expect(Message.deserialize(Message.serialize(message))).toEqual(message)
  })

  it("names the unknown kind once in its error message", () => {
    expect(() => Message.decode({ foo: [1] })).toThrow("Unknown message kind 'foo'")
    try {
      Message.decode({ foo: [1] })
    } catch (error) {
      expect((error as Message.MessageError).message).toBe("Unknown message kind 'foo'")
    }
  })
})

describe("ErrorCode.nameOf", () => {
  it("names each standard code by its constant, and nothing else", () => {
    for (const [name, code] of Object.entries(ErrorCode)) {
      if (name.startsWith("ERR_")) expect(ErrorCode.nameOf(code as number)).toBe(name)
    }
    expect(ErrorCode.nameOf(10)).toBe("ERR_APP_NOT_FOUND")
    expect(ErrorCode.nameOf(400)).toBeUndefined()
  })
})
