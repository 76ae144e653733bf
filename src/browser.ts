/**
 * effect-jstp in a browser: the Effect client over the W3C `WebSocket`
 * (`Connection.connect` with a `WebSocket` address), and the facade's
 * browser build as `compat`. Built into `dist/browser/effect-jstp.js`, an
 * ES module with no Node built-ins.
 *
 * @since 0.1.0
 */

/** The object-literal format: `parse` and `stringify`. @since 0.1.0 */
export * as Serde from "./wire/Serde.js"

/** The JSTP messages as a tagged union. @since 0.1.0 */
export * as Message from "./wire/Message.js"

/** The JSTP error codes and their default messages. @since 0.1.0 */
export * as ErrorCode from "./wire/ErrorCode.js"

/** Applications: methods and event handlers offered to the peer. @since 0.1.0 */
export * as Application from "./Application.js"

/** Client connections; `connect` dials WebSocket addresses. @since 0.1.0 */
export * as Connection from "./Connection.js"

/** Local failures: `ConnectionError`, `HandshakeError`. @since 0.1.0 */
export * from "./ConnectionError.js"

/** Errors that cross the wire, with the code table. @since 0.1.0 */
export * as RemoteError from "./RemoteError.js"

/** The callback facade of 2.x's browser build (`compat.ws.connect`). @since 0.1.0 */
export * as compat from "./compat/browser.js"

/**
 * The parts of Effect a page needs to run the client, from the copy the
 * bundle holds. @since 0.1.0
 */
export { Duration, Effect, Exit, Fiber, Schedule, Scope, Stream } from "effect"
