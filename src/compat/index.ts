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
 * The whole facade as one object, for `import jstp from "effect-jstp/compat"`.
 *
 * @since 0.1.0
 */
export default facade
