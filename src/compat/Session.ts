/**
 * The documented `Session` of 2.x: the engine's session (a Map for
 * application state, with its buffer and counters) plus its connection.
 *
 * @since 0.1.0
 */
import { Session as EngineSession } from "../engine/Session.js"

/**
 * @since 0.1.0
 */
export class Session extends EngineSession {
  /** The connection the session is on now. */
  connection: unknown

  constructor(connection?: unknown, username?: string | null, sessionId?: string | null, state?: Iterable<readonly [string, unknown]>) {
    super(sessionId ?? undefined, username ?? null)
    this.connection = connection ?? null
    if (state !== undefined) for (const [key, value] of state) this.set(key, value)
  }

  /** Reads back what `toString()` wrote. */
  static override fromString(text: string): Session {
    const stored = EngineSession.fromString(text)
    const session = new Session(null, stored.username, stored.id, stored)
    session.guaranteedDeliveredCount = stored.guaranteedDeliveredCount
    session.receivedCount = stored.receivedCount
    session.latestBufferedMessageId = stored.latestBufferedMessageId
    for (const [id, message] of stored.buffer) session.buffer.set(id, message)
    session.bufferedBytes = stored.bufferedBytes
    return session
  }
}
