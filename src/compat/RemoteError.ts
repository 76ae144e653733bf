/**
 * The documented `RemoteError` of 2.x: an Error with a JSTP code, a message
 * and optional info, written to the wire by `toJSTP()`.
 *
 * @since 0.1.0
 */
import * as ErrorPayload from "../engine/ErrorPayload.js"
import { defaultMessage, defaultMessages } from "../wire/ErrorCode.js"
import * as Message from "../wire/Message.js"

let warnedToJstpArray = false

/**
 * @since 0.1.0
 */
export class RemoteError extends Error {
  code: number
  info: Array<unknown> | null

  constructor(code: number, message?: string, info: Array<unknown> | null = null) {
    super()
    this.message = message || defaultMessage(code) || String(code)
    this.code = code
    this.info = info
  }

  // A getter, as in 2.x: `name` is not an own property.
  override get name(): string {
    return "RemoteError"
  }

  /** The wire array: `[code]` for a standard code, else `[code, message, ...info]`. */
  toJSTP(): Array<unknown> {
    return [...Message.encodeError(ErrorPayload.make(this.code, this.message, this.info ?? []))]
  }

  /** @deprecated Implement and call `toJSTP()` instead. */
  toJstpArray(): Array<unknown> {
    if (!warnedToJstpArray) {
      warnedToJstpArray = true
      const warning = "toJstpArray() method is deprecated, use toJSTP() instead"
      // A browser has no process.emitWarning.
      if (typeof process === "undefined") console.warn(`DeprecationWarning: ${warning}`)
      else process.emitWarning(warning, "DeprecationWarning")
    }
    return this.toJSTP()
  }

  /** A RemoteError from a wire array `[code, message, ...info]`. */
  static fromJstpArray(array: ReadonlyArray<unknown>): RemoteError {
    return new RemoteError(
      array[0] as number,
      typeof array[1] === "string" ? array[1] : undefined,
      array.length > 2 ? array.slice(2) : null
    )
  }

  /** The wire array for any value a handler fails with (protocol.md §6). */
  static getJstpArrayFor(error: unknown): Array<unknown> {
    return [...Message.encodeError(ErrorPayload.fromValue(error))]
  }

  static get defaultMessages(): Readonly<Record<number, string>> {
    return defaultMessages
  }

  /** Internal: the RemoteError of an error payload from the engine. */
  static fromPayload(payload: Message.ErrorPayload): RemoteError {
    return new RemoteError(payload.code, payload.message, payload.info.length > 0 ? [...payload.info] : null)
  }
}
