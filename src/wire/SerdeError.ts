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
 * A failure of `Serde.parse` or `Serde.stringify`. For parse failures
 * `position` is the UTF-16 offset in the text where the problem was found;
 * for stringify failures it is -1.
 *
 * @since 0.1.0
 */
export class SerdeError extends Data.TaggedError("SerdeError")<{
  readonly reason: SerdeErrorReason
  readonly position: number
  readonly message: string
}> {}
