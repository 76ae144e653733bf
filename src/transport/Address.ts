/**
 * Where to listen or dial. Free of Node built-ins (types only), for the
 * browser build.
 *
 * @since 0.1.0
 */
import type * as Http from "node:http"
import type * as Https from "node:https"
import type * as Tls from "node:tls"
import type { Effect } from "effect"
import { TransportError } from "./Link.js"
import type { Transport } from "./TransportLink.js"

/**
 * TLS options: `key` and `cert` to listen, `ca` (or `rejectUnauthorized`,
 * `servername`, ...) to dial.
 *
 * @since 0.1.0
 */
export type TlsOptions = Tls.ConnectionOptions & Tls.TlsOptions

/**
 * A WebSocket endpoint: `ws://host:port/path`, or `wss://` with `secure` or
 * `tls`. Listening, `server` attaches to an existing http(s) server instead
 * of creating one (then `host`, `port` and `tls` are ignored), `path`
 * restricts the upgrades served, and `originCheck` refuses origins (403).
 *
 * @since 0.1.0
 */
export interface WebSocketAddress {
  readonly _tag: "WebSocket"
  readonly host?: string | undefined
  readonly port: number
  readonly path?: string | undefined
  readonly secure?: boolean | undefined
  readonly tls?: TlsOptions | undefined
  readonly server?: Http.Server | Https.Server | undefined
  readonly originCheck?: ((origin: string | undefined) => boolean) | undefined
}

/**
 * A transport of your own, with 2.x's Transport interface (see
 * `TransportLink.Transport`; the facade's `net.Transport` is one): `open`
 * makes a new one, already connected, for each dial (the first, and each
 * reconnect). For dialling only.
 *
 * @since 0.1.0
 */
export interface TransportAddress {
  readonly _tag: "Transport"
  /** Names the peer in messages and as `remoteAddress`. */
  readonly name: string
  readonly open: Effect.Effect<Transport, unknown>
}

/**
 * Where to listen or dial.
 *
 * @since 0.1.0
 */
export type Address =
  | { readonly _tag: "Tcp"; readonly host?: string | undefined; readonly port: number }
  | { readonly _tag: "Unix"; readonly path: string }
  | {
    readonly _tag: "Tls"
    readonly host?: string | undefined
    readonly port: number
    readonly tls?: TlsOptions | undefined
  }
  | WebSocketAddress

/**
 * What a client can dial: an `Address`, or a transport of its own.
 *
 * @since 0.1.0
 */
export type DialAddress = Address | TransportAddress

/**
 * A host as a URL writes it: an IPv6 address in brackets.
 *
 * @since 0.1.0
 */
export const urlHost = (host: string): string => host.includes(":") ? `[${host}]` : host

const hostOf = (host: string | undefined) => urlHost(host ?? "localhost")

/**
 * The URL a WebSocket address dials.
 *
 * @since 0.1.0
 */
export const webSocketUrl = (address: WebSocketAddress): string =>
  `${address.secure === true || address.tls !== undefined ? "wss" : "ws"}://${hostOf(address.host)}:${address.port}${
    address.path ?? "/"
  }`

/**
 * An address for messages and `remoteAddress`.
 *
 * @since 0.1.0
 */
export const describe = (address: DialAddress): string => {
  switch (address._tag) {
    case "Unix":
      return address.path
    case "WebSocket":
      return webSocketUrl(address)
    case "Transport":
      return address.name
    default:
      return `${address.host ?? "localhost"}:${address.port}`
  }
}

/**
 * The failure to listen on `address`.
 *
 * @since 0.1.0
 */
export const listenError = (address: Address, cause: unknown): TransportError =>
  new TransportError({ reason: "Open", message: `Cannot listen on ${describe(address)}: ${String(cause)}`, cause })
