// W3cWebSocketLink (the browser's link) over a fake W3C WebSocket that the
// test drives: sends while open, writes held past the high-water mark and
// flushed in order as `bufferedAmount` drops, an orderly close after held
// messages, the size limit, non-text messages, a failing frame handler, how
// close codes end `run` (through `fromSocketLink`), and `open`: a link exists
// only once its socket opened.
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Schedule } from "effect"
import type { Handlers, LinkOptions, SocketLink } from "../src/transport/CallbackLink.js"
import { type FramedLink, fromSocketLink, scoped, type TransportError } from "../src/transport/Link.js"
import * as W3cWebSocketLink from "../src/transport/W3cWebSocketLink.js"
import { CloseCode, isOrderly, PROTOCOL } from "../src/transport/WebSocketProtocol.js"

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3

// How often the link polls `bufferedAmount` while it holds writes.
const POLL_MILLIS = 5

const WS_URL = "ws://127.0.0.1:1/"

type Listener = (event: never) => void

/**
 * A WebSocket the test controls, behaving as the W3C one does: `send`
 * throws while connecting, adds to `bufferedAmount` while open, and is
 * discarded once closing; messages are dispatched only while open;
 * `close(code)` records the code and, like a real socket, ends with a close
 * event (asynchronously) carrying that code, unless `echoClose` is false.
 */
class FakeSocket implements W3cWebSocketLink.WebSocketLike {
  binaryType = "blob"
  readyState = CONNECTING
  /** What went out while open, in order. */
  readonly sent: Array<string> = []
  /** What was sent once closing (a browser discards it). */
  readonly sentAfterClose: Array<string> = []
  readonly closeCalls: Array<number | undefined> = []
  echoClose = true
  /** How many times `bufferedAmount` was read (the link reads it on every poll). */
  bufferedReads = 0
  private buffered = 0
  private readonly listeners = new Map<string, Array<{ readonly listener: Listener; readonly once: boolean }>>()

  get bufferedAmount(): number {
    this.bufferedReads++
    return this.buffered
  }

  /** The socket wrote out everything it buffered. */
  drain(): void {
    this.buffered = 0
  }

  send(data: string): void {
    if (this.readyState === CONNECTING) throw new Error("InvalidStateError: still in CONNECTING state")
    if (this.readyState !== OPEN) return void this.sentAfterClose.push(data)
    this.sent.push(data)
    this.buffered += new TextEncoder().encode(data).byteLength
  }

  close(code?: number): void {
    this.closeCalls.push(code)
    if (this.readyState >= CLOSING) return
    this.readyState = CLOSING
    if (this.echoClose) setTimeout(() => this.dispatchClose(code ?? 1005), 1)
  }

  addEventListener(type: string, listener: Listener, options?: { readonly once?: boolean }): void {
    const list = this.listeners.get(type) ?? []
    if (list.some((entry) => entry.listener === listener)) return
    this.listeners.set(type, [...list, { listener, once: options?.once === true }])
  }

  removeEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, (this.listeners.get(type) ?? []).filter((entry) => entry.listener !== listener))
  }

  /** How many listeners of `type` there are. */
  listenerCount(type: string): number {
    return this.listeners.get(type)?.length ?? 0
  }

  private dispatch(type: string, event: unknown): void {
    for (const entry of this.listeners.get(type) ?? []) {
      if (entry.once) this.removeEventListener(type, entry.listener)
      ;(entry.listener as (event: unknown) => void)(event)
    }
  }

  /** The handshake completes. */
  open(): this {
    this.readyState = OPEN
    this.dispatch("open", {})
    return this
  }

  /** The peer sends a message (dispatched only while open, as a browser does). */
  receive(data: unknown): void {
    if (this.readyState === OPEN) this.dispatch("message", { data })
  }

  /** The connection is lost: an error event (which says nothing, in a browser), then a close with 1006. */
  lose(): void {
    this.dispatch("error", {})
    this.dispatchClose(1006)
  }

  /** The socket is closed, with `code`. */
  dispatchClose(code: number, reason = ""): void {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSED
    this.dispatch("close", { code, reason, wasClean: code !== 1006 })
  }
}

class NotYet extends Error {}

/** Polls `check` every 2 ms until it holds; fails after `timeout` ms. */
const waitUntil = (check: () => boolean, what: string, timeout = 5000): Effect.Effect<void, NotYet> =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(new NotYet(`timed out waiting for ${what}`)))).pipe(
    Effect.retry(Schedule.spaced("2 millis").pipe(Schedule.upTo(Duration.millis(timeout))))
  )

