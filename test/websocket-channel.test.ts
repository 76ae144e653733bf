// WebSocketChannel.make over a fake W3C WebSocket that the test drives: the
// queue before open, backpressure on bufferedAmount, an orderly close after
// queued messages, the size limit, non-text messages, a failing frame
// handler, and how close codes end `run`.
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Schedule } from "effect"
import type { TransportError } from "../src/transport/Link.js"
import * as WebSocketChannel from "../src/transport/WebSocketChannel.js"

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3

type CloseEvent = { readonly code: number; readonly reason: string; readonly wasClean: boolean }

/**
 * A WebSocket the test controls. `close(code)` records the code and, like a
 * real socket, ends with a close event (asynchronously) carrying that code,
 * unless `echoClose` is false.
 */
class FakeSocket implements WebSocketChannel.WebSocketLike {
  binaryType = "blob"
  readonly sent: Array<string> = []
  readonly closeCalls: Array<number | undefined> = []
  echoClose = true
  /** How many times the channel read `readyState` (the writer reads it on every poll). */
  stateReads = 0
  private state = CONNECTING
  private buffered = 0
  private readonly listeners = {
    open: [] as Array<() => void>,
    error: [] as Array<(event: { readonly message?: string; readonly error?: unknown }) => void>,
    message: [] as Array<(event: { readonly data: unknown }) => void>,
    close: [] as Array<(event: CloseEvent) => void>
  }

  get readyState(): number {
    this.stateReads++
    return this.state
  }

  set readyState(state: number) {
    this.state = state
  }

  get bufferedAmount(): number {
    return this.buffered
  }

  setBuffered(amount: number): void {
    this.buffered = amount
  }

  send(data: string): void {
    if (this.readyState !== OPEN) throw new Error(`send in readyState ${this.readyState}`)
    this.sent.push(data)
  }

  close(code?: number): void {
    this.closeCalls.push(code)
    if (this.readyState >= CLOSING) return
    this.readyState = CLOSING
    if (this.echoClose) setTimeout(() => this.dispatchClose(code ?? 1005), 1)
  }

  addEventListener(type: "open", listener: () => void): void
  addEventListener(type: "error", listener: (event: { readonly message?: string; readonly error?: unknown }) => void): void
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void
  addEventListener(type: "close", listener: (event: CloseEvent) => void): void
  addEventListener(type: "open" | "error" | "message" | "close", listener: (event: never) => void): void {
    ;(this.listeners[type] as Array<unknown>).push(listener)
  }

  /** Whether something listens for close events (`run` has started). */
  get listening(): boolean {
    return this.listeners.close.length > 0
  }

  /** The handshake completes. */
  open(): void {
    this.readyState = OPEN
    for (const listener of this.listeners.open) listener()
  }

  /** The peer sends a message. */
  receive(data: unknown): void {
    for (const listener of this.listeners.message) listener({ data })
  }

  /** The socket is closed, with `code`. */
  dispatchClose(code: number, reason = ""): void {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSED
    for (const listener of this.listeners.error) if (code === 1006) listener({ message: "connection lost" })
    for (const listener of this.listeners.close) listener({ code, reason, wasClean: code !== 1006 })
  }
}

class NotYet extends Error {}

/** Polls `check` every 2 ms until it holds; fails after `timeout` ms. */
const waitUntil = (check: () => boolean, what: string, timeout = 5000): Effect.Effect<void, NotYet> =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(new NotYet(`timed out waiting for ${what}`)))).pipe(
    Effect.retry(Schedule.spaced("2 millis").pipe(Schedule.upTo(Duration.millis(timeout))))
  )

/** Waits until the writer has polled the socket at least `polls` more times. */
const writerPolls = (socket: FakeSocket, polls = 5) => {
  const from = socket.stateReads
  return waitUntil(() => socket.stateReads >= from + polls, `${polls} polls of the writer`)
}

/** Forks `link.run(onFrame)`; returns once it listens to the socket's events. */
const startRun = (link: { readonly run: (onFrame: (text: string) => void) => Effect.Effect<void, TransportError> }, socket: FakeSocket, onFrame: (text: string) => void) =>
  Effect.gen(function*() {
    const run = yield* Effect.forkScoped(link.run(onFrame))
    yield* waitUntil(() => socket.listening, "run to listen")
    return run
  })

