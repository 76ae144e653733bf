// The protocol engine (src/engine/Engine.ts) against protocol.md §3-§8, over
// an in-memory wire: exact wire texts, ids, handshake, calls, rejection
// rules, closing, session bookkeeping and logging.
import { describe, expect, it } from "@effect/vitest"
import type { Dispatcher } from "../src/engine/Engine.js"
import { BufferFullError, Engine } from "../src/engine/Engine.js"
import * as ErrorPayload from "../src/engine/ErrorPayload.js"
import { Session } from "../src/engine/Session.js"
import {
  ERR_AUTH_FAILED,
  ERR_INTERFACE_NOT_FOUND,
  ERR_INTERNAL_API_ERROR,
  ERR_INVALID_SIGNATURE,
  ERR_METHOD_NOT_FOUND,
  ERR_NO_HANDSHAKE_RESPONSE,
  ERR_NOT_A_SERVER
} from "../src/wire/ErrorCode.js"
import { FramingError } from "../src/wire/Framing.js"
import type * as Message from "../src/wire/Message.js"
import { SerdeError } from "../src/wire/SerdeError.js"
import {
  accept,
  deferred,
  dispatcherOf,
  fail,
  handshake,
  type LogEntry,
  makeDispatcher,
  makePair,
  ok,
  openPair,
  type Pair,
  type PairOptions,
  recorder,
  reject,
  replies,
  SESSION_ID,
  type SideRecord,
  startHandshake
} from "./support/memory-link.js"

const HANDSHAKE_OK = `{"handshake":[0],"ok":"${SESSION_ID}"}`

/** An error payload as it arrives: code, message (or undefined), info. */
const payload = (code: number, message?: string, info: ReadonlyArray<unknown> = []): Message.ErrorPayload => ({
  code,
  message,
  info
})

/** A calculator: add answers one result, divmod two, fail fails with a message and info. */
const calc = (): Dispatcher =>
  makeDispatcher({
    calc: {
      add: (args, reply) => reply(undefined, [(args[0] as number) + (args[1] as number)]),
      divmod: (args, reply) => {
        const [a, b] = args as [number, number]
        reply(undefined, [Math.floor(a / b), a % b])
      },
      nothing: ok(),
      denied: fail(ErrorPayload.make(ERR_AUTH_FAILED)),
      broken: fail(ErrorPayload.make(1, "Boom", [{ at: "calc.broken" }, 2]))
    }
  })

/** A pair in manual delivery with its handshake done (anonymous, app "app"). */
const openManual = (options: PairOptions = {}): Pair => {
  const pair = makePair({ ...options, delivery: "manual" })
  const box = startHandshake(pair.client)
  pair.wire.flush()
  expect(box.result).toEqual({ error: undefined, ok: SESSION_ID })
  expect(pair.client.phase).toBe("Open")
  expect(pair.server.phase).toBe("Open")
  return pair
}

/** The texts an end sent after the handshake. */
const after = (pair: Pair, from: "client" | "server"): Array<string> => pair.texts(from).slice(1)

const events = (record: SideRecord, event: LogEntry["event"]): Array<ReadonlyArray<unknown>> =>
  record.log.filter((entry) => entry.event === event).map((entry) => entry.args)

const closeEntries = (pair: Pair) => pair.wireLog.filter((entry) => entry._tag === "Close").map((entry) => entry.from)

// -------------------------------------------------------------------- ids

describe("message ids (protocol.md §4)", () => {
  it("client 0, 1, 2, ...; server 0, -1, -2, ...; callbacks and pongs reuse the id they answer", () => {
    const pair = openManual({
      server: { application: calc() },
      client: { application: makeDispatcher({ client: { hello: ok("hi") } }) }
    })
    expect(pair.texts("client")).toEqual(['{"handshake":[0,"app"]}'])
    expect(pair.texts("server")).toEqual([HANDSHAKE_OK])

    expect(pair.client.call("calc", "add", [1, 2], replies().reply)).toBe(1)
    pair.client.emit("chat", "message", ["hi"])
    expect(pair.client.inspect("calc", replies().reply)).toBe(3)
    expect(pair.client.ping()).toBe(4)
    expect(pair.server.call("client", "hello", [], replies().reply)).toBe(-1)
    pair.server.emit("chat", "message", ["yo"])
    expect(pair.server.ping()).toBe(-3)
    pair.wire.flush()

    expect(after(pair, "client")).toEqual([
      '{"call":[1,"calc"],"add":[1,2]}',
      '{"event":[2,"chat"],"message":["hi"]}',
      '{"inspect":[3,"calc"]}',
      '{"ping":[4]}',
      '{"callback":[-1],"ok":["hi"]}',
      '{"pong":[-3]}'
    ])
    expect(after(pair, "server")).toEqual([
      '{"call":[-1,"client"],"hello":[]}',
      '{"event":[-2,"chat"],"message":["yo"]}',
      '{"ping":[-3]}',
      '{"callback":[1],"ok":[3]}',
      '{"callback":[3],"ok":["add","divmod","nothing","denied","broken"]}',
      '{"pong":[4]}'
    ])

    // The callbacks and pongs each side wrote took no id.
    expect(pair.client.call("calc", "add", [0, 0], replies().reply)).toBe(5)
    expect(pair.server.ping()).toBe(-4)
    pair.wire.flush()
    expect(pair.texts("client").at(-2)).toBe('{"call":[5,"calc"],"add":[0,0]}')
    expect(pair.texts("server").at(-2)).toBe('{"ping":[-4]}')
  })

  it("the wire log records each text with the end that sent it, in order, and the handshake takes id 0 on both sides", async () => {
    const pair = await openPair({ server: { application: calc() } })
    pair.client.call("calc", "add", [1, 2], replies().reply)
    await pair.settle()
    expect(pair.wireLog.map((entry) => entry._tag === "Message" ? [entry.from, entry.text, entry.delivered] : entry))
      .toEqual([
        ["client", '{"handshake":[0,"app"]}', true],
        ["server", HANDSHAKE_OK, true],
        ["client", '{"call":[1,"calc"],"add":[1,2]}', true],
        ["server", '{"callback":[1],"ok":[3]}', true]
      ])
  })

  it("a request that is refused locally takes no id", () => {
    const pair = openManual({ server: { application: calc() } })
    expect(() => pair.client.call("calc", "call", [], replies().reply)).toThrow(/cannot be a verb/)
    expect(pair.client.call("calc", "add", [1, 2], replies().reply)).toBe(1)
  })
})

// -------------------------------------------------------------- handshake

