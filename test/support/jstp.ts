// The reference implementation, @metarhia/jstp@2.3.0, typed as far as the
// interoperability tests use it. It loads mdsf, whose native addon is not
// built here; mdsf warns about that on load, which is noise in test output.
import type { EventEmitter } from "node:events"
import { createRequire } from "node:module"
import { quietly } from "./reference.js"
import type * as Net from "node:net"

/** A Node-style callback of the reference: `(error, ...results)`. */
export type Callback = (error: unknown, ...results: Array<unknown>) => void

/** Any handler of a reference application (its signature is checked by arity). */
export type Handler = (...args: Array<never>) => unknown

/** Interfaces of handlers, by name. */
export type Interfaces = Readonly<Record<string, Readonly<Record<string, Handler>>>>

export interface RemoteError extends Error {
  readonly code: number
  readonly message: string
  readonly info: ReadonlyArray<unknown> | null
  toJSTP(): Array<unknown>
}

export interface Application {
  readonly name: string
  readonly version: string
}

export interface Session {
  readonly id: string
  readonly username: string | null
}

/** An EventEmitter with one function per remote method. */
export interface RemoteProxy extends EventEmitter {
  readonly [method: string]: unknown
}

/** A connection, client or server side. */
export interface Connection extends EventEmitter {
  readonly id: number
  readonly username: string | null
  readonly session: Session | null
  readonly application: Application | null
  readonly handshakeDone: boolean
  readonly remoteProxies: Readonly<Record<string, RemoteProxy>>
  callMethod(iface: string, method: string, args: ReadonlyArray<unknown>, callback: Callback): void
  emitRemoteEvent(iface: string, event: string, args: ReadonlyArray<unknown>): void
  inspectInterface(iface: string, callback: (error: RemoteError | null, proxy?: RemoteProxy) => void): void
  ping(callback: () => void): void
  close(): void
  getTransport(): Net.Socket
}

export interface ConnectPolicy {
  connect(app: string, connection: Connection, session: Session | undefined, callback: Callback): void
}

/** The client object, second argument of `connect`. */
export interface Client {
  readonly application?: Application | undefined
  readonly connectPolicy?: ConnectPolicy | undefined
  readonly heartbeatInterval?: number | undefined
  /** `reconnect()` dials where the connection first went; `reconnect(port, host, callback)` elsewhere. */
  readonly reconnector?:
    | ((connection: Connection, reconnect: (...options: Array<unknown>) => void) => void)
    | undefined
  /** Receives the logging events instead of the connection. */
  readonly logger?: EventEmitter | undefined
}

export type AuthPolicy = (
  connection: Connection,
  application: Application,
  strategy: string,
  credentials: unknown,
  callback: (error: unknown, username?: string | null) => void
) => void

export interface ServerOptions {
  readonly applications: ReadonlyArray<Application>
  readonly authPolicy?: AuthPolicy | undefined
  readonly heartbeatInterval?: number | undefined
}

/** A JSTP server that is a Node `net.Server`. */
export interface Server extends Net.Server {
  getClientsArray(): Array<Connection>
  broadcast(iface: string, event: string, ...args: ReadonlyArray<unknown>): void
}

export type ConnectCallback = (error: RemoteError | Error | null, connection?: Connection, session?: Session) => void
export type InspectCallback = (
  error: RemoteError | Error | null,
  connection?: Connection,
  proxies?: Readonly<Record<string, RemoteProxy>>
) => void

export interface Jstp {
  readonly Application: new(
    name: string,
    api: Interfaces,
    eventHandlers?: Interfaces,
    version?: string
  ) => Application
  readonly RemoteError: new(code: number, message?: string, info?: ReadonlyArray<unknown>) => RemoteError
  readonly SimpleConnectPolicy: new(login?: string, password?: string) => ConnectPolicy
  readonly ERR_APP_NOT_FOUND: number
  readonly ERR_AUTH_FAILED: number
  readonly net: {
    createServer(options: ServerOptions): Server
    connect(app: string, client: Client | null, port: number, host: string, callback: ConnectCallback): void
    connectAndInspect(
      app: string,
      client: Client | null,
      interfaces: ReadonlyArray<string>,
      port: number,
      host: string,
      callback: InspectCallback
    ): void
  }
}

const require = createRequire(import.meta.url)


/** @metarhia/jstp 2.3.0, the interoperability reference. */
export const jstp: Jstp = quietly(() => require("@metarhia/jstp") as Jstp)
