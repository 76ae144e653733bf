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
