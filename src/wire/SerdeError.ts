import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"

/**
 * Why a text could not be parsed, or a value could not be serialized.
 *
 * @since 0.1.0
 */
export type SerdeErrorReason =
  | "UnexpectedCharacter"
  | "UnexpectedEnd"
  | "InvalidNumber"
  | "InvalidEscape"
  | "UnterminatedString"
  | "UnterminatedComment"
  | "TooDeep"
  | "Circular"
  | "Unserializable"

/**
 * The fields of a `SerdeError`.
 *
 * @since 0.1.0
 */
export interface SerdeErrorFields {
  readonly reason: SerdeErrorReason
  readonly position: number
  readonly message: string
  /**
   * For a value that cannot be serialized (a bigint, a cycle, too deep
   * nesting): where it is, from the root of what was serialized, such as
   * `args[1].user.id`.
   */
  readonly path?: string
}

// A TypeError with Effect's error protocol (yield*, Equal, Hash, pipe,
// inspection), taken from the prototypes of Data.Error, which a TypeError
// cannot extend.
const YieldableTypeError = (() => {
  class YieldableTypeError extends TypeError {}
  for (
    let proto: object | null = Data.Error.prototype;
    proto !== null && proto !== Error.prototype && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto) as object | null
  ) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === "constructor" || Object.prototype.hasOwnProperty.call(YieldableTypeError.prototype, key)) continue
      Object.defineProperty(YieldableTypeError.prototype, key, Object.getOwnPropertyDescriptor(proto, key)!)
    }
  }
  return YieldableTypeError as unknown as new (message: string) => TypeError & Cause.YieldableError
})()

/**
 * A failure of `Serde.parse` or `Serde.stringify`. For parse failures
 * `position` is the UTF-16 offset in the text where the problem was found;
 * for stringify failures it is -1 and `path` says where the value that could
 * not be written is (the message names it too).
 *
 * A `TypeError`, as `JSON.stringify` throws for a value it cannot write, and
 * a tagged error of Effect (`_tag` `"SerdeError"`, yieldable), as
 * `Data.TaggedError` makes them.
 *
 * @since 0.1.0
 */
export class SerdeError extends YieldableTypeError {
  readonly _tag = "SerdeError" as const
  readonly reason: SerdeErrorReason
  readonly position: number
  declare readonly path?: string

  constructor(fields: SerdeErrorFields) {
    super(fields.message)
    this.reason = fields.reason
    this.position = fields.position
    if (fields.path !== undefined) (this as { path?: string }).path = fields.path
  }

  /** The fields and the message, as a tagged error of Effect writes itself. */
  override toJSON(): Record<string, unknown> {
    return { ...(this as object), message: this.message }
  }
}

Object.defineProperty(SerdeError.prototype, "name", { value: "SerdeError", writable: true, configurable: true })
