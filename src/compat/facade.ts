/**
 * Everything the facade offers, by name (the top level of 2.x's module).
 *
 * @since 0.1.0
 */
import { Application, createAppsIndex } from "./Application.js"
import { Connection } from "./Connection.js"
import * as net from "./net.js"
import { RemoteError } from "./RemoteError.js"
import { RemoteProxy } from "./RemoteProxy.js"
import * as Server from "./Server.js"
import * as tls from "./tls.js"
import { ws, wss } from "./ws.js"
import { Session } from "./Session.js"
import { SimpleConnectPolicy } from "./SimpleConnectPolicy.js"
import { SimpleSessionStorageProvider } from "./SimpleSessionStorageProvider.js"

// In 2.x's order, which code that iterates the module's keys sees (a
// CommonJS build keeps it; an ES module namespace sorts its keys).
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
export {
  RemoteError,
  Application,
  createAppsIndex,
  RemoteProxy,
  Connection,
  Server,
  Session,
  net,
  tls,
  ws,
  wss,
  SimpleConnectPolicy,
  SimpleSessionStorageProvider
}
