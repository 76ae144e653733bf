/**
 * The replies an engine waits for, by request id. Ids are taken in order
 * and most are answered soon, so a ring of slots (indexed by the id's low
 * bits, as many as the ids in flight) holds nearly all of them without the
 * hashing and the backing store a `Map` reallocates as ids move on; an id
 * whose slot is still taken (an older request not yet answered) goes to a
 * `Map` beside it, so nothing is ever dropped and memory stays bounded by
 * what is pending.
 *
 * @since 0.1.0
 */
import type { Reply } from "./Engine.js"

// The ring starts small when first used and doubles on a collision (when
// more ids are in flight than it has slots), up to MAX_SLOTS: a connection
// that never waits pays nothing, a busy one at most 16 KiB.
const FIRST_SLOTS = 4
const MAX_SLOTS = 1024

// Shared by every ring not yet used (never written: `set` resizes first).
const NO_IDS = new Float64Array(0)
const NO_REPLIES: Array<Reply | undefined> = []

export class PendingReplies {
  private ids = NO_IDS
  private replies = NO_REPLIES
  private mask = -1
  private overflow: Map<number, Reply> | undefined = undefined
  private count = 0

  /** The number of replies waited for. */
  get size(): number {
    return this.count
  }

  /** Waits for `id`'s reply (an id waited for already has its reply replaced). */
  set(id: number, reply: Reply): void {
    if (this.overflow?.has(id) === true) return void this.overflow.set(id, reply)
    if (this.replies.length === 0) this.resize(FIRST_SLOTS)
    for (;;) {
      const slot = id & this.mask
      const current = this.replies[slot]
      if (current === undefined || this.ids[slot] === id) {
        if (current === undefined) this.count++
        this.ids[slot] = id
        this.replies[slot] = reply
        return
      }
      if (this.replies.length >= MAX_SLOTS) break
      this.resize(this.replies.length * 2)
    }
    ;(this.overflow ??= new Map()).set(id, reply)
    this.count++
  }

  /** Stops waiting for `id`, and returns its reply if it was waited for. */
  take(id: number): Reply | undefined {
    const slot = id & this.mask
    const reply = this.replies[slot]
    if (reply !== undefined && this.ids[slot] === id) {
      this.replies[slot] = undefined
      this.count--
      return reply
    }
    const other = this.overflow?.get(id)
    if (other !== undefined) {
      this.overflow!.delete(id)
      this.count--
    }
    return other
  }

  /** Stops waiting for `id`; whether it was waited for. */
  delete(id: number): boolean {
    return this.take(id) !== undefined
  }

  /** Every id and reply waited for, oldest (smallest |id|) first. */
  entries(): Array<readonly [number, Reply]> {
    const entries: Array<readonly [number, Reply]> = []
    if (this.count === 0) return entries
    for (let slot = 0; slot < this.replies.length; slot++) {
      const reply = this.replies[slot]
      if (reply !== undefined) entries.push([this.ids[slot]!, reply])
    }
    if (this.overflow !== undefined) for (const entry of this.overflow) entries.push(entry)
    return entries.sort((a, b) => Math.abs(a[0]) - Math.abs(b[0]))
  }

  /** Every reply waited for, oldest first. */
  values(): Array<Reply> {
    return this.entries().map((entry) => entry[1])
  }

  clear(): void {
    if (this.count === 0) return
    this.replies.fill(undefined)
    this.overflow = undefined
    this.count = 0
  }

  // Moves the ring's entries into `slots` slots (twice as many: ids apart in
  // the old ring are apart in the new one).
  private resize(slots: number): void {
    const ids = this.ids
    const replies = this.replies
    this.ids = new Float64Array(slots)
    this.replies = new Array<Reply | undefined>(slots).fill(undefined)
    this.mask = slots - 1
    for (let slot = 0; slot < replies.length; slot++) {
      const reply = replies[slot]
      if (reply === undefined) continue
      const target = ids[slot]! & this.mask
      this.ids[target] = ids[slot]!
      this.replies[target] = reply
    }
  }
}
