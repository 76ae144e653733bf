/**
 * NUL-terminated framing for byte-stream transports (protocol.md §2): every
 * message is followed by one `\0` byte. UTF-8 never uses a zero byte inside a
 * multi-byte character, so frames are split on bytes and decoded whole: a
 * character cut across chunks is put back together before decoding.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The largest message a peer may send: 8 MiB.
 *
 * @since 0.1.0
 */
export const MAX_MESSAGE_SIZE = 8 * 1024 * 1024

/**
 * The terminator written after every message.
 *
 * @since 0.1.0
 */
export const TERMINATOR = "\0"

/**
 * A peer sent more than `maxMessageSize` bytes without a terminator, or a
 * longer frame. The connection should be failed.
 *
 * @since 0.1.0
 */
export class FramingError extends Data.TaggedError("FramingError")<{
  readonly reason: "MessageTooLarge"
  readonly size: number
  readonly limit: number
  readonly message: string
}> {}

/**
 * Splits a byte stream into frames, one `push` per received chunk.
 *
 * @since 0.1.0
 */
export interface Decoder {
  /**
   * Calls `onFrame` with the text of every frame completed by `chunk`, in
   * order. Throws a `FramingError` once the unterminated remainder (or a
   * frame) exceeds the limit; the frames before it are delivered first.
   */
  readonly push: (chunk: Uint8Array, onFrame: (text: string) => void) => void
  /** The number of bytes received but not yet terminated. */
  readonly pending: () => number
}

const NUL = 0

const tooLarge = (size: number, limit: number): FramingError =>
  new FramingError({
    reason: "MessageTooLarge",
    size,
    limit,
    message: `Message of ${size} bytes or more exceeds the limit of ${limit} bytes`
  })

// TextDecoder is several times faster than Buffer#toString on large input;
// on small frames toString's lower call cost wins.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true }) // keep a BOM, as toString does
const LARGE_FRAME = 4096

const decode = (bytes: Buffer, start: number, end: number): string =>
  end - start >= LARGE_FRAME ? utf8.decode(bytes.subarray(start, end)) : bytes.toString("utf8", start, end)

// A class rather than closures: one decoder lives per connection.
class FrameDecoder implements Decoder {
  private tail: Array<Buffer> = []
  private tailSize = 0

  constructor(private readonly limit: number) {}

  push(chunk: Uint8Array, onFrame: (text: string) => void): void {
    const limit = this.limit
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    let start = 0
    let end = bytes.indexOf(NUL)
    if (end !== -1 && this.tailSize > 0) {
      const size = this.tailSize + end
      if (size > limit) throw tooLarge(size, limit)
      this.tail.push(bytes.subarray(0, end))
      const frame = Buffer.concat(this.tail, size)
      this.tail = []
      this.tailSize = 0
      onFrame(decode(frame, 0, frame.length))
      start = end + 1
      end = bytes.indexOf(NUL, start)
    }
    while (end !== -1) {
      if (end - start > limit) throw tooLarge(end - start, limit)
      onFrame(decode(bytes, start, end))
      start = end + 1
      end = bytes.indexOf(NUL, start)
    }
    if (start < bytes.length) {
      const rest = bytes.length - start
      if (this.tailSize + rest > limit) throw tooLarge(this.tailSize + rest, limit)
      // Copied: the transport may reuse the chunk's memory after this returns.
      this.tail.push(Buffer.from(bytes.subarray(start)))
      this.tailSize += rest
    }
  }

  pending(): number {
    return this.tailSize
  }
}

/**
 * A frame decoder holding the unterminated tail between chunks.
 *
 * @since 0.1.0
 */
export const makeDecoder = (options?: { readonly maxMessageSize?: number | undefined }): Decoder =>
  new FrameDecoder(options?.maxMessageSize ?? MAX_MESSAGE_SIZE)

/**
 * The bytes to write for one message: its UTF-8 text and the terminator.
 *
 * @since 0.1.0
 */
export const encode = (text: string): Buffer => Buffer.from(text + TERMINATOR, "utf8")