/** Waits until the link has polled the socket's `bufferedAmount` at least `polls` more times. */
const linkPolls = (socket: FakeSocket, polls = 3) => {
  const from = socket.bufferedReads
  return waitUntil(() => socket.bufferedReads >= from + polls, `${polls} polls of bufferedAmount`)
}

/**
 * Resolves once a poll the link has already scheduled would have run:
 * timers fire in order of expiry, and this one expires later than any
 * `POLL_MILLIS` timer set before it. (To see that something does not happen.)
 */
const pastScheduledPolls = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 2 * POLL_MILLIS)))

/** Forks `link.run(onFrame)`; returns once its fiber waits for the link. */
const startRun = (link: FramedLink, onFrame: (text: string) => void) =>
  Effect.gen(function*() {
    const run = yield* Effect.forkScoped(link.run(onFrame))
    yield* Fiber.status(run).pipe(
      Effect.filterOrFail((status) => status._tag === "Suspended", () => new NotYet("run to start")),
      Effect.retry(Schedule.spaced("1 millis").pipe(Schedule.upTo("2 seconds")))
    )
    return run
  })

/** A link over a new fake socket, open, with its `run` started (frames go to `frames`). */
const linked = (options?: LinkOptions, onFrame?: (text: string) => void) =>
  Effect.gen(function*() {
    const socket = new FakeSocket().open()
    const link = fromSocketLink((handlers) => W3cWebSocketLink.make(socket, handlers, WS_URL, options))
    const frames: Array<string> = []
    const run = yield* startRun(link, onFrame ?? ((text) => void frames.push(text)))
    return { socket, link, frames, run }
  })

/** The end of `run`: `ok`, or the failure's reason and message. */
const outcome = (fiber: Fiber.Fiber<void, TransportError>) =>
  Effect.map(Fiber.await(fiber), (exit) => {
    if (Exit.isSuccess(exit)) return { ok: true as const }
    const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    if (failure === undefined) throw new Error(`run ended with ${exit.cause._tag}`)
    return { ok: false as const, tag: failure._tag, reason: failure.reason, message: failure.message }
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new NotYet("run to end") }))

/** Messages of exactly 10 bytes: "0000000000", "0000000001", ... */
const message = (i: number) => String(i).padStart(10, "0")
const messages = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => message(from + i))

/** What `W3cWebSocketLink.open` called back with. */
type Opened = { readonly error: Error | null; readonly makeLink?: ((handlers: Handlers) => SocketLink) | undefined }

/** Calls `W3cWebSocketLink.open` with `create`; gives what it calls back with (`calls` counts the calls). */
const opening = (create: (url: string) => W3cWebSocketLink.WebSocketLike, options?: LinkOptions) => {
  const calls: Array<Opened> = []
  W3cWebSocketLink.open(WS_URL, (error, makeLink) => void calls.push({ error, makeLink }), { ...options, create })
  return calls
}

describe("WebSocketProtocol", () => {
  it("exports the subprotocol and the close codes; 1000, 1001 and 1005 are orderly", () => {
    expect(PROTOCOL).toBe("metarhia-jstp")
    expect(CloseCode).toEqual({
      Normal: 1000,
      GoingAway: 1001,
      ProtocolError: 1002,
      MessageTooBig: 1009,
      InternalError: 1011
    })
    expect([1000, 1001, 1002, 1005, 1006, 1009, 1011].filter(isOrderly)).toEqual([1000, 1001, 1005])
  })
})

