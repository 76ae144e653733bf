// The reference implementation, @metarhia/jstp 2.3.0, typed as the minimal
// interfaces the RPC benchmark uses, and loaded the way the serde benchmark
// loads mdsf: through createRequire, with console.warn silenced while mdsf
// looks for its native addon (not built here; it falls back to its JS parser,
// as it does on Node 20 in the field).
import { requireReference } from "../harness.js"
import type { AddressInfo } from "node:net"

/** A method's callback: `(error, ...results)`. */
export type RefCallback = (error: unknown, ...results: Array<unknown>) => void

/** Interfaces of callback-style methods, `(connection, ...args, callback)`. */
export type RefApi = { readonly [iface: string]: { readonly [method: string]: (...args: Array<never>) => void } }

export interface RefApplication {
  readonly name: string
  readonly version: string
}

export interface RefConnection {
  callMethod(iface: string, method: string, args: ReadonlyArray<unknown>, callback: RefCallback): void
  close(): void
  on(event: "error", listener: (error: unknown) => void): unknown
  once(event: "close", listener: () => void): unknown
}

/** A remote interface of `connectAndInspect`: the peer's events by `on(eventName, listener)`. */
export interface RefRemoteProxy {
  on(event: string, listener: (...args: Array<unknown>) => void): unknown
}

/** `connectAndInspect`'s callback: the connection and a proxy per inspected interface. */
export type RefInspectCallback = (
  error: unknown,
  connection: RefConnection,
  proxies?: { readonly [iface: string]: RefRemoteProxy }
) => void

/** The client options of `connect`; only the reconnector is set here. */
export interface RefClient {
  readonly reconnector?: (connection: RefConnection, reconnect: () => void) => void
}

export interface RefServer {
  listen(port: number, host: string, callback: () => void): unknown
  address(): AddressInfo | string | null
  close(callback?: (error?: Error) => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
  on(event: "connect", listener: (connection: RefConnection) => void): unknown
  /** Sends `iface.event(...args)` to every client. */
  broadcast(iface: string, event: string, ...args: Array<unknown>): void
  getClientsArray(): Array<RefConnection>
}

export interface Jstp {
  readonly Application: new (name: string, api: RefApi) => RefApplication
  readonly net: {
    createServer(options: { readonly applications: ReadonlyArray<RefApplication> }): RefServer
    connect(
      app: string,
      client: RefClient | null,
      port: number,
      host: string,
      callback: (error: unknown, connection: RefConnection) => void
    ): void
    connectAndInspect(
      app: string,
      client: RefClient | null,
      interfaces: ReadonlyArray<string>,
      port: number,
      host: string,
      callback: RefInspectCallback
    ): void
  }
  /** WebSocket (the `websocket` package): an http.Server that serves JSTP; clients dial a ws:// URL. */
  readonly ws: {
    createServer(options: { readonly applications: ReadonlyArray<RefApplication> }): RefServer
    connect(
      app: string,
      client: RefClient | null,
      webSocketConfig: object,
      url: string,
      callback: (error: unknown, connection: RefConnection) => void
    ): void
  }
}

/**
 * Loads @metarhia/jstp; `mdsfFallback` tells whether mdsf fell back to its
 * JS parser (its native addon is not built).
 */
export const loadReference = (): { readonly jstp: Jstp; readonly mdsfFallback: boolean } => {
  const { mdsfFallback, value } = requireReference<Jstp>("@metarhia/jstp")
  return { jstp: value, mdsfFallback }
}
