/**
 * An in-memory transport for protocol engines: two `Link`s joined by a
 * queue, no sockets, no timers.
 *
 * - `MemoryWire` is the transport itself. Each end has a `Link` (what an
 *   engine writes to) and a receiver (what the wire delivers to: an `Engine`,
 *   or anything with `receive` and `linkClosed`). Every text sent is recorded
 *   in `log`, in order, with the end that sent it.
 * - Delivery is `"microtask"` by default: sends are queued and the queue is
 *   drained on `queueMicrotask`, so a reply is never delivered from inside
 *   the `send` that caused it (await `settle()`). `"manual"` delivers only
 *   when a test calls `deliverNext()` or `flush()`; `"sync"` delivers inside
 *   `send`, re-entrantly (the engine must cope with a reply arriving before
 *   `send` returns; a peer may even close before the sender's own `close`
 *   runs, so close reasons can differ from the queued modes).
 * - `link.close()` is delivered after the texts already in flight (as a TCP
 *   FIN would be): the other end gets `linkClosed("PeerClosed")`.
 * - `cut()` stops delivering (messages in flight and later ones are lost and
 *   marked `dropped` in the log); `sever()` cuts and tells both ends the link
 *   failed, as a reset connection would. Reconnection tests make a new wire
 *   for the next transport.
 *
 * `makePair` builds a client and a server engine on a wire, records their
 * logs and closes, and `handshake` runs a client's handshake to its answer.
 * `makeDispatcher` and friends build a `Dispatcher` from plain objects.
 */
import type {
  CloseReason,
  Dispatcher,
  HandshakeOutcome,
  LogEvent,
  Options,
  Reply
} from "../../src/engine/Engine.js"
import { Engine } from "../../src/engine/Engine.js"
import * as ErrorPayload from "../../src/engine/ErrorPayload.js"
import { Session } from "../../src/engine/Session.js"
import { ERR_INTERFACE_NOT_FOUND, ERR_METHOD_NOT_FOUND } from "../../src/wire/ErrorCode.js"
import type * as Message from "../../src/wire/Message.js"

// ------------------------------------------------------------------ wire

/** One end of a wire. */
export type End = "client" | "server"

/** The other end. */
export const other = (end: End): End => (end === "client" ? "server" : "client")

/** How sent texts reach the other end. */
export type Delivery = "microtask" | "manual" | "sync"

/** What the wire delivers to: an `Engine`, or any host with the same two methods. */
export interface Receiver {
  readonly receive: (text: string) => void
  readonly linkClosed: (reason?: "PeerClosed" | "Transport", cause?: unknown) => void
}

/** A text one end sent; `dropped` once it is known it will never be delivered. */
export interface SentEntry {
  readonly _tag: "Message"
  readonly from: End
  readonly text: string
  delivered: boolean
  dropped: boolean
}

/** One end closed its link. */
export interface CloseEntry {
  readonly _tag: "Close"
  readonly from: End
}

/** What the wire saw, in order. */
export type WireEntry = SentEntry | CloseEntry

type Queued =
  | { readonly _tag: "Message"; readonly to: End; readonly entry: SentEntry }
  | { readonly _tag: "Close"; readonly to: End }

/** A link plus what a test may want to know about it. */
export interface MemoryLink {
  readonly send: (text: string) => void
  readonly close: () => void
  /** The end this link writes from. */
  readonly end: End
}

export interface WireOptions {
  readonly delivery?: Delivery | undefined
}

export class MemoryWire {
  /** Every text sent and every close, in order. */
  readonly log: Array<WireEntry> = []
  delivery: Delivery
  readonly client: MemoryLink
  readonly server: MemoryLink

  private readonly queue: Array<Queued> = []
  private readonly receivers: { client: Receiver | undefined; server: Receiver | undefined } = {
    client: undefined,
    server: undefined
  }
  /** Directions that no longer deliver, by the sending end. */
  private readonly cutFrom = { client: false, server: false }
  /** Ends whose link was closed (by their own side). */
  private readonly closedBy = { client: false, server: false }
  private scheduled = false
  private draining = false

  constructor(options: WireOptions = {}) {
    this.delivery = options.delivery ?? "microtask"
    this.client = this.makeLink("client")
    this.server = this.makeLink("server")
  }

  /** Sets what `end` reads with: usually the engine that writes to `link(end)`. */
  attach(end: End, receiver: Receiver): void {
    this.receivers[end] = receiver
  }

  /** The link an end writes to. */
  link(end: End): MemoryLink {
    return end === "client" ? this.client : this.server
  }

  /** The texts an end sent (all of them, or only those from `from`), in order. */
  texts(from?: End): Array<string> {
    const texts: Array<string> = []
    for (const entry of this.log) {
      if (entry._tag === "Message" && (from === undefined || entry.from === from)) texts.push(entry.text)
    }
    return texts
  }

