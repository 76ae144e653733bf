// Session restore and reconnect (protocol.md §4, §8) as properties: random
// scripts of calls, events and pings both ways, deliveries in either
// direction, late handler answers, link drops at any point and restores
// (see test/support/reconnect-model.ts), then a final restore, answer and
// flush. After each script, one invariant per property; once with the
// default buffer limit, once with a small one (so that requests are refused
// and the engine's own acknowledgement pings come into play).
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  checkCrossed,
  checkDrained,
  checkEvents,
  checkHosts,
  checkIds,
  checkReplies,
  checkResend,
  checkRunsOnce,
  play,
  type Script,
  script,
  type Simulation
} from "./support/reconnect-model.js"

const RUNS = { fastCheck: { numRuns: 1000 } }

// The problems an invariant found, as the failure's message (fast-check
// shows it with the shrunk script).
const holds = (check: (sim: Simulation) => Array<string>) => ([run]: [Script]) => {
  const problems = check(play(run))
  if (problems.length > 0) expect.fail(problems.join("\n"))
}

const properties = (scripts: fc.Arbitrary<Script>) => {
  it.prop("hosts see no close, and both engines end open", [scripts], holds(checkHosts), RUNS)

  it.prop("1. every event arrives exactly once and in order, each way", [scripts], holds(checkEvents), RUNS)

  it.prop(
    "2. every call's reply fires exactly once: its result, or -1 only once the peer received it",
    [scripts],
    holds(checkReplies),
    RUNS
  )

  it.prop("3. a call the peer had not received at a restore runs exactly once", [scripts], holds(checkCrossed), RUNS)

  it.prop("4. a call with resend (re-issued on -1) completes with a result", [scripts], holds(checkResend), RUNS)

  it.prop("5. no handler runs twice (each attempt runs exactly once)", [scripts], holds(checkRunsOnce), RUNS)

  it.prop(
    "6. after a final ping each way, both buffers are empty and nothing is pending",
    [scripts],
    holds(checkDrained),
    RUNS
  )

  it.prop("7. request ids are 1, 2, ... per side, never reused across restores", [scripts], holds(checkIds), RUNS)
}

describe("session restore over the in-memory transport (property)", () => {
  describe("default buffer limit", () => properties(script(fc.constant(undefined))))

  describe("small buffer limit (2-12)", () => properties(script(fc.integer({ min: 2, max: 12 }))))
})
