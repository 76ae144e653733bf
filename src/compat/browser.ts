/**
 * The facade in a browser: 2.x's browser build, with `ws` on the W3C
 * `WebSocket` (`ws.connect(app, client, url, callback)`). There are no
 * servers and no net, tls or wss modules.
 *
 * @since 0.1.0
 */
import * as W3cWebSocketLink from "../transport/W3cWebSocketLink.js"
import { makeClient, type Open } from "./streamTransport.js"

export {
  ERR_CALLBACK_LOST,
  ERR_NO_HANDSHAKE_RESPONSE,
  ERR_APP_NOT_FOUND,
  ERR_AUTH_FAILED,
  ERR_INTERFACE_NOT_FOUND,
  ERR_INTERFACE_INCOMPATIBLE,
  ERR_METHOD_NOT_FOUND,
  ERR_NOT_A_SERVER,
  ERR_INTERNAL_API_ERROR,
  ERR_INVALID_SIGNATURE
} from "../wire/ErrorCode.js"
export { Application, createAppsIndex } from "./Application.js"
export { Connection } from "./Connection.js"
export { RemoteError } from "./RemoteError.js"
export { RemoteProxy } from "./RemoteProxy.js"
export { Session } from "./Session.js"
export { SimpleConnectPolicy } from "./SimpleConnectPolicy.js"

const open: Open = ([url], callback) => W3cWebSocketLink.open(String(url), callback)

const client = makeClient("ws", open)

/**
 * `connect(app, client, url, callback)`, `connectAndInspect(app, client,
 * interfaces, url, callback)` and `reconnect`.
 *
 * @since 0.1.0
 */
export const ws = {
  connect: client.connect,
  connectAndInspect: client.connectAndInspect,
  reconnect: client.reconnect
}