describe("W3cWebSocketLink", () => {
  it.scopedLive("asks for ArrayBuffer binary data", () =>
    Effect.gen(function*() {
      const { socket } = yield* linked()
      expect(socket.binaryType).toBe("arraybuffer")
    }))

  it("an open socket takes messages synchronously", () => {
    const socket = new FakeSocket().open()
    const link = W3cWebSocketLink.make(socket, { onFrame: () => {}, onClose: () => {} }, WS_URL)
    link.send("one")
    link.send("two")
    expect(socket.sent).toEqual(["one", "two"])
    expect(link.remoteAddress).toBe(WS_URL)
    expect(link.socket).toBe(socket)
  })

  it.scopedLive("over highWaterMark, sends are held; as bufferedAmount drops, they are flushed in order", () =>
    Effect.gen(function*() {
      const { link, socket } = yield* linked({ highWaterMark: 100 })
      for (const text of messages(0, 30)) link.send(text)
      // 100 bytes are at the mark, not over it: the 11th message goes out
      // and fills the socket; the rest are held.
      expect(socket.sent).toEqual(messages(0, 11))
      // The link polls, but the socket is still full: nothing more goes out.
      yield* linkPolls(socket, 3)
      expect(socket.sent).toEqual(messages(0, 11))
      socket.drain()
      // The next 11 fill it again.
      yield* waitUntil(() => socket.sent.length === 22, "the first flush")
      yield* linkPolls(socket, 3)
      expect(socket.sent).toEqual(messages(0, 22))
      socket.drain()
      yield* waitUntil(() => socket.sent.length === 30, "the second flush")
      expect(socket.sent).toEqual(messages(0, 30))
      // 80 bytes buffered, under the mark: a later send is direct again.
      link.send(message(30))
      expect(socket.sent).toEqual(messages(0, 31))
      expect(socket.sentAfterClose).toEqual([])
    }))

  it.scopedLive("a message sent while others are held queues behind them even if the socket drained", () =>
    Effect.gen(function*() {
      const { link, socket } = yield* linked({ highWaterMark: 10 })
      link.send("first, over the mark")
      link.send("second")
      expect(socket.sent).toEqual(["first, over the mark"])
      // The socket is free again, but the link has not polled since: order holds.
      socket.drain()
      link.send("third")
      expect(socket.sent).toEqual(["first, over the mark"])
      yield* waitUntil(() => socket.sent.length === 3, "the held messages")
      expect(socket.sent).toEqual(["first, over the mark", "second", "third"])
    }))

  it.scopedLive("close() after held messages sends them all, then closes with 1000; later sends are dropped", () =>
    Effect.gen(function*() {
      const { link, socket, run } = yield* linked({ highWaterMark: 10 })
      link.send("over the mark")
      link.send("x")
      link.send("y")
      link.send("z")
      expect(socket.sent).toEqual(["over the mark"])
      // The socket is still full: a browser's WebSocket buffers what it is
      // given, and close() lets it write that before the closing handshake.
      link.close()
      link.send("after close")
      expect(socket.closeCalls).toEqual([1000])
      expect(socket.sent).toEqual(["over the mark", "x", "y", "z"])
      expect(yield* outcome(run)).toEqual({ ok: true })
      socket.drain()
      yield* pastScheduledPolls
      expect(socket.sent).toEqual(["over the mark", "x", "y", "z"])
      expect(socket.sentAfterClose).toEqual([])
    }))

  it.scopedLive("close() after held messages, once the socket drained (before the next poll), sends them all, then closes with 1000", () =>
    Effect.gen(function*() {
      const { link, socket, run } = yield* linked({ highWaterMark: 10 })
      link.send("over the mark")
      link.send("x")
      link.send("y")
      socket.drain()
      link.close()
      link.send("after close")
      expect(socket.sent).toEqual(["over the mark", "x", "y"])
      expect(socket.closeCalls).toEqual([1000])
      expect(yield* outcome(run)).toEqual({ ok: true })
      expect(socket.sentAfterClose).toEqual([])
    }))

  it.scopedLive("close() with nothing held closes with 1000 and run ends successfully", () =>
    Effect.gen(function*() {
      const { link, socket, run } = yield* linked()
      link.close()
      expect(yield* outcome(run)).toEqual({ ok: true })
      expect(socket.closeCalls).toEqual([1000])
    }))

  it.scopedLive("closing the scope of a scoped link closes the socket with 1000", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket().open()
      yield* Effect.scoped(scoped(Effect.sync(() => fromSocketLink((handlers) => W3cWebSocketLink.make(socket, handlers, WS_URL)))))
      expect(socket.closeCalls).toEqual([1000])
    }))

  it.scopedLive("frames arrive in order; ArrayBuffer and typed-array data are decoded as UTF-8", () =>
    Effect.gen(function*() {
      const { socket, frames } = yield* linked()
      socket.receive("{\"ping\":[1]}")
      socket.receive(new TextEncoder().encode("{\"event\":[2,\"é\"]}").buffer)
      socket.receive(new TextEncoder().encode("ü"))
      socket.receive(new Uint8Array(new TextEncoder().encode("xxé€").buffer, 2, 5))
      expect(frames).toEqual(["{\"ping\":[1]}", "{\"event\":[2,\"é\"]}", "ü", "é€"])
    }))

  it.scopedLive("frames that come before run are handed to it, in order, once it runs", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket().open()
      const link = fromSocketLink((handlers) => W3cWebSocketLink.make(socket, handlers, WS_URL))
      socket.receive("early 1")
      socket.receive("early 2")
      const frames: Array<string> = []
      yield* startRun(link, (text) => void frames.push(text))
      socket.receive("late")
      expect(frames).toEqual(["early 1", "early 2", "late"])
    }))

  it.scopedLive("a message at the limit passes; one over it fails run with MessageTooLarge and closes with 1009", () =>
    Effect.gen(function*() {
      const { socket, frames, run, link } = yield* linked({ maxMessageSize: 30 })
      socket.receive("a".repeat(30))
      expect(frames).toEqual(["a".repeat(30)])
      socket.receive("b".repeat(31))
      expect(socket.closeCalls).toEqual([1009])
      // Nothing more is sent once the link failed.
      link.send("late")
      expect({ frames: frames.length, sent: socket.sent, afterClose: socket.sentAfterClose }).toEqual({
        frames: 1,
        sent: [],
        afterClose: []
      })
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "MessageTooLarge" })
      expect(end.ok ? "" : end.message).toMatch(/31 bytes.*30 bytes/)
    }))

  it.scopedLive("the limit counts UTF-8 bytes, not characters", () =>
    Effect.gen(function*() {
      const { socket, frames, run } = yield* linked({ maxMessageSize: 30 })
      socket.receive("é".repeat(15)) // 15 characters, 30 bytes
      expect(frames).toHaveLength(1)
      socket.receive("é".repeat(16)) // 16 characters, 32 bytes
      expect(frames).toHaveLength(1)
      expect(socket.closeCalls).toEqual([1009])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "MessageTooLarge" })
    }))

  it.scopedLive("binary data over the limit fails the same way", () =>
    Effect.gen(function*() {
      const { socket, frames, run } = yield* linked({ maxMessageSize: 30 })
      socket.receive(new TextEncoder().encode("€".repeat(11)).buffer) // 11 characters, 33 bytes
      expect(frames).toEqual([])
      expect(socket.closeCalls).toEqual([1009])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "MessageTooLarge" })
    }))

  it.scopedLive("a message that is not text fails run (Read) and closes with 1002", () =>
    Effect.gen(function*() {
      const { socket, frames, run } = yield* linked()
      socket.receive(42)
      expect(socket.closeCalls).toEqual([1002])
      expect(frames).toEqual([])
      expect(yield* outcome(run)).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
    }))

  it.scopedLive("an object message fails the same way", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* linked()
      socket.receive({ some: "object" })
      expect(socket.closeCalls).toEqual([1002])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "Read" })
    }))

  it("the handlers see a message that is not text as a NotTextError, and one over the limit as a TooLargeError", () => {
    const closes: Array<Error | undefined> = []
    const notText = new FakeSocket().open()
    notText.echoClose = false
    W3cWebSocketLink.make(notText, { onFrame: () => {}, onClose: (error) => void closes.push(error) }, WS_URL)
    notText.receive(42)
    notText.dispatchClose(1002)
    const tooLarge = new FakeSocket().open()
    tooLarge.echoClose = false
    W3cWebSocketLink.make(tooLarge, { onFrame: () => {}, onClose: (error) => void closes.push(error) }, WS_URL, {
      maxMessageSize: 3
    })
    tooLarge.receive("four")
    tooLarge.dispatchClose(1009)
    expect(closes.map((error) => error?.constructor)).toEqual([W3cWebSocketLink.NotTextError, W3cWebSocketLink.TooLargeError])
  })

  it.scopedLive("an onFrame that throws fails run (Read) and closes with 1011; held messages are dropped", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const { socket, link, run } = yield* linked({ highWaterMark: 10 }, (text) => {
        seen.push(text)
        if (text === "boom") throw new Error("handler failed")
      })
      link.send("over the mark")
      link.send("held")
      socket.receive("fine")
      socket.receive("boom")
      socket.receive("after")
      expect(seen).toEqual(["fine", "boom"])
      expect(socket.closeCalls).toEqual([1011])
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
      expect(end.ok ? "" : end.message).toBe("handler failed")
      socket.drain()
      yield* pastScheduledPolls
      expect(socket.sent).toEqual(["over the mark"])
      expect(socket.sentAfterClose).toEqual([])
    }))

  for (const code of [1000, 1001, 1005]) {
    it.scopedLive(`a close event with ${code} ends run successfully`, () =>
      Effect.gen(function*() {
        const { socket, run } = yield* linked()
        socket.dispatchClose(code, "bye")
        expect(yield* outcome(run)).toEqual({ ok: true })
      }))
  }

  it.scopedLive("a close event with 1006 fails run with reason Read, naming the code", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* linked()
      socket.dispatchClose(1006)
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
      expect(end.ok ? "" : end.message).toContain("1006")
    }))

  it.scopedLive("a lost connection (an error event, then 1006) fails run with reason Read", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* linked()
      socket.lose()
      expect(yield* outcome(run)).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
    }))

  it.scopedLive("a close event with 1009 from the peer fails run with MessageTooLarge", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* linked()
      socket.dispatchClose(1009, "too big")
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, reason: "MessageTooLarge" })
      expect(end.ok ? "" : end.message).toContain("too big")
    }))

  it.scopedLive("a close event with another code (1011) fails run with reason Read", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* linked()
      socket.dispatchClose(1011, "server error")
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, reason: "Read" })
      expect(end.ok ? "" : end.message).toContain("server error")
    }))
})

