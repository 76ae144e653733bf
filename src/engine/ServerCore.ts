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
import * as Message from "../wire/Message.js"
import type { Session } from "./Session.js"
import { type Entry, SessionCache, type Timers } from "./SessionCache.js"
import { type JournalHost, SessionJournal } from "./SessionJournal.js"

/**
 * What the core keeps per connection that has a session.
 *
 * @since 0.1.0
 */
export interface Kept extends Entry {
  /** Unique in the process (the connection's id). */
  readonly id: number
  /** The link its engine was made with (`ServerCore#link`). */
  readonly link: Link
}

/**
 * Who an event sent with `sendTo` is for: one session, or every session of
 * a user name.
 *
 * @since 0.1.0
 */
export type Target = { readonly session: string } | { readonly user: string }

/**
 * The messages between the nodes of a cluster (Redis pub/sub): `publish`
 * reaches every other node, whose `subscribe` listener gets the text.
 *
 * @since 0.1.0
 */
export interface Bus {
  readonly publish: (text: string) => void
  readonly subscribe: (listener: (text: string) => void) => () => void
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
  /** Crash-safe mode: the live sessions' state is journaled there (see `SessionJournal`). */
  readonly journal?: Omit<JournalHost, "taken" | "timers"> | undefined
  /** A cluster: broadcasts and `sendTo` reach the other nodes through it. */
  readonly bus?: Bus | undefined
  /** An event from another node could not be read (it is dropped). */
  readonly badBusMessage?: ((error: unknown) => void) | undefined
}

/**
 * @since 0.1.0
 */
export class ServerCore<K extends Kept> {
  /** Connections with a link, by id. */
  readonly live = new Map<number, K>()
  private readonly sessions: SessionCache<K>
  private readonly heartbeats = new Map<number, () => void>()
  private readonly journal: SessionJournal | undefined
  private readonly unsubscribe: (() => void) | undefined
  private outbox: Array<{ readonly m: string; readonly t?: Target }> = []

  constructor(private readonly host: Host<K>) {
    // Stored again when it expires: what was sent while the link was down is in it now.
    this.sessions = new SessionCache<K>(host.expireAfter, host.timers, (_, kept) => {
      this.untrack(kept)
      host.storeInactive(kept)
    })
    this.journal = host.journal === undefined ? undefined : new SessionJournal({
      ...host.journal,
      timers: host.timers,
      // Restored on another node: the copy kept here is stale.
      taken: (sessionId) => void this.sessions.evict(sessionId)
    })
    this.unsubscribe = host.bus?.subscribe((text) => this.fromBus(text))
  }

