// The soak's checks (soak/ledger.ts): they must see every kind of anomaly,
// and none where there is none. The soak itself is `npm run soak`.
import { describe, expect, it } from "vitest"
import { CallLedger, checkCalls, compareStreams, Counts, Outcome, type Run, Runs } from "../soak/ledger.js"

const runsOf = (...numbers: Array<number>): Array<Run> => {
  const runs = new Runs()
  for (const n of numbers) runs.add(n)
  return runs.runs
}

describe("soak: streams", () => {
  it("keeps the arrival order as runs", () => {
    expect(runsOf(1, 2, 3, 5, 6, 3)).toEqual([[1, 3], [5, 6], [3, 3]])
    expect(Runs.upTo(0)).toEqual([])
  })

  it("an exact stream", () => {
    expect(compareStreams(Runs.upTo(5), runsOf(1, 2, 3, 4, 5))).toMatchObject({ exact: true, prefix: true, lost: 0 })
  })

  it("a gap in the middle, a gap at the end, a duplicate, a reordering, a phantom", () => {
    expect(compareStreams(Runs.upTo(5), runsOf(1, 2, 4, 5))).toMatchObject({ lost: 1, prefix: false, exact: false })
    expect(compareStreams(Runs.upTo(5), runsOf(1, 2, 3))).toMatchObject({ lost: 2, prefix: true, exact: false })
    expect(compareStreams(Runs.upTo(3), runsOf(1, 2, 2, 3))).toMatchObject({ duplicated: 1, lost: 0, prefix: false })
    expect(compareStreams(Runs.upTo(3), runsOf(1, 3, 2))).toMatchObject({ reordered: 1, lost: 0, prefix: false })
    expect(compareStreams(Runs.upTo(2), runsOf(1, 2, 9))).toMatchObject({ phantom: 1, prefix: false })
  })

  it("expected runs with holes (broadcasts while a link was down)", () => {
    expect(compareStreams([[3, 5], [9, 10]], runsOf(3, 4, 5, 9, 10))).toMatchObject({ exact: true })
    expect(compareStreams([[3, 5], [9, 10]], runsOf(3, 4, 5, 6, 9, 10))).toMatchObject({ phantom: 1 })
    expect(compareStreams([[3, 5], [9, 10]], runsOf(3, 4))).toMatchObject({ prefix: true, lost: 3 })
  })
})

describe("soak: calls", () => {
  const ledger = (...calls: Array<[resend: boolean, outcome: Outcome, restoresDuring: number]>) => {
    const ledger = new CallLedger()
    for (const [resend, outcome, restores] of calls) {
      const seq = ledger.issue(resend, 0)
      if (outcome !== Outcome.Pending) ledger.settle(seq, outcome, restores)
    }
    return ledger.record()
  }
  const runs = (...counts: Array<number>) => {
    const c = new Counts()
    counts.forEach((n, i) => {
      for (let k = 0; k < n; k++) c.add(i + 1)
    })
    return c.snapshot()
  }

  it("plain calls run once, answered or lost", () => {
    const check = checkCalls(ledger([false, Outcome.Ok, 0], [false, Outcome.Lost, 1]), runs(1, 1), false)
    expect(Object.values(check.anomalies).every((n) => n === 0)).toBe(true)
    expect(check).toMatchObject({ ok: 1, lost: 1 })
  })

  it("a plain call run twice, a lost call never run, an unanswered one, a phantom run", () => {
    const check = checkCalls(
      ledger([false, Outcome.Ok, 0], [false, Outcome.Lost, 1], [false, Outcome.Pending, 0]),
      runs(2, 0, 1, 1),
      false
    )
    expect(check.anomalies).toMatchObject({ runTooOften: 1, notRun: 1, unanswered: 1, phantom: 1 })
  })

  it("a call with resend runs at most once more per restore it went through", () => {
    expect(checkCalls(ledger([true, Outcome.Ok, 1]), runs(2), false).anomalies.runTooOften).toBe(0)
    expect(checkCalls(ledger([true, Outcome.Ok, 0]), runs(2), false).anomalies.runTooOften).toBe(1)
    expect(checkCalls(ledger([true, Outcome.Ok, 2]), runs(3), false).resendRuns).toEqual([0, 0, 0, 1])
  })

  it("Closed is fine only for an ended session", () => {
    expect(checkCalls(ledger([false, Outcome.Closed, 0]), runs(0), true).anomalies.failed).toBe(0)
    expect(checkCalls(ledger([false, Outcome.Closed, 0]), runs(0), false).anomalies.failed).toBe(1)
  })

  it("an answer that comes twice is a duplicate", () => {
    const l = new CallLedger()
    const seq = l.issue(false, 0)
    l.settle(seq, Outcome.Ok, 0)
    l.settle(seq, Outcome.Ok, 0)
    expect(checkCalls(l.record(), runs(1), false).anomalies.duplicated).toBe(1)
  })
})