/** A channel over a new fake socket, with its `run` started (frames go to `frames`). */
const channel = (options?: WebSocketChannel.Options, onFrame?: (text: string) => void) =>
  Effect.gen(function*() {
    const socket = new FakeSocket()
    const link = yield* WebSocketChannel.make(() => socket, options)
    const frames: Array<string> = []
    const run = yield* startRun(link, socket, onFrame ?? ((text) => void frames.push(text)))
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

describe("WebSocketChannel", () => {
  it("exports the subprotocol and the close codes", () => {
    expect(WebSocketChannel.PROTOCOL).toBe("metarhia-jstp")
    expect(WebSocketChannel.CloseCode).toEqual({
      Normal: 1000,
      GoingAway: 1001,
      ProtocolError: 1002,
      MessageTooBig: 1009,
      InternalError: 1011
    })
  })

  it.scopedLive("asks for ArrayBuffer binary data", () =>
    Effect.gen(function*() {
      const { socket } = yield* channel()
      expect(socket.binaryType).toBe("arraybuffer")
    }))

  it.scopedLive("messages sent before open are sent in order once the socket opens", () =>
    Effect.gen(function*() {
      const { link, socket } = yield* channel()
      link.send("a")
      link.send("b")
      link.send("c")
      yield* writerPolls(socket, 10)
      expect(socket.sent).toEqual([])
      socket.open()
      yield* waitUntil(() => socket.sent.length === 3, "the queued messages")
      // Once the queue is empty, a send goes straight to the socket.
      link.send("d")
      expect(socket.sent).toEqual(["a", "b", "c", "d"])
      expect(socket.closeCalls).toEqual([])
    }))

  it.scopedLive("a socket already open takes messages synchronously", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket()
      socket.open()
      const link = yield* WebSocketChannel.make(() => socket)
      link.send("one")
      link.send("two")
      expect(socket.sent).toEqual(["one", "two"])
    }))

  it.scopedLive("over highWaterMark, send queues; when bufferedAmount drops, the writer flushes everything in order", () =>
    Effect.gen(function*() {
      const { link, socket } = yield* channel({ highWaterMark: 100 })
      socket.open()
      socket.setBuffered(100) // at the mark: still sends
      link.send("m0")
      expect(socket.sent).toEqual(["m0"])
      socket.setBuffered(101)
      for (let i = 1; i <= 20; i++) link.send(`m${i}`)
      expect(socket.sent).toEqual(["m0"])
      // The writer polls, but the socket is still full: nothing goes out.
      yield* writerPolls(socket, 10)
      expect(socket.sent).toEqual(["m0"])
      socket.setBuffered(0)
      yield* waitUntil(() => socket.sent.length === 21, "the flush")
      expect(socket.sent).toEqual(Array.from({ length: 21 }, (_, i) => `m${i}`))
      // A later send is direct again.
      link.send("m21")
      expect(socket.sent.at(-1)).toBe("m21")
    }))

  it.scopedLive("a message sent while others wait is queued behind them even if the socket drained", () =>
    Effect.gen(function*() {
      const { link, socket } = yield* channel({ highWaterMark: 10 })
      socket.open()
      socket.setBuffered(11)
      link.send("first")
      // The writer has not run since; the socket is free again, but order holds.
      socket.setBuffered(0)
      link.send("second")
      yield* waitUntil(() => socket.sent.length === 2, "both messages")
      expect(socket.sent).toEqual(["first", "second"])
    }))

  it.scopedLive("close() after queued messages sends them all, then closes with 1000; later sends are dropped", () =>
    Effect.gen(function*() {
      const { link, socket, run } = yield* channel({ highWaterMark: 10 })
      socket.open()
      socket.setBuffered(11)
      link.send("x")
      link.send("y")
      link.close()
      link.send("after close")
      yield* writerPolls(socket, 5)
      expect({ sent: socket.sent, closes: socket.closeCalls }).toEqual({ sent: [], closes: [] })
      socket.setBuffered(0)
      yield* waitUntil(() => socket.closeCalls.length > 0, "the close")
      expect(socket.sent).toEqual(["x", "y"])
      expect(socket.closeCalls).toEqual([1000])
      expect(yield* outcome(run)).toEqual({ ok: true })
    }))

  it.scopedLive("close() with nothing queued closes with 1000 and run ends successfully", () =>
    Effect.gen(function*() {
      const { link, socket, run } = yield* channel()
      socket.open()
      link.close()
      expect(yield* outcome(run)).toEqual({ ok: true })
      expect(socket.closeCalls).toEqual([1000])
    }))

  it.scopedLive("closing the scope closes the socket with 1000", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket()
      socket.open()
      yield* Effect.scoped(WebSocketChannel.make(() => socket))
      expect(socket.closeCalls).toEqual([1000])
    }))

  it.scopedLive("frames arrive in order; ArrayBuffer and typed-array data are decoded as UTF-8", () =>
    Effect.gen(function*() {
      const { socket, frames } = yield* channel()
      socket.open()
      socket.receive("{\"ping\":[1]}")
      socket.receive(new TextEncoder().encode("{\"event\":[2,\"é\"]}").buffer)
      socket.receive(new TextEncoder().encode("ü"))
      expect(frames).toEqual(["{\"ping\":[1]}", "{\"event\":[2,\"é\"]}", "ü"])
    }))

  it.scopedLive("a message at the limit passes; one over it fails run with MessageTooLarge and closes with 1009", () =>
    Effect.gen(function*() {
      const { socket, frames, run, link } = yield* channel({ maxMessageSize: 30 })
      socket.open()
      socket.receive("a".repeat(30))
      expect(frames).toEqual(["a".repeat(30)])
      socket.receive("b".repeat(31))
      expect(socket.closeCalls).toEqual([1009])
      // Nothing more is handled or sent once the link failed.
      socket.receive("late")
      link.send("late")
      expect({ frames: frames.length, sent: socket.sent }).toEqual({ frames: 1, sent: [] })
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "MessageTooLarge" })
      expect(end.ok ? "" : end.message).toMatch(/31 bytes.*30 bytes/)
    }))

  it.scopedLive("the limit counts UTF-8 bytes, not characters", () =>
    Effect.gen(function*() {
      const { socket, frames, run } = yield* channel({ maxMessageSize: 30 })
      socket.open()
      socket.receive("é".repeat(15)) // 15 characters, 30 bytes
      expect(frames).toHaveLength(1)
      socket.receive("é".repeat(16)) // 16 characters, 32 bytes
      expect(frames).toHaveLength(1)
      expect(socket.closeCalls).toEqual([1009])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "MessageTooLarge" })
    }))

  it.scopedLive("a message that is not text fails run (Read) and closes with 1002", () =>
    Effect.gen(function*() {
      const { socket, frames, run } = yield* channel()
      socket.open()
      socket.receive(42)
      expect(socket.closeCalls).toEqual([1002])
      expect(frames).toEqual([])
      expect(yield* outcome(run)).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
    }))

  it.scopedLive("an object message fails the same way", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* channel()
      socket.open()
      socket.receive({ some: "object" })
      expect(socket.closeCalls).toEqual([1002])
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "Read" })
    }))

  it.scopedLive("an onFrame that throws fails run (Read) and closes with 1011; queued messages are dropped", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket()
      const link = yield* WebSocketChannel.make(() => socket, { highWaterMark: 10 })
      const seen: Array<string> = []
      const run = yield* startRun(link, socket, (text) => {
        seen.push(text)
        if (text === "boom") throw new Error("handler failed")
      })
      socket.open()
      socket.setBuffered(11)
      link.send("queued")
      socket.receive("fine")
      socket.receive("boom")
      socket.receive("after")
      expect(seen).toEqual(["fine", "boom"])
      expect(socket.closeCalls).toEqual([1011])
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
      expect(socket.sent).toEqual([])
    }))

  for (const code of [1000, 1001, 1005]) {
    it.scopedLive(`a close event with ${code} ends run successfully`, () =>
      Effect.gen(function*() {
        const { socket, run } = yield* channel()
        socket.open()
        socket.dispatchClose(code, "bye")
        expect(yield* outcome(run)).toEqual({ ok: true })
      }))
  }

  it.scopedLive("a close event with 1006 fails run with reason Read", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* channel()
      socket.open()
      socket.dispatchClose(1006)
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Read" })
      expect(end.ok ? "" : end.message).toContain("1006")
    }))

  it.scopedLive("a close event with 1009 from the peer fails run with MessageTooLarge", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* channel()
      socket.open()
      socket.dispatchClose(1009, "too big")
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, reason: "MessageTooLarge" })
      expect(end.ok ? "" : end.message).toContain("too big")
    }))

  it.scopedLive("a close event with another code (1011) fails run with reason Read", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* channel()
      socket.open()
      socket.dispatchClose(1011, "server error")
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "Read" })
    }))

  it.scopedLive("a socket that closes before opening fails run with reason Open; queued messages are never sent", () =>
    Effect.gen(function*() {
      const { socket, run, link } = yield* channel()
      link.send("never")
      socket.dispatchClose(1006)
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Open" })
      expect(socket.sent).toEqual([])
    }))

  it.scopedLive("a socket refused with an orderly code before opening still fails with Open", () =>
    Effect.gen(function*() {
      const { socket, run } = yield* channel()
      socket.dispatchClose(1000)
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "Open" })
    }))

  it.scopedLive("create() throwing fails run with reason Open; send and close are harmless", () =>
    Effect.gen(function*() {
      const link = yield* WebSocketChannel.make(() => {
        throw new Error("bad url")
      })
      link.send("ignored")
      link.close()
      const run = yield* Effect.forkScoped(link.run(() => {}))
      const end = yield* outcome(run)
      expect(end).toMatchObject({ ok: false, tag: "TransportError", reason: "Open" })
      expect(end.ok ? "" : end.message).toContain("bad url")
    }))

  it.scopedLive("run on a socket already closed fails with reason Read", () =>
    Effect.gen(function*() {
      const socket = new FakeSocket()
      socket.readyState = CLOSED
      const link = yield* WebSocketChannel.make(() => socket)
      const run = yield* Effect.forkScoped(link.run(() => {}))
      expect(yield* outcome(run)).toMatchObject({ ok: false, reason: "Read" })
    }))
})
