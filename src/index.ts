/**
 * effect-jstp: JSTP, the JavaScript Transfer Protocol, on Effect.
 *
 * @since 0.1.0
 */

/** The object-literal format: `parse` and `stringify`. @since 0.1.0 */
export * as Serde from "./wire/Serde.js"

/** NUL-terminated framing for byte streams. @since 0.1.0 */
export * as Framing from "./wire/Framing.js"

/** The JSTP messages as a tagged union. @since 0.1.0 */
export * as Message from "./wire/Message.js"

/** The JSTP error codes and their default messages. @since 0.1.0 */
export * as ErrorCode from "./wire/ErrorCode.js"

/** Applications: methods and event handlers offered to the peer. @since 0.1.0 */
export * as Application from "./Application.js"

/** Typed contracts with Effect Schema: `implement` for servers, `client` for callers. @since 0.1.0 */
export * as Contract from "./Contract.js"

/** Client and server connections; `connect`. @since 0.1.0 */
export * as Connection from "./Connection.js"

/** Local failures: `ConnectionError`, `HandshakeError`. @since 0.1.0 */
export * from "./ConnectionError.js"

/** Errors that cross the wire, with the code table. @since 0.1.0 */
export * as RemoteError from "./RemoteError.js"

/** The server. @since 0.1.0 */
export * as Observability from "./Observability.js"
export * as Server from "./Server.js"

/** Where a server keeps sessions. @since 0.1.0 */
export * as SessionStore from "./SessionStore.js"

/** The TCP and Unix socket transports. @since 0.1.0 */
export * as Net from "./transport/Net.js"

/**
 * A session (protocol.md §8): its id and counters, a `Map` for application
 * state, `toString()` and `Session.fromString()` to keep it. @since 0.1.0
 */
export { Session, SessionFormatError } from "./engine/Session.js"

/** Why a connection closed. @since 0.1.0 */
export type { CloseReason } from "./engine/Engine.js"

/** A link that could not open or failed (`reason`: `Open`, `Read`, `Write`, `MessageTooLarge`). @since 0.1.0 */
export { TransportError } from "./transport/Link.js"
