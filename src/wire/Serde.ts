/**
 * The JSTP object-literal format (protocol.md §1): JSON plus unquoted and
 * single-quoted keys, single-quoted strings, holes, `undefined`, comments and
 * the number forms of JavaScript.
 *
 * `parse` takes JSON.parse's native fast path for JSON text and falls back to
 * the full grammar; `stringify` writes JSON wherever JSON can say the value.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { parseFull } from "./internal/parser.js"
import { stringifyValue } from "./internal/stringifier.js"
import { SerdeError } from "./SerdeError.js"

export { SerdeError, type SerdeErrorFields, type SerdeErrorReason } from "./SerdeError.js"

/**
 * The deepest nesting of arrays and objects that `parse` accepts and
 * `stringify` writes.
 *
 * @since 0.1.0
 */
export const MAX_DEPTH = 512

const DOUBLE_QUOTE = 34
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const OPEN_BRACKET = 91

// JSON.parse is worth trying only when the text can be JSON: a 2.x peer writes
// `{call:[...` with bare keys, which JSON.parse would reject at position 1.
const mayBeJson = (text: string): boolean => {
  const first = text.charCodeAt(0)
  if (first === OPEN_BRACE) {
    const second = text.charCodeAt(1)
    return second === DOUBLE_QUOTE || second === CLOSE_BRACE
  }
  return first === OPEN_BRACKET || first === DOUBLE_QUOTE
}

// JSON.parse has no depth limit of its own; this walk descends at most
// `limit` levels, so it cannot overflow the stack on what JSON.parse built.
const deeperThan = (value: unknown, limit: number): boolean => {
  if (typeof value !== "object" || value === null) return false
  if (limit === 0) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (deeperThan(value[i], limit - 1)) return true
    }
    return false
  }
  for (const key in value) {
    if (deeperThan((value as Record<string, unknown>)[key], limit - 1)) return true
  }
  return false
}

/**
 * Parses one value. Throws a `SerdeError` naming the position on text that is
 * not in the format or nests deeper than `MAX_DEPTH`. A `__proto__` key
 * becomes an own property; nothing reaches any prototype.
 *
 * @since 0.1.0
 */
export const parse = (text: string): unknown => {
  if (mayBeJson(text)) {
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      return parseFull(text, MAX_DEPTH)
    }
    // Reaching depth d takes at least 2d characters.
    if (text.length > 2 * MAX_DEPTH && deeperThan(value, MAX_DEPTH)) return parseFull(text, MAX_DEPTH)
    return value
  }
  return parseFull(text, MAX_DEPTH)
}

/**
 * `parse` with the failure as a value; an `Either` is also an Effect.
 *
 * @since 0.1.0
 */
export const parseEither = (text: string): Either.Either<unknown, SerdeError> => attempt(() => parse(text))

const attempt = <A>(run: () => A): Either.Either<A, SerdeError> => {
  try {
    return Either.right(run())
  } catch (error) {
    if (error instanceof SerdeError) return Either.left(error)
    throw error
  }
}

/**
 * Serializes a value so that the reference parser (and ours) reads back a
 * deep-equal value: `undefined` array elements become holes, `undefined`
 * members are omitted, `toJSON` is honoured, a Buffer becomes its base64
 * string, `NaN` and `±Infinity` become `null`, and no raw NUL is written.
 * `toJSON` is called once, as JSON.stringify calls it (not again on what it
 * returns). Throws a `SerdeError`, a `TypeError`, on a cycle, a bigint or
 * nesting deeper than `MAX_DEPTH`, with the path of the value from the root
 * (`value.user.id`, `value[3]`) in its `path` and its message; the path is
 * worked out only then. A top-level `undefined` (or function) is written as
 * `undefined`.
 *
 * (`Message.serialize` writes message payloads as 2.3.0 does, which loses a
 * trailing undefined array element.)
 *
 * @since 0.1.0
 */
export const stringify = (value: unknown): string => stringifyValue(value, MAX_DEPTH)

/**
 * `stringify` with the failure as a value.
 *
 * @since 0.1.0
 */
export const stringifyEither = (value: unknown): Either.Either<string, SerdeError> => attempt(() => stringify(value))
