// Prints one plain closing line, "vitest: N passed, N failed, N skipped", that
// CI's log reader recognises in any language (vitest's own summary is not one),
// with the reasons of tests skipped for want of a tool (see external.ts).
import type { Reporter, TestModule } from "vitest/node"

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    let passed = 0
    let failed = 0
    let skipped = 0
    const reasons = new Set<string>()
    for (const testModule of testModules) {
      if (testModule.state() === "failed" && testModule.children.size === 0) failed++
      for (const test of testModule.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else {
          skipped++
          const reason = /\[skipped: (.*)\]$/.exec(test.name)?.[1]
          if (reason !== undefined) reasons.add(reason)
        }
      }
    }
    // After vitest's own summary, so that it is the last line of the run.
    process.once("exit", () => {
      const why = reasons.size === 0 ? "" : ` (skipped: ${[...reasons].join("; ")})`
      process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped${why}\n`)
    })
  }
}
