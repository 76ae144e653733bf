// A server broadcast reaches every other connection when one connection
// cannot take it, for both servers: the Effect API's `Server.broadcast` and
// the compat facade's `server.broadcast`. Both serialize the event once and
// hand it to each linked connection's engine (engine/ServerCore.ts →
// `broadcast` in engine/Engine.ts).
//
// The connection that cannot keep up is a raw peer: a plain TCP socket that
// does the handshake by hand and then never answers anything. The engine
// asks for an acknowledgement (a ping) once its buffer of unacknowledged
// requests to a peer is half full; a raw peer never answers it, so its
// buffer fills at `DEFAULT_MAX_BUFFERED` (the ping counts too), and the
// server ends its session, reporting it once. A real client answers the
// ping and keeps getting every event.
import { afterAll, afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import { Application, Connection, ConnectionError, Server } from "effect-jstp"
import { BufferFullError, DEFAULT_MAX_BUFFERED } from "../src/engine/Engine.js"
import {
  type Connection as FacadeConnection,
  connect as facadeConnect,
  facade,
  inspect,
  type Jstp,
  nextEvent,
  noOpenSockets,
  noReconnect,
  rawConnect as facadeRawConnect,
  recordEvents,
  type RawPeer as FacadeRawPeer,
  release,
  serve,
  waitFor
} from "./support/compat.js"
import {
  collect,
  NotYet,
  portOf,
  rawConnect,
  type RawPeer,
  subscribe,
  takeUntil,
  takeWithin,
  TCP,
  withStore
} from "./support/servers.js"

const jstp: Jstp = facade

afterEach(release)
// Every test closes what it opened.
afterAll(noOpenSockets)

/** How many events the scenario broadcasts, and how many between two acknowledgements of A. */
const TOTAL = 11_000
const CHUNK = 1_000
/** How long a step of the scenario may take (a busy 2-core machine). */
const STEP = 5_000

const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

/** A wire frame, parsed (the servers write JSON). */
type Frame = Record<string, unknown>

/** Sorts what a raw peer got after its handshake reply: the ticks' arguments, and the pings. */
const sortFrames = (frames: ReadonlyArray<Frame>) => {
  const ticks: Array<unknown> = []
  let pings = 0
  const others: Array<Frame> = []
  for (const frame of frames) {
    if (Array.isArray(frame.event) && frame.event[1] === "news" && Array.isArray(frame.tick)) ticks.push(frame.tick[0])
    else if ("ping" in frame) pings++
    else others.push(frame)
  }
  return { ticks, pings, others }
}

// ================================================================ Effect API

type Conn = Connection.Connection
type ServerEvent = Server.ServerEvent

const feed = Application.make({
  name: "feed",
  api: { news: { latest: (_c: Conn) => Effect.succeed("nothing new") } }
})

const isEvent = <T extends ServerEvent["_tag"]>(tag: T) => (event: ServerEvent): event is Extract<ServerEvent, { _tag: T }> =>
  event._tag === tag

/** A raw peer's handshake for `feed`, by hand. */
const rawHandshake = (peer: RawPeer) =>
  Effect.gen(function*() {
    yield* peer.send("{handshake:[0,'feed']}")
    const reply = JSON.parse(yield* takeWithin(peer.frames, "handshake reply")) as Frame
    expect(reply.handshake).toEqual([0])
    expect(typeof reply.ok).toBe("string")
  })

/**
 * Takes what arrives on `queue` into `onItem` until `done()` holds; fails with
 * `NotYet` (saying `what()`) after `millis`.
 */
const drainUntil = <A>(
  queue: Queue.Dequeue<A>,
  onItem: (a: A) => void,
  done: () => boolean,
  what: () => string,
  millis = STEP
) =>
  Effect.gen(function*() {
    while (!done()) {
      onItem(yield* Queue.take(queue))
      for (const item of yield* Queue.takeAll(queue)) onItem(item)
    }
  }).pipe(Effect.timeoutFail({ duration: millis, onTimeout: () => new NotYet(what()) }))

/**
 * A server with `feed`, a client A subscribed to `news`, a raw peer B that
 * completed its handshake, the server's events from before either connected,
 * and the server side of each.
 */
const effectSetup = Effect.gen(function*() {
  const server = yield* Server.make({ applications: [feed], listen: [TCP] }).pipe(withStore)
  const address = server.addresses[0]!
  const events = yield* subscribe(server.events)
  const a = yield* Connection.connect({ address, application: "feed" })
  const aSide = (yield* takeUntil(events, isEvent("Connected"), "A's Connected")).connection
  const news = yield* collect(yield* a.subscribe("news"))
  const b = yield* rawConnect(portOf(address))
  yield* rawHandshake(b)
  const bSide = (yield* takeUntil(events, isEvent("Connected"), "B's Connected")).connection
  expect(aSide).not.toBe(bSide)
  expect(server.connections()).toHaveLength(2)
  return { server, events, a, aSide, news, b, bSide }
})

/**
 * Closes A and takes the server's events until A's Disconnected: everything
 * published before it (every broadcast's failures) has then arrived.
 */
const eventsUntilAGoes = (events: Queue.Dequeue<ServerEvent>, a: Conn, aSide: Conn) =>
  Effect.gen(function*() {
    yield* a.close
    const seen: Array<ServerEvent> = []
    yield* drainUntil(
      events,
      (event) => void seen.push(event),
      () => seen.some((event) => event._tag === "Disconnected" && event.connection === aSide),
      () => `A's Disconnected; seen ${seen.length} events`
    )
    return seen
  })

describe("Effect API: Server.broadcast", () => {
  it.scopedLive("a broadcast reaches every other connection when one cannot keep up: its session is ended (SessionOverflow), once", () =>
    Effect.gen(function*() {
      const { server, events, a, aSide, news, b, bSide } = yield* effectSetup
      const receivedA: Array<unknown> = []
      for (let start = 0; start < TOTAL; start += CHUNK) {
        const end = start + CHUNK
        // Each broadcast succeeds, whoever cannot keep up.
        for (let i = start; i < end; i++) yield* server.broadcast("news", "tick", [i])
        yield* drainUntil(
          news,
          (event) => void receivedA.push(event.event === "tick" ? event.args[0] : `${event.iface}.${event.event}`),
          () => receivedA.length >= end,
          () => `A to receive ${end} events; got ${receivedA.length}`
        )
        // A has answered the server's ping (if any) before this one: the
        // server has processed its pong, A's buffer is acknowledged.
        yield* a.ping
      }
      expect(receivedA).toEqual(range(TOTAL))

      // B got the first events, in order, until its buffer filled; then its link closed.
      const bFrames: Array<Frame> = []
      yield* drainUntil(
        b.frames,
        (text) => void bFrames.push(JSON.parse(text) as Frame),
        () => sortFrames(bFrames).ticks.length + sortFrames(bFrames).pings >= DEFAULT_MAX_BUFFERED,
        () => `B to receive ${DEFAULT_MAX_BUFFERED} messages; got ${bFrames.length}`
      )
      const { ticks, pings, others } = sortFrames(bFrames)
      expect(others).toEqual([])
      expect(ticks).toEqual(range(ticks.length))
      expect(pings).toBeGreaterThanOrEqual(1)
      expect(ticks.length + pings).toBe(DEFAULT_MAX_BUFFERED)
      expect(bSide.isOpen()).toBe(false)
      expect(server.connections()).toEqual([aSide])

      const seen = yield* eventsUntilAGoes(events, a, aSide)
      // One report for B, none per refused event, and no failed broadcast.
      const overflows = seen.filter(isEvent("SessionOverflow"))
      expect(overflows).toHaveLength(1)
      expect(overflows[0]!.connection).toBe(bSide)
      expect(overflows[0]!.message).toMatch(/acknowledgement/)
      expect(seen.filter(isEvent("BroadcastFailed"))).toEqual([])
      expect(seen.filter((event) => event._tag === "Disconnected" && event.connection === bSide)).toHaveLength(1)
    }), 30_000)

  it.scopedLive("an event that cannot be serialized (a BigInt, a cycle) fails broadcast with InvalidArgument and reaches nobody", () =>
    Effect.gen(function*() {
      const { server, events, a, aSide, news, b } = yield* effectSetup
      const cycle: Record<string, unknown> = {}
      cycle.self = cycle
      for (const args of [[10n], [cycle], [1, { deep: [2n] }]]) {
        const error = yield* Effect.flip(server.broadcast("news", "tick", args))
        expect(error).toBeInstanceOf(ConnectionError)
        expect(error.reason).toBe("InvalidArgument")
      }
      yield* server.broadcast("news", "tick", ["after"])
      // The first event either gets is the one sent after.
      expect(yield* takeWithin(news, "A's event")).toEqual({ iface: "news", event: "tick", args: ["after"] })
      const first = JSON.parse(yield* takeWithin(b.frames, "B's event")) as Frame
      expect(first.tick).toEqual(["after"])
      expect((first.event as Array<unknown>)[1]).toBe("news")
      // Nobody was reported: the broadcasts failed as a whole.
      const seen = yield* eventsUntilAGoes(events, a, aSide)
      expect(seen.filter(isEvent("BroadcastFailed"))).toEqual([])
      expect(yield* Queue.takeAll(news)).toHaveLength(0)
    }))
})

// ============================================================ compat facade

type Callback = (error: unknown, ...results: Array<unknown>) => void

const feedApp = () =>
  new jstp.Application("feed", {
    news: {
      latest(_connection: FacadeConnection, callback: Callback) {
        callback(null, "nothing new")
      }
    }
  })

/**
 * A facade server with `feed` (its 'connectionError' events recorded), a
 * client A with a proxy of `news` recording its ticks, a raw peer B that
 * completed its handshake, and the server side of each.
 */
const facadeSetup = async () => {
  const { server, port } = await serve(jstp, [feedApp()])
  const errors: Array<{ readonly error: unknown; readonly connection: FacadeConnection }> = []
  server.on("connectionError", (error: unknown, connection: FacadeConnection) => void errors.push({ error, connection }))
  const acceptedA = nextEvent(server, "connect")
  const { connection: a } = await facadeConnect(jstp, "feed", noReconnect(), port)
  const [aSide] = (await acceptedA) as [FacadeConnection]
  const proxy = await inspect(a, "news")
  const receivedA: Array<unknown> = []
  proxy.on("tick", (value: unknown) => void receivedA.push(value))
  const acceptedB = nextEvent(server, "connect")
  const b: FacadeRawPeer = await facadeRawConnect(port)
  b.send("{handshake:[0,'feed']}")
  const reply = await b.frame(0)
  expect(reply.handshake).toEqual([0])
  expect(typeof reply.ok).toBe("string")
  const [bSide] = (await acceptedB) as [FacadeConnection]
  expect(aSide).not.toBe(bSide)
  expect(server.getClientsArray()).toHaveLength(2)
  return { server, errors, a, aSide, receivedA, b, bSide }
}

const ping = (connection: FacadeConnection): Promise<void> =>
  new Promise((resolve) => connection.ping(() => resolve()))

describe("compat facade: server.broadcast", () => {
  it("a broadcast reaches every other connection when one cannot keep up: its session is ended ('sessionOverflow'), once", async () => {
    const { server, errors, a, aSide, receivedA, b, bSide } = await facadeSetup()
    const overflows = recordEvents(server, "sessionOverflow")
    for (let start = 0; start < TOTAL; start += CHUNK) {
      const end = start + CHUNK
      for (let i = start; i < end; i++) server.broadcast("news", "tick", i)
      await waitFor(() => receivedA.length >= end, `A to receive ${end} events (got ${receivedA.length})`, STEP)
      // The server has processed A's pong (if it pinged) before this ping.
      await ping(a)
    }
    expect(receivedA).toEqual(range(TOTAL))

    // B got the first events, in order, until its buffer filled; then its session ended.
    const bMessages = () => {
      const { ticks, pings } = sortFrames(b.frames.slice(1))
      return ticks.length + pings
    }
    await waitFor(() => bMessages() >= DEFAULT_MAX_BUFFERED, `B to receive ${DEFAULT_MAX_BUFFERED} messages (got ${bMessages()})`, STEP)
    const { ticks, pings, others } = sortFrames(b.frames.slice(1))
    expect(others).toEqual([])
    expect(ticks).toEqual(range(ticks.length))
    expect(pings).toBeGreaterThanOrEqual(1)
    expect(ticks.length + pings).toBe(DEFAULT_MAX_BUFFERED)
    expect(overflows).toHaveLength(1)
    expect(overflows[0]![1]).toBe(bSide)
    expect(overflows[0]![2]).toBeInstanceOf(BufferFullError)
    expect(errors).toEqual([])
    expect(server.getClientsArray()).toEqual([aSide])
  }, 30_000)

  it("an event that cannot be serialized (a BigInt, a cycle) gives each client an 'error' and reaches nobody", async () => {
    const { server, errors, receivedA, b, aSide, bSide } = await facadeSetup()
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    const bad: Array<Array<unknown>> = [[10n], [cycle], [1, { deep: [2n] }]]
    for (const [index, args] of bad.entries()) {
      server.broadcast("news", "tick", ...args)
      // Each client once, right away.
      expect(errors).toHaveLength(2 * (index + 1))
    }
    for (const { error } of errors) expect(error).toBeInstanceOf(Error)
    for (let index = 0; index < bad.length; index++) {
      const pair = errors.slice(2 * index, 2 * index + 2).map(({ connection }) => connection)
      expect(new Set(pair)).toEqual(new Set([aSide, bSide]))
    }
    server.broadcast("news", "tick", "after")
    // The first event either gets is the one sent after.
    await waitFor(() => receivedA.length >= 1, "A's event")
    expect(receivedA).toEqual(["after"])
    const first = await b.frame(1)
    expect(first.tick).toEqual(["after"])
    expect((first.event as Array<unknown>)[1]).toBe("news")
    expect(errors).toHaveLength(2 * bad.length)
    expect(server.getClientsArray()).toHaveLength(2)
  })
})
