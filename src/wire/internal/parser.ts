// The full grammar of the JSTP object-literal format (protocol.md §1): a
// recursive-descent parser over char codes. Serde.parse tries JSON.parse first
// and comes here for anything JSON refuses, so every error is reported from here.
import { SerdeError, type SerdeErrorReason } from "../SerdeError.js"

const enum Ch {
  Tab = 9,
  LineFeed = 10,
  CarriageReturn = 13,
  Space = 32,
  DoubleQuote = 34,
  Dollar = 36,
  SingleQuote = 39,
  Star = 42,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Slash = 47,
  Digit0 = 48,
  Digit7 = 55,
  Digit9 = 57,
  Colon = 58,
  UpperA = 65,
  UpperB = 66,
  UpperE = 69,
  UpperF = 70,
  UpperI = 73,
  UpperN = 78,
  UpperO = 79,
  UpperX = 88,
  UpperZ = 90,
  OpenBracket = 91,
  Backslash = 92,
  CloseBracket = 93,
  Underscore = 95,
  LowerA = 97,
  LowerB = 98,
  LowerE = 101,
  LowerF = 102,
  LowerN = 110,
  LowerO = 111,
  LowerR = 114,
  LowerT = 116,
  LowerU = 117,
  LowerV = 118,
  LowerX = 120,
  LowerZ = 122,
  OpenBrace = 123,
  CloseBrace = 125,
  LineSeparator = 0x2028,
  ParagraphSeparator = 0x2029
}

const isDecimalDigit = (c: number): boolean => c >= Ch.Digit0 && c <= Ch.Digit9

const isLetter = (c: number): boolean => (c >= Ch.LowerA && c <= Ch.LowerZ) || (c >= Ch.UpperA && c <= Ch.UpperZ)

const isIdentifierStart = (c: number): boolean => isLetter(c) || c === Ch.Underscore || c === Ch.Dollar

const isIdentifierPart = (c: number): boolean => isIdentifierStart(c) || isDecimalDigit(c)

const hexValue = (c: number): number => {
  if (c >= Ch.Digit0 && c <= Ch.Digit9) return c - Ch.Digit0
  if (c >= Ch.LowerA && c <= Ch.LowerF) return c - Ch.LowerA + 10
  if (c >= Ch.UpperA && c <= Ch.UpperF) return c - Ch.UpperA + 10
  return -1
}

// ECMAScript WhiteSpace and LineTerminator code points.
const isWhitespace = (c: number): boolean =>
  c === Ch.Space ||
  (c >= Ch.Tab && c <= Ch.CarriageReturn) ||
  (c >= 0xa0 &&
    (c === 0xa0 ||
      c === 0x1680 ||
      (c >= 0x2000 && c <= 0x200a) ||
      c === Ch.LineSeparator ||
      c === Ch.ParagraphSeparator ||
      c === 0x202f ||
      c === 0x205f ||
      c === 0x3000 ||
      c === 0xfeff))

const isLineTerminator = (c: number): boolean =>
  c === Ch.LineFeed || c === Ch.CarriageReturn || c === Ch.LineSeparator || c === Ch.ParagraphSeparator

const SIMPLE_ESCAPES: Record<number, string> = {
  [Ch.LowerN]: "\n",
  [Ch.LowerR]: "\r",
  [Ch.LowerT]: "\t",
  [Ch.LowerB]: "\b",
  [Ch.LowerF]: "\f",
  [Ch.LowerV]: "\v",
  [Ch.SingleQuote]: "'",
  [Ch.DoubleQuote]: "\"",
  [Ch.Backslash]: "\\",
  [Ch.Slash]: "/"
}

class Parser {
  pos = 0
  depth = 0
  // Cached positions of the next backslash / LF / CR at or after some point,
  // so that long strings are sliced with indexOf instead of walked char by
  // char, without rescanning the text for every string (text.length = none).
  private nextBackslash = -1
  private nextLineFeed = -1
  private nextCarriageReturn = -1

  constructor(readonly text: string, readonly maxDepth: number) {}

