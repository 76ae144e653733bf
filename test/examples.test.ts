// The programs in examples/ run, and print what they promise.
import { describe, expect, it } from "@effect/vitest"
import { run, tsx } from "./support/run.js"

describe("examples", () => {
  it("wire-roundtrip (npm start) round-trips every message kind", async () => {
    const { code, stderr, stdout } = await run(tsx, ["examples/wire-roundtrip.ts"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    for (const tag of ["HandshakeRequest", "HandshakeOk", "Call", "CallbackOk", "CallbackError", "Event", "Inspect", "Ping", "Pong", "Heartbeat"]) {
      expect(stdout).toContain(tag)
    }
    expect(stdout).toContain(`→ {"event":[-12,"chat"],"message":["Marcus","Hi, 'all' 👋"]}`)
    expect(stdout).toContain("10 messages (309 bytes in chunks of 7) round-tripped.")
  })
})