  /** Whether an end closed its link. */
  closed(end: End): boolean {
    return this.closedBy[end]
  }

  /** How many deliveries (texts and closes) are waiting. */
  get queued(): number {
    return this.queue.length
  }

  /** Delivers the oldest waiting text or close; false if there was none. */
  deliverNext(): boolean {
    const next = this.queue.shift()
    if (next === undefined) return false
    this.deliver(next)
    return true
  }

  /**
   * Delivers everything waiting, and whatever that delivery causes to be
   * sent, until the wire is quiet. Returns the number of deliveries. Called
   * from inside a delivery, it does nothing (the outer drain goes on).
   */
  flush(limit = 100_000): number {
    if (this.draining) return 0
    this.draining = true
    let count = 0
    try {
      while (this.queue.length > 0) {
        if (count++ >= limit) throw new Error(`MemoryWire.flush: more than ${limit} deliveries, a message loop?`)
        this.deliver(this.queue.shift()!)
      }
    } finally {
      this.draining = false
    }
    return count
  }

  /**
   * Waits until microtask delivery has drained the queue (and any promise
   * callbacks it triggered have run). In "manual" mode it flushes instead.
   */
  async settle(): Promise<void> {
    for (let round = 0; round < 1000; round++) {
      if (this.delivery === "manual") this.flush()
      await new Promise<void>((resolve) => setImmediate(resolve))
      if (this.queue.length === 0) return
    }
    throw new Error("MemoryWire.settle: the wire never went quiet")
  }

  /**
   * Stops delivering from `from` (both directions by default): what is in
   * flight and what is sent later is lost, closes included. The ends are
   * not told; see `sever`.
   */
  cut(from: End | "both" = "both"): void {
    for (const end of ["client", "server"] as const) {
      if (from === "both" || from === end) this.cutFrom[end] = true
    }
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const queued = this.queue[i]!
      const sender = other(queued.to)
      if (this.cutFrom[sender]) {
        if (queued._tag === "Message") queued.entry.dropped = true
        this.queue.splice(i, 1)
      }
    }
  }

  /** Cuts both ways and tells both ends their link failed (`linkClosed(reason, cause)`). */
  sever(reason: "PeerClosed" | "Transport" = "Transport", cause?: unknown): void {
    this.cut("both")
    this.receivers.client?.linkClosed(reason, cause)
    this.receivers.server?.linkClosed(reason, cause)
  }

  private makeLink(end: End): MemoryLink {
    return {
      end,
      send: (text) => {
        const entry: SentEntry = { _tag: "Message", from: end, text, delivered: false, dropped: false }
        this.log.push(entry)
        // Nothing crosses a cut direction or a link either end has closed.
        if (this.cutFrom[end] || this.closedBy[end] || this.closedBy[other(end)]) {
          entry.dropped = true
          return
        }
        this.enqueue({ _tag: "Message", to: other(end), entry })
      },
      close: () => {
        if (this.closedBy[end]) return
        this.closedBy[end] = true
        this.log.push({ _tag: "Close", from: end })
        if (this.cutFrom[end]) return
        this.enqueue({ _tag: "Close", to: other(end) })
      }
    }
  }

  private enqueue(queued: Queued): void {
    if (this.delivery === "sync") return this.deliver(queued)
    this.queue.push(queued)
    if (this.delivery === "microtask" && !this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => {
        this.scheduled = false
        if (this.delivery === "microtask") this.flush()
      })
    }
  }

  private deliver(queued: Queued): void {
    const receiver = this.receivers[queued.to]
    if (receiver === undefined) throw new Error(`MemoryWire: nothing attached at the ${queued.to} end`)
    if (queued._tag === "Close") return receiver.linkClosed("PeerClosed")
    // An end that closed its link reads nothing more.
    if (this.closedBy[queued.to]) {
      queued.entry.dropped = true
      return
    }
    queued.entry.delivered = true
    receiver.receive(queued.entry.text)
  }
}


// ------------------------------------------------------------ dispatchers

/** A method as `makeDispatcher` runs it: the call's arguments and the engine's reply. */
export type Method = (args: ReadonlyArray<unknown>, reply: Reply) => void

/** Methods by interface, then by name. */
export type Methods = { readonly [iface: string]: { readonly [method: string]: Method } }

/** An application's handler of the peer's events. */
export type EventHandler = (iface: string, event: string, args: ReadonlyArray<unknown>) => void

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key)

/**
 * A dispatcher over `methods` (own properties only): an unknown interface
 * answers 12, an unknown method 14; `inspect` lists an interface's method
 * names; events go to `onEvent`.
 */