  fail(reason: SerdeErrorReason, position: number, what?: string): never {
    const found = position < this.text.length
      ? `${JSON.stringify(this.text[position])}`
      : "end of input"
    const message = what === undefined ? `Unexpected ${found}` : `${what}, found ${found}`
    throw new SerdeError({
      reason: position >= this.text.length && reason === "UnexpectedCharacter" ? "UnexpectedEnd" : reason,
      position,
      message: `${message} at position ${position}`
    })
  }

  parseDocument(): unknown {
    const value = this.parseValue()
    this.skipClutter()
    if (this.pos < this.text.length) this.fail("UnexpectedCharacter", this.pos, "Expected end of input")
    return value
  }

  skipClutter(): void {
    const text = this.text
    const first = text.charCodeAt(this.pos)
    // Most tokens follow each other directly: nothing to skip.
    if (first > Ch.Space && first !== Ch.Slash && first < 0xa0) return
    for (;;) {
      const c = text.charCodeAt(this.pos)
      if (isWhitespace(c)) {
        this.pos++
      } else if (c === Ch.Slash) {
        const next = text.charCodeAt(this.pos + 1)
        if (next === Ch.Slash) {
          let i = this.pos + 2
          while (i < text.length && !isLineTerminator(text.charCodeAt(i))) i++
          this.pos = i
        } else if (next === Ch.Star) {
          const end = text.indexOf("*/", this.pos + 2)
          if (end === -1) this.fail("UnterminatedComment", this.pos, "Unterminated comment")
          this.pos = end + 2
        } else {
          return
        }
      } else {
        return
      }
    }
  }

  parseValue(): unknown {
    this.skipClutter()
    const c = this.text.charCodeAt(this.pos)
    switch (c) {
      case Ch.OpenBrace:
        return this.parseObject()
      case Ch.OpenBracket:
        return this.parseArray()
      case Ch.DoubleQuote:
      case Ch.SingleQuote:
        return this.parseString(c)
      default:
        if (isDecimalDigit(c) || c === Ch.Minus || c === Ch.Plus || c === Ch.Dot) return this.parseNumber()
        if (isLetter(c)) return this.parseKeyword()
        return this.fail("UnexpectedCharacter", this.pos, "Expected a value")
    }
  }

  parseKeyword(): unknown {
    const start = this.pos
    let end = start
    while (isLetter(this.text.charCodeAt(end))) end++
    switch (this.text.slice(start, end)) {
      case "true":
        this.pos = end
        return true
      case "false":
        this.pos = end
        return false
      case "null":
        this.pos = end
        return null
      case "undefined":
        this.pos = end
        return undefined
      case "NaN":
        this.pos = end
        return NaN
      case "Infinity":
        this.pos = end
        return Infinity
      default:
        return this.fail("UnexpectedCharacter", start, "Expected a value")
    }
  }

  parseNumber(): number {
    const text = this.text
    const start = this.pos
    let c = text.charCodeAt(this.pos)
    let negative = false
    if (c === Ch.Minus || c === Ch.Plus) {
      negative = c === Ch.Minus
      c = text.charCodeAt(++this.pos)
    }
    if (c === Ch.UpperI || c === Ch.UpperN) {
      const value = this.parseKeyword()
      if (typeof value !== "number") this.fail("InvalidNumber", start, "Invalid number")
      return negative ? -value : value
    }
    if (c === Ch.Digit0) {
      const prefix = text.charCodeAt(this.pos + 1) | 0x20
      const radix = prefix === Ch.LowerX ? 16 : prefix === Ch.LowerO ? 8 : prefix === Ch.LowerB ? 2 : 0
      if (radix !== 0) return this.parseRadixInteger(start, radix, negative)
      if (isDecimalDigit(text.charCodeAt(this.pos + 1))) {
        this.fail("InvalidNumber", start, "Legacy octal literals are not allowed")
      }
    }
    // Integers of up to 15 digits are summed as they are read; anything
    // longer or with a fraction or exponent goes through Number().
    let digits = 0
    let integer = 0
    c = text.charCodeAt(this.pos)
    while (isDecimalDigit(c)) {
      integer = integer * 10 + (c - Ch.Digit0)
      digits++
      c = text.charCodeAt(++this.pos)
    }
    if (digits > 0 && digits <= 15 && c !== Ch.Dot && c !== Ch.LowerE && c !== Ch.UpperE) {
      return negative ? -integer : integer
    }
    if (text.charCodeAt(this.pos) === Ch.Dot) {
      this.pos++
      while (isDecimalDigit(text.charCodeAt(this.pos))) {
        this.pos++
        digits++
      }
    }
    if (digits === 0) this.fail("InvalidNumber", this.pos, "Expected a digit")
    c = text.charCodeAt(this.pos)
    if (c === Ch.LowerE || c === Ch.UpperE) {
      c = text.charCodeAt(++this.pos)
      if (c === Ch.Plus || c === Ch.Minus) this.pos++
      if (!isDecimalDigit(text.charCodeAt(this.pos))) this.fail("InvalidNumber", this.pos, "Expected an exponent")
      while (isDecimalDigit(text.charCodeAt(this.pos))) this.pos++
    }
    return Number(text.slice(start, this.pos))
  }

