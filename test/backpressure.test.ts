// A reader that stops reading, over real TCP and WebSocket on 127.0.0.1, for
// the links and for both APIs: the writer holds what it cannot write past
// its high-water mark (the socket's own buffer stays bounded) and stops
// reading; once the reader reads again, every message arrives, in order,
// and the writer reads again.
//
// The reader is a raw socket (net, or a `ws` WebSocket) that is paused
// (`pause()`); the kernel's buffers on both sides fill first, then the
// writer's. Messages carry their sequence number in their first 6
// characters: "000042xxxx...".
//
// The bound is measured on what the writer's socket holds in user space
// (`writableLength`; for ws `bufferedAmount`) after every write the link
// makes: past the mark, at most the message that crossed it may be added
// (over ws, the write of the frames that took it past the mark); everything
// after must wait in the link.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule, type Scope } from "effect"
import { Application, Connection, Server } from "effect-jstp"
import * as Http from "node:http"
import * as Net from "node:net"
import type { Duplex } from "node:stream"
import { WebSocket, WebSocketServer } from "ws"
import { HIGH_WATER_MARK } from "../src/transport/CallbackLink.js"
import * as SocketLink from "../src/transport/SocketLink.js"
import * as WebSocketLink from "../src/transport/WebSocketLink.js"
import { PROTOCOL } from "../src/transport/WebSocketProtocol.js"
import { facade, type Jstp, release } from "./support/compat.js"
import { TCP, withStore } from "./support/servers.js"

const jstp: Jstp = facade

afterEach(release)

const HOST = "127.0.0.1"
/** How many messages each test writes, and their size: 16 MiB in all, far more than the kernel buffers. */
const COUNT = 2_000
const SIZE = 8 * 1024
/** The high-water mark of the link-level tests. */
const MARK = 64 * 1024
/** Room for a message's framing (a NUL, a WebSocket header) and a JSTP envelope around a payload. */
const SLACK = 1024
/** How long the delivery of everything may take once the reader reads again (a busy 2-core machine). */
const DELIVERY_MILLIS = 20_000

const payload = (i: number): string => String(i).padStart(6, "0") + "x".repeat(SIZE - 6)
const SEQUENCE = /(\d{6})x{16}/
/** The sequence numbers of the frames that carry a payload, in the order they came. */
const sequenceOf = (frames: ReadonlyArray<string>): Array<number> =>
  frames.flatMap((frame) => {
    const match = SEQUENCE.exec(frame)
    return match === null ? [] : [Number(match[1])]
  })
const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

/** The most a writer's socket may hold, in user space, with the mark `mark` (see above). */
const boundOf = (mark: number): number => mark + SIZE + SLACK

class NotYet extends Error {}

/** Polls `check` every 5 ms until it holds; fails with `what()` after `timeout` ms. */
const waitUntil = (check: () => boolean, what: () => string, timeout = 5000): Effect.Effect<void, NotYet> =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(new NotYet(`timed out waiting for ${what()}`)))).pipe(
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo(Duration.millis(timeout))))
  )

/**
 * Waits until `progress()` stops changing (the same for 20 polls 5 ms
 * apart) while `condition()` holds: nothing moves any more between the
 * writer and a reader that does not read. There is no event for that.
 */
const stalled = (progress: () => number, condition: () => boolean, what: string) =>
  Effect.gen(function*() {
    let last = -1
    let same = 0
    yield* waitUntil(() => {
      const now = progress()
      same = condition() && now === last ? same + 1 : 0
      last = now
      return same >= 20
    }, () => `${what} (last seen ${last})`, 10_000)
  })

/** The largest `length()` seen right after any call of `object[method]` (which is wrapped to see it). */
const watchAfter = <K extends string>(object: { [key in K]: unknown }, method: K, length: () => number) => {
  let max = 0
  const original = object[method] as (...args: Array<unknown>) => unknown
  ;(object as Record<K, unknown>)[method] = function(this: unknown, ...args: Array<unknown>) {
    const result = original.apply(this, args)
    max = Math.max(max, length())
    return result
  }
  return { max: () => max, reset: () => void (max = 0) }
}