describe("handshake (protocol.md §5)", () => {
  const acceptRecording = () => {
    const requests: Array<Message.HandshakeRequest> = []
    const application = calc()
    const onHandshake = accept(application, (request) => {
      requests.push(request)
      return new Session(SESSION_ID, request.auth._tag === "Login" ? request.auth.login : null)
    })
    return { requests, application, onHandshake }
  }

  it("anonymous: no verb; the server opens with its session and application", async () => {
    const { requests, application, onHandshake } = acceptRecording()
    const pair = makePair({ server: { onHandshake } })
    const result = await handshake(pair)
    expect(pair.texts()).toEqual(['{"handshake":[0,"app"]}', HANDSHAKE_OK])
    expect(requests).toEqual([{ _tag: "HandshakeRequest", id: 0, app: "app", version: undefined, auth: { _tag: "Anonymous" } }])
    expect(result).toEqual({ error: undefined, ok: SESSION_ID })
    expect(pair.client.phase).toBe("Open")
    expect(pair.client.session?.id).toBe(SESSION_ID)
    expect(pair.client.session?.username).toBeNull()
    expect(pair.server.phase).toBe("Open")
    expect(pair.server.session?.id).toBe(SESSION_ID)
    expect(pair.server.application).toBe(application)
  })

  it("login: [login, password]; the client's session has the user name", async () => {
    const { requests, onHandshake } = acceptRecording()
    const pair = makePair({ server: { onHandshake } })
    const result = await handshake(pair, { auth: { _tag: "Login", login: "marcus", password: "secret" } })
    expect(pair.texts("client")).toEqual(['{"handshake":[0,"app"],"login":["marcus","secret"]}'])
    expect(requests[0]?.auth).toEqual({ _tag: "Login", login: "marcus", password: "secret" })
    expect(result).toEqual({ error: undefined, ok: SESSION_ID })
    expect(pair.client.session?.username).toBe("marcus")
    expect(pair.server.session?.username).toBe("marcus")
  })

  it("a custom strategy is its own verb, its credentials passed through", async () => {
    const { requests, onHandshake } = acceptRecording()
    const pair = makePair({ server: { onHandshake } })
    await handshake(pair, { auth: { _tag: "Custom", strategy: "token", credentials: ["abc", { scope: 1 }] } })
    expect(pair.texts("client")).toEqual(['{"handshake":[0,"app"],"token":["abc",{"scope":1}]}'])
    expect(requests[0]?.auth).toEqual({ _tag: "Custom", strategy: "token", credentials: ["abc", { scope: 1 }] })
    expect(pair.client.session?.username).toBeNull()
  })

  it("the version is the third header element, passed through to the server", async () => {
    const { requests, onHandshake } = acceptRecording()
    const pair = makePair({ server: { onHandshake } })
    await handshake(pair, { app: "chat", version: "^1.2.0", auth: { _tag: "Login", login: "u", password: "p" } })
    expect(pair.texts("client")).toEqual(['{"handshake":[0,"chat","^1.2.0"],"login":["u","p"]}'])
    expect(requests[0]).toMatchObject({ app: "chat", version: "^1.2.0" })
  })

  it("a session strategy reaches the server, and a restored session answers its receivedCount", async () => {
    const restored = new Session("old-session")
    restored.receivedCount = 5
    const requests: Array<Message.HandshakeRequest> = []
    const pair = makePair({
      server: {
        onHandshake: (request, done) => {
          requests.push(request)
          done({ _tag: "Accepted", session: restored, restored: true, application: calc() })
        }
      }
    })
    const own = new Session("old-session")
    pair.client.session = own
    const result = await handshake(pair, { auth: { _tag: "Session", sessionId: "old-session", receivedCount: 3 } })
    expect(pair.texts()).toEqual(['{"handshake":[0,"app"],"session":["old-session",3]}', '{"handshake":[0],"ok":5}'])
    expect(requests[0]?.auth).toEqual({ _tag: "Session", sessionId: "old-session", receivedCount: 3 })
    expect(result).toEqual({ error: undefined, ok: 5 })
    expect(pair.client.session).toBe(own) // a restored session keeps the client's own
    expect(pair.server.session).toBe(restored)
  })

  it("rejection sends {handshake:[0],error:[11]} and closes both sides; the client's done gets the error", async () => {
    const pair = makePair({ server: { onHandshake: reject(ErrorPayload.make(ERR_AUTH_FAILED)) } })
    const result = await handshake(pair, { auth: { _tag: "Login", login: "u", password: "wrong" } })
    expect(pair.texts("server")).toEqual(['{"handshake":[0],"error":[11]}'])
    expect(result).toEqual({ error: payload(11), ok: undefined })
    expect(pair.client.phase).toBe("Closed")
    expect(pair.server.phase).toBe("Closed")
    expect(pair.server.session).toBeUndefined()
    expect(pair.record.server.closes).toEqual([{ reason: "HandshakeRejected", cause: payload(11) }])
    expect(pair.record.client.closes).toEqual([{ reason: "HandshakeRejected", cause: payload(11) }])
    // The server closed its link after its reply (and the client closed its own).
    expect(pair.wireLog.map((entry) => entry._tag === "Close" ? `close ${entry.from}` : entry.from))
      .toEqual(["client", "server", "close server", "close client"])
  })

  it("a rejection with a standard code travels as [code] alone, as 2.3.0 writes it", async () => {
    const pair = makePair({ server: { onHandshake: reject(ErrorPayload.make(10, "No such app: chat")) } })
    const result = await handshake(pair, { app: "chat" })
    expect(pair.texts("server")).toEqual(['{"handshake":[0],"error":[10]}'])
    expect(result?.error).toEqual(payload(10))
  })

  it("a rejection with a code of its own carries its message", async () => {
    const pair = makePair({ server: { onHandshake: reject(ErrorPayload.make(4010, "Closed for maintenance")) } })
    const result = await handshake(pair, { app: "chat" })
    expect(pair.texts("server")).toEqual(['{"handshake":[0],"error":[4010,"Closed for maintenance"]}'])
    expect(result?.error).toEqual(payload(4010, "Closed for maintenance"))
  })

  it("a client sending a handshake request to another client gets ERR_NOT_A_SERVER (15)", async () => {
    const pair = makePair({ server: { role: "client" } })
    const result = await handshake(pair)
    expect(pair.texts("server")).toEqual(['{"handshake":[0],"error":[15]}'])
    expect(result).toEqual({ error: payload(ERR_NOT_A_SERVER), ok: undefined })
    expect(pair.server.phase).toBe("Closed")
    expect(pair.client.phase).toBe("Closed")
    expect(pair.record.server.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["HandshakeRejected"])
  })

  it("a server without onHandshake answers 15 too", async () => {
    const pair = makePair({ server: { onHandshake: undefined } })
    const result = await handshake(pair)
    expect(pair.texts("server")).toEqual(['{"handshake":[0],"error":[15]}'])
    expect(result?.error?.code).toBe(ERR_NOT_A_SERVER)
  })

  it("the decision may come later; only its first answer counts", async () => {
    const decide = deferred()
    const pair = makePair({ server: { onHandshake: decide.onHandshake } })
    const box = startHandshake(pair.client)
    await pair.settle()
    expect(decide.requests).toHaveLength(1)
    expect(pair.texts("server")).toEqual([])
    expect(box.result).toBeUndefined()
    expect(pair.client.phase).toBe("Handshaking")
    expect(pair.server.phase).toBe("Handshaking")

    const session = new Session(SESSION_ID)
    const { done } = decide.requests[0]!
    done({ _tag: "Accepted", session, restored: false, application: calc() })
    done({ _tag: "Rejected", error: ErrorPayload.make(ERR_AUTH_FAILED) })
    await pair.settle()
    expect(pair.texts("server")).toEqual([HANDSHAKE_OK])
    expect(box).toEqual({ result: { error: undefined, ok: SESSION_ID }, calls: 1 })
    expect(pair.server.phase).toBe("Open")
    expect(pair.server.session).toBe(session)
  })

  it("a decision after the connection closed sends nothing", async () => {
    const decide = deferred()
    const pair = makePair({ server: { onHandshake: decide.onHandshake } })
    startHandshake(pair.client)
    await pair.settle()
    pair.client.close()
    await pair.settle()
    expect(pair.server.phase).toBe("Closed")
    decide.requests[0]!.done({ _tag: "Accepted", session: new Session(), restored: false, application: calc() })
    expect(pair.texts("server")).toEqual([])
    expect(pair.server.session).toBeUndefined()
  })

  it("a client closed before the reply gets -2 (ERR_NO_HANDSHAKE_RESPONSE) in done, once", async () => {
    const decide = deferred()
    const pair = makePair({ server: { onHandshake: decide.onHandshake } })
    const box = startHandshake(pair.client)
    await pair.settle()
    pair.client.close()
    expect(box).toEqual({ result: { error: payload(ERR_NO_HANDSHAKE_RESPONSE), ok: undefined }, calls: 1 })
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["Closed"])
    pair.client.linkClosed()
    expect(box.calls).toBe(1)
  })

  it("a link that ends before the reply gives -2 as well", async () => {
    const decide = deferred()
    const pair = makePair({ server: { onHandshake: decide.onHandshake } })
    const box = startHandshake(pair.client)
    await pair.settle()
    pair.server.close()
    await pair.settle()
    expect(box.result).toEqual({ error: payload(ERR_NO_HANDSHAKE_RESPONSE), ok: undefined })
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["PeerClosed"])
  })

  it("a handshake cannot be started twice, nor by a server", () => {
    const pair = makePair({ delivery: "manual" })
    startHandshake(pair.client)
    expect(() => startHandshake(pair.client)).toThrow(/phase Handshaking/)
    expect(() => startHandshake(pair.server)).toThrow(/as a server/)
    expect(pair.texts()).toEqual(['{"handshake":[0,"app"]}'])
  })

  it("requests before the handshake completes fail through reply and send nothing", () => {
    const pair = makePair({ delivery: "manual" })
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    startHandshake(pair.client)
    pair.client.ping(r.reply)
    expect(r.calls).toEqual([
      { error: ErrorPayload.connectionClosed, values: [] },
      { error: ErrorPayload.connectionClosed, values: [] }
    ])
    expect(pair.texts()).toEqual(['{"handshake":[0,"app"]}'])
  })
})

