/**
 * Sessions kept in memory for one process, forgetting those inactive for a
 * given lifetime, checked on a timer that does not keep the process alive.
 * The storage behind `SessionStore.memory` and the facade's
 * `SimpleSessionStorageProvider`.
 *
 * @since 0.1.0
 */
import type { Session } from "./Session.js"

interface Stored<S> {
  readonly value: S
  inactiveSince: number | null
}

/**
 * @since 0.1.0
 */
export class MemorySessions<S extends Session = Session> {
  private readonly sessions = new Map<string, Stored<S>>()
  private readonly timer: ReturnType<typeof setInterval>

  constructor(
    readonly inactiveSessionLifetime: number = 24 * 60 * 60 * 1000,
    readonly purgeInterval: number = 60 * 60 * 1000
  ) {
    this.timer = setInterval(() => this.purge(), purgeInterval)
    this.timer.unref()
  }

  /** A stored session; asking for it makes it active again. */
  get(sessionId: string): S | undefined {
    const stored = this.sessions.get(sessionId)
    if (stored === undefined) return undefined
    stored.inactiveSince = null
    return stored.value
  }

  set(sessionId: string, session: S): this {
    this.sessions.set(sessionId, { value: session, inactiveSince: null })
    return this
  }

  setInactive(sessionId: string): void {
    const stored = this.sessions.get(sessionId)
    if (stored !== undefined) stored.inactiveSince = Date.now()
  }

  /** Forgets the sessions inactive for the lifetime or longer. */
  purge(now: number = Date.now()): void {
    for (const [id, stored] of this.sessions) {
      if (stored.inactiveSince !== null && now - stored.inactiveSince >= this.inactiveSessionLifetime) {
        this.sessions.delete(id)
      }
    }
  }

  /** Stops the purge timer. */
  stop(): void {
    clearInterval(this.timer)
  }
}