/** The socket under a `ws` WebSocket, which a link writes its frames to. */
const rawOf = (socket: WebSocket): Duplex => (socket as unknown as { readonly _socket: Duplex })._socket

/** Sends `count` messages with `send`: all in one tick, or one per macrotask (a producer that takes its time). */
const produce = (pacing: Pacing, count: number, send: (i: number) => void): Effect.Effect<void> =>
  pacing === "burst"
    ? Effect.sync(() => {
      for (let i = 0; i < count; i++) send(i)
    })
    : Effect.promise(() =>
      new Promise<void>((resolve) => {
        let i = 0
        const step = () => {
          send(i++)
          if (i < count) setImmediate(step)
          else resolve()
        }
        step()
      })
    )

type Pacing = "burst" | "paced"
const PACINGS: ReadonlyArray<{ readonly pacing: Pacing; readonly how: string }> = [
  { pacing: "burst", how: "in one tick" },
  { pacing: "paced", how: "one per macrotask" }
]

// ----------------------------------------------------------- raw readers

/** A raw reader: what it received (whole messages, in order), and its switch. */
interface Reader {
  readonly frames: Array<string>
  readonly pause: () => void
  readonly resume: () => void
  readonly send: (text: string) => void
  /** Bytes it has read from the kernel so far. */
  readonly bytesRead: () => number
}

/** Waits until `reader` has `count` messages; the failure says how many came. */
const received = (reader: Reader, count: number, what: string) =>
  waitUntil(() => reader.frames.length >= count, () => `${what}: ${reader.frames.length} of ${count}`, DELIVERY_MILLIS)

/** A NUL-framed reader over `socket`. */
const netReader = (socket: Net.Socket): Reader => {
  const frames: Array<string> = []
  let pending = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk: string) => {
    pending += chunk
    let at = pending.indexOf("\0")
    while (at !== -1) {
      frames.push(pending.slice(0, at))
      pending = pending.slice(at + 1)
      at = pending.indexOf("\0")
    }
  })
  socket.on("error", () => {})
  return {
    frames,
    pause: () => void socket.pause(),
    resume: () => void socket.resume(),
    send: (text) => void socket.write(`${text}\0`),
    bytesRead: () => socket.bytesRead
  }
}

/** A reader over a `ws` WebSocket: one message per frame. */
const wsReader = (socket: WebSocket): Reader => {
  const frames: Array<string> = []
  socket.on("message", (data) => void frames.push(String(data)))
  socket.on("error", () => {})
  const raw = () => (socket as unknown as { readonly _socket: Net.Socket })._socket
  return {
    frames,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    send: (text) => socket.send(text),
    bytesRead: () => raw().bytesRead
  }
}

