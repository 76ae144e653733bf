/**
 * Sessions kept in memory for one process, forgetting those inactive for a
 * given lifetime, checked on a timer that does not keep the process alive,
 * and holding at most a budget of bytes of inactive sessions' buffers: past
 * it the oldest inactive are evicted, each reported to `onEvict` listeners.
 * The storage behind `SessionStore.memory` and the facade's
 * `SimpleSessionStorageProvider`.
 *
 * @since 0.1.0
 */
import type { Session } from "./Session.js"

interface Stored<S> {
  readonly value: S
  inactiveSince: number | null
  /** Its buffer's bytes when it became inactive, counted in `inactiveBytes`. */
  bytes: number
}

/**
 * The default budget of inactive sessions' buffered bytes: 256 MiB.
 *
 * @since 0.1.0
 */
export const DEFAULT_MAX_INACTIVE_BYTES = 256 * 1024 * 1024

/**
 * @since 0.1.0
 */
export class MemorySessions<S extends Session = Session> {
  private readonly sessions = new Map<string, Stored<S>>()
  // The inactive ones, oldest first.
  private readonly inactive = new Map<string, Stored<S>>()
  private readonly evictListeners = new Set<(sessionId: string, session: S) => void>()
  private readonly timer: ReturnType<typeof setInterval>
  /** Bytes buffered by the inactive sessions held. */
  inactiveBytes = 0

  constructor(
    readonly inactiveSessionLifetime: number = 24 * 60 * 60 * 1000,
    readonly purgeInterval: number = 60 * 60 * 1000,
    readonly maxInactiveBytes: number = DEFAULT_MAX_INACTIVE_BYTES
  ) {
    this.timer = setInterval(() => this.purge(), purgeInterval)
    this.timer.unref()
  }

  /** A stored session; asking for it makes it active again. */
  get(sessionId: string): S | undefined {
    const stored = this.sessions.get(sessionId)
    if (stored === undefined) return undefined
    this.activate(sessionId, stored)
    return stored.value
  }

  set(sessionId: string, session: S): this {
    this.delete(sessionId)
    this.sessions.set(sessionId, { value: session, inactiveSince: null, bytes: 0 })
    return this
  }

  /** Forgets a session. */
  delete(sessionId: string): boolean {
    const stored = this.sessions.get(sessionId)
    if (stored === undefined) return false
    this.activate(sessionId, stored)
    return this.sessions.delete(sessionId)
  }

  setInactive(sessionId: string): void {
    const stored = this.sessions.get(sessionId)
    if (stored === undefined) return
    this.activate(sessionId, stored)
    stored.inactiveSince = Date.now()
    stored.bytes = stored.value.bufferedBytes
    this.inactive.set(sessionId, stored)
    this.inactiveBytes += stored.bytes
    this.evictOverBudget()
  }

  /** Calls `listener` with each session evicted to keep the budget; returns the unsubscribe. */
  onEvict(listener: (sessionId: string, session: S) => void): () => void {
    this.evictListeners.add(listener)
    return () => void this.evictListeners.delete(listener)
  }

  /** Forgets the sessions inactive for the lifetime or longer. */
  purge(now: number = Date.now()): void {
    for (const [id, stored] of this.inactive) {
      if (now - stored.inactiveSince! < this.inactiveSessionLifetime) break
      this.delete(id)
    }
  }

  /** Stops the purge timer. */
  stop(): void {
    clearInterval(this.timer)
  }

  private activate(sessionId: string, stored: Stored<S>): void {
    if (stored.inactiveSince === null) return
    stored.inactiveSince = null
    this.inactive.delete(sessionId)
    this.inactiveBytes -= stored.bytes
    stored.bytes = 0
  }

  private evictOverBudget(): void {
    while (this.inactiveBytes > this.maxInactiveBytes) {
      const oldest = this.inactive.entries().next()
      if (oldest.done === true) return
      const [id, stored] = oldest.value
      this.delete(id)
      for (const listener of this.evictListeners) listener(id, stored.value)
    }
  }
}
