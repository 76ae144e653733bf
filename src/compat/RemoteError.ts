/**
 * The documented `RemoteError` of 2.x: an Error with a JSTP code, a message
 * and optional info, written to the wire by `toJSTP()`.
 *
 * @since 0.1.0
 */
import * as ErrorPayload from "../engine/ErrorPayload.js"
import { defaultMessage, defaultMessages } from "../wire/ErrorCode.js"
import * as Message from "../wire/Message.js"

type ToJstpArray = (this: RemoteError) => Array<unknown>

// A function that warns once, the first time it is called, as Node's
// util.deprecate (which a browser build cannot import) does for 2.3.0.
const deprecate = (fn: ToJstpArray, warning: string): ToJstpArray => {
  let warned = false
  const deprecated = function(this: RemoteError): Array<unknown> {
    if (!warned) {
      warned = true
      // A browser has no process.emitWarning.
      if (typeof process === "undefined" || typeof process.emitWarning !== "function") {
        console.warn(`DeprecationWarning: ${warning}`)
      } else {
        process.emitWarning(warning, "DeprecationWarning", deprecated)
      }
    }
    return fn.call(this)
  }
  return deprecated
}

// Errors whose toJstpArray override, or whose inherited toJstpArray, is
// running: toJSTP and toJstpArray call each other, and an override that
// calls super.toJSTP() (or a toJSTP override that calls toJstpArray()) would
// otherwise loop until the stack overflows, as it does in 2.3.0. Re-entered,
// each gives the standard array.
const inOverride = new WeakSet<RemoteError>()
const inInherited = new WeakSet<RemoteError>()

const standardArray = (error: RemoteError): Array<unknown> =>
  [...Message.encodeError(ErrorPayload.make(error.code, error.message, error.info ?? []))]

/**
 * @since 0.1.0
 */
export class RemoteError extends Error {
  // Declared, not defined: the constructor assigns them, so the own keys are
  // 2.x's, in its order (message, code, info).
  declare code: number
  declare info: Array<unknown> | null

  constructor(code: number, message?: string, info: Array<unknown> | null = null) {
    super()
    if (typeof Error.captureStackTrace === "function") Error.captureStackTrace(this, RemoteError)
    this.message = message || defaultMessage(code) || String(code)
    this.code = code
    // A subclass that still overrides the deprecated toJstpArray() (2.x's
    // extension point before toJSTP()) is honoured by toJSTP(), and warned
    // about on its first call, once per error, as 2.3.0 does.
    if (this.toJstpArray !== inheritedToJstpArray) {
      this.toJstpArray = deprecate(this.toJstpArray, "toJstpArray() method is deprecated, implement toJSTP() instead")
    }
    this.info = info
  }

  // A getter, as in 2.x: `name` is not an own property.
  override get name(): string {
    return "RemoteError"
  }

  /**
   * The wire array: `[code]` for a standard code, else `[code, message,
   * ...info]`; or what an override of the deprecated `toJstpArray()`
   * returns.
   */
  toJSTP(): Array<unknown> {
    const toJstpArray = this.toJstpArray
    if (toJstpArray === inheritedToJstpArray || inOverride.has(this)) return standardArray(this)
    inOverride.add(this)
    try {
      return toJstpArray.call(this)
    } finally {
      inOverride.delete(this)
    }
  }

  /** @deprecated Implement and call `toJSTP()` instead. */
  toJstpArray(): Array<unknown> {
    if (inInherited.has(this)) return standardArray(this)
    inInherited.add(this)
    try {
      return this.toJSTP()
    } finally {
      inInherited.delete(this)
    }
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

// As in 2.3.0, the inherited toJstpArray warns once in all, on its first call.
RemoteError.prototype.toJstpArray = deprecate(
  RemoteError.prototype.toJstpArray,
  "toJstpArray() method is deprecated, use toJSTP() instead"
)
const inheritedToJstpArray = RemoteError.prototype.toJstpArray
