/**
 * Text frames of RFC 6455 (§5.2), a tick's worth encoded into one buffer:
 * final, uncompressed, masked when a client sends them (§5.3). A link writes
 * the buffer to the socket under its WebSocket in one write, where `ws`
 * would frame, mask and write each message on its own.
 *
 * @since 0.1.0
 */
import { randomFillSync } from "node:crypto"

const TEXT_FIN = 0x81
const MASKED = 0x80

// Masking keys come from a pool of random bytes, refilled when used up.
const POOL_SIZE = 8 * 1024
const pool = Buffer.alloc(POOL_SIZE)
let poolOffset = POOL_SIZE

const headerSize = (length: number, masked: boolean): number =>
  (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0)

// XORs the `length` bytes at `at` with the key in the 4 bytes before them.
const mask = (out: Buffer, at: number, length: number): void => {
  const k0 = out[at - 4]!, k1 = out[at - 3]!, k2 = out[at - 2]!, k3 = out[at - 1]!
  const end = at + length
  let i = at
  for (const whole = end - (length & 3); i < whole; i += 4) {
    out[i] = out[i]! ^ k0
    out[i + 1] = out[i + 1]! ^ k1
    out[i + 2] = out[i + 2]! ^ k2
    out[i + 3] = out[i + 3]! ^ k3
  }
  if (i < end) out[i] = out[i]! ^ k0
  if (i + 1 < end) out[i + 1] = out[i + 1]! ^ k1
  if (i + 2 < end) out[i + 2] = out[i + 2]! ^ k2
}

/**
 * Encodes `texts` (of UTF-8 sizes `lengths`) as consecutive text frames,
 * masked with fresh keys when `masked`.
 *
 * @since 0.1.0
 */
export const encode = (texts: ReadonlyArray<string>, lengths: ReadonlyArray<number>, masked: boolean): Buffer => {
  const count = texts.length
  let total = 0
  for (let i = 0; i < count; i++) total += headerSize(lengths[i]!, masked) + lengths[i]!
  const out = Buffer.allocUnsafe(total)
  const maskBit = masked ? MASKED : 0
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = lengths[i]!
    out[at++] = TEXT_FIN
    if (length < 126) {
      out[at++] = maskBit | length
    } else if (length < 65536) {
      out[at++] = maskBit | 126
      out.writeUInt16BE(length, at)
      at += 2
    } else {
      out[at++] = maskBit | 127
      out.writeUInt32BE(Math.floor(length / 0x100000000), at)
      out.writeUInt32BE(length >>> 0, at + 4)
      at += 8
    }
    if (!masked) {
      at += out.write(texts[i]!, at, length, "utf8")
      continue
    }
    if (poolOffset === POOL_SIZE) {
      randomFillSync(pool)
      poolOffset = 0
    }
    pool.copy(out, at, poolOffset, poolOffset + 4)
    poolOffset += 4
    at += 4
    out.write(texts[i]!, at, length, "utf8")
    mask(out, at, length)
    at += length
  }
  return out
}
