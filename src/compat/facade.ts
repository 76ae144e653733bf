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

export {
  ERR_APP_NOT_FOUND,
  ERR_AUTH_FAILED,
  ERR_CALLBACK_LOST,
  ERR_INTERFACE_INCOMPATIBLE,
  ERR_INTERFACE_NOT_FOUND,
  ERR_INTERNAL_API_ERROR,
  ERR_INVALID_SIGNATURE,
  ERR_METHOD_NOT_FOUND,
  ERR_NO_HANDSHAKE_RESPONSE,
  ERR_NOT_A_SERVER
} from "../wire/ErrorCode.js"
export {
  Application,
  Connection,
  createAppsIndex,
  net,
  RemoteError,
  RemoteProxy,
  Server,
  Session,
  SimpleConnectPolicy,
  SimpleSessionStorageProvider,
  tls,
  ws,
  wss
}