export const makeDispatcher = (methods: Methods, onEvent?: EventHandler): Dispatcher => ({
  call: (iface, method, args, reply) => {
    if (!hasOwn(methods, iface)) return reply(ErrorPayload.make(ERR_INTERFACE_NOT_FOUND), [])
    const entries = methods[iface]!
    if (!hasOwn(entries, method)) return reply(ErrorPayload.make(ERR_METHOD_NOT_FOUND), [])
    entries[method]!(args, reply)
  },
  methods: (iface) => (hasOwn(methods, iface) ? Object.keys(methods[iface]!) : undefined),
  event: (iface, event, args) => onEvent?.(iface, event, args)
})

/** A method that answers `ok` with `values`. */
export const ok = (...values: ReadonlyArray<unknown>): Method => (_args, reply) => reply(undefined, values)

/** A method that answers with `error`. */
export const fail = (error: Message.ErrorPayload): Method => (_args, reply) => reply(error, [])

/** A plain function, called with the call's arguments. */
export type PlainFunction = (...args: Array<never>) => unknown

/**
 * A dispatcher from plain functions: `{ calc: { add: (a, b) => a + b } }`.
 * A function's return value `v` answers `ok: [v]`; what it throws answers
 * the error `ErrorPayload.fromValue` maps it to (a number is a code).
 */
export const dispatcherOf = (
  functions: { readonly [iface: string]: { readonly [method: string]: PlainFunction } },
  onEvent?: EventHandler
): Dispatcher => {
  const methods: Record<string, Record<string, Method>> = {}
  for (const iface of Object.keys(functions)) {
    const table: Record<string, Method> = {}
    for (const name of Object.keys(functions[iface]!)) {
      const fn = functions[iface]![name]! as unknown as (...args: ReadonlyArray<unknown>) => unknown
      table[name] = (args, reply) => {
        let value: unknown
        try {
          value = fn(...args)
        } catch (error) {
          return reply(ErrorPayload.fromValue(error), [])
        }
        reply(undefined, [value])
      }
    }
    methods[iface] = table
  }
  return makeDispatcher(methods, onEvent)
}

/** A call a `Recorder` received, with its reply to answer it whenever a test likes. */
export interface RecordedCall {
  readonly iface: string
  readonly method: string
  readonly args: ReadonlyArray<unknown>
  readonly reply: Reply
}

/** An event an application (or an `onEvent` hook) received. */
export interface RecordedEvent {
  readonly iface: string
  readonly event: string
  readonly args: ReadonlyArray<unknown>
}

/** A dispatcher that answers nothing by itself: it records calls and events. */
export interface Recorder {
  readonly dispatcher: Dispatcher
  readonly calls: Array<RecordedCall>
  readonly events: Array<RecordedEvent>
}

/** A `Recorder`; `methods` answers `inspect` (undefined for an unknown interface). */
export const recorder = (methods: { readonly [iface: string]: ReadonlyArray<string> } = {}): Recorder => {
  const calls: Array<RecordedCall> = []
  const events: Array<RecordedEvent> = []
  return {
    calls,
    events,
    dispatcher: {
      call: (iface, method, args, reply) => {
        calls.push({ iface, method, args, reply })
      },
      methods: (iface) => (hasOwn(methods, iface) ? methods[iface] : undefined),
      event: (iface, event, args) => {
        events.push({ iface, event, args })
      }
    }
  }
}

// ------------------------------------------------------------ handshakes

/** The session id `accept` gives by default, so wire texts are predictable. */
export const SESSION_ID = "9b71d224-bd62-4f0c-8a8b-0a0c6e5d3f15"

type OnHandshake = NonNullable<Options["onHandshake"]>

/** An `onHandshake` that accepts every request, with a new session (id `SESSION_ID` unless given). */
export const accept = (
  application: Dispatcher,
  makeSession: (request: Message.HandshakeRequest) => Session = () => new Session(SESSION_ID)
): OnHandshake =>
(request, done) => done({ _tag: "Accepted", session: makeSession(request), restored: false, application })

/** An `onHandshake` that rejects every request with `error`. */
export const reject = (error: Message.ErrorPayload): OnHandshake => (_request, done) => done({ _tag: "Rejected", error })

/**
 * An `onHandshake` that decides later: `requests` gets each request with its
 * `done`, for the test to call.
 */
export const deferred = (): {
  readonly onHandshake: OnHandshake
  readonly requests: Array<{ readonly request: Message.HandshakeRequest; readonly done: (outcome: HandshakeOutcome) => void }>
} => {
  const requests: Array<{ request: Message.HandshakeRequest; done: (outcome: HandshakeOutcome) => void }> = []
  return { requests, onHandshake: (request, done) => void requests.push({ request, done }) }
}

// ------------------------------------------------------------------ pairs

/** A logging event an engine emitted. */
export interface LogEntry {
  readonly event: LogEvent
  readonly args: ReadonlyArray<unknown>
}

/** An `onClose` an engine called. */
export interface ClosedEntry {
  readonly reason: CloseReason
  readonly cause: unknown
}