  parseRadixInteger(start: number, radix: number, negative: boolean): number {
    const text = this.text
    this.pos += 2 // "0x", "0o" or "0b"
    const digitsStart = this.pos
    for (;;) {
      const digit = hexValue(text.charCodeAt(this.pos))
      if (digit === -1 || digit >= radix) break
      this.pos++
    }
    if (this.pos === digitsStart || isIdentifierPart(text.charCodeAt(this.pos))) {
      this.fail("InvalidNumber", this.pos, "Invalid digit in number")
    }
    // Number() understands the 0x/0o/0b prefixes but not a sign before them.
    const magnitude = Number(text.slice(digitsStart - 2, this.pos))
    if (Number.isNaN(magnitude)) this.fail("InvalidNumber", start, "Invalid number")
    return negative ? -magnitude : magnitude
  }

  private backslashFrom(from: number): number {
    if (this.nextBackslash < from) {
      const found = this.text.indexOf("\\", from)
      this.nextBackslash = found === -1 ? this.text.length : found
    }
    return this.nextBackslash
  }

  private lineBreakFrom(from: number): number {
    if (this.nextLineFeed < from) {
      const found = this.text.indexOf("\n", from)
      this.nextLineFeed = found === -1 ? this.text.length : found
    }
    if (this.nextCarriageReturn < from) {
      const found = this.text.indexOf("\r", from)
      this.nextCarriageReturn = found === -1 ? this.text.length : found
    }
    return Math.min(this.nextLineFeed, this.nextCarriageReturn)
  }

  parseString(quote: number): string {
    const text = this.text
    const open = this.pos
    const quoteChar = quote === Ch.DoubleQuote ? "\"" : "'"
    let start = open + 1
    let result = ""
    let close = -1
    for (;;) {
      // Found again only when an escaped quote was consumed, so a string full
      // of escapes is not rescanned up to its closing quote at every escape.
      if (close < start) close = text.indexOf(quoteChar, start)
      if (close === -1) this.fail("UnterminatedString", open, "Unterminated string")
      const backslash = this.backslashFrom(start)
      const stop = backslash < close ? backslash : close
      const lineBreak = this.lineBreakFrom(start)
      if (lineBreak < stop) this.fail("UnexpectedCharacter", lineBreak, "Unescaped line break in string")
      if (stop === close) {
        this.pos = close + 1
        return result + text.slice(start, close)
      }
      result += text.slice(start, backslash) + this.parseEscape(backslash)
      start = this.pos
    }
  }

