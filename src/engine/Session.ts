/**
 * The state a JSTP session keeps on each side (protocol.md §8): what it sent
 * and the peer has not acknowledged yet, and how far it has received.
 *
 * @since 0.1.0
 */
/**
 * A session: an id, the user it was opened for, a buffer of the requests it
 * sent (serialized, keyed by |id|) and the counters of §8. It is also a Map
 * for application state.
 *
 * @since 0.1.0
 */
export class Session extends Map<string, unknown> {
  /** Requests sent and not yet acknowledged, by |id|, as serialized text. */
  readonly buffer = new Map<number, string>()
  /** The highest |id| the peer has acknowledged. */
  guaranteedDeliveredCount = 0
  /** The |id| of the latest request received from the peer. */
  receivedCount = 0
  /** The id (with its sign) of the latest request sent. */
  latestBufferedMessageId = 0
  /**
   * The size of the requests kept, in UTF-16 code units of their text:
   * their bytes, for ASCII text (V8 keeps such strings one byte a character).
   */
  bufferedBytes = 0
  /** The server ended the session (its peer did not keep up): it is never restored. */
  ended = false
  /**
   * Told of each change of the counters or the buffer: set while a
   * crash-safe server journals the session (`SessionJournal`), unset otherwise.
   */
  onChange: (() => void) | undefined = undefined

  constructor(
    readonly id: string = globalThis.crypto.randomUUID(),
    public username: string | null = null
  ) {
    super()
  }

  /**
   * The session as JSON text, without its connection: the counters, the
   * buffer and the application state (which must be JSON-serializable). The
   * layout is the one 2.x writes.
   */
  override toString(): string {
    return JSON.stringify({
      id: this.id,
      username: this.username,
      guaranteedDeliveredCount: this.guaranteedDeliveredCount,
      buffer: [...this.buffer],
      receivedCount: this.receivedCount,
      latestBufferedMessageId: this.latestBufferedMessageId,
      storage: [...this]
    })
  }

  /** Reads back what `toString` wrote; throws a `SessionFormatError` on anything else. */
  static fromString(text: string): Session {
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (cause) {
      throw new SessionFormatError("NotJson", `Not a session: ${(cause as Error).message}`)
    }
    const record = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>
    const { buffer, guaranteedDeliveredCount, id, latestBufferedMessageId, receivedCount, storage, username } = record
    if (
      typeof id !== "string" ||
      (username !== null && typeof username !== "string") ||
      !isCount(guaranteedDeliveredCount) ||
      !isCount(receivedCount) ||
      !Number.isSafeInteger(latestBufferedMessageId) ||
      !isEntries(buffer, (key, value) => isCount(key) && typeof value === "string") ||
      !isEntries(storage, (key) => typeof key === "string")
    ) {
      throw new SessionFormatError("MalformedFields", "Not a session: missing or malformed fields")
    }
    const session = new Session(id, username)
    session.guaranteedDeliveredCount = guaranteedDeliveredCount
    session.receivedCount = receivedCount
    session.latestBufferedMessageId = latestBufferedMessageId as number
    for (const [key, value] of buffer as Array<[number, string]>) {
      session.buffer.set(key, value)
      session.bufferedBytes += value.length
    }
    for (const [key, value] of storage as Array<[string, unknown]>) session.set(key, value)
    return session
  }

  /**
   * Whether sent requests are kept for a resend. A client that will never
   * restore its session (one without reconnection) only counts them: the
   * bound on unacknowledged requests holds, and nothing is kept alive.
   */
  keepsMessages = true

  /** Keeps a sent request until the peer acknowledges it (or only counts it). */
  bufferMessage(id: number, text: string): void {
    if (this.keepsMessages) {
      this.buffer.set(Math.abs(id), flatten(text))
      this.bufferedBytes += text.length
    }
    this.latestBufferedMessageId = id
    this.onChange?.()
  }

  /** How many sent requests the peer has not acknowledged. */
  get unacknowledged(): number {
    return this.keepsMessages ? this.buffer.size : Math.abs(this.latestBufferedMessageId) - this.guaranteedDeliveredCount
  }

  /** Notes a request received from the peer. */
  onMessageReceived(id: number): void {
    this.receivedCount = Math.abs(id)
    this.onChange?.()
  }

  /**
   * A callback or pong for `id` acknowledges every request up to |id| (the
   * transport keeps order). Never past the latest request sent, so a hostile
   * id cannot make this loop long.
   */
  onAcknowledged(id: number): void {
    const upTo = Math.min(Math.abs(id), Math.abs(this.latestBufferedMessageId))
    const buffer = this.buffer
    for (let i = this.guaranteedDeliveredCount + 1; i <= upTo; i++) {
      const text = buffer.get(i)
      if (text === undefined) continue
      this.bufferedBytes -= text.length
      buffer.delete(i)
    }
    if (upTo <= this.guaranteedDeliveredCount) return
    this.guaranteedDeliveredCount = upTo
    this.onChange?.()
  }
}

/**
 * `Session.fromString` was given text that is not a session: not JSON
 * (`NotJson`), or JSON without a session's fields (`MalformedFields`).
 * Thrown, as `JSON.parse` throws; `_tag` and `reason` as Effect's errors have.
 *
 * @since 0.1.0
 */
export class SessionFormatError extends TypeError {
  override readonly name = "SessionFormatError"
  readonly _tag = "SessionFormatError"

  constructor(readonly reason: "NotJson" | "MalformedFields", message: string) {
    super(message)
  }
}

// A serialized message is a concatenation, which the engine holds as a rope
// of the pieces it was built from. Kept in the buffer until acknowledged, a
// rope keeps all its pieces alive (about 510 bytes for a 140-character call,
// against 170 flat), and under sustained load the garbage collector promotes
// them: a pipelined client spent 37% of its time in scavenges, 15% once the
// buffer kept flat strings. Running a regular expression over a string makes
// the engine flatten it in place; a message never holds a NUL, so the scan
// finds nothing.
const NUL = /\0/
const flatten = (text: string): string => {
  NUL.test(text)
  return text
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

const isEntries = (value: unknown, valid: (key: unknown, value: unknown) => boolean): boolean =>
  Array.isArray(value) && value.every((entry) => Array.isArray(entry) && entry.length === 2 && valid(entry[0], entry[1]))