/** What `makePair` records of one engine. */
export interface SideRecord {
  readonly log: Array<LogEntry>
  readonly closes: Array<ClosedEntry>
  /** What `onEvent` got. */
  readonly events: Array<RecordedEvent>
}

export interface PairOptions {
  /** Options of the client engine; `link` is the wire's. */
  readonly client?: Partial<Options> | undefined
  /**
   * Options of the server engine. Without `onHandshake` (not even as an
   * explicit `undefined`) it accepts every handshake with `accept`, running
   * `application` (or an empty dispatcher).
   */
  readonly server?: Partial<Options> | undefined
  readonly delivery?: Delivery | undefined
}

export interface Pair {
  readonly client: Engine
  readonly server: Engine
  readonly wire: MemoryWire
  /** Every text sent either way and every close, in order (`wire.log`). */
  readonly wireLog: Array<WireEntry>
  /** Texts sent, by one end or both (`wire.texts`). */
  readonly texts: (from?: End) => Array<string>
  readonly record: { readonly client: SideRecord; readonly server: SideRecord }
  /** `wire.settle()`. */
  readonly settle: () => Promise<void>
}

const makeSide = (): SideRecord => ({ log: [], closes: [], events: [] })

const engineOn = (end: End, wire: MemoryWire, given: Partial<Options>, record: SideRecord): Engine => {
  const options: Options = {
    role: end,
    ...given,
    link: wire.link(end),
    onClose: (reason, cause) => {
      record.closes.push({ reason, cause })
      given.onClose?.(reason, cause)
    },
    onEvent: (iface, event, args) => {
      record.events.push({ iface, event, args })
      given.onEvent?.(iface, event, args)
    },
    log: (event, args) => {
      record.log.push({ event, args })
      given.log?.(event, args)
    }
  }
  const engine = new Engine(options)
  wire.attach(end, engine)
  return engine
}

/**
 * A client and a server engine joined by a `MemoryWire`. Their logs, closes
 * and `onEvent` calls are recorded (options given for these are called too).
 */
export const makePair = (options: PairOptions = {}): Pair => {
  const wire = new MemoryWire({ delivery: options.delivery })
  const record = { client: makeSide(), server: makeSide() }
  const serverGiven = options.server ?? {}
  const server = engineOn(
    "server",
    wire,
    "onHandshake" in serverGiven
      ? serverGiven
      : { ...serverGiven, onHandshake: accept(serverGiven.application ?? makeDispatcher({})) },
    record.server
  )
  const client = engineOn("client", wire, options.client ?? {}, record.client)
  return {
    client,
    server,
    wire,
    wireLog: wire.log,
    texts: (from) => wire.texts(from),
    record,
    settle: () => wire.settle()
  }
}

/** What a client's handshake `done` got. */
export interface HandshakeResult {
  readonly error: Message.ErrorPayload | undefined
  readonly ok: string | number | undefined
}

export interface HandshakeParams {
  readonly app?: string | undefined
  readonly version?: string | undefined
  readonly auth?: Message.HandshakeAuth | undefined
}

/**
 * Starts the client's handshake (app "app", anonymous by default) and gives
 * back the box `done` fills in; deliver (settle or flush) to complete it.
 */
export const startHandshake = (
  client: Engine,
  params: HandshakeParams = {}
): { result: HandshakeResult | undefined; calls: number } => {
  const box: { result: HandshakeResult | undefined; calls: number } = { result: undefined, calls: 0 }
  client.handshake(params.app ?? "app", params.version, params.auth ?? { _tag: "Anonymous" }, (error, ok) => {
    box.calls++
    box.result ??= { error, ok }
  })
  return box
}

/** Runs the client's handshake to its answer (or to a quiet wire: then undefined). */
export const handshake = async (pair: Pair, params: HandshakeParams = {}): Promise<HandshakeResult | undefined> => {
  const box = startHandshake(pair.client, params)
  await pair.settle()
  return box.result
}

/** `makePair`, with the handshake done; fails if it is not accepted. */
export const openPair = async (options: PairOptions = {}, params: HandshakeParams = {}): Promise<Pair> => {
  const pair = makePair(options)
  const result = await handshake(pair, params)
  if (result === undefined || result.error !== undefined) {
    throw new Error(`openPair: handshake failed: ${JSON.stringify(result)}`)
  }
  return pair
}

/** A `Reply` that records what it is called with. */
export interface ReplyRecorder {
  readonly reply: Reply
  readonly calls: Array<{ readonly error: Message.ErrorPayload | undefined; readonly values: ReadonlyArray<unknown> }>
}

export const replies = (): ReplyRecorder => {
  const calls: ReplyRecorder["calls"] = []
  return { calls, reply: (error, values) => void calls.push({ error, values }) }
}
