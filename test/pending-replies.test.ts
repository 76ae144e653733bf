import { describe, expect, it } from "vitest"
import type { Reply } from "../src/engine/Engine.js"
import { PendingReplies } from "../src/engine/PendingReplies.js"

const reply = (name: string, log: Array<string>): Reply => () => void log.push(name)

describe("PendingReplies", () => {
  it("takes each reply once, by id", () => {
    const pending = new PendingReplies()
    const log: Array<string> = []
    for (let id = 1; id <= 5; id++) pending.set(id, reply(`r${id}`, log))
    expect(pending.size).toBe(5)
    pending.take(3)?.(undefined, [])
    expect(pending.take(3)).toBeUndefined()
    expect(pending.size).toBe(4)
    expect(pending.delete(4)).toBe(true)
    expect(pending.delete(4)).toBe(false)
    expect(pending.take(99)).toBeUndefined()
    expect(log).toEqual(["r3"])
    expect(pending.entries().map(([id]) => id)).toEqual([1, 2, 5])
  })

  it("keeps every reply when ids collide in the ring: an unanswered old one and 5,000 newer ones", () => {
    const pending = new PendingReplies()
    const log: Array<string> = []
    pending.set(1, reply("stuck", log))
    for (let id = 2; id <= 5_001; id++) {
      pending.set(id, reply(`r${id}`, log))
      // About as many in flight as a pipelined client keeps.
      if (id > 101) pending.take(id - 100)?.(undefined, [])
    }
    expect(pending.size).toBe(1 + 100)
    expect(pending.entries().map(([id]) => id)).toEqual([1, ...Array.from({ length: 100 }, (_, i) => 4_902 + i)])
    pending.take(1)?.(undefined, [])
    expect(log[log.length - 1]).toBe("stuck")
    // Ids a multiple of the ring apart, all waited for at once.
    const many = new PendingReplies()
    for (let k = 0; k < 3_000; k++) many.set(1 + k * 1024, reply(`m${k}`, log))
    expect(many.size).toBe(3_000)
    for (let k = 0; k < 3_000; k++) expect(many.take(1 + k * 1024)).toBeDefined()
    expect(many.size).toBe(0)
  })

  it("orders a server's negative ids by magnitude, and replaces the reply of an id set twice", () => {
    const pending = new PendingReplies()
    const log: Array<string> = []
    for (let id = -1; id >= -40; id--) pending.set(id, reply(`r${id}`, log))
    pending.set(-7, reply("again", log))
    expect(pending.size).toBe(40)
    expect(pending.entries().map(([id]) => id)).toEqual(Array.from({ length: 40 }, (_, i) => -1 - i))
    for (const run of pending.values()) run(undefined, [])
    expect(log[6]).toBe("again")
    pending.clear()
    expect(pending.size).toBe(0)
    expect(pending.entries()).toEqual([])
  })
})
