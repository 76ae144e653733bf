// Entry point of `npm run bench`: runs every benchmark module in order; each
// prints its own tables (Markdown) to stdout, progress goes to stderr.
//
//   npm run bench                  all modules
//   npm run bench -- serde         only the modules whose name contains "serde"
//
// BENCH_BUDGET_MS (default 1000) and BENCH_WARMUP_MS (default 250) set the
// time measured and the warm-up per case.
import { type BenchModule, getChecksum, type RunOptions } from "./harness.js"

// One line per module, run in this order; a module's default export is a BenchModule.
const modules: ReadonlyArray<() => Promise<{ readonly default: BenchModule }>> = [
  () => import("./serde.js"),
  () => import("./rpc.js"),
  () => import("./observability.js"),
  () => import("./compat.js"),
  () => import("./sessions.js"),
  () => import("./cluster.js")
]

const envMs = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}

const options: RunOptions = {
  budgetMs: envMs("BENCH_BUDGET_MS", 1000),
  warmupMs: envMs("BENCH_WARMUP_MS", 250),
  progress: (line) => process.stderr.write(`  … ${line}\n`)
}

const filters = process.argv.slice(2)
const started = process.hrtime.bigint()
for (const load of modules) {
  const { default: module } = await load()
  if (filters.length > 0 && !filters.some((f) => module.name.includes(f))) continue
  await module.run(options)
  console.log("")
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9
console.log(`(total ${seconds.toFixed(1)} s; checksum ${getChecksum()})`)
