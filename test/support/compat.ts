// Helpers for the tests of the compat facade (`effect-jstp/compat`) and of its
// interoperability with the reference, @metarhia/jstp 2.3.0: both are driven
// through the same documented callback/EventEmitter API, typed by the
// facade's own declarations (the reference is loaded as if it had them).
//
// Everything a test opens is registered with `defer` and released by
// `release()` (call it from `afterEach`), newest first.
import facade from "effect-jstp/compat"
import { Effect, Exit, Scope } from "effect"
import { EventEmitter } from "node:events"
import { createRequire } from "node:module"
import * as Net from "node:net"
import type { AppSpec, Callback as ErrorFirst, Client as FacadeClient } from "../../src/compat/Connection.js"
import type { ServerOptions as FacadeServerOptions } from "../../src/compat/Server.js"
import * as Proxy from "./proxy.js"
import { mdsf, quietly } from "./reference.js"

export const HOST = "127.0.0.1"

/** The documented API, as the facade declares it. */
export type Jstp = typeof facade
export type Connection = InstanceType<Jstp["Connection"]>
export type Session = InstanceType<Jstp["Session"]>
export type RemoteProxy = InstanceType<Jstp["RemoteProxy"]>
export type RemoteError = InstanceType<Jstp["RemoteError"]>
export type Application = InstanceType<Jstp["Application"]>
export type Server = ReturnType<Jstp["net"]["createServer"]>
export type Client = FacadeClient
export type ServerOptions = FacadeServerOptions & Net.ServerOpts
export type SessionStorageProvider = NonNullable<FacadeServerOptions["sessionStorageProvider"]>
/** A Node-style callback of the API: `(error, ...results)`. */
export type Callback = (error: unknown, ...results: Array<unknown>) => void
/** The application a client asks for: `'name'`, `'name@range'` or `{ name, version }`. */
export type { AppSpec }
/** A callback the API hands to user code (a connect policy's): `(error | null, ...results)`. */
export type { ErrorFirst }
/** `reconnectFn` as a reconnector receives it. */
export type ReconnectFn = (...args: Array<unknown>) => void

/** @metarhia/jstp 2.3.0, the reference (mdsf warns on load: silenced). */
export const reference: Jstp = quietly(() => createRequire(import.meta.url)("@metarhia/jstp") as Jstp)

export { facade, mdsf }

// ================================================================ cleanup

const releases: Array<() => unknown> = []

/** Runs `release` (sync or async) at the end of the current test. */
export const defer = (release: () => unknown): void => {
  releases.push(release)
}

/** Releases everything deferred, newest first; errors are ignored. */
export const release = async (): Promise<void> => {
  while (releases.length > 0) {
    const next = releases.pop()!
    try {
      await next()
    } catch {
      // already closed
    }
  }
}

const SOCKETS = new Set(["TCPSocketWrap", "TCPServerWrap", "PipeWrap", "PipeServerWrap"])
/** The sockets open now (TCP and Unix, servers too). */
export const openSockets = (): number => process.getActiveResourcesInfo().filter((name) => SOCKETS.has(name)).length
// Open before any test (the worker's own pipes).
const baseline = openSockets()
let tolerated = 0

/**
 * Accepts `count` sockets that stay open for good: Node's `net.connect`
 * creates its handle before it validates the port, then throws, and nobody
 * gets the socket to close it.
 */
export const tolerateLeakedSockets = (count: number): void => {
  tolerated += Math.max(0, count)
}

/** Resolves once every socket the tests opened is closed (at most 2 s), else fails. */
export const noOpenSockets = async (): Promise<void> => {
  const open = () => openSockets() - baseline - tolerated
  for (let i = 0; i < 200 && open() > 0; i++) await delay(10)
  if (open() > 0) throw new Error(`${open()} sockets still open: ${process.getActiveResourcesInfo().join(", ")}`)
}

// ================================================================ waiting

// The real timers, for waiting while a test fakes the global ones.
const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout
const now = () => performance.now()

/** Resolves `ms` ms from now (real timers). */
export const delay = (ms: number): Promise<void> => new Promise((resolve) => realSetTimeout(resolve, ms))

