/**
 * What both servers (the Effect API's and the facade's) are made of, at the
 * level of callbacks: the registry of connections that have a link, the
 * sessions kept for restores (protocol.md §8), the handshake timeout, the
 * heartbeat, and broadcast. Each API keeps only its own surface (its
 * connection objects, events and storage) and supplies timers, as
 * `SessionCache` takes them, so that the Effect server's run on its clock.
 *
 * @since 0.1.0
 */
import { broadcast, type Engine, type Link } from "./Engine.js"
import { type Entry, SessionCache, type Timers } from "./SessionCache.js"

/**
 * What the core keeps per connection that has a session.
 *
 * @since 0.1.0
 */
export interface Kept extends Entry {
  /** Unique in the process (the connection's id). */
  readonly id: number
}

/**
 * What a server supplies.
 *
 * @since 0.1.0
 */
export interface Host<K extends Kept> {
  readonly timers: Timers
  /** How long a dropped connection's session stays restorable, ms. */
  readonly expireAfter: number
  /** Ping every connection this often, ms (read as each connection starts). */
  readonly heartbeatInterval: () => number | undefined
  /** Close a connection that has not completed its handshake by then, ms. */
  readonly handshakeTimeout: number
  /** Told when a connection is listed (it has a link) and unlisted: the facade's `server.clients`. */
  readonly listed?: ((kept: K, linked: boolean) => void) | undefined
  /** Writes a session whose link is gone to the store, as inactive. */
  readonly storeInactive: (kept: K) => void
  /** Removes an ended session from the store: it must never be restored. */
  readonly forget: (kept: K) => void
}

/**
 * @since 0.1.0
 */
export class ServerCore<K extends Kept> {
  /** Connections with a link, by id. */
  readonly live = new Map<number, K>()
  private readonly sessions: SessionCache<K>
  private readonly heartbeats = new Map<number, () => void>()

  constructor(private readonly host: Host<K>) {
    // Stored again when it expires: what was sent while the link was down is in it now.
    this.sessions = new SessionCache<K>(host.expireAfter, host.timers, (_, kept) => host.storeInactive(kept))
  }

  /**
   * Closes `engine` if it has not completed its handshake within the
   * handshake timeout (`onTimeout` is told); the returned function stops
   * the watch.
   */
  watchHandshake(engine: () => Engine, onTimeout: () => void): () => void {
    return this.host.timers.set(this.host.handshakeTimeout, () => {
      const phase = engine().phase
      if (phase === "Open" || phase === "Closed" || phase === "Detached") return
      engine().close("HandshakeTimeout")
      onTimeout()
    })
  }

  /** A connection's session started (new, or loaded from the store): listed, kept, pinged. */
  opened(kept: K, sessionId: string): void {
    this.list(kept)
    this.sessions.add(sessionId, kept)
    this.beat(kept)
  }

  /**
   * Restores a kept session over `link` (its engine adopts the link and
   * resends); undefined if the session is not kept here (then the store is
   * asked). `prepare` runs just before the engine adopts the link.
   */
  restore(sessionId: string, link: Link, peerReceivedCount: number, prepare?: (kept: K) => void): K | undefined {
    const kept = this.sessions.restore(sessionId, link, peerReceivedCount, prepare)
    if (kept === undefined) return undefined
    this.list(kept)
    this.beat(kept)
    return kept
  }

  /** A connection's link dropped and its session is kept: restorable until it expires. */
  detached(kept: K, sessionId: string): void {
    this.unlist(kept)
    this.host.storeInactive(kept)
    this.sessions.detached(sessionId, kept)
  }

  /**
   * A connection closed for good. Returns whether it had a link (it was
   * listed); its session is stored if this connection still held it and
   * had a link (a dropped one's was stored when its link dropped).
   */
  closed(kept: K, sessionId: string | undefined): boolean {
    const linked = this.unlist(kept)
    if (sessionId !== undefined && this.sessions.closed(sessionId, kept) && linked) this.host.storeInactive(kept)
    return linked
  }

  /**
   * The connection's engine ended its session (its peer did not keep up):
   * no longer listed nor kept, and removed from the store. Returns whether
   * it had a link.
   */
  ended(kept: K, sessionId: string): boolean {
    const linked = this.unlist(kept)
    this.sessions.closed(sessionId, kept)
    this.host.forget(kept)
    return linked
  }

  /**
   * The store evicted a session: one kept here without a link is dropped
   * (its engine closed) and returned.
   */
  evicted(sessionId: string): K | undefined {
    return this.sessions.evict(sessionId)
  }

  /**
   * Sends an event to every listed connection, serialized once; one that
   * cannot take it goes to `onFailure`, and the others still get it. Throws,
   * sending nothing, if the event cannot be serialized.
   */
  broadcast(iface: string, event: string, args: ReadonlyArray<unknown>, onFailure: (kept: K, error: unknown) => void): void {
    broadcast(this.live.values(), engineOf, iface, event, args, onFailure)
  }

  /**
   * The server stops: every kept session is stored (inactive, so that a
   * server sharing the store can restore it) and its engine closed.
   */
  closeAll(): void {
    for (const stop of this.heartbeats.values()) stop()
    this.heartbeats.clear()
    this.sessions.closeAll(this.host.storeInactive)
  }

  private unlist(kept: K): boolean {
    this.heartbeats.get(kept.id)?.()
    this.heartbeats.delete(kept.id)
    if (!this.live.delete(kept.id)) return false
    this.host.listed?.(kept, false)
    return true
  }

  private list(kept: K): void {
    this.live.set(kept.id, kept)
    this.host.listed?.(kept, true)
  }

  private beat(kept: K): void {
    const interval = this.host.heartbeatInterval()
    if (interval === undefined || this.heartbeats.has(kept.id)) return
    const next = () => {
      this.heartbeats.set(kept.id, this.host.timers.set(interval, () => {
        if (kept.engine.phase === "Open") kept.engine.ping()
        if (this.heartbeats.has(kept.id)) next()
      }))
    }
    next()
  }
}

const engineOf = (kept: Kept): Engine => kept.engine