  /** The link a connection's engine is to be made with (crash-safe mode: one that waits for the journal). */
  link(link: Link): Link {
    return this.journal?.gate(link) ?? link
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
  opened(kept: K, session: Session): void {
    this.list(kept)
    this.sessions.add(session.id, kept)
    // The engine takes the session once the handshake is answered: given here.
    this.journal?.track(session, kept.link)
    this.beat(kept)
  }

  /**
   * Restores a kept session over `link` (its engine adopts the link and
   * resends); undefined if the session is not kept here (then the store is
   * asked). `prepare` runs just before the engine adopts the link.
   */
  restore(sessionId: string, link: Link, peerReceivedCount: number, prepare?: (kept: K) => void): K | undefined {
    const kept = this.sessions.restore(sessionId, link, peerReceivedCount, (kept) => {
      prepare?.(kept)
      const session = kept.engine.session
      if (session !== undefined) this.journal?.adopt(session, link)
    })
    if (kept === undefined) return undefined
    this.list(kept)
    this.beat(kept)
    return kept
  }

  /** A connection's link dropped and its session is kept: restorable until it expires. */
  detached(kept: K, sessionId: string): void {
    this.unlist(kept)
    const session = kept.engine.session
    if (session !== undefined) this.journal?.detached(session)
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
    if (sessionId !== undefined && this.sessions.closed(sessionId, kept)) {
      this.untrack(kept)
      if (linked) this.host.storeInactive(kept)
    }
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
    this.untrack(kept)
    this.host.forget(kept)
    return linked
  }

  /**
   * The store evicted a session: one kept here without a link is dropped
   * (its engine closed) and returned.
   */
  evicted(sessionId: string): K | undefined {
    const kept = this.sessions.evict(sessionId)
    if (kept !== undefined) this.untrack(kept)
    return kept
  }

  /**
   * Sends an event to every listed connection, serialized once; one that
   * cannot take it goes to `onFailure`, and the others still get it. Throws,
   * sending nothing, if the event cannot be serialized.
   */
  broadcast(iface: string, event: string, args: ReadonlyArray<unknown>, onFailure: (kept: K, error: unknown) => void): void {
    const prepared = Message.prepareEvent(iface, event, args)
    broadcast(this.live.values(), engineOf, prepared, onFailure)
    this.publish(undefined, prepared)
  }

  /**
   * Sends an event to one session, or to every session of a user, on this
   * node and (in a cluster) on the others: to each connection that has it,
   * and to a dropped one kept for a restore (it gets the event when it
   * restores). Throws, sending nothing, if the event cannot be serialized.
   */
  sendTo(target: Target, iface: string, event: string, args: ReadonlyArray<unknown>, onFailure: (kept: K, error: unknown) => void): void {
    const prepared = Message.prepareEvent(iface, event, args)
    broadcast(this.targets(target), engineOf, prepared, onFailure)
    this.publish(target, prepared)
  }

  // The sessions of this node `target` names, linked or kept.
  private targets(target: Target): Array<K> {
    if ("session" in target) {
      const kept = this.sessions.get(target.session)
      return kept === undefined || kept.engine.phase === "Closed" ? [] : [kept]
    }
    return this.sessions.filter((kept) => kept.engine.session?.username === target.user && kept.engine.phase !== "Closed")
  }

  // Events for the other nodes are gathered per tick, in one message of the bus.
  private publish(target: Target | undefined, prepared: Message.PreparedEvent): void {
    const bus = this.host.bus
    if (bus === undefined) return
    const text = Message.eventText(prepared, 0)
    if (this.outbox.length === 0) queueMicrotask(() => this.flushOutbox(bus))
    this.outbox.push(target === undefined ? { m: text } : { m: text, t: target })
  }

  private flushOutbox(bus: Bus): void {
    const outbox = this.outbox
    this.outbox = []
    for (let i = 0; i < outbox.length; i += BUS_BATCH) bus.publish(JSON.stringify(outbox.slice(i, i + BUS_BATCH)))
  }

  // Events another node sent, each to every connection or to a target.
  private fromBus(text: string): void {
    let items: unknown
    try {
      items = JSON.parse(text)
      if (!Array.isArray(items)) throw new TypeError("Not a batch of cluster events")
    } catch (error) {
      return this.host.badBusMessage?.(error)
    }
    for (const item of items) {
      let message: Message.Message
      let target: Target | undefined
      try {
        const data = item as { m?: unknown; t?: { session?: unknown; user?: unknown } | null } | null
        if (typeof data?.m !== "string") throw new TypeError("Not a cluster event")
        message = Message.deserialize(data.m)
        if (message._tag !== "Event") throw new TypeError("Not a cluster event")
        const t = data.t
        if (t !== undefined && t !== null) {
          if (typeof t.session === "string") target = { session: t.session }
          else if (typeof t.user === "string") target = { user: t.user }
          else throw new TypeError("Not a cluster event target")
        }
      } catch (error) {
        this.host.badBusMessage?.(error)
        continue
      }
      // Reported on the node that sent it; here a connection that cannot take it is only skipped.
      const prepared = Message.prepareEvent(message.iface, message.event, message.args)
      broadcast(target === undefined ? this.live.values() : this.targets(target), engineOf, prepared, ignore)
    }
  }

  /**
   * The server stops: every kept session is stored (inactive, so that a
   * server sharing the store can restore it) and its engine closed.
   */
  closeAll(): void {
    this.unsubscribe?.()
    for (const stop of this.heartbeats.values()) stop()
    this.heartbeats.clear()
    this.sessions.closeAll((kept) => {
      this.untrack(kept)
      this.host.storeInactive(kept)
    })
  }

  private untrack(kept: K): void {
    const session = kept.engine.session
    if (session !== undefined) this.journal?.untrack(session)
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

const ignore = (): void => {}

// The most events in one message of the bus.
const BUS_BATCH = 1000
