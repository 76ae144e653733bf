// Writes values as JSON wherever JSON can say them, so a receiver can take
// JSON.parse's fast path; only what JSON cannot say uses the object-literal
// format: holes for undefined array elements, -0.
import { SerdeError, type SerdeErrorReason } from "../SerdeError.js"

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

// JSON.stringify escapes quotes, backslashes, control characters (NUL too)
// and lone surrogates. Most short strings need none of it, and a regex test
// is cheaper than the call; a long string is scanned once, by JSON.stringify.
export const quote = (text: string): string =>
  text.length > 256 || NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : "\"" + text + "\""

const isBuffer = (value: object): value is Buffer =>
  typeof Buffer !== "undefined" && Buffer.isBuffer(value)

/**
 * How arrays end when their last element has no representation (undefined,
 * a function, a symbol):
 * - `"roundTrip"`: with a hole of its own, `[1,,]`, which reads back as
 *   `[1, undefined]`;
 * - `"mdsf"`: as 2.3.0's serializer writes it, `[1,]`, which every parser
 *   of the format reads back as `[1]`: the last element is lost. A 2.x peer
 *   sees arguments written so exactly as 2.x writes them.
 */
export type ArrayLayout = "roundTrip" | "mdsf"

// Thrown where a value cannot be written, caught by stringifyValue, which
// turns it into a SerdeError naming the value's path: the path is built only
// then, from the stacks the failed write left as they were.
class Refusal {
  constructor(readonly reason: SerdeErrorReason, readonly key: string, readonly value: unknown) {}
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/

class Stringifier {
  // Containers on the path from the root, to tell a cycle from deep nesting,
  // and the key of each in its parent.
  private readonly path: Array<object> = []
  private readonly keys: Array<string> = []
  layout: ArrayLayout = "roundTrip"
  // Set when a toJSON gave undefined: 2.3.0 writes `undefined` in an array then.
  private toJsonUndefined = false

  constructor(readonly maxDepth: number) {}

  /** Ready for another value, also after a failure. */
  reset(): void {
    this.path.length = 0
    this.keys.length = 0
    this.toJsonUndefined = false
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
        throw new Refusal("Unserializable", key, value)
      default:
        return undefined
    }
  }

  private writeObject(object: object, key: string): string | undefined {
    let value = object
    if (isBuffer(value)) return "\"" + value.toString("base64") + "\""
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === "function") {
      // Called once, as JSON.stringify and 2.3.0 do: the toJSON of what it
      // returns is not.
      const replaced: unknown = toJSON.call(value, key)
      if (typeof replaced !== "object" || replaced === null) {
        if (replaced === undefined) this.toJsonUndefined = true
        return this.write(replaced, key)
      }
      value = replaced
      if (isBuffer(value)) return "\"" + value.toString("base64") + "\""
    }
    if (value instanceof Number || value instanceof String || value instanceof Boolean) {
      return this.write(value.valueOf(), key)
    }
    const depth = this.path.length
    if (depth >= this.maxDepth) {
      throw new Refusal(this.path.includes(value) ? "Circular" : "TooDeep", key, value)
    }
    this.path.push(value)
    this.keys.push(key)
    const text = Array.isArray(value) ? this.writeArray(value) : this.writeMembers(value as Record<string, unknown>)
    this.path.pop()
    this.keys.pop()
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
      if (item === undefined && this.toJsonUndefined) item = this.undefinedElement()
      if (item !== undefined) text += item
    }
    // A trailing hole needs its own comma: "[1,]" is [1], "[1,,]" is [1, undefined].
    return item === undefined && this.layout === "roundTrip" ? text + ",]" : text + "]"
  }

  // 2.3.0 writes `undefined` for an element whose toJSON gave undefined (a
  // hole only for an element that is undefined): at the end, the element stays.
  private undefinedElement(): string | undefined {
    this.toJsonUndefined = false
    return this.layout === "mdsf" ? "undefined" : undefined
  }

  private writeMembers(object: Record<string, unknown>): string {
    let text = "{"
    let first = true
    for (const key of Object.keys(object)) {
      const member = this.write(object[key], key)
      if (member === undefined) {
        this.toJsonUndefined = false
        continue
      }
      text += (first ? "" : ",") + quote(key) + ":" + member
      first = false
    }
    return text + "}"
  }

  /** The SerdeError for a refusal, while the stacks still hold where it happened. */
  failure(refusal: Refusal, root: string): SerdeError {
    const containers = this.path
    // The path of the container at `depth` (0 is the root), or of the
    // refused value itself when depth is the stack's length.
    const pathTo = (depth: number): string => {
      let text = root
      for (let i = 1; i <= depth; i++) {
        const key = i < containers.length ? this.keys[i]! : refusal.key
        text += Array.isArray(containers[i - 1]) ? "[" + key + "]" : IDENTIFIER.test(key) ? "." + key : "[" + JSON.stringify(key) + "]"
      }
      return text
    }
    const depth = containers.length
    switch (refusal.reason) {
      case "Unserializable": {
        const path = pathTo(depth)
        return new SerdeError({ reason: "Unserializable", position: -1, path, message: `Cannot serialize a bigint at ${path}` })
      }
      case "Circular": {
        // The first container that is also one of its ancestors closes the circle.
        const seen = new Map<object, number>()
        let at = depth
        let ancestor = containers.indexOf(refusal.value as object)
        for (let i = 0; i < depth; i++) {
          const earlier = seen.get(containers[i]!)
          if (earlier !== undefined) {
            at = i
            ancestor = earlier
            break
          }
          seen.set(containers[i]!, i)
        }
        const path = pathTo(at)
        return new SerdeError({
          reason: "Circular",
          position: -1,
          path,
          message: `Cannot serialize a circular structure: ${path} is ${pathTo(ancestor)}`
        })
      }
      default: {
        const path = pathTo(depth)
        return new SerdeError({
          reason: "TooDeep",
          position: -1,
          path,
          message: `Nesting deeper than ${this.maxDepth} levels at ${pathTo(Math.min(depth, 1))}`
        })
      }
    }
  }
}

/**
 * Serializes `value`; throws a `SerdeError` for cycles, bigints and too deep
 * nesting, naming the path of the value from `root` (`args[1].user.id`).
 */
export const stringifyValue = (value: unknown, maxDepth: number, layout: ArrayLayout = "roundTrip", root = "value"): string => {
  // One stringifier is reused; a nested call (from a toJSON) gets its own.
  const stringifier = idle?.maxDepth === maxDepth ? idle : new Stringifier(maxDepth)
  idle = undefined
  stringifier.layout = layout
  try {
    return stringifier.write(value, "") ?? "undefined"
  } catch (error) {
    if (error instanceof Refusal) throw stringifier.failure(error, root)
    throw error
  } finally {
    stringifier.reset()
    idle = stringifier
  }
}

let idle: Stringifier | undefined
