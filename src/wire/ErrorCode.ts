/**
 * The JSTP error codes and their default messages (protocol.md §7).
 * -1 and -2 never cross the wire; they are produced locally.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export const ERR_CALLBACK_LOST = -1
/** @since 0.1.0 */
export const ERR_NO_HANDSHAKE_RESPONSE = -2
/** @since 0.1.0 */
export const ERR_APP_NOT_FOUND = 10
/** @since 0.1.0 */
export const ERR_AUTH_FAILED = 11
/** @since 0.1.0 */
export const ERR_INTERFACE_NOT_FOUND = 12
/** @since 0.1.0 */
export const ERR_INTERFACE_INCOMPATIBLE = 13
/** @since 0.1.0 */
export const ERR_METHOD_NOT_FOUND = 14
/** @since 0.1.0 */
export const ERR_NOT_A_SERVER = 15
/** @since 0.1.0 */
export const ERR_INTERNAL_API_ERROR = 16
/** @since 0.1.0 */
export const ERR_INVALID_SIGNATURE = 17

// The standard codes by the names of their constants.
const codes = {
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
}

/**
 * The default message of each standard code.
 *
 * @since 0.1.0
 */
export const defaultMessages: Readonly<Record<number, string>> = Object.freeze({
  [ERR_CALLBACK_LOST]: "Connection closed before receiving callback",
  [ERR_NO_HANDSHAKE_RESPONSE]: "Connection closed before receiving handshake",
  [ERR_APP_NOT_FOUND]: "Application not found",
  [ERR_AUTH_FAILED]: "Authentication failed",
  [ERR_INTERFACE_NOT_FOUND]: "Interface not found",
  [ERR_INTERFACE_INCOMPATIBLE]: "Incompatible interface",
  [ERR_METHOD_NOT_FOUND]: "Method not found",
  [ERR_NOT_A_SERVER]: "Not a server",
  [ERR_INTERNAL_API_ERROR]: "Internal API error",
  [ERR_INVALID_SIGNATURE]: "Invalid signature"
})

const names: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(codes).map(([name, code]) => [code, name]))
)

const entryOf = (table: Readonly<Record<number, string>>, code: number): string | undefined =>
  Object.prototype.hasOwnProperty.call(table, code) ? table[code] : undefined

/**
 * The default message of `code`, if it is a standard code.
 *
 * @since 0.1.0
 */
export const defaultMessage = (code: number): string | undefined => entryOf(defaultMessages, code)

/**
 * The constant's name of `code` (`ERR_APP_NOT_FOUND` for 10), if it is a
 * standard code.
 *
 * @since 0.1.0
 */
export const nameOf = (code: number): string | undefined => entryOf(names, code)
