/**
 * How a client dials an address in a browser: WebSocket only, with the
 * W3C `WebSocket`. The browser build puts this module in place of `Dial.ts`.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import { type Address, describe, webSocketUrl } from "./Address.js"
import { type FramedLink, type LinkOptions, TransportError } from "./Link.js"
import * as WebSocketChannel from "./WebSocketChannel.js"

/**
 * A link to `address`, which must be a WebSocket address; closing the scope
 * closes it.
 *
 * @since 0.1.0
 */
export const open = (address: Address, options?: LinkOptions): Effect.Effect<FramedLink, never, Scope.Scope> =>
  address._tag === "WebSocket"
    ? WebSocketChannel.make(() => new WebSocket(webSocketUrl(address), WebSocketChannel.PROTOCOL), options)
    : Effect.succeed({
      send: () => {},
      close: () => {},
      run: () =>
        Effect.fail(
          new TransportError({ reason: "Open", message: `A browser can only dial WebSocket, not ${describe(address)}` })
        )
    })
