/**
 * The UTF-8 size of a string, without Node's Buffer where there is none
 * (the browser build).
 *
 * @since 0.1.0
 */

const countBytes = (text: string): number => {
  let size = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) size += 1
    else if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      // A surrogate pair: 4 bytes for 2 code units.
      if (next >= 0xdc00 && next < 0xe000) {
        size += 2
        i++
      } else size += 2
    } else size += 2 // lone surrogates are written as U+FFFD, 3 bytes
  }
  return size
}

/**
 * How many bytes `text` takes in UTF-8.
 *
 * @since 0.1.0
 */
export const byteLength: (text: string) => number = typeof Buffer === "undefined"
  ? countBytes
  : (text) => Buffer.byteLength(text, "utf8")

/** @internal exported for tests: the portable path. */
export const portableByteLength = countBytes
