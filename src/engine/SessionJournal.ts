/**
 * Crash-safe sessions: a server's journal of the state of its live sessions
 * in a shared store, so that another node can restore a session after this
 * one dies (SIGKILL included). Changes are gathered per tick and written in
 * one batch; never a store round trip per message. A request the engine sends
 * (an event, a call) is written to the link only once the store has it:
 * whatever the peer received, a node that restores the session can resend.
 * Answers and pongs go out at once unless a request is waiting before them
 * (the link keeps its order). While the store fails, nothing waits: the
 * sessions go on, not crash-safe, and the host is told once; they are
 * journaled again when the store is back.
 *
 * @since 0.1.0
 */
import type { Link } from "./Engine.js"
import type { Session } from "./Session.js"
import type { Timers } from "./SessionCache.js"

/**
 * What one batch says of one session.
 *
 * @since 0.1.0
 */
export interface SessionDelta {
  readonly sessionId: string
  /** The whole session (`Session#toString`), the first time; undefined after. */
  readonly text: string | undefined
  readonly receivedCount: number
  readonly guaranteedDeliveredCount: number
  readonly latestBufferedMessageId: number
  /** Whether it has a link (else it is kept for a restore, and expires in the store). */
  readonly active: boolean
  /** Requests buffered since the previous batch, by |id|. */
  readonly added: ReadonlyArray<readonly [number, string]>
}

/**
 * What the store said of a batch.
 *
 * @since 0.1.0
 */
export interface JournalResult {
  readonly taken: ReadonlyArray<string>
  readonly missing: ReadonlyArray<string>
}

/**
 * Where a journal writes, and whom it tells.
 *
 * @since 0.1.0
 */
export interface JournalHost {
  /**
   * Writes a batch. `done` gets the failure, or what the store said of the
   * batch's sessions: those another node holds now (restored there), no
   * longer journaled here; and those it no longer has (it lost them),
   * written whole again.
   */
  readonly persist: (batch: ReadonlyArray<SessionDelta>, done: (error: unknown, result?: JournalResult) => void) => void
  /** The store failed (`error`), or works again (undefined): once per change. */
  readonly degraded: (error: unknown) => void
  /** Another node restored the session: the host drops its copy. */
  readonly taken: (sessionId: string) => void
  readonly timers: Timers
}

// While the store fails, batches are tried this often, not every tick.
const RETRY_MS = 1000

interface Tracked {
  readonly session: Session
  /** The link it is written through now. */
  gate: Gate
  /** Texts waiting for the store, with the |id| each waits for. */
  held: Array<string>
  needs: Array<number>
  /** The highest |id| of a request the store has. */
  persisted: number
  /** What the batch in flight will make `persisted`. */
  writing: number
  textWritten: boolean
  active: boolean
}

/**
 * A link whose writes wait for the journal when they must.
 *
 * @since 0.1.0
 */
export class Gate implements Link {
  /** @internal */ tracked: Tracked | undefined

  constructor(readonly target: Link, private readonly journal: SessionJournal) {}

  send(text: string): void {
    const tracked = this.tracked
    if (tracked === undefined || tracked.gate !== this || this.journal.failing) return this.target.send(text)
    const need = Math.abs(tracked.session.latestBufferedMessageId)
    if (tracked.held.length === 0 && need <= tracked.persisted) return this.target.send(text)
    tracked.held.push(text)
    tracked.needs.push(need)
  }

  close(): void {
    this.target.close()
  }
}

/**
 * @since 0.1.0
 */
export class SessionJournal {
  /** @internal */ failing = false
  private readonly tracked = new Map<string, Tracked>()
  private readonly dirty = new Set<Tracked>()
  private scheduled = false
  private inFlight = false

  constructor(private readonly host: JournalHost) {}

  /** The link a server's engine writes through. */
  gate(link: Link): Gate {
    return new Gate(link, this)
  }

  /** A session opened (new, or restored from the store) over `gate`: journaled from now on. */
  track(session: Session, gate: Link): void {
    if (!(gate instanceof Gate)) return
    const tracked: Tracked = {
      session,
      gate,
      held: [],
      needs: [],
      persisted: Math.abs(session.latestBufferedMessageId),
      writing: 0,
      textWritten: false,
      active: true
    }
    this.untrack(session)
    gate.tracked = tracked
    this.tracked.set(session.id, tracked)
    session.onChange = () => this.changed(tracked)
    this.changed(tracked)
  }