/** A few turns of the event loop: enough for anything already queued to run. */
export const settle = async (turns = 5): Promise<void> => {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/** Polls `check` until it holds (at most `timeout` ms). */
export const waitFor = async (check: () => boolean, what: string, timeout = 3000): Promise<void> => {
  const start = now()
  while (!check()) {
    if (now() - start > timeout) throw new Error(`timed out waiting for ${what}`)
    await delay(2)
  }
}

/** The arguments of the next `name` event of `emitter` (at most `timeout` ms). */
export const nextEvent = (emitter: EventEmitter, name: string, timeout = 3000): Promise<Array<unknown>> =>
  new Promise((resolve, reject) => {
    const timer = realSetTimeout(() => {
      emitter.off(name, listener)
      reject(new Error(`timed out waiting for the '${name}' event`))
    }, timeout)
    const listener = (...args: Array<unknown>) => {
      realClearTimeout(timer)
      resolve(args)
    }
    emitter.once(name, listener)
  })

/** Records every `name` event of `emitter` from now on. */
export const recordEvents = (emitter: EventEmitter, ...names: ReadonlyArray<string>): Array<[string, ...Array<unknown>]> => {
  const events: Array<[string, ...Array<unknown>]> = []
  for (const name of names) emitter.on(name, (...args: Array<unknown>) => void events.push([name, ...args]))
  return events
}

// ================================================================ servers

export interface Served {
  readonly server: Server
  readonly port: number
  /** Every socket the server accepted. */
  readonly sockets: Set<Net.Socket>
}

/** Starts listening and resolves once it does. */
export const listen = (server: Net.Server, ...where: Array<unknown>): Promise<void> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    const args = [...where, () => {
      server.off("error", reject)
      resolve()
    }]
    ;(server.listen as (...args: Array<unknown>) => Net.Server)(...args)
  })

/** Closes a Node server, destroying the sockets given first. */
export const closeServer = (server: Net.Server, sockets: Iterable<Net.Socket> = []): Promise<void> =>
  new Promise((resolve) => {
    for (const socket of sockets) socket.destroy()
    if (!server.listening) return resolve()
    server.close(() => resolve())
  })

/** Tracks the sockets a Node server accepts. */
export const trackSockets = (server: Net.Server): Set<Net.Socket> => {
  const sockets = new Set<Net.Socket>()
  server.on("connection", (socket: Net.Socket) => {
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })
  return sockets
}

/** A JSTP server of `jstp` on 127.0.0.1 (an ephemeral port), closed at the end of the test. */
export const serve = async (
  jstp: Jstp,
  options: ServerOptions | ReadonlyArray<Application>,
  listener?: (connection: Connection) => void
): Promise<Served> => {
  const server = listener === undefined ? jstp.net.createServer(options) : jstp.net.createServer(options, listener)
  const sockets = trackSockets(server)
  await listen(server, 0, HOST)
  defer(() => {
    for (const connection of server.getClientsArray()) connection.close()
    return closeServer(server, sockets)
  })
  return { server, port: portOf(server), sockets }
}

export const portOf = (server: Net.Server): number => (server.address() as Net.AddressInfo).port

// ================================================================ clients

export interface Connected {
  readonly connection: Connection
  readonly session: Session
}

/** What a `connect` callback got, and how often it was called. */
export interface Outcome {
  readonly error: (Error & { code?: unknown }) | null
  readonly connection: Connection | undefined
  readonly third: unknown
  /** How many times the callback was called (checked after it settles). */
  readonly calls: () => number
  /** Whether the first call came before `connect` returned. */
  readonly synchronous: boolean
}

/** `connect`, `connectAndInspect` or `reconnect` of a transport module. */
type ConnectFn = (...args: Array<never>) => void

/**
 * Calls `connect`-like `fn` with `args` and a callback; resolves with the
 * first call of the callback (and counts the others). Connections it gets
 * are closed at the end of the test.
 */
export const outcomeOf = (fn: ConnectFn, ...args: Array<unknown>): Promise<Outcome> =>
  new Promise((resolve) => {
    let calls = 0
    let returned = false
    const callback = (error: Error | null, connection?: Connection, third?: unknown) => {
      calls++
      if (connection !== undefined && connection !== null) defer(() => connection.close())
      if (calls === 1) resolve({ error, connection, third, calls: () => calls, synchronous: !returned })
    }
    ;(fn as (...args: Array<unknown>) => void)(...args, callback)
    returned = true
  })

/** `jstp.net.connect(app, client, port, HOST)`; rejects on an error. */
export const connect = async (jstp: Jstp, app: string | { name: string; version?: string }, client: Client | null, port: number): Promise<Connected> => {
  const outcome = await outcomeOf(jstp.net.connect, app, client, port, HOST)
  if (outcome.error !== null) throw outcome.error
  const connection = outcome.connection!
  // Closed before the server (releases run newest first): a server torn down
  // first destroys its sockets, and one that still had the client's bytes
  // unread resets it, an 'error' on a connection that (as in 2.x) throws
  // when nobody listens. Bounded, for a peer that never closes its side.
  defer(() => Promise.race([closeConnection(connection), new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref())]))
  return { connection, session: outcome.third as Session }
}

