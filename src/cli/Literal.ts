/**
 * Values as jstp-cli shows them: in the object-literal format (protocol.md
 * §1), readable rather than compact — single-quoted strings, bare keys where
 * they are identifiers — optionally indented and coloured. What it prints
 * parses back (with `Serde.parse`) to an equal value.
 *
 * @since 0.1.0
 */

/**
 * How to show values: `indent` (spaces, or the string itself) spreads arrays
 * and objects over lines; `color` adds ANSI colours for a terminal.
 *
 * @since 0.1.0
 */
export interface Style {
  readonly indent?: string | undefined
  readonly color?: boolean | undefined
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\\\",
  "'": "\\'",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\b": "\\b",
  "\f": "\\f",
  "\v": "\\v"
}

// Control characters, quotes, backslashes and lone surrogates are escaped;
// everything else (unicode included) is shown as it is.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\\'\u0000-\u001f\u007f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

const unicodeEscape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * A string as a single-quoted literal.
 *
 * @since 0.1.0
 */
export const quote = (text: string): string => `'${text.replace(NEEDS_ESCAPE, (char) => ESCAPES[char] ?? unicodeEscape(char))}'`

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g

/**
 * Text from a peer as it may be shown on a terminal: control characters
 * escaped (`\u001b`), so it cannot move the cursor or clear the screen.
 *
 * @since 0.1.0
 */
export const printable = (text: string): string => text.replace(CONTROL, unicodeEscape)

const paint = (style: Style, code: number, text: string) => style.color === true ? `\x1b[${code}m${text}\x1b[39m` : text

const GREEN = 32
const YELLOW = 33
const GREY = 90

const key = (name: string) => IDENTIFIER.test(name) ? name : quote(name)

const number = (value: number) => Object.is(value, -0) ? "-0" : String(value)

const show = (value: unknown, style: Style, depth: number, seen: Set<object>): string => {
  switch (typeof value) {
    case "string":
      return paint(style, GREEN, quote(value))
    case "number":
      return paint(style, YELLOW, number(value))
    case "bigint":
      return paint(style, YELLOW, `${value}n`)
    case "boolean":
      return paint(style, YELLOW, String(value))
    case "undefined":
    case "function":
    case "symbol":
      return paint(style, GREY, "undefined")
  }
  if (value === null) return paint(style, GREY, "null")
  const object = value as object
  if (seen.has(object)) return paint(style, GREY, "[Circular]")
  seen.add(object)
  try {
    const items: Array<string> = []
    if (Array.isArray(object)) {
      // A hole stays a hole: `[1, , 3]`.
      for (let i = 0; i < object.length; i++) items.push(i in object ? show(object[i], style, depth + 1, seen) : "")
      // A trailing hole needs a comma of its own: `[1, , ]` has two elements.
      if (object.length > 0 && !(object.length - 1 in object)) items.push("")
      return enclose("[", "]", items, style, depth, false)
    }
    for (const [name, member] of Object.entries(object)) {
      if (member === undefined || typeof member === "function" || typeof member === "symbol") continue
      items.push(`${key(name)}: ${show(member, style, depth + 1, seen)}`)
    }
    return enclose("{", "}", items, style, depth, true)
  } finally {
    seen.delete(object)
  }
}

const enclose = (
  open: string,
  close: string,
  items: ReadonlyArray<string>,
  style: Style,
  depth: number,
  padded: boolean
): string => {
  if (items.length === 0) return open + close
  if (style.indent === undefined || style.indent === "") {
    return padded ? `${open} ${items.join(", ")} ${close}` : `${open}${items.join(", ")}${close}`
  }
  const inner = style.indent.repeat(depth + 1)
  return `${open}\n${items.map((item) => inner + item).join(",\n")}\n${style.indent.repeat(depth)}${close}`
}

/**
 * `value` in the object-literal format.
 *
 * @since 0.1.0
 */
export const format = (value: unknown, style: Style = {}): string => show(value, style, 0, new Set())
