// Prints one plain closing line, "vitest: N passed, N failed, N skipped", that
// CI's log reader recognises in any language (vitest's own summary is not one).
import type { Reporter, TestModule } from "vitest/node"

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const testModule of testModules) {
      if (testModule.state() === "failed" && testModule.children.size === 0) failed++
      for (const test of testModule.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else skipped++
      }
    }
    // After vitest's own summary, so that it is the last line of the run.
    process.once("exit", () => {
      process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
    })
  }
}