/** A client object that never reconnects (the default reconnector keeps a timer). */
export const noReconnect = (client: Client = {}): Client => {
  client.reconnector = () => {}
  return client
}

export interface CallResult {
  readonly error: (Error & { code?: unknown; info?: unknown }) | null
  readonly results: Array<unknown>
}

/** `connection.callMethod(...)`, resolved with what its callback got. */
export const callResult = (connection: Connection, iface: string, method: string, args: Array<unknown>): Promise<CallResult> =>
  new Promise((resolve) => {
    connection.callMethod(iface, method, args, (error, ...results) =>
      resolve({ error: error as CallResult["error"], results }))
  })

/** `connection.callMethod(...)`: its results, or a rejection with its error. */
export const call = async (connection: Connection, iface: string, method: string, args: Array<unknown> = []): Promise<Array<unknown>> => {
  const { error, results } = await callResult(connection, iface, method, args)
  if (error !== null) throw error
  return results
}

/** `connection.inspectInterface(name)` as a promise. */
export const inspect = (connection: Connection, iface: string): Promise<RemoteProxy> =>
  new Promise((resolve, reject) => {
    connection.inspectInterface(iface, (error, proxy) => (error === null ? resolve(proxy!) : reject(error)))
  })

/** Closes a connection and resolves once its socket has closed. */
export const closeConnection = (connection: Connection): Promise<void> =>
  new Promise((resolve) => {
    const socket = connection.getTransport() as Net.Socket
    if (socket.closed) return resolve()
    socket.once("close", () => resolve())
    connection.close()
  })

/** The socket under a connection. */
export const socketOf = (connection: Connection): Net.Socket => connection.getTransport() as Net.Socket

/** The error code of a callback's error: a RemoteError's `code`, or a bare number. */
export const codeOf = (error: unknown): unknown =>
  typeof error === "number" ? error : (error as { code?: unknown } | null)?.code

// ================================================================ raw peers

/** A raw TCP peer speaking NUL-terminated frames, for what the API cannot send. */
export interface RawPeer {
  readonly socket: Net.Socket
  /** Frames received so far, parsed (the object-literal format). */
  readonly frames: Array<Record<string, unknown>>
  readonly send: (text: string) => void
  /** Waits until `count` frames have arrived. */
  readonly frame: (index: number) => Promise<Record<string, unknown>>
  readonly closed: Promise<void>
}

export const rawConnect = async (port: number): Promise<RawPeer> => {
  const socket = Net.connect(port, HOST)
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  socket.on("error", () => {})
  defer(() => socket.destroy())
  const frames: Array<Record<string, unknown>> = []
  let buffer = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk: string) => {
    buffer += chunk
    let end: number
    while ((end = buffer.indexOf("\0")) !== -1) {
      frames.push(mdsf.parse(buffer.slice(0, end)) as Record<string, unknown>)
      buffer = buffer.slice(end + 1)
    }
  })
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
  return {
    socket,
    frames,
    send: (text) => void socket.write(text + "\0"),
    frame: async (index) => {
      await waitFor(() => frames.length > index, `frame ${index}`)
      return frames[index]!
    },
    closed
  }
}

// ================================================================ proxies

/** A TCP proxy (support/proxy.ts) to `port`, stopped at the end of the test. */
export const proxyTo = async (port: number): Promise<Proxy.Proxy> => {
  const scope = Effect.runSync(Scope.make())
  defer(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return Effect.runPromise(Proxy.make(port).pipe(Scope.extend(scope)))
}

/**
 * A reconnector the test drives: each time the connection calls it, it keeps
 * `reconnectFn` until `allow()`, which lets that one attempt go (or the next
 * one, if none is waiting). `attempts` records what each attempt's callback
 * got; `calls()` counts the connection's calls of the reconnector.
 */
export const gatedReconnector = () => {
  let allowance = 0
  let waiting: (() => void) | undefined
  const attempts: Array<unknown> = []
  let calls = 0
  const reconnector = (connection: Connection, reconnectFn: ReconnectFn) => {
    calls++
    const go = () => {
      if (!connection.closedIntentionally) reconnectFn((error: unknown) => void attempts.push(error ?? null))
    }
    if (allowance > 0) {
      allowance--
      setImmediate(go)
    } else {
      waiting = go
    }
  }
  return {
    reconnector,
    attempts,
    /** How many times the connection has called the reconnector. */
    calls: () => calls,
    isWaiting: () => waiting !== undefined,
    allow: () => {
      const go = waiting
      waiting = undefined
      if (go === undefined) allowance++
      else go()
    }
  }
}

/** A fresh EventEmitter (for `client.logger`). */
export const emitter = (): EventEmitter => new EventEmitter()