// ------------------------------------------------------------------ calls

describe("calls, inspect, events, ping (protocol.md §6)", () => {
  it("a call answers ok with every result, and the dispatcher gets iface, method and args", () => {
    const rec = recorder()
    const pair = openManual({ server: { application: rec.dispatcher } })
    const r = replies()
    pair.client.call("calc", "divmod", [7, 2, { deep: [null] }], r.reply)
    pair.wire.flush()
    expect(rec.calls.map(({ iface, method, args }) => ({ iface, method, args })))
      .toEqual([{ iface: "calc", method: "divmod", args: [7, 2, { deep: [null] }] }])
    expect(r.calls).toEqual([])
    rec.calls[0]!.reply(undefined, [3, "one", { three: [3] }])
    pair.wire.flush()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"ok":[3,"one",{"three":[3]}]}'])
    expect(r.calls).toEqual([{ error: undefined, values: [3, "one", { three: [3] }] }])
    expect(pair.client.pendingCount).toBe(0)
  })

  it("ok with no results is ok:[]", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "nothing", [], r.reply)
    pair.wire.flush()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"ok":[]}'])
    expect(r.calls).toEqual([{ error: undefined, values: [] }])
  })

  it("an error with a standard code travels as [code]", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "denied", [], r.reply)
    pair.client.call("calc", "missing", [], r.reply)
    pair.client.call("nope", "add", [], r.reply)
    pair.wire.flush()
    expect(after(pair, "server")).toEqual([
      '{"callback":[1],"error":[11]}',
      '{"callback":[2],"error":[14]}',
      '{"callback":[3],"error":[12]}'
    ])
    expect(r.calls).toEqual([
      { error: payload(ERR_AUTH_FAILED), values: [] },
      { error: payload(ERR_METHOD_NOT_FOUND), values: [] },
      { error: payload(ERR_INTERFACE_NOT_FOUND), values: [] }
    ])
  })

  it("an error with a message and info travels as [code, message, ...info]", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "broken", [], r.reply)
    pair.wire.flush()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"error":[1,"Boom",{"at":"calc.broken"},2]}'])
    expect(r.calls).toEqual([{ error: payload(1, "Boom", [{ at: "calc.broken" }, 2]), values: [] }])
  })

  it("a result that cannot be written answers 16", () => {
    const pair = openManual({ server: { application: dispatcherOf({ calc: { big: () => 10n } }) } })
    const r = replies()
    pair.client.call("calc", "big", [], r.reply)
    pair.wire.flush()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"error":[16]}'])
    expect(r.calls).toEqual([{ error: payload(ERR_INTERNAL_API_ERROR), values: [] }])
  })

  it("a dispatcher replying twice sends one callback", () => {
    const pair = openManual({
      server: {
        application: makeDispatcher({
          twice: {
            run: (_args, reply) => {
              reply(undefined, ["first"])
              reply(undefined, ["second"])
              reply(ErrorPayload.make(16), [])
            }
          }
        })
      }
    })
    const r = replies()
    pair.client.call("twice", "run", [], r.reply)
    pair.wire.flush()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"ok":["first"]}'])
    expect(r.calls).toEqual([{ error: undefined, values: ["first"] }])
  })

  it("a reply after the connection closed sends nothing", () => {
    const rec = recorder()
    const pair = openManual({ server: { application: rec.dispatcher } })
    pair.client.call("calc", "add", [1, 2], replies().reply)
    pair.client.call("calc", "add", [3, 4], replies().reply)
    pair.wire.flush()
    expect(rec.calls).toHaveLength(2)
    pair.client.close()
    pair.wire.flush()
    expect(pair.server.phase).toBe("Closed")
    rec.calls[0]!.reply(undefined, [3])
    pair.server.close()
    rec.calls[1]!.reply(ErrorPayload.make(16), [])
    expect(after(pair, "server")).toEqual([])
  })

  it("a call to an engine without an application answers 12, and so does an inspect", () => {
    const pair = openManual({ server: { application: calc() } })
    expect(pair.client.application).toBeUndefined()
    const r = replies()
    pair.server.call("calc", "add", [1, 2], r.reply)
    pair.server.inspect("calc", r.reply)
    pair.wire.flush()
    expect(after(pair, "client")).toEqual(['{"callback":[-1],"error":[12]}', '{"callback":[-2],"error":[12]}'])
    expect(r.calls).toEqual([
      { error: payload(ERR_INTERFACE_NOT_FOUND), values: [] },
      { error: payload(ERR_INTERFACE_NOT_FOUND), values: [] }
    ])
  })

  it("inspect answers the method names, or 12 for an unknown interface", () => {
    const pair = openManual({ server: { application: recorder({ calc: ["add", "neg"], empty: [] }).dispatcher } })
    const r = replies()
    expect(pair.client.inspect("calc", r.reply)).toBe(1)
    pair.client.inspect("empty", r.reply)
    pair.client.inspect("nope", r.reply)
    pair.wire.flush()
    expect(after(pair, "client")).toEqual(['{"inspect":[1,"calc"]}', '{"inspect":[2,"empty"]}', '{"inspect":[3,"nope"]}'])
    expect(after(pair, "server")).toEqual([
      '{"callback":[1],"ok":["add","neg"]}',
      '{"callback":[2],"ok":[]}',
      '{"callback":[3],"error":[12]}'
    ])
    expect(r.calls).toEqual([
      { error: undefined, values: ["add", "neg"] },
      { error: undefined, values: [] },
      { error: payload(ERR_INTERFACE_NOT_FOUND), values: [] }
    ])
  })

  it("events go both ways, to onEvent and to the application's event handler, unanswered", () => {
    const serverApp = recorder()
    const clientApp = recorder()
    const pair = openManual({ server: { application: serverApp.dispatcher }, client: { application: clientApp.dispatcher } })
    pair.client.emit("chat", "message", ["Marcus", "Hi"])
    pair.server.emit("chat", "joined", [{ name: "Marcus" }])
    pair.server.emit("news", "empty", [])
    pair.wire.flush()
    expect(after(pair, "client")).toEqual(['{"event":[1,"chat"],"message":["Marcus","Hi"]}'])
    expect(after(pair, "server")).toEqual([
      '{"event":[-1,"chat"],"joined":[{"name":"Marcus"}]}',
      '{"event":[-2,"news"],"empty":[]}'
    ])
    const chat = { iface: "chat", event: "message", args: ["Marcus", "Hi"] }
    expect(pair.record.server.events).toEqual([chat])
    expect(serverApp.events).toEqual([chat])
    const joined = [
      { iface: "chat", event: "joined", args: [{ name: "Marcus" }] },
      { iface: "news", event: "empty", args: [] }
    ]
    expect(pair.record.client.events).toEqual(joined)
    expect(clientApp.events).toEqual(joined)
    expect(serverApp.calls).toEqual([])
  })

  it("an event reaches onEvent when there is no application", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.server.emit("chat", "message", [1])
    pair.wire.flush()
    expect(pair.record.client.events).toEqual([{ iface: "chat", event: "message", args: [1] }])
  })

  it("ping is answered by a pong with its id, and the ping's reply runs", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    expect(pair.client.ping(r.reply)).toBe(1)
    expect(pair.server.ping(r.reply)).toBe(-1)
    pair.wire.flush()
    expect(after(pair, "client")).toEqual(['{"ping":[1]}', '{"pong":[-1]}'])
    expect(after(pair, "server")).toEqual(['{"ping":[-1]}', '{"pong":[1]}'])
    expect(r.calls).toEqual([{ error: undefined, values: [] }, { error: undefined, values: [] }])
    expect(pair.client.pendingCount).toBe(0)
    expect(pair.server.pendingCount).toBe(0)
  })

  it("replies come asynchronously over a microtask wire, and synchronously over a sync wire", async () => {
    const pair = await openPair({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    expect(r.calls).toEqual([]) // not re-entrant
    await pair.settle()
    expect(r.calls).toEqual([{ error: undefined, values: [3] }])

    // The engine registers a request before writing it, so a reply that
    // arrives inside `send` finds it.
    const sync = makePair({ delivery: "sync", server: { application: calc() } })
    const box = startHandshake(sync.client)
    expect(box.result).toEqual({ error: undefined, ok: SESSION_ID })
    const s = replies()
    sync.client.call("calc", "add", [2, 2], s.reply)
    sync.client.ping(s.reply)
    expect(s.calls).toEqual([{ error: undefined, values: [4] }, { error: undefined, values: [] }])
    expect(sync.client.session?.buffer.size).toBe(0)
  })

  it("a cancelled request's callback is dropped and counted", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    const id = pair.client.call("calc", "add", [1, 2], r.reply)
    pair.client.cancel(id)
    expect(pair.client.pendingCount).toBe(0)
    pair.wire.flush()
    expect(r.calls).toEqual([])
    expect(pair.client.droppedCallbacks).toBe(1)
    expect(pair.client.phase).toBe("Open")
  })
})

