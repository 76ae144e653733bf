/**
 * Helpers for the Effect API tests over real sockets: addresses, raw JSTP
 * peers written with `node:net` (to see the wire and to misbehave), waiting
 * for things without fixed sleeps, capturing Effect's logs, and a session
 * store for test servers.
 */
import { Cause, Deferred, Effect, Fiber, Logger, Option, Queue, Schedule, type Scope, Stream } from "effect"
import type { Layer } from "effect"
import { SessionStore } from "effect-jstp"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

/** Where test servers listen: an ephemeral TCP port on loopback. */
export const TCP = { _tag: "Tcp", host: "127.0.0.1", port: 0 } as const

/** A fresh Unix socket path in a temporary directory, removed with the scope. */
export const unixAddress: Effect.Effect<{ readonly _tag: "Unix"; readonly path: string }, never, Scope.Scope> =
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-jstp-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => ({ _tag: "Unix" as const, path: Path.join(dir, "jstp.sock") })))

/** The TCP port of an address a server bound. */
export const portOf = (address: { readonly _tag: string; readonly port?: number } | undefined): number => {
  if (address === undefined || address._tag !== "Tcp" || address.port === undefined) {
    throw new Error(`not a TCP address: ${JSON.stringify(address)}`)
  }
  return address.port
}

/** A TCP port on loopback that nothing listens on (bound, then released). */
export const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(address.port)))
  })
})

// ------------------------------------------------------------ waiting

/** Something expected did not happen in time. */
export class NotYet extends Error {}

/**
 * Re-runs `check` every 2 ms until `predicate` holds (at most ~2 s); fails
 * with `NotYet` naming `what` otherwise.
 */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  predicate: (a: A) => boolean,
  what: string
): Effect.Effect<A, E | NotYet, R> =>
  check.pipe(
    Effect.filterOrFail(predicate, (a) => new NotYet(`${what}: last seen ${String(a)}`)),
    Effect.retry({ schedule: Schedule.spaced("2 millis"), times: 1000 })
  )

/** Takes one element of `queue`, failing with `NotYet` after `timeout`. */
export const takeWithin = <A>(queue: Queue.Dequeue<A>, what: string, timeout: number = 2000): Effect.Effect<A, NotYet> =>
  Queue.take(queue).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: () => new NotYet(`nothing arrived: ${what}`) })
  )

/** Takes elements of `queue` until one satisfies `predicate`. */
export const takeUntil = <A, B extends A>(
  queue: Queue.Dequeue<A>,
  predicate: (a: A) => a is B,
  what: string,
  timeout: number = 2000
): Effect.Effect<B, NotYet> =>
  Effect.gen(function*() {
    for (;;) {
      const next = yield* Queue.take(queue)
      if (predicate(next)) return next
    }
  }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => new NotYet(`never arrived: ${what}`) }))

/**
 * Runs `stream` in the background of the scope into a queue, and returns
 * once it is subscribed (its fiber waits for elements). For streams that
 * subscribe in their own fiber (no forks inside, like a server's events).
 */
export const subscribe = <A>(stream: Stream.Stream<A>): Effect.Effect<Queue.Dequeue<A>, NotYet, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<A>()
    const fiber = yield* stream.pipe(Stream.runForEach((a) => Queue.offer(queue, a)), Effect.forkScoped)
    yield* eventually(Fiber.status(fiber), (status) => status._tag !== "Running", "the stream to subscribe")
    return queue
  })

/** Runs `stream` in the background of the scope into a queue (no wait). */
export const collect = <A>(stream: Stream.Stream<A>): Effect.Effect<Queue.Dequeue<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<A>()
    yield* stream.pipe(Stream.runForEach((a) => Queue.offer(queue, a)), Effect.forkScoped)
    return queue
  })

/**
 * Runs `trigger` until an element satisfying `predicate` arrives on `queue`
 * (a stream subscribes asynchronously; repeating the trigger waits for it
 * without sleeping a fixed time), discarding the others. Fails with
 * `NotYet` after ~2 s.
 */