  // Decodes the escape sequence at `backslash` and leaves `pos` after it.
  private parseEscape(backslash: number): string {
    const text = this.text
    const c = text.charCodeAt(backslash + 1)
    const simple = SIMPLE_ESCAPES[c]
    if (simple !== undefined) {
      this.pos = backslash + 2
      return simple
    }
    if (c === Ch.Digit0) {
      if (isDecimalDigit(text.charCodeAt(backslash + 2))) {
        this.fail("InvalidEscape", backslash, "Legacy octal escapes are not allowed")
      }
      this.pos = backslash + 2
      return "\0"
    }
    if (c === Ch.LowerX) {
      const code = this.readHex(backslash + 2, 2)
      this.pos = backslash + 4
      return String.fromCharCode(code)
    }
    if (c === Ch.LowerU) {
      if (text.charCodeAt(backslash + 2) === Ch.OpenBrace) {
        const close = text.indexOf("}", backslash + 3)
        const length = close - (backslash + 3)
        if (close === -1 || length < 1 || length > 8) this.fail("InvalidEscape", backslash, "Invalid code point escape")
        const code = this.readHex(backslash + 3, length)
        if (code > 0x10ffff) this.fail("InvalidEscape", backslash, "Code point out of range")
        this.pos = close + 1
        return String.fromCodePoint(code)
      }
      this.pos = backslash + 6
      return String.fromCharCode(this.readHex(backslash + 2, 4))
    }
    return this.fail("InvalidEscape", backslash, "Invalid escape sequence")
  }

  private readHex(from: number, count: number): number {
    let code = 0
    for (let i = from; i < from + count; i++) {
      const digit = hexValue(this.text.charCodeAt(i))
      if (digit === -1) this.fail("InvalidEscape", i, "Expected a hexadecimal digit")
      code = code * 16 + digit
    }
    return code
  }

  enter(): void {
    if (++this.depth > this.maxDepth) {
      this.fail("TooDeep", this.pos, `Nesting deeper than ${this.maxDepth} levels`)
    }
    this.pos++
  }

  parseArray(): Array<unknown> {
    this.enter()
    const text = this.text
    const array: Array<unknown> = []
    for (;;) {
      this.skipClutter()
      let c = text.charCodeAt(this.pos)
      if (c === Ch.CloseBracket) break
      if (c === Ch.Comma) {
        array.push(undefined) // a hole
        this.pos++
        continue
      }
      array.push(this.parseValue())
      this.skipClutter()
      c = text.charCodeAt(this.pos)
      if (c === Ch.Comma) this.pos++
      else if (c !== Ch.CloseBracket) this.fail("UnexpectedCharacter", this.pos, "Expected ',' or ']'")
    }
    this.pos++
    this.depth--
    return array
  }

  parseKey(): string {
    const text = this.text
    const c = text.charCodeAt(this.pos)
    if (c === Ch.DoubleQuote || c === Ch.SingleQuote) return this.parseString(c)
    if (!isIdentifierStart(c)) this.fail("UnexpectedCharacter", this.pos, "Expected a key")
    const start = this.pos
    while (isIdentifierPart(text.charCodeAt(++this.pos))) {
      // consume the identifier
    }
    return text.slice(start, this.pos)
  }

  parseObject(): Record<string, unknown> {
    this.enter()
    const text = this.text
    const object: Record<string, unknown> = {}
    for (;;) {
      this.skipClutter()
      if (text.charCodeAt(this.pos) === Ch.CloseBrace) break
      const key = this.parseKey()
      this.skipClutter()
      if (text.charCodeAt(this.pos) !== Ch.Colon) this.fail("UnexpectedCharacter", this.pos, "Expected ':'")
      this.pos++
      const value = this.parseValue()
      if (value !== undefined) {
        if (key === "__proto__") {
          // An own data property, never the prototype (as JSON.parse does it).
          Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true })
        } else {
          object[key] = value
        }
      }
      this.skipClutter()
      const c = text.charCodeAt(this.pos)
      if (c === Ch.Comma) this.pos++
      else if (c !== Ch.CloseBrace) this.fail("UnexpectedCharacter", this.pos, "Expected ',' or '}'")
    }
    this.pos++
    this.depth--
    return object
  }
}

/** Parses `text` with the full grammar; throws a `SerdeError` on bad input. */
export const parseFull = (text: string, maxDepth: number): unknown => new Parser(text, maxDepth).parseDocument()