// -------------------------------------------------------- rejection rules

describe("rejection rules (protocol.md §5-§6)", () => {
  it.each([
    ['{"call":[1,"calc"],"add":[1,2]}'],
    ['{"event":[1,"chat"],"message":["hi"]}'],
    ['{"inspect":[1,"calc"]}'],
    ['{"ping":[1]}'],
    ['{"pong":[1]}'],
    ['{"callback":[1],"ok":[]}'],
    ['{"handshake":[0],"ok":"not-a-request"}'],
    ['{"nonsense":[1]}'],
    ['{"call":[1,"calc"],"add":"not an array"}'],
    ["{call:[1,'calc'],add:[1,2]}"]
  ])("any message before the handshake closes the server's connection: %s", (text) => {
    const rec = recorder()
    const decide = deferred()
    const pair = makePair({ delivery: "manual", server: { application: rec.dispatcher, onHandshake: decide.onHandshake } })
    pair.server.receive(text)
    expect(pair.server.phase).toBe("Closed")
    expect(pair.record.server.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    expect(events(pair.record.server, "messageRejected")).toHaveLength(1)
    expect(pair.texts("server")).toEqual([])
    expect(closeEntries(pair)).toEqual(["server"])
    expect(rec.calls).toEqual([])
    expect(rec.events).toEqual([])
    expect(decide.requests).toEqual([])
    // Then nothing more is read.
    pair.server.receive('{"handshake":[0,"app"]}')
    expect(decide.requests).toEqual([])
  })

  it("a message while the handshake is being decided closes the connection, and the decision is then ignored", () => {
    const decide = deferred()
    const pair = makePair({ delivery: "manual", server: { onHandshake: decide.onHandshake } })
    pair.server.receive('{"handshake":[0,"app"]}')
    expect(pair.server.phase).toBe("Handshaking")
    pair.server.receive('{"call":[1,"calc"],"add":[1,2]}')
    expect(pair.server.phase).toBe("Closed")
    expect(pair.record.server.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    decide.requests[0]!.done({ _tag: "Accepted", session: new Session(), restored: false, application: calc() })
    expect(pair.texts("server")).toEqual([])
  })

  it("a client waiting for its handshake reply closes on anything else, and done gets -2", () => {
    const pair = makePair({ delivery: "manual" })
    const box = startHandshake(pair.client)
    pair.client.receive('{"call":[-1,"calc"],"add":[1,2]}')
    expect(pair.client.phase).toBe("Closed")
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    expect(box.result).toEqual({ error: payload(ERR_NO_HANDSHAKE_RESPONSE), ok: undefined })
  })

  it("a heartbeat before the handshake is ignored", () => {
    const pair = makePair({ delivery: "manual" })
    pair.server.receive("{}")
    expect(pair.server.phase).toBe("AwaitingHandshake")
    expect(pair.record.server.closes).toEqual([])
  })

  it.each([
    ['{"handshake":[0,"app"]}'],
    ['{"handshake":[0,"app"],"login":["u","p"]}'],
    ['{"handshake":[0],"ok":"again"}']
  ])("a second handshake closes the connection: %s", (text) => {
    const decide = deferred()
    const pair = makePair({ delivery: "manual", server: { onHandshake: decide.onHandshake } })
    startHandshake(pair.client)
    pair.wire.flush()
    decide.requests[0]!.done({ _tag: "Accepted", session: new Session(SESSION_ID), restored: false, application: calc() })
    pair.wire.flush()
    expect(pair.server.phase).toBe("Open")
    pair.server.receive(text)
    expect(pair.server.phase).toBe("Closed")
    expect(pair.record.server.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    expect(events(pair.record.server, "messageRejected")).toHaveLength(1)
    expect(decide.requests).toHaveLength(1)
    pair.wire.flush()
    expect(pair.client.phase).toBe("Closed")
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["PeerClosed"])
  })

  it("a handshake reply to an open client closes it", () => {
    const pair = openManual()
    pair.client.receive(HANDSHAKE_OK)
    expect(pair.client.phase).toBe("Closed")
    expect(pair.record.client.closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
  })

  /** Checks that the connection still works: a call and its callback. */
  const stillWorks = (pair: Pair): void => {
    const r = replies()
    pair.client.call("calc", "add", [20, 22], r.reply)
    pair.wire.flush()
    expect(r.calls).toEqual([{ error: undefined, values: [42] }])
    expect(pair.server.phase).toBe("Open")
    expect(pair.client.phase).toBe("Open")
  }

  it("a message of unknown kind is rejected, logged, and the connection goes on", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.server.receive('{"nonsense":[5,"x"],"verb":[]}')
    // Logged as parsed, as 2.x logs it.
    expect(events(pair.record.server, "messageRejected")).toEqual([[{ nonsense: [5, "x"], verb: [] }]])
    expect(pair.server.phase).toBe("Open")
    expect(pair.record.server.closes).toEqual([])
    expect(after(pair, "server")).toEqual([])
    stillWorks(pair)
  })

  it("a message that is not an object is rejected and the connection goes on", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.server.receive("[1,2]")
    pair.server.receive('"text"')
    expect(events(pair.record.server, "messageRejected")).toEqual([[[1, 2]], ["text"]])
    stillWorks(pair)
  })

  it("a stray callback is rejected, counted, and the connection goes on", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.client.receive('{"callback":[99],"ok":[1]}')
    pair.client.receive('{"callback":[98],"error":[12]}')
    expect(events(pair.record.client, "messageRejected")).toEqual([
      [{ _tag: "CallbackOk", id: 99, results: [1] }],
      [{ _tag: "CallbackError", id: 98, error: payload(12) }]
    ])
    expect(pair.client.droppedCallbacks).toBe(2)
    expect(pair.client.phase).toBe("Open")
    stillWorks(pair)
  })

  it("a stray pong is rejected and the connection goes on", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.client.receive('{"pong":[99]}')
    expect(events(pair.record.client, "messageRejected")).toEqual([[{ _tag: "Pong", id: 99 }]])
    expect(pair.client.phase).toBe("Open")
    // A pong answers only once.
    const r = replies()
    pair.client.ping(r.reply)
    pair.wire.flush()
    pair.client.receive('{"pong":[1]}')
    expect(r.calls).toHaveLength(1)
    expect(events(pair.record.client, "messageRejected")).toHaveLength(2)
    stillWorks(pair)
  })

  it("an event whose payload is not an array is rejected and the connection goes on", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    pair.server.receive('{"event":[1,"chat"],"message":"hi"}')
    expect(events(pair.record.server, "messageRejected")).toEqual([[{ event: [1, "chat"], message: "hi" }]])
    expect(pair.record.server.events).toEqual([])
    expect(app.events).toEqual([])
    expect(pair.server.phase).toBe("Open")
    expect(pair.server.session?.receivedCount).toBe(1)
    expect(after(pair, "server")).toEqual([])
  })

  it("a call without a payload array gets {callback:[id],error:[17]} and the connection goes on", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    // The client's call 1 is lost on the way and a malformed one arrives instead.
    pair.wire.cut("client")
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    pair.server.receive('{"call":[1,"calc"],"add":"1,2"}')
    pair.server.receive("{call:[2,'calc'],add:{a:1}}")
    expect(after(pair, "server")).toEqual(['{"callback":[1],"error":[17]}', '{"callback":[2],"error":[17]}'])
    expect(app.calls).toEqual([])
    expect(events(pair.record.server, "messageRejected")).toEqual([
      [{ call: [1, "calc"], add: "1,2" }],
      [{ call: [2, "calc"], add: { a: 1 } }]
    ])
    expect(pair.server.phase).toBe("Open")
    expect(pair.server.session?.receivedCount).toBe(2)
    pair.wire.flush()
    expect(r.calls).toEqual([{ error: payload(ERR_INVALID_SIGNATURE), values: [] }])
    expect(pair.client.droppedCallbacks).toBe(1) // the client never sent 2
    expect(pair.client.phase).toBe("Open")
  })

  it.each([["server" as const], ["client" as const]])("an unparseable frame closes the %s's connection (ProtocolViolation)", (end) => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    if (end === "client") pair.client.call("calc", "add", [1, 2], r.reply)
    pair[end].receive('{"call":[1,')
    expect(pair[end].phase).toBe("Closed")
    const closes = pair.record[end].closes
    expect(closes.map((c) => c.reason)).toEqual(["ProtocolViolation"])
    expect(closes[0]?.cause).toBeInstanceOf(SerdeError)
    expect(events(pair.record[end], "messageRejected")).toEqual([['{"call":[1,']])
    if (end === "client") expect(r.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
    pair.wire.flush()
    const peer = end === "client" ? "server" : "client"
    expect(pair[peer].phase).toBe("Closed")
    expect(pair.record[peer].closes.map((c) => c.reason)).toEqual(["PeerClosed"])
  })

  it("{} is a heartbeat: ignored, logged as heartbeat only", () => {
    const pair = openManual({ server: { application: calc() } })
    const before = pair.record.server.log.length
    pair.server.receive("{}")
    pair.server.receive("{ }")
    expect(pair.record.server.log.slice(before)).toEqual([
      { event: "heartbeat", args: [{ _tag: "Heartbeat" }] },
      { event: "heartbeat", args: [{ _tag: "Heartbeat" }] }
    ])
    expect(after(pair, "server")).toEqual([])
    expect(pair.server.phase).toBe("Open")
    expect(pair.server.session?.receivedCount).toBe(0)
    stillWorks(pair)
  })
})