export const receiveWhile = <A, E, R>(
  queue: Queue.Dequeue<A>,
  trigger: Effect.Effect<unknown, E, R>,
  what: string,
  predicate: (a: A) => boolean = () => true
): Effect.Effect<A, E | NotYet, R> =>
  trigger.pipe(
    Effect.zipRight(takeUntil(queue, (a): a is A => predicate(a), what, 20)),
    Effect.retry({ while: (error) => error instanceof NotYet, times: 100 })
  )

// ---------------------------------------------------------------- logs

/** A log line Effect's logger was given. */
export interface LogLine {
  readonly level: string
  readonly text: string
}

const show = (message: unknown): string =>
  Array.isArray(message) ? message.map(show).join(" ") : typeof message === "string" ? message : String(message)

/** A logger that records every line (message and cause), as a layer to provide. */
export const captureLogs = (): { readonly lines: Array<LogLine>; readonly layer: Layer.Layer<never> } => {
  const lines: Array<LogLine> = []
  const logger = Logger.make(({ cause, logLevel, message }) => {
    lines.push({ level: logLevel.label, text: `${show(message)}${Cause.isEmpty(cause) ? "" : `\n${Cause.pretty(cause)}`}` })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

// ----------------------------------------------------------- raw peers

/** A raw socket that speaks NUL-framed text: what a test writes and sees. */
export interface RawPeer {
  readonly socket: Net.Socket
  /** Every frame received, in order (without the NUL). */
  readonly frames: Queue.Dequeue<string>
  /** Completes when the socket closes. */
  readonly closed: Deferred.Deferred<void>
  /** Writes `text` followed by a NUL. */
  readonly send: (text: string) => Effect.Effect<void>
  /** Writes bytes as they are. */
  readonly sendRaw: (text: string) => Effect.Effect<void>
}

const fromSocket = (socket: Net.Socket): Effect.Effect<RawPeer> =>
  Effect.gen(function*() {
    const frames = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<void>()
    let buffer = ""
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      buffer += chunk
      let at = buffer.indexOf("\0")
      while (at !== -1) {
        Queue.unsafeOffer(frames, buffer.slice(0, at))
        buffer = buffer.slice(at + 1)
        at = buffer.indexOf("\0")
      }
    })
    socket.on("error", () => {})
    socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
    const sendRaw = (text: string) =>
      Effect.sync(() => {
        if (!socket.destroyed) socket.write(text)
      })
    return { socket, frames, closed, sendRaw, send: (text: string) => sendRaw(`${text}\0`) }
  })

/** Dials `port` on loopback with a raw socket, destroyed with the scope. */
export const rawConnect = (port: number): Effect.Effect<RawPeer, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port })
      const onError = (error: Error) => resume(Effect.fail(error))
      socket.once("error", onError)
      socket.once("connect", () => {
        socket.off("error", onError)
        // Until fromSocket takes over, a reset must not be an unhandled 'error'.
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(Effect.flatMap(fromSocket))

/** A raw TCP server on loopback: every accepted socket as a `RawPeer`. */
export interface RawServer {
  readonly port: number
  readonly accepted: Queue.Dequeue<RawPeer>
  /** How many connections it has accepted. */
  readonly count: () => number
}

/** Starts a raw TCP server, closed (with its sockets) with the scope. */
export const rawServer: Effect.Effect<RawServer, never, Scope.Scope> = Effect.gen(function*() {
  const accepted = yield* Queue.unbounded<RawPeer>()
  const sockets = new Set<Net.Socket>()
  let count = 0
  const server = Net.createServer((socket) => {
    count++
    sockets.add(socket)
    Queue.unsafeOffer(accepted, Effect.runSync(fromSocket(socket)))
  })
  const port = yield* Effect.acquireRelease(
    Effect.async<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
    }),
    () =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
  return { port, accepted, count: () => count }
})

/**
 * Provides a server's `SessionStore`: the one provided around it, else one
 * in memory for the scope (what most tests want, written once).
 */
export const withStore = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, SessionStore.SessionStore> | Scope.Scope> =>
  Effect.flatMap(Effect.serviceOption(SessionStore.SessionStore), (provided) =>
    Option.isSome(provided)
      ? Effect.provideService(effect, SessionStore.SessionStore, provided.value)
      : Effect.provideServiceEffect(effect, SessionStore.SessionStore, SessionStore.memory()))
