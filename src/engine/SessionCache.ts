/**
 * A server's sessions that can be restored onto the engine that kept them
 * (protocol.md §8): those of linked connections, and those of dropped ones
 * until they expire (`clientExpirationTime`). Shared by the Effect server and
 * the facade's; timers come from the host.
 *
 * @since 0.1.0
 */
import type { Engine, Link } from "./Engine.js"

/**
 * What the cache keeps per session: at least the engine holding it.
 *
 * @since 0.1.0
 */
export interface Entry {
  readonly engine: Engine
}

/**
 * Timers, from the host.
 *
 * @since 0.1.0
 */
export interface Timers {
  readonly set: (ms: number, run: () => void) => () => void
}

/**
 * Timers of the platform that do not keep the process alive: what both
 * servers use (a fiber per timer would cost an idle session kilobytes).
 *
 * @since 0.1.0
 */
export const platformTimers: Timers = {
  set: (ms, run) => {
    const timer: { unref?: () => void } = setTimeout(run, ms)
    timer.unref?.()
    return () => clearTimeout(timer as Parameters<typeof clearTimeout>[0])
  }
}

/**
 * @since 0.1.0
 */
export class SessionCache<E extends Entry> {
  private readonly entries = new Map<string, E>()
  private readonly expiries = new Map<string, () => void>()

  constructor(
    private readonly expireAfter: number,
    private readonly timers: Timers,
    /** A dropped session expired: its engine is closed after this. */
    private readonly onExpire: (sessionId: string, entry: E) => void
  ) {}

  /** A connection's new (or restored-from-store) session. */
  add(sessionId: string, entry: E): void {
    this.cancel(sessionId)
    this.entries.set(sessionId, entry)
  }

  /**
   * Restores the session over `link` if its engine is still kept: the
   * engine adopts the link (closing an old one still open) and resends.
   * Returns the entry, or undefined (then the store is asked).
   */
  restore(
    sessionId: string,
    link: Link,
    peerReceivedCount: number,
    /** Called with the entry just before its engine adopts the link. */
    prepare?: (entry: E) => void
  ): E | undefined {
    const entry = this.entries.get(sessionId)
    if (entry === undefined || entry.engine.phase === "Closed") return undefined
    this.cancel(sessionId)
    prepare?.(entry)
    entry.engine.adopt(link, peerReceivedCount)
    return entry
  }

  /** The session's link dropped: it stays restorable until it expires. */
  detached(sessionId: string, entry: E): void {
    if (this.entries.get(sessionId) !== entry) return
    this.cancel(sessionId)
    this.expiries.set(sessionId, this.timers.set(this.expireAfter, () => {
      this.expiries.delete(sessionId)
      if (this.entries.get(sessionId) !== entry || entry.engine.phase !== "Detached") return
      this.entries.delete(sessionId)
      this.onExpire(sessionId, entry)
      entry.engine.close("Closed")
    }))
  }

  /**
   * Drops a dropped session before it expires (its store evicted it); its
   * engine is closed. Returns the entry, or undefined if the session is not
   * kept here or has a link again.
   */
  evict(sessionId: string): E | undefined {
    const entry = this.entries.get(sessionId)
    if (entry === undefined || entry.engine.phase !== "Detached") return undefined
    this.cancel(sessionId)
    this.entries.delete(sessionId)
    entry.engine.close("Closed")
    return entry
  }

  /** The entry that holds the session, if it is kept. */
  get(sessionId: string): E | undefined {
    return this.entries.get(sessionId)
  }

  /** The entries `keep` selects. */
  filter(keep: (entry: E) => boolean): Array<E> {
    return [...this.entries.values()].filter(keep)
  }

  /** The session's connection closed for good. Returns whether it was this entry's. */
  closed(sessionId: string, entry: E): boolean {
    if (this.entries.get(sessionId) !== entry) return false
    this.cancel(sessionId)
    this.entries.delete(sessionId)
    return true
  }

  /**
   * Every kept session's engine, closed (the server stops); `before` sees
   * each entry first, no longer kept.
   */
  closeAll(before?: (entry: E) => void): void {
    for (const sessionId of [...this.expiries.keys()]) this.cancel(sessionId)
    const entries = [...this.entries.values()]
    this.entries.clear()
    for (const entry of entries) {
      before?.(entry)
      entry.engine.close("Closed")
    }
  }

  private cancel(sessionId: string): void {
    const stop = this.expiries.get(sessionId)
    this.expiries.delete(sessionId)
    stop?.()
  }
}
