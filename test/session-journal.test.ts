// SessionJournal (crash-safe mode), with a store the test answers by hand:
// a request reaches the link only once the store has it, answers pass when
// nothing waits before them, the link keeps its order, changes of one tick
// go in one batch, and a failing store is said once and never holds the
// peers back.
import { describe, expect, it } from "@effect/vitest"
import type { Link } from "../src/engine/Engine.js"
import { Session } from "../src/engine/Session.js"
import { type JournalResult, type SessionDelta, SessionJournal } from "../src/engine/SessionJournal.js"

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

const setup = () => {
  const batches: Array<{ batch: ReadonlyArray<SessionDelta>; done: (error: unknown, result?: JournalResult) => void }> = []
  const said: Array<unknown> = []
  const taken: Array<string> = []
  const journal = new SessionJournal({
    persist: (batch, done) => batches.push({ batch, done }),
    degraded: (error) => said.push(error),
    taken: (id) => taken.push(id),
    timers: { set: (_ms, run) => {
      const timer = setTimeout(run, 0)
      return () => clearTimeout(timer)
    } }
  })
  const written: Array<string> = []
  const link: Link = { send: (text) => written.push(text), close: () => {} }
  const session = new Session("s1", "alice")
  const gate = journal.gate(link)
  journal.track(session, gate)
  // A server request: buffered by the engine, then sent.
  const request = (id: number) => {
    const text = `event ${id}`
    session.bufferMessage(-id, text)
    gate.send(text)
  }
  return { batches, said, taken, journal, written, session, gate, request }
}

describe("SessionJournal", () => {
  it("holds a request until the store has it; an answer waits only behind one; one batch per tick", async () => {
    const { batches, gate, request, session, written } = setup()
    await tick()
    // The first batch has the whole session.
    expect(batches).toHaveLength(1)
    expect(batches[0]!.batch[0]!.text).toBe(session.toString())
    batches[0]!.done(undefined, { taken: [], missing: [] })
    gate.send("answer 1") // nothing waits: at once
    expect(written).toEqual(["answer 1"])
    request(1)
    request(2)
    session.onMessageReceived(5)
    gate.send("answer 5") // behind the requests: waits, in order
    expect(written).toEqual(["answer 1"])
    await tick()
    expect(batches).toHaveLength(2)
    const delta = batches[1]!.batch[0]!
    expect(delta).toMatchObject({ sessionId: "s1", text: undefined, receivedCount: 5, latestBufferedMessageId: -2, active: true })
    expect(delta.added).toEqual([[1, "event 1"], [2, "event 2"]])
    // A request made while the batch is in flight waits for the next one.
    request(3)
    batches[1]!.done(undefined, { taken: [], missing: [] })
    expect(written).toEqual(["answer 1", "event 1", "event 2", "answer 5"])
    await tick()
    expect(batches).toHaveLength(3)
    expect(batches[2]!.batch[0]!.added).toEqual([[3, "event 3"]])
    batches[2]!.done(undefined, { taken: [], missing: [] })
    expect(written.at(-1)).toBe("event 3")
  })

  it("a failing store is said once and holds nothing back; its recovery is said; taken and missing sessions", async () => {
    const { batches, journal, request, said, session, taken, written } = setup()
    await tick()
    request(1)
    batches[0]!.done(new Error("down"))
    // Released at once: served, not crash-safe.
    expect(written).toEqual(["event 1"])
    expect(said).toHaveLength(1)
    request(2)
    expect(written).toEqual(["event 1", "event 2"])
    await new Promise((resolve) => setTimeout(resolve, 10))
    // Retried (with everything since the last write), and back.
    const retry = batches[1]!.batch[0]!
    expect(retry.text).toBe(session.toString())
    expect(retry.added).toEqual([[1, "event 1"], [2, "event 2"]])
    batches[1]!.done(undefined, { taken: [], missing: ["s1"] })
    expect(said).toEqual([new Error("down"), undefined])
    // The store lost it: written whole again.
    await tick()
    expect(batches[2]!.batch[0]!.text).toBe(session.toString())
    batches[2]!.done(undefined, { taken: ["s1"], missing: [] })
    expect(taken).toEqual(["s1"])
    expect(journal.size).toBe(0)
    expect(session.onChange).toBeUndefined()
  })
})
