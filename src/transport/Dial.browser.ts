/**
 * How a client dials an address in a browser: WebSocket only, with the
 * W3C `WebSocket`. The browser build puts this module in place of `Dial.ts`.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import { type DialAddress, describe, webSocketUrl } from "./Address.js"
import type { LinkOptions } from "./CallbackLink.js"
import { dial, dialTransport, type FramedLink, scoped, TransportError } from "./Link.js"
import * as W3cWebSocketLink from "./W3cWebSocketLink.js"

/**
 * A link to `address`, which must be a WebSocket address, open once the
 * WebSocket is; closing the scope closes it.
 *
 * @since 0.1.0
 */
export const open = (address: DialAddress, options?: LinkOptions): Effect.Effect<FramedLink, TransportError, Scope.Scope> =>
  address._tag === "WebSocket"
    ? scoped(dial((callback) => W3cWebSocketLink.open(webSocketUrl(address), callback, options)))
    : address._tag === "Transport"
    ? scoped(dialTransport(address))
    : Effect.fail(
      new TransportError({ reason: "Open", message: `A browser can only dial WebSocket (or a Transport of its own), not ${describe(address)}` })
    )
