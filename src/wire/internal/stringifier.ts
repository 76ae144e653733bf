// Writes values as JSON wherever JSON can say them, so a receiver can take
// JSON.parse's fast path; only what JSON cannot say uses the object-literal
// format: holes for undefined array elements, -0.
import { SerdeError } from "../SerdeError.js"

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

// JSON.stringify escapes quotes, backslashes, control characters (NUL too)
// and lone surrogates. Most short strings need none of it, and a regex test
// is cheaper than the call; a long string is scanned once, by JSON.stringify.
export const quote = (text: string): string =>
  text.length > 256 || NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : "\"" + text + "\""

const isBuffer = (value: object): value is Buffer =>
  typeof Buffer !== "undefined" && Buffer.isBuffer(value)

class Stringifier {
  // Containers on the path from the root, to tell a cycle from deep nesting.
  private readonly path: Array<object> = []

  constructor(readonly maxDepth: number) {}

  /** Ready for another value, also after a failure. */
  reset(): void {
    this.path.length = 0
  }

  // Returns undefined for values with no representation (undefined,
  // functions, symbols): the caller writes a hole or omits the member.
  write(value: unknown, key: string): string | undefined {
    switch (typeof value) {
      case "string":
        return quote(value)
      case "number":
        if (!Number.isFinite(value)) return "null"
        return value === 0 && 1 / value < 0 ? "-0" : "" + value
      case "boolean":
        return value ? "true" : "false"
      case "object":
        return value === null ? "null" : this.writeObject(value, key)
      case "bigint":
        throw new SerdeError({
          reason: "Unserializable",
          position: -1,
          message: `Cannot serialize a bigint (at key ${JSON.stringify(key)})`
        })
      default:
        return undefined
    }
  }

  private writeObject(value: object, key: string): string | undefined {
    if (isBuffer(value)) return "\"" + value.toString("base64") + "\""
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === "function") return this.write(toJSON.call(value, key), key)
    if (value instanceof Number || value instanceof String || value instanceof Boolean) {
      return this.write(value.valueOf(), key)
    }
    const depth = this.path.length
    if (depth >= this.maxDepth) {
      const circular = this.path.includes(value)
      throw new SerdeError({
        reason: circular ? "Circular" : "TooDeep",
        position: -1,
        message: circular ? "Cannot serialize a circular structure" : `Nesting deeper than ${this.maxDepth} levels`
      })
    }
    this.path.push(value)
    const text = Array.isArray(value) ? this.writeArray(value) : this.writeMembers(value as Record<string, unknown>)
    this.path.pop()
    return text
  }

  private writeArray(array: ReadonlyArray<unknown>): string {
    const length = array.length
    if (length === 0) return "[]"
    let text = "["
    let item: string | undefined
    for (let i = 0; i < length; i++) {
      if (i > 0) text += ","
      item = this.write(array[i], "" + i)
      if (item !== undefined) text += item
    }
    // A trailing hole needs its own comma: "[1,]" is [1], "[1,,]" is [1, undefined].
    return item === undefined ? text + ",]" : text + "]"
  }

  private writeMembers(object: Record<string, unknown>): string {
    let text = "{"
    let first = true
    for (const key of Object.keys(object)) {
      const member = this.write(object[key], key)
      if (member === undefined) continue
      text += (first ? "" : ",") + quote(key) + ":" + member
      first = false
    }
    return text + "}"
  }
}

/** Serializes `value`; throws a `SerdeError` for cycles, bigints and too deep nesting. */
export const stringifyValue = (value: unknown, maxDepth: number): string => {
  // One stringifier is reused; a nested call (from a toJSON) gets its own.
  const stringifier = idle?.maxDepth === maxDepth ? idle : new Stringifier(maxDepth)
  idle = undefined
  try {
    return stringifier.write(value, "") ?? "undefined"
  } finally {
    stringifier.reset()
    idle = stringifier
  }
}

let idle: Stringifier | undefined
