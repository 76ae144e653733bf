/**
 * Error mapping of protocol.md §6: what a handler fails with, turned into the
 * error payload of a callback.
 *
 * @since 0.1.0
 */
import { defaultMessage, ERR_AUTH_FAILED, ERR_CALLBACK_LOST, ERR_INTERNAL_API_ERROR } from "../wire/ErrorCode.js"
import type { ErrorPayload } from "../wire/Message.js"

/**
 * A payload for `code`. As 2.3.0 writes errors, a standard code (the table of
 * protocol.md §7) travels alone, `[code]`, whatever its message; another code
 * carries its message and info, `[code, message, ...info]`, when it has a
 * message other than the code itself.
 *
 * @since 0.1.0
 */
export const make = (code: number, message?: string, info: ReadonlyArray<unknown> = []): ErrorPayload =>
  defaultMessage(code) !== undefined || message === undefined || message === "" || message === String(code)
    ? { code, message: undefined, info: [] }
    : { code, message, info }

/** The payload of error 16, for handlers that threw. @since 0.1.0 */
export const internalError: ErrorPayload = Object.freeze(make(ERR_INTERNAL_API_ERROR))

/**
 * What pending requests fail with when their connection closes for good:
 * compared by identity, so a host can tell it from a remote -1.
 *
 * @since 0.1.0
 */
export const connectionClosed: ErrorPayload = Object.freeze({
  code: ERR_CALLBACK_LOST,
  message: "Connection closed",
  info: Object.freeze([])
})

/**
 * ERR_CALLBACK_LOST: the peer received the request, but its answer was lost
 * with the link (a restore found it acknowledged and unanswered).
 *
 * @since 0.1.0
 */
export const callbackLost: ErrorPayload = Object.freeze(make(ERR_CALLBACK_LOST))

const isErrorObject = (value: unknown): value is Error & { toJSTP?: unknown } =>
  Object.prototype.toString.call(value) === "[object Error]" || value instanceof Error

const describe = (value: unknown): string => {
  try {
    return String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

// An array is sent as it is (2.x does not shorten it), once it is well formed.
const fromArray = (array: ReadonlyArray<unknown>): ErrorPayload => {
  const [code, message, ...info] = array
  if (typeof code !== "number" || !Number.isFinite(code)) return make(1, describe(array))
  return { code, message: message === undefined || message === null ? undefined : describe(message), info }
}

/**
 * The payload for any value a handler fails with, as 2.x maps it: an Error
 * with `toJSTP()` by what that returns; an array `[code, message, ...info]`;
 * a number as the code; a string as `[1, string]`; anything else (a plain
 * Error too) as `[1, String(value)]`.
 *
 * @since 0.1.0
 */
export const fromValue = (value: unknown): ErrorPayload => {
  for (let depth = 0; depth < 8; depth++) {
    if (isErrorObject(value) && typeof value.toJSTP === "function") {
      try {
        value = (value.toJSTP as () => unknown)()
      } catch {
        return internalError
      }
      continue
    }
    break
  }
  if (Array.isArray(value)) return fromArray(value)
  if (typeof value === "number") return Number.isFinite(value) ? make(value) : make(1, describe(value))
  if (typeof value === "string") return make(1, value)
  return make(1, describe(value))
}

/**
 * What an auth policy's failure is sent as (protocol.md §5): an error that
 * knows its JSTP form (a RemoteError) as that; anything else as error 11.
 *
 * @since 0.1.0
 */
export const fromAuthFailure = (error: unknown): ErrorPayload =>
  isErrorObject(error) && typeof error.toJSTP === "function"
    ? fromValue(error)
    : make(ERR_AUTH_FAILED, error instanceof Error ? error.message : undefined)