// ------------------------------------------------------------------ close

describe("closing", () => {
  const pendingThree = (pair: Pair) => {
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    pair.client.inspect("calc", r.reply)
    pair.client.ping(r.reply)
    return r
  }

  it("when the link closes, pending requests fail with ErrorPayload.connectionClosed and onClose runs once", () => {
    const app = recorder() // answers nothing
    const pair = openManual({ server: { application: app.dispatcher } })
    // Keep the ping's pong from coming back: the server reads nothing more.
    pair.wire.cut("server")
    const r = pendingThree(pair)
    pair.wire.flush()
    expect(r.calls).toEqual([])
    expect(pair.client.pendingCount).toBe(3)
    pair.client.linkClosed()
    expect(r.calls).toHaveLength(3)
    for (const call of r.calls) {
      expect(call.error).toBe(ErrorPayload.connectionClosed)
      expect(call.values).toEqual([])
    }
    expect(pair.client.pendingCount).toBe(0)
    expect(pair.client.phase).toBe("Closed")
    pair.client.linkClosed("Transport")
    pair.client.close()
    expect(pair.record.client.closes).toEqual([{ reason: "PeerClosed", cause: undefined }])
    expect(closeEntries(pair)).toEqual([]) // linkClosed does not close the link again
  })

  it("close() fails pending requests, closes the link once, and the peer sees PeerClosed", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    pair.wire.cut("server")
    const r = pendingThree(pair)
    pair.wire.flush()
    pair.client.close()
    expect(r.calls.map((call) => call.error)).toEqual([
      ErrorPayload.connectionClosed,
      ErrorPayload.connectionClosed,
      ErrorPayload.connectionClosed
    ])
    expect(r.calls.every((call) => call.error === ErrorPayload.connectionClosed)).toBe(true)
    pair.client.close()
    pair.client.linkClosed()
    expect(pair.record.client.closes).toEqual([{ reason: "Closed", cause: undefined }])
    expect(closeEntries(pair)).toEqual(["client"])
  })

  it("the peer's pending requests fail when the connection closes from the other side", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    pair.server.call("calc", "add", [1, 2], r.reply) // the client answers 12, but...
    pair.client.close() // ...closes first
    pair.wire.flush()
    expect(r.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
    expect(pair.record.server.closes).toEqual([{ reason: "PeerClosed", cause: undefined }])
  })

  it("a transport failure reaches onClose with its reason and cause", () => {
    const pair = openManual({ server: { application: calc() } })
    const cause = new Error("ECONNRESET")
    pair.wire.sever("Transport", cause)
    expect(pair.record.client.closes).toEqual([{ reason: "Transport", cause }])
    expect(pair.record.server.closes).toEqual([{ reason: "Transport", cause }])
  })

  it("close(reason, cause) is passed to onClose", () => {
    const pair = openManual()
    pair.server.close("HandshakeTimeout", "3000 ms")
    expect(pair.record.server.closes).toEqual([{ reason: "HandshakeTimeout", cause: "3000 ms" }])
  })

  it("requests after close fail immediately through reply and send nothing", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.client.close()
    const sent = pair.texts().length
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    expect(r.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
    pair.client.inspect("calc", r.reply)
    pair.client.ping(r.reply)
    expect(() => pair.client.emit("chat", "message", [])).not.toThrow()
    expect(r.calls).toHaveLength(3)
    expect(r.calls.every((call) => call.error === ErrorPayload.connectionClosed)).toBe(true)
    expect(pair.texts()).toHaveLength(sent)
    expect(pair.client.pendingCount).toBe(0)
  })

  it("a closed engine reads nothing", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    pair.server.close()
    const logged = pair.record.server.log.length
    pair.server.receive('{"call":[1,"calc"],"add":[1,2]}')
    pair.server.receive("not even parseable")
    expect(app.calls).toEqual([])
    expect(pair.record.server.log).toHaveLength(logged)
    expect(pair.record.server.closes).toHaveLength(1)
  })

  it("a message over maxMessageSize is refused locally: it throws a FramingError, sends nothing, takes no id", () => {
    const limit = Buffer.byteLength('{"call":[1,"calc"],"add":["xxxxxxxxxx"]}')
    const pair = openManual({ server: { application: calc() }, client: { maxMessageSize: limit } })
    const r = replies()
    const error = (() => {
      try {
        pair.client.call("calc", "add", ["x".repeat(11)], r.reply)
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(FramingError)
    expect(error).toMatchObject({ reason: "MessageTooLarge", size: limit + 1, limit })
    expect(() => pair.client.emit("chat", "add", ["x".repeat(100)])).toThrow(FramingError)
    expect(r.calls).toEqual([])
    expect(pair.client.pendingCount).toBe(0)
    expect(pair.client.session?.buffer.size).toBe(0)
    expect(after(pair, "client")).toEqual([])
    // At the limit exactly, it goes, with the id the refused one did not take.
    expect(pair.client.call("calc", "add", ["x".repeat(10)], r.reply)).toBe(1)
    expect(after(pair, "client")).toEqual(['{"call":[1,"calc"],"add":["xxxxxxxxxx"]}'])
  })

  it("the size limit counts UTF-8 bytes, not characters", () => {
    const text = '{"call":[1,"calc"],"add":["€€€€€€€€€€"]}'
    expect(Buffer.byteLength(text) - text.length).toBe(20)
    const pair = openManual({ server: { application: calc() }, client: { maxMessageSize: text.length + 10 } })
    expect(() => pair.client.call("calc", "add", ["€".repeat(10)], replies().reply)).toThrow(FramingError)
    expect(after(pair, "client")).toEqual([])
  })
})

// ------------------------------------------------------------ session state

describe("session bookkeeping (protocol.md §8)", () => {
  it("sent calls, events, inspects and pings are buffered by |id| until acknowledged", () => {
    const app = recorder({ calc: ["add"] })
    const pair = openManual({ server: { application: app.dispatcher } })
    const session = pair.client.session!
    expect(session.buffer.size).toBe(0) // the handshake is not buffered

    pair.client.call("calc", "add", [1, 2], replies().reply)
    pair.client.emit("chat", "message", ["hi"])
    pair.client.inspect("calc", replies().reply)
    pair.client.ping()
    expect([...session.buffer]).toEqual([
      [1, '{"call":[1,"calc"],"add":[1,2]}'],
      [2, '{"event":[2,"chat"],"message":["hi"]}'],
      [3, '{"inspect":[3,"calc"]}'],
      [4, '{"ping":[4]}']
    ])
    expect(session.latestBufferedMessageId).toBe(4)
    expect(session.guaranteedDeliveredCount).toBe(0)

    // The inspect (3) is answered at once, the pong (4) follows; the call (1) waits.
    pair.wire.deliverNext() // call 1
    pair.wire.deliverNext() // event 2
    pair.wire.deliverNext() // inspect 3: callback 3 queued
    pair.wire.deliverNext() // ping 4: pong 4 queued
    pair.wire.deliverNext() // callback 3 acknowledges 1..3
    expect([...session.buffer.keys()]).toEqual([4])
    expect(session.guaranteedDeliveredCount).toBe(3)
    pair.wire.deliverNext() // pong 4
    expect(session.buffer.size).toBe(0)
    expect(session.guaranteedDeliveredCount).toBe(4)

    // The late callback for 1 changes nothing.
    app.calls[0]!.reply(undefined, [3])
    pair.wire.flush()
    expect(session.guaranteedDeliveredCount).toBe(4)
  })

  it("a client that keeps no messages (keepsMessages: false) counts them: acknowledgements and the bound as when it keeps them", () => {
    const pairOf = (keepsMessages: boolean) =>
      openManual({ server: { application: recorder({ calc: ["add"] }).dispatcher }, client: { keepsMessages, maxBuffered: 6 } })
    const keeping = pairOf(true)
    const counting = pairOf(false)
    expect([keeping.client.session!.keepsMessages, counting.client.session!.keepsMessages]).toEqual([true, false])
    // Each step on both; what each leaves unacknowledged, and whether it was refused.
    const step = (pair: Pair, act: (engine: Engine) => void) => {
      const sent = pair.texts("client").length
      let refused = false
      try {
        act(pair.client)
      } catch (error) {
        expect(error).toBeInstanceOf(BufferFullError)
        expect(pair.texts("client").length).toBe(sent)
        refused = true
      }
      return [pair.client.session!.unacknowledged, refused]
    }
    const both = (act: (engine: Engine) => void) => {
      const kept = step(keeping, act)
      expect(step(counting, act)).toEqual(kept)
      return kept
    }
    const call = (engine: Engine) => void engine.call("calc", "add", [1, 2], replies().reply)
    const outcomes = [call, call, (engine: Engine) => engine.emit("chat", "message", ["hi"]), call, call, call, call].map(both)
    // A ping asked for an acknowledgement at half the bound; then the bound refused.
    expect(outcomes.map(([, refused]) => refused)).toEqual([false, false, false, false, false, true, true])
    expect(counting.client.session!.buffer.size).toBe(0)
    expect(keeping.client.session!.buffer.size).toBe(6)
    // The pong acknowledges what came before the ping, on both.
    keeping.wire.flush()
    counting.wire.flush()
    expect(counting.client.session!.unacknowledged).toBe(keeping.client.session!.unacknowledged)
    expect(counting.client.session!.guaranteedDeliveredCount).toBe(keeping.client.session!.guaranteedDeliveredCount)
    expect(counting.client.session!.unacknowledged).toBeLessThan(6)
    expect(both(call)).toEqual([counting.client.session!.unacknowledged, false])
  })

  it("a server whose peer does not keep up ends the session at the bound (Overflow, once; never restored), without throwing", () => {
    const pair = openManual({ server: { application: calc(), maxBuffered: 6 } })
    const sent = () => after(pair, "server").length
    for (let i = 0; i < 5; i++) pair.server.emit("chat", "tick", [i])
    // 5 events and the ping asking for acknowledgement at half: the bound.
    expect(sent()).toBe(6)
    expect(pair.server.phase).toBe("Open")
    expect(() => pair.server.emit("chat", "tick", [5])).not.toThrow()
    expect(pair.server.phase).toBe("Closed")
    expect(pair.record.server.closes).toHaveLength(1)
    expect(pair.record.server.closes[0]!.reason).toBe("Overflow")
    expect(pair.record.server.closes[0]!.cause).toBeInstanceOf(BufferFullError)
    expect(pair.server.session!.ended).toBe(true)
    // Nothing after the bound went out, and later emits do nothing.
    pair.server.emit("chat", "tick", [6])
    expect(sent()).toBe(6)
    expect(pair.record.server.closes).toHaveLength(1)
  })

  it("a server's call that reaches the bound fails with the connection it ends, never left unanswered", () => {
    const pair = openManual({ server: { application: calc(), maxBuffered: 6 } })
    for (let i = 0; i < 5; i++) pair.server.emit("chat", "tick", [i])
    const recorder = replies()
    pair.server.call("client", "hello", [], recorder.reply)
    expect(pair.server.phase).toBe("Closed")
    expect(pair.record.server.closes[0]!.reason).toBe("Overflow")
    expect(recorder.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
  })

  it("the bound in bytes: a server ends the session, a client's request fails, each past maxBufferedBytes", () => {
    const payload = "x".repeat(100)
    const server = openManual({ server: { application: calc(), maxBufferedBytes: 1_000 } })
    let emitted = 0
    while (server.server.phase === "Open" && emitted < 100) {
      server.server.emit("chat", "tick", [payload])
      emitted++
    }
    expect(server.server.phase).toBe("Closed")
    expect(server.record.server.closes[0]!.reason).toBe("Overflow")
    expect(server.server.session!.bufferedBytes).toBeLessThanOrEqual(1_000)
    expect(emitted).toBeLessThan(10)

    const client = openManual({ server: { application: recorder({ calc: ["add"] }).dispatcher }, client: { maxBufferedBytes: 1_000 } })
    const call = () => client.client.call("calc", "add", [payload], replies().reply)
    let error: unknown
    for (let i = 0; i < 20 && error === undefined; i++) {
      try {
        call()
      } catch (failure) {
        error = failure
      }
    }
    expect(error).toBeInstanceOf(BufferFullError)
    expect(error).toMatchObject({ bytesLimit: 1_000 })
    expect(client.client.phase).toBe("Open")
    expect(client.client.session!.bufferedBytes).toBeLessThanOrEqual(1_000)
    // Acknowledged, the bytes are freed.
    client.wire.flush()
    client.client.ping()
    client.wire.flush()
    expect(client.client.session!.bufferedBytes).toBe(0)
  })

  it("callbacks and pongs a side writes are not buffered", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.client.call("calc", "add", [1, 2], replies().reply)
    pair.client.ping()
    pair.wire.flush()
    expect(pair.server.session?.buffer.size).toBe(0)
    expect(pair.server.session?.latestBufferedMessageId).toBe(0)
  })

  it("a server buffers its negative ids by |id|; the client's callback acknowledges them", () => {
    const app = recorder()
    const pair = openManual({ server: { application: calc() }, client: { application: app.dispatcher } })
    const session = pair.server.session!
    pair.server.call("client", "hello", [], replies().reply)
    pair.server.emit("chat", "message", [])
    pair.server.ping()
    expect([...session.buffer.keys()]).toEqual([1, 2, 3])
    expect(session.buffer.get(1)).toBe('{"call":[-1,"client"],"hello":[]}')
    expect(session.latestBufferedMessageId).toBe(-3)
    pair.wire.flush() // the pong for -3 comes back, the call is still unanswered
    expect(session.buffer.size).toBe(0)
    expect(session.guaranteedDeliveredCount).toBe(3)
    expect(pair.server.pendingCount).toBe(1)
  })

  it("a callback acknowledges every message up to its id, even one that is not its own", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    const session = pair.client.session!
    pair.client.call("calc", "a", [], replies().reply)
    pair.client.call("calc", "b", [], replies().reply)
    pair.client.call("calc", "c", [], replies().reply)
    pair.wire.flush()
    app.calls[1]!.reply(undefined, []) // the callback for 2
    pair.wire.flush()
    expect([...session.buffer.keys()]).toEqual([3])
    expect(session.guaranteedDeliveredCount).toBe(2)
    expect(pair.client.pendingCount).toBe(2) // 1 is acknowledged but still waits for its callback
  })

  it("receivedCount tracks the |id| of the latest request received", () => {
    const pair = openManual({ server: { application: calc() }, client: { application: calc() } })
    const server = pair.server.session!
    const client = pair.client.session!
    expect(server.receivedCount).toBe(0)
    pair.client.call("calc", "add", [1, 2], replies().reply)
    pair.wire.deliverNext()
    expect(server.receivedCount).toBe(1)
    pair.client.emit("chat", "message", [])
    pair.wire.flush()
    expect(server.receivedCount).toBe(2)
    pair.client.inspect("calc", replies().reply)
    pair.wire.flush()
    expect(server.receivedCount).toBe(3)
    pair.client.ping()
    pair.wire.flush()
    expect(server.receivedCount).toBe(4)
    // The latest, as §8 says, not the highest.
    pair.server.receive('{"event":[9,"chat"],"message":[]}')
    pair.server.receive('{"event":[6,"chat"],"message":[]}')
    expect(server.receivedCount).toBe(6)

    pair.server.call("calc", "add", [1, 2], replies().reply)
    pair.server.emit("chat", "message", [])
    pair.wire.flush()
    expect(client.receivedCount).toBe(2)
    // Callbacks and pongs received are not requests.
    expect(server.receivedCount).toBe(6)
  })

  it("a hostile callback id neither loops nor acknowledges past the latest id sent", () => {
    const app = recorder()
    const pair = openManual({ server: { application: app.dispatcher } })
    const session = pair.client.session!
    pair.client.call("calc", "a", [], replies().reply)
    pair.client.emit("chat", "message", [])
    pair.client.ping()
    // Large enough to notice if it were not capped, small enough not to hang.
    pair.client.receive('{"callback":[20000000],"ok":[]}')
    expect(session.guaranteedDeliveredCount).toBe(3)
    const started = performance.now()
    pair.client.receive('{"callback":[1000000000000000],"ok":[]}')
    pair.client.receive(`{"pong":[${Number.MIN_SAFE_INTEGER}]}`)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(session.buffer.size).toBe(0)
    expect(session.guaranteedDeliveredCount).toBe(3)
    expect(pair.client.droppedCallbacks).toBe(2)
    expect(pair.client.pendingCount).toBe(2) // the call and the ping still wait
    // What is sent next is buffered and stays until it is acknowledged.
    pair.client.call("calc", "b", [], replies().reply)
    pair.client.receive('{"callback":[3],"ok":[]}')
    expect([...session.buffer.keys()]).toEqual([4])
    pair.client.receive('{"callback":[1000000000000000],"ok":[]}')
    expect(session.buffer.size).toBe(0)
    expect(session.guaranteedDeliveredCount).toBe(4)
  })
})