  /**
   * The session is restored over `gate` (its engine adopts it): what waited
   * for the old link is dropped, as the engine resends from its buffer.
   */
  adopt(session: Session, gate: Link): void {
    if (gate instanceof Gate) this.relinked(session, gate)
  }

  /** The session's link dropped: what waited for it is dropped (resent on a restore). */
  detached(session: Session): void {
    this.relinked(session, undefined)
  }

  // The session's link changed: to `gate`, or none (then it expires in the store unless restored).
  private relinked(session: Session, gate: Gate | undefined): void {
    const tracked = this.tracked.get(session.id)
    if (tracked === undefined) return
    if (gate !== undefined) {
      tracked.gate = gate
      gate.tracked = tracked
    }
    tracked.held = []
    tracked.needs = []
    tracked.active = gate !== undefined
    this.changed(tracked)
  }

  /** No longer journaled (closed, ended, stored whole, or taken by another node). */
  untrack(session: Session): void {
    const tracked = this.tracked.get(session.id)
    if (tracked === undefined || tracked.session !== session) return
    this.tracked.delete(session.id)
    this.dirty.delete(tracked)
    session.onChange = undefined
    this.release(tracked, Infinity)
  }

  /** How many sessions are journaled. */
  get size(): number {
    return this.tracked.size
  }

  private changed(tracked: Tracked): void {
    this.dirty.add(tracked)
    if (this.scheduled || this.inFlight) return
    this.scheduled = true
    // A microtask gathers what one read of the transport changed.
    if (this.failing) this.host.timers.set(RETRY_MS, () => this.flush())
    else queueMicrotask(() => this.flush())
  }

  private flush(): void {
    this.scheduled = false
    if (this.dirty.size === 0) return
    const sessions = [...this.dirty]
    this.dirty.clear()
    const batch = sessions.map((tracked) => this.delta(tracked))
    this.inFlight = true
    this.host.persist(batch, (error, result) => {
      this.inFlight = false
      if (error !== undefined || result === undefined) {
        for (const tracked of sessions) if (this.tracked.get(tracked.session.id) === tracked) this.dirty.add(tracked)
        if (!this.failing) {
          this.failing = true
          // Nothing waits for a store that fails: the peers are served.
          for (const tracked of this.tracked.values()) this.release(tracked, Infinity)
          this.host.degraded(error)
        }
      } else {
        if (this.failing) {
          this.failing = false
          this.host.degraded(undefined)
        }
        for (const tracked of sessions) {
          tracked.textWritten = true
          if (tracked.writing > tracked.persisted) tracked.persisted = tracked.writing
          this.release(tracked, tracked.persisted)
        }
        for (const sessionId of result.taken) {
          const tracked = this.tracked.get(sessionId)
          if (tracked === undefined) continue
          this.untrack(tracked.session)
          this.host.taken(sessionId)
        }
        for (const sessionId of result.missing) {
          const tracked = this.tracked.get(sessionId)
          if (tracked === undefined) continue
          tracked.textWritten = false
          this.dirty.add(tracked)
        }
      }
      if (this.dirty.size > 0) {
        this.scheduled = false
        this.changed(this.dirty.values().next().value as Tracked)
      }
    })
  }

  private delta(tracked: Tracked): SessionDelta {
    const session = tracked.session
    const latest = Math.abs(session.latestBufferedMessageId)
    const added: Array<readonly [number, string]> = []
    for (let id = tracked.persisted + 1; id <= latest; id++) {
      const text = session.buffer.get(id)
      if (text !== undefined) added.push([id, text])
    }
    tracked.writing = latest
    return {
      sessionId: session.id,
      text: tracked.textWritten ? undefined : session.toString(),
      receivedCount: session.receivedCount,
      guaranteedDeliveredCount: session.guaranteedDeliveredCount,
      latestBufferedMessageId: session.latestBufferedMessageId,
      active: tracked.active,
      added
    }
  }

  // Writes what waited for the store up to |id| `upTo`, in order.
  private release(tracked: Tracked, upTo: number): void {
    const { held, needs } = tracked
    let sent = 0
    while (sent < held.length && needs[sent]! <= upTo) tracked.gate.target.send(held[sent++]!)
    if (sent === 0) return
    held.splice(0, sent)
    needs.splice(0, sent)
  }
}