/** Dials `port` with a raw net socket, destroyed with the scope. */
const dialNet = (port: number) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: HOST, port })
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.once("connect", () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Dials `url` with a raw `ws` client offering the JSTP subprotocol, terminated with the scope. */
const dialWs = (url: string) =>
  Effect.acquireRelease(
    Effect.async<WebSocket, Error>((resume) => {
      const socket = new WebSocket(url, PROTOCOL)
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.once("open", () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.terminate())
  )

/** Does a JSTP handshake for `app` by hand; the reply is the reader's first message. */
const handshake = (reader: Reader, app: string) =>
  Effect.gen(function*() {
    reader.send(`{handshake:[0,'${app}']}`)
    yield* received(reader, 1, "the handshake reply")
    expect(reader.frames.shift()).toMatch(/^\{"?handshake"?:\[0\],"?ok"?:/)
  })

// ------------------------------------------------------------- link pairs

/** A link with the mark `MARK`, and a raw reader at its other end. */
interface Pair {
  readonly link: SocketLink.SocketLink
  readonly reader: Reader
  /** What the link received. */
  readonly frames: Array<string>
  /** What the link's socket holds in user space, to be written. */
  readonly buffered: () => number
  /** Whether the link has stopped reading its socket. */
  readonly paused: () => boolean
  /** The most the link's socket held right after any of the link's writes. */
  readonly maxBuffered: () => number
}

/** A SocketLink with the mark `mark` over a TCP connection on loopback, its peer a raw net socket. */
const netPairWith = (mark: number): Effect.Effect<Pair, Error, Scope.Scope> => Effect.gen(function*() {
  const sockets = new Set<Net.Socket>()
  const server = Net.createServer((socket) => void sockets.add(socket))
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => void server.listen(0, HOST, () => resume(Effect.void))),
    () =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
  const socket = yield* dialNet((server.address() as Net.AddressInfo).port)
  yield* waitUntil(() => sockets.size === 1, () => "the server to accept")
  const reader = netReader([...sockets][0]!)
  const frames: Array<string> = []
  const watch = watchAfter(socket, "write", () => socket.writableLength)
  const link = SocketLink.make(socket, { onFrame: (text) => void frames.push(text), onClose: () => {} }, {
    highWaterMark: mark
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => link.destroy()))
  return {
    link,
    reader,
    frames,
    buffered: () => socket.writableLength,
    paused: () => socket.isPaused(),
    maxBuffered: watch.max
  }
})

const netPair = netPairWith(MARK)

/** A WebSocketLink over a `ws` server's WebSocket, its peer a raw `ws` client. */
const wsPair: Effect.Effect<Pair, Error, Scope.Scope> = Effect.gen(function*() {
  const http = Http.createServer()
  const accepted: Array<WebSocket> = []
  const sockets = new WebSocketServer({ server: http, handleProtocols: () => PROTOCOL })
  sockets.on("connection", (socket) => void accepted.push(socket))
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => void http.listen(0, HOST, () => resume(Effect.void))),
    () =>
      Effect.async<void>((resume) => {
        for (const socket of accepted) socket.terminate()
        sockets.close()
        http.close(() => resume(Effect.void))
      })
  )
  const client = yield* dialWs(`ws://${HOST}:${(http.address() as Net.AddressInfo).port}/`)
  const reader = wsReader(client)
  yield* waitUntil(() => accepted.length === 1, () => "the server to accept")
  const socket = accepted[0]!
  const frames: Array<string> = []
  const watch = watchAfter(rawOf(socket), "write", () => socket.bufferedAmount)
  const link = WebSocketLink.make(socket, { onFrame: (text) => void frames.push(text), onClose: () => {} }, undefined, {
    highWaterMark: MARK
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => link.destroy()))
  return {
    link,
    reader,
    frames,
    buffered: () => socket.bufferedAmount,
    paused: () => socket.isPaused,
    maxBuffered: watch.max
  }
})

describe("a link whose reader stops reading", () => {
  for (const { name, pair } of [{ name: "SocketLink over TCP", pair: netPair }, { name: "WebSocketLink over ws", pair: wsPair }]) {
    for (const { pacing, how } of PACINGS) {
      it.scopedLive(
        `${name}, ${COUNT} messages of 8 KiB sent ${how}: the socket holds at most the mark and a message past it, the link stops reading; once the reader reads, all arrive in order and the link reads again`,
        () =>
          Effect.gen(function*() {
            const { link, reader, frames, buffered, paused, maxBuffered } = yield* pair
            reader.pause()
            yield* produce(pacing, COUNT, (i) => link.send(payload(i)))
            // The writer fills the kernel's buffers, then its socket's to
            // the mark; then it holds the rest and stops reading.
            yield* stalled(buffered, paused, "the writer to stall, not reading")
            expect(reader.frames).toEqual([])
            expect(maxBuffered()).toBeGreaterThan(MARK)
            expect(maxBuffered()).toBeLessThanOrEqual(boundOf(MARK))
            expect(paused()).toBe(true)

            reader.resume()
            yield* received(reader, COUNT, "every message")
            expect(sequenceOf(reader.frames)).toEqual(range(COUNT))
            expect(reader.frames.every((frame) => frame.length === SIZE)).toBe(true)
            // The link reads again.
            yield* waitUntil(() => !paused(), () => "the link to read again")
            reader.send("{ping:[1]}")
            yield* waitUntil(() => frames.length === 1, () => "the reader's message")
            expect(frames).toEqual(["{ping:[1]}"])
          }),
        60_000
      )
    }
  }
})

// ================================================================ Effect API

const feed = Application.make({ name: "feed", api: { news: {} } })

describe("Effect API: a server's events to a client that stops reading", () => {
  for (const transport of ["TCP", "WebSocket"] as const) {
    it.scopedLive(
      `over ${transport}, ${COUNT} broadcasts of 8 KiB to a paused raw client all arrive, in order, once it reads again`,
      () =>
        Effect.gen(function*() {
          const server = yield* Server.make({
            applications: [feed],
            listen: [transport === "TCP" ? TCP : { _tag: "WebSocket", host: HOST, port: 0 }]
          }).pipe(withStore)
          const address = server.addresses[0]!
          if (!("port" in address) || address.port === undefined) throw new Error("no port")
          const reader = transport === "TCP"
            ? netReader(yield* dialNet(address.port))
            : wsReader(yield* dialWs(`ws://${HOST}:${address.port}/`))
          yield* handshake(reader, "feed")
          yield* waitUntil(() => server.connections().length === 1, () => "the server to link the connection")

          reader.pause()
          for (const i of range(COUNT)) yield* server.broadcast("news", "tick", [payload(i)])
          // The reader takes nothing more from the kernel: far more than the
          // kernel's buffers hold waits in the server.
          yield* stalled(reader.bytesRead, () => true, "the paused reader to stop taking data")
          expect(reader.frames).toEqual([])

          reader.resume()
          yield* received(reader, COUNT, "every event")
          expect(sequenceOf(reader.frames)).toEqual(range(COUNT))
          expect(reader.frames.every((frame) => frame.startsWith("{\"event\":["))).toBe(true)
          // The server reads the client again: it answers a ping.
          reader.send("{ping:[1]}")
          yield* received(reader, COUNT + 1, "the pong")
          expect(reader.frames[COUNT]).toMatch(/^\{"?pong"?:\[1\]\}$/)
        }),
      60_000
    )
  }
})

// ================================================================ facade

describe("facade: a server's events to a client that stops reading", () => {
  for (const transport of ["net", "ws"] as const) {
    for (const { how, pacing, sends } of [
      { how: "server.broadcast in one tick", pacing: "burst" as const, sends: "broadcast" as const },
      { how: "connection.emitRemoteEvent one per macrotask", pacing: "paced" as const, sends: "emit" as const }
    ]) {
      it.scopedLive(
        `over ${transport}, ${COUNT} events of 8 KiB by ${how}: the server's socket holds at most the mark and a message past it; once the client reads, all arrive in order`,
        () =>
          Effect.gen(function*() {
            const server = transport === "net"
              ? jstp.net.createServer([new jstp.Application("feed", { news: {} })])
              : jstp.ws.createServer([new jstp.Application("feed", { news: {} })])
            yield* Effect.acquireRelease(
              Effect.async<void>((resume) => void server.listen(0, HOST, () => resume(Effect.void))),
              () =>
                Effect.async<void>((resume) => {
                  for (const connection of server.getClientsArray()) connection.close()
                  const http = server as Partial<Http.Server>
                  http.closeAllConnections?.()
                  server.close(() => resume(Effect.void))
                })
            )
            const port = (server.address() as Net.AddressInfo).port
            const reader = transport === "net"
              ? netReader(yield* dialNet(port))
              : wsReader(yield* dialWs(`ws://${HOST}:${port}/`))
            yield* handshake(reader, "feed")
            yield* waitUntil(() => server.getClientsArray().length === 1, () => "the server to link the connection")
            const connection = server.getClientsArray()[0]!
            const errors: Array<unknown> = []
            connection.on("error", (error: unknown) => void errors.push(error))

            // The server's socket: what it holds, and the most it held after any write.
            const socket = connection.getTransport() as Net.Socket | WebSocket
            const watch = socket instanceof WebSocket
              ? watchAfter(rawOf(socket), "write", () => socket.bufferedAmount)
              : watchAfter(socket, "write", () => socket.writableLength)
            const buffered = () => socket instanceof WebSocket ? socket.bufferedAmount : socket.writableLength
            const paused = () => socket instanceof WebSocket ? socket.isPaused : socket.isPaused()

            reader.pause()
            yield* produce(pacing, COUNT, (i) =>
              sends === "broadcast"
                ? server.broadcast("news", "tick", payload(i))
                : connection.emitRemoteEvent("news", "tick", [payload(i)]))
            yield* stalled(buffered, paused, "the server's socket to stall, not reading")
            expect(reader.frames).toEqual([])
            expect(watch.max()).toBeGreaterThan(HIGH_WATER_MARK)
            expect(watch.max()).toBeLessThanOrEqual(boundOf(HIGH_WATER_MARK))

            reader.resume()
            yield* received(reader, COUNT, "every event")
            expect(sequenceOf(reader.frames)).toEqual(range(COUNT))
            // The server reads the client again: it answers a ping.
            yield* waitUntil(() => !paused(), () => "the server to read again")
            reader.send("{ping:[1]}")
            yield* received(reader, COUNT + 1, "the pong")
            expect(reader.frames[COUNT]).toMatch(/^\{"?pong"?:\[1\]\}$/)
            expect(errors).toEqual([])
          }),
        60_000
      )
    }
  }
})

// ====================================================== both ends writing

// A client that pipelines large calls and a server that answers them as
// large: both ends' writes pass the mark at once. Were both to stop reading
// then, neither would ever drain; a client keeps reading.
describe("a client pipelining large calls to a server that answers as large", () => {
  const CALLS = 1_500
  const LARGE = "x".repeat(16 * 1024)
  const echo = Application.make({ name: "echo", api: { echo: { echo: (_c: unknown, text: string) => Effect.succeed(text) } } })
  for (const transport of ["TCP", "WebSocket"] as const) {
    it.scopedLive(`Effect API over ${transport}: every call of ${CALLS} × 16 KiB is answered`, () =>
      Effect.gen(function*() {
        const server = yield* Server.make({
          applications: [echo],
          listen: [transport === "TCP" ? TCP : { _tag: "WebSocket", host: HOST, port: 0 }]
        }).pipe(withStore)
        const connection = yield* Connection.connect({ address: server.addresses[0]!, application: "echo" })
        const results = yield* connection.callAll("echo", "echo", range(CALLS).map(() => [LARGE]), { concurrency: CALLS })
        expect(results.length).toBe(CALLS)
        expect(results.every(([text]) => text === LARGE)).toBe(true)
      }), 60_000)
  }

  it.scopedLive(`facade over net: every call of ${CALLS} × 16 KiB is answered`, () =>
    Effect.promise(async () => {
      const server = jstp.net.createServer([new jstp.Application("echo", { echo: { echo: (_c: unknown, text: string, callback: (error: null, text: string) => void) => callback(null, text) } })])
      await new Promise<void>((resolve) => server.listen(0, HOST, resolve))
      try {
        const connection = await new Promise<import("./support/compat.js").Connection>((resolve, reject) =>
          jstp.net.connect("echo", { reconnector: () => {} }, (server.address() as Net.AddressInfo).port, HOST, (error: unknown, connection: import("./support/compat.js").Connection) =>
            error ? reject(error) : resolve(connection)))
        const answers = await Promise.all(range(CALLS).map(() =>
          new Promise<unknown>((resolve, reject) =>
            connection.callMethod("echo", "echo", [LARGE], (error: unknown, text: unknown) => error ? reject(error) : resolve(text)))))
        expect(answers.every((text) => text === LARGE)).toBe(true)
        connection.close()
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()))
      }
    }), 60_000)

  it.scopedLive("a link whose mark is below Node's own (16 KiB) still drains: everything arrives", () =>
    Effect.gen(function*() {
      const { link, reader } = yield* netPairWith(1_000)
      for (const i of range(COUNT)) link.send(payload(i))
      yield* received(reader, COUNT, "every message")
      expect(sequenceOf(reader.frames)).toEqual(range(COUNT))
    }), 60_000)
})