// ----------------------------------------------------------------- logging

describe("logging", () => {
  it("handshake, incomingMessage and outgoingMessage on both sides of a handshake", async () => {
    const pair = makePair()
    await handshake(pair, { auth: { _tag: "Login", login: "u", password: "p" } })
    const request = {
      _tag: "HandshakeRequest",
      id: 0,
      app: "app",
      version: undefined,
      auth: { _tag: "Login", login: "u", password: "p" }
    }
    const reply = { _tag: "HandshakeOk", id: 0, ok: SESSION_ID }
    expect(pair.record.client.log).toEqual([
      { event: "outgoingMessage", args: [request] },
      { event: "incomingMessage", args: [reply] },
      { event: "handshake", args: [undefined, SESSION_ID] }
    ])
    expect(pair.record.server.log).toEqual([
      { event: "incomingMessage", args: [request] },
      { event: "outgoingMessage", args: [reply] }
    ])
  })

  it("a rejected handshake logs handshake with the error", async () => {
    const pair = makePair({ server: { onHandshake: reject(ErrorPayload.make(ERR_AUTH_FAILED)) } })
    await handshake(pair)
    expect(events(pair.record.client, "handshake")).toEqual([[payload(11), undefined]])
    expect(events(pair.record.server, "outgoingMessage")).toEqual([[{ _tag: "HandshakeError", id: 0, error: payload(11) }]])
  })

  it("call and callback, ok and error", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.record.client.log.length = 0
    pair.record.server.log.length = 0
    pair.client.call("calc", "add", [1, 2], replies().reply)
    pair.wire.flush()
    const call = { _tag: "Call", id: 1, iface: "calc", method: "add", args: [1, 2] }
    const callback = { _tag: "CallbackOk", id: 1, results: [3] }
    expect(pair.record.client.log).toEqual([
      { event: "outgoingMessage", args: [call] },
      { event: "incomingMessage", args: [callback] },
      { event: "callback", args: [undefined, [3]] }
    ])
    expect(pair.record.server.log).toEqual([
      { event: "incomingMessage", args: [call] },
      { event: "call", args: ["calc", "add", [1, 2]] },
      { event: "outgoingMessage", args: [callback] }
    ])

    pair.client.call("calc", "broken", [], replies().reply)
    pair.wire.flush()
    expect(events(pair.record.client, "callback").at(-1)).toEqual([payload(1, "Boom", [{ at: "calc.broken" }, 2]), undefined])
  })

  it("event, inspect, ping and pong", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.record.server.log.length = 0
    pair.client.emit("chat", "message", ["hi"])
    pair.client.inspect("calc", replies().reply)
    pair.client.ping()
    pair.wire.flush()
    expect(pair.record.server.log.map((entry) => entry.event)).toEqual([
      "incomingMessage",
      "event",
      "incomingMessage",
      "inspect",
      "outgoingMessage",
      "incomingMessage",
      "outgoingMessage"
    ])
    expect(events(pair.record.server, "event")).toEqual([["chat", "message", ["hi"]]])
    expect(events(pair.record.server, "inspect")).toEqual([["calc"]])
    expect(events(pair.record.server, "outgoingMessage").at(-1)).toEqual([{ _tag: "Pong", id: 3 }])
    expect(events(pair.record.client, "incomingMessage").at(-1)).toEqual([{ _tag: "Pong", id: 3 }])
  })

  it("without a log option, nothing is logged and everything works", async () => {
    const wireOnly = makePair({ server: { application: calc() } })
    // makePair always logs; build bare engines on its wire's links instead.
    const { wire } = wireOnly
    const server = new Engine({ role: "server", link: wire.server, onHandshake: accept(calc()) })
    const client = new Engine({ role: "client", link: wire.client })
    wire.attach("server", server)
    wire.attach("client", client)
    const box = startHandshake(client)
    await wire.settle()
    expect(box.result?.ok).toBe(SESSION_ID)
    const r = replies()
    client.call("calc", "add", [1, 2], r.reply)
    await wire.settle()
    expect(r.calls).toEqual([{ error: undefined, values: [3] }])
    expect(wireOnly.record.client.log).toEqual([])
  })
})

