/**
 * The drop-in facade of the documented `@metarhia/jstp` 2.x API, built on
 * the engine: `require("effect-jstp/compat")` where code had
 * `require("@metarhia/jstp")`. Transports: `net` (TCP and Unix sockets),
 * `tls`, `ws` and `wss`.
 *
 * @since 0.1.0
 */
import * as facade from "./facade.js"

export * from "./facade.js"

/**
 * The whole facade as one object, for `import jstp from "effect-jstp/compat"`:
 * a plain object with 2.x's keys in 2.x's order (a module namespace would
 * sort them), as `require("@metarhia/jstp")` gives.
 *
 * @since 0.1.0
 */
const jstp: typeof facade = {
  ERR_CALLBACK_LOST: facade.ERR_CALLBACK_LOST,
  ERR_NO_HANDSHAKE_RESPONSE: facade.ERR_NO_HANDSHAKE_RESPONSE,
  ERR_APP_NOT_FOUND: facade.ERR_APP_NOT_FOUND,
  ERR_AUTH_FAILED: facade.ERR_AUTH_FAILED,
  ERR_INTERFACE_NOT_FOUND: facade.ERR_INTERFACE_NOT_FOUND,
  ERR_INTERFACE_INCOMPATIBLE: facade.ERR_INTERFACE_INCOMPATIBLE,
  ERR_METHOD_NOT_FOUND: facade.ERR_METHOD_NOT_FOUND,
  ERR_NOT_A_SERVER: facade.ERR_NOT_A_SERVER,
  ERR_INTERNAL_API_ERROR: facade.ERR_INTERNAL_API_ERROR,
  ERR_INVALID_SIGNATURE: facade.ERR_INVALID_SIGNATURE,
  RemoteError: facade.RemoteError,
  Application: facade.Application,
  createAppsIndex: facade.createAppsIndex,
  RemoteProxy: facade.RemoteProxy,
  Connection: facade.Connection,
  Server: facade.Server,
  Session: facade.Session,
  net: facade.net,
  tls: facade.tls,
  ws: facade.ws,
  wss: facade.wss,
  SimpleConnectPolicy: facade.SimpleConnectPolicy,
  SimpleSessionStorageProvider: facade.SimpleSessionStorageProvider
}

export default jstp
