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

  constructor(
    readonly id: string = globalThis.crypto.randomUUID(),
    public username: string | null = null
  ) {
    super()
  }

  /** Keeps a sent request until the peer acknowledges it. */
  bufferMessage(id: number, text: string): void {
    this.buffer.set(Math.abs(id), text)
    this.latestBufferedMessageId = id
  }

  /** Notes a request received from the peer. */
  onMessageReceived(id: number): void {
    this.receivedCount = Math.abs(id)
  }

  /**
   * A callback or pong for `id` acknowledges every request up to |id| (the
   * transport keeps order). Never past the latest request sent, so a hostile
   * id cannot make this loop long.
   */
  onAcknowledged(id: number): void {
    const upTo = Math.min(Math.abs(id), Math.abs(this.latestBufferedMessageId))
    for (let i = this.guaranteedDeliveredCount + 1; i <= upTo; i++) this.buffer.delete(i)
    if (upTo > this.guaranteedDeliveredCount) this.guaranteedDeliveredCount = upTo
  }
}
