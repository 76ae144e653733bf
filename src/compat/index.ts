/**
 * The drop-in facade of the documented `@metarhia/jstp` 2.x API, built on
 * the engine: `require("effect-jstp/compat")` where code had
 * `require("@metarhia/jstp")`. Transports: `net` (TCP and Unix sockets),
 * `tls`, `ws` and `wss`.
 *
 * @since 0.1.0
 */
import * as ErrorCode from "../wire/ErrorCode.js"
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

/**
 * The whole facade as one object, for `import jstp from "effect-jstp/compat"`.
 *
 * @since 0.1.0
 */
const jstp = {
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
  wss,
  ...ErrorCode.codes
}

export default jstp