// ------------------------------------------------------------ memory wire

describe("the memory wire (test/support/memory-link.ts)", () => {
  it("a close is delivered after the texts in flight, and nothing crosses a closed link", () => {
    const pair = openManual({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    pair.server.emit("chat", "message", [])
    pair.server.close()
    expect(pair.wire.queued).toBe(3)
    pair.wire.flush()
    // The client read the event before the close; its call never got an answer.
    expect(pair.record.client.events).toHaveLength(1)
    expect(r.calls).toEqual([{ error: ErrorPayload.connectionClosed, values: [] }])
    const call = pair.wireLog.find((entry) => entry._tag === "Message" && entry.text.startsWith('{"call"'))
    expect(call).toMatchObject({ from: "client", delivered: false, dropped: true })
    expect(pair.wire.closed("server")).toBe(true)
    expect(pair.wire.closed("client")).toBe(false) // linkClosed does not close it back
  })

  it("cut loses what is in flight and what follows, without telling the ends; sever tells them", async () => {
    const pair = await openPair({ server: { application: calc() } })
    const r = replies()
    pair.client.call("calc", "add", [1, 2], r.reply)
    pair.wire.cut()
    pair.client.ping(r.reply)
    await pair.settle()
    expect(r.calls).toEqual([])
    expect(pair.wireLog.slice(2).map((entry) => entry._tag === "Message" && [entry.text, entry.dropped]))
      .toEqual([['{"call":[1,"calc"],"add":[1,2]}', true], ['{"ping":[2]}', true]])
    expect(pair.client.phase).toBe("Open")
    expect(pair.server.session?.receivedCount).toBe(0)
    pair.wire.sever()
    expect(r.calls.map((call) => call.error)).toEqual([ErrorPayload.connectionClosed, ErrorPayload.connectionClosed])
    expect(pair.record.server.closes.map((c) => c.reason)).toEqual(["Transport"])
  })

  it("cutting one direction keeps the other", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.wire.cut("server")
    pair.client.emit("chat", "message", ["up"])
    pair.server.emit("chat", "message", ["down"])
    pair.wire.flush()
    expect(pair.record.server.events.map((e) => e.args)).toEqual([["up"]])
    expect(pair.record.client.events).toEqual([])
  })

  it("manual delivery goes one message at a time, in order", () => {
    const pair = makePair({ delivery: "manual", server: { application: calc() } })
    startHandshake(pair.client)
    expect(pair.wire.queued).toBe(1)
    expect(pair.wire.deliverNext()).toBe(true)
    expect(pair.server.phase).toBe("Open")
    expect(pair.client.phase).toBe("Handshaking")
    expect(pair.wire.deliverNext()).toBe(true)
    expect(pair.client.phase).toBe("Open")
    expect(pair.wire.deliverNext()).toBe(false)
  })
})

// ------------------------------------------- malformed requests and answers
//
// Each of these pins what protocol.md (or the reference) asks for where an
// earlier engine left the caller waiting or threw out of receive.

describe("malformed requests and unwritable answers", () => {
  it("a call without a verb gets {callback:[id],error:[17]} (2.3.0 answers 17; the caller waits forever)", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.server.receive('{"call":[5,"calc"]}')
    expect(after(pair, "server")).toEqual(['{"callback":[5],"error":[17]}'])
  })

  it("a call to a non-string interface gets 12, as 2.3.0 finds no such interface", () => {
    const pair = openManual({ server: { application: calc() } })
    pair.server.receive('{"call":[6,3],"add":[1,2]}')
    expect(after(pair, "server")).toEqual(['{"callback":[6],"error":[12]}'])
  })

  it("an error payload that cannot be written still answers the call (16), and receive does not throw", () => {
    const pair = openManual({
      server: { application: makeDispatcher({ calc: { odd: fail(ErrorPayload.make(1, "Odd", [10n])) } }) }
    })
    pair.client.call("calc", "odd", [], replies().reply)
    expect(() => pair.wire.flush()).not.toThrow()
    expect(after(pair, "server")).toEqual(['{"callback":[1],"error":[16]}'])
  })

  it("a handshake that cannot be written throws and leaves the engine as it was", () => {
    const pair = makePair({ delivery: "manual" })
    const box = { calls: 0 }
    expect(() =>
      pair.client.handshake("app", undefined, { _tag: "Custom", strategy: "handshake", credentials: [] }, () => {
        box.calls++
      })
    ).toThrow()
    expect(pair.client.phase).toBe("AwaitingHandshake")
    pair.client.close()
    expect(box.calls).toBe(0)
  })
})