describe("W3cWebSocketLink.open", () => {
  it.scopedLive("asks for the subprotocol by default; calls back only once the socket opens, with a maker of a working link", () =>
    Effect.gen(function*() {
      const created: Array<{ readonly url: string; readonly protocols: unknown }> = []
      const socket = new FakeSocket()
      const global = globalThis as { WebSocket?: unknown }
      const original = global.WebSocket
      global.WebSocket = function(url: string, protocols: unknown) {
        created.push({ url, protocols })
        return socket
      }
      let calls: Array<Opened>
      try {
        calls = []
        W3cWebSocketLink.open(WS_URL, (error, makeLink) => void calls.push({ error, makeLink }))
      } finally {
        global.WebSocket = original
      }
      expect(created).toEqual([{ url: WS_URL, protocols: PROTOCOL }])
      yield* Effect.promise(() => Promise.resolve())
      expect(calls).toEqual([])
      socket.open()
      expect(calls).toHaveLength(1)
      const { error, makeLink } = calls[0]!
      expect(error).toBeNull()
      const link = fromSocketLink(makeLink!)
      const frames: Array<string> = []
      const run = yield* startRun(link, (text) => void frames.push(text))
      link.send("a")
      link.send("b")
      socket.receive("c")
      expect(socket.sent).toEqual(["a", "b"])
      expect(frames).toEqual(["c"])
      expect(socket.binaryType).toBe("arraybuffer")
      // open's own listeners are gone: a later close is the link's alone.
      expect({ error: socket.listenerCount("error"), close: socket.listenerCount("close"), open: socket.listenerCount("open") })
        .toEqual({ error: 1, close: 1, open: 0 })
      link.close()
      expect(yield* outcome(run)).toEqual({ ok: true })
      expect(calls).toHaveLength(1)
    }))

  it.scopedLive("the link it makes takes the options (highWaterMark, maxMessageSize)", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket()
      const calls = opening(() => socket, { highWaterMark: 10, maxMessageSize: 5 })
      socket.open()
      const link = fromSocketLink(calls[0]!.makeLink!)
      const run = yield* startRun(link, () => {})
      link.send("over the mark")
      link.send("held")
      expect(socket.sent).toEqual(["over the mark"])
      socket.receive("123456")
      expect(socket.closeCalls).toEqual([1009])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "MessageTooLarge" })
    }))

  it("a socket that errors and closes before opening: the callback gets an error, once", () => {
    const socket = new FakeSocket()
    const calls = opening(() => socket)
    socket.lose()
    expect(calls).toHaveLength(1)
    expect(calls[0]!.makeLink).toBeUndefined()
    expect(calls[0]!.error?.message).toMatch(/^Cannot connect to ws:\/\/127\.0\.0\.1:1\//)
  })

  it("a socket that closes before opening (no error event): the callback gets an error naming the code", () => {
    const socket = new FakeSocket()
    const calls = opening(() => socket)
    socket.dispatchClose(1006)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.makeLink).toBeUndefined()
    expect(calls[0]!.error?.message).toMatch(/^Cannot connect to ws:\/\/127\.0\.0\.1:1\/.*1006/)
  })

  it("a socket refused with an orderly code before opening still fails", () => {
    const socket = new FakeSocket()
    const calls = opening(() => socket)
    socket.dispatchClose(1000)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.makeLink).toBeUndefined()
    expect(calls[0]!.error?.message).toMatch(/^Cannot connect to .*1000/)
  })

  it.scopedLive("create() throwing: the callback gets that error, asynchronously", () =>
    Effect.gen(function*() {
      const thrown = new Error("bad url")
      const calls = opening(() => {
        throw thrown
      })
      expect(calls).toEqual([])
      yield* waitUntil(() => calls.length > 0, "the callback")
      expect(calls).toHaveLength(1)
      expect(calls[0]!.error).toBe(thrown)
      expect(calls[0]!.makeLink).toBeUndefined()
    }))
})
