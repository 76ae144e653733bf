// A small timing harness for `npm run bench`: warm a function up, then time it
// in samples over a fixed budget and report the median rate. Every measured
// function returns a number derived from its result, which is added to a
// checksum that the entry point prints, so V8 cannot drop the work.

import { createRequire } from "node:module"

/** A benchmark module that bench/index.ts runs; it prints its own tables. */
export interface BenchModule {
  readonly name: string
  readonly run: (options: RunOptions) => void | Promise<void>
}

export interface RunOptions {
  /** Time spent measuring each case, in milliseconds. */
  readonly budgetMs: number
  /** Time spent warming each case up (not measured), in milliseconds. */
  readonly warmupMs: number
  /** Progress lines; written to stderr so that stdout holds only the tables. */
  readonly progress: (line: string) => void
}

export interface Measurement {
  /** Median calls per second over the samples. */
  readonly opsPerSecond: number
  /** Relative spread of the samples: (p90 - p10) / median. */
  readonly spread: number
  readonly calls: number
  readonly samples: number
}

let checksum = 0

/** Adds a result-derived number to the checksum. */
export const consume = (n: number): void => {
  checksum = (checksum + n) % 0x7fffffff
}

export const getChecksum = (): number => checksum

const nowNs = (): bigint => process.hrtime.bigint()

const maybeCollectGarbage = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (typeof gc === "function") gc()
}

// Calls fn `calls` times and returns the elapsed nanoseconds.
const timeCalls = (fn: () => number, calls: number): number => {
  let sink = 0
  const start = nowNs()
  for (let i = 0; i < calls; i++) sink += fn()
  const elapsed = Number(nowNs() - start)
  consume(sink)
  return elapsed
}

const SAMPLE_NS = 25e6

/**
 * Warms `fn` up for `warmupMs`, then times it in samples of about 25 ms each
 * until `budgetMs` has passed (at least 5 samples).
 */
export const measure = (fn: () => number, options: Pick<RunOptions, "budgetMs" | "warmupMs">): Measurement => {
  maybeCollectGarbage()
  // Warm-up, growing the batch until one batch takes about a sample's time.
  let batch = 1
  const warmupEnd = nowNs() + BigInt(Math.round(options.warmupMs * 1e6))
  let perCallNs = 0
  do {
    const elapsed = timeCalls(fn, batch)
    perCallNs = elapsed / batch
    if (elapsed < SAMPLE_NS) batch = Math.min(batch * 2, Math.max(1, Math.ceil(SAMPLE_NS / Math.max(perCallNs, 1))))
  } while (nowNs() < warmupEnd)
  const callsPerSample = Math.max(1, Math.round(SAMPLE_NS / Math.max(perCallNs, 1)))

  const rates: Array<number> = []
  let calls = 0
  const budgetNs = options.budgetMs * 1e6
  let spent = 0
  while (spent < budgetNs || rates.length < 5) {
    const elapsed = timeCalls(fn, callsPerSample)
    spent += elapsed
    calls += callsPerSample
    rates.push((callsPerSample * 1e9) / Math.max(elapsed, 1))
  }
  rates.sort((a, b) => a - b)
  const at = (q: number): number => rates[Math.min(rates.length - 1, Math.floor(q * rates.length))] ?? 0
  const median = at(0.5)
  return { opsPerSecond: median, spread: (at(0.9) - at(0.1)) / median, calls, samples: rates.length }
}

/** Formats a rate with thousands separators (or 3 significant digits below 100). */
export const formatRate = (n: number): string =>
  n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3)

/** Formats a ratio as e.g. `3.42×`. */
export const formatRatio = (n: number): string => (Number.isFinite(n) ? `${n >= 10 ? n.toFixed(1) : n.toFixed(2)}×` : "–")

/** Formats a byte count as B / KiB. */
export const formatBytes = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`)

/** A Markdown table with right-aligned columns after the first. */
export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>): string =>
    "| " + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ") + " |"
  const rule = "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") + "|"
  return [line(header), rule, ...rows.map(line)].join("\n")
}

/**
 * Requires a reference package (mdsf, or @metarhia/jstp which loads it).
 * mdsf looks for its native addon on load and, not finding it, warns before
 * falling back to its JS parser: the warnings are kept off the output, and
 * `mdsfFallback` tells whether that happened.
 */
export const requireReference = <A>(specifier: string): { readonly value: A; readonly mdsfFallback: boolean } => {
  const require = createRequire(import.meta.url)
  const warn = console.warn
  const warnings: Array<string> = []
  console.warn = (...args: Array<unknown>): void => {
    warnings.push(args.map(String).join(" "))
  }
  try {
    const value = require(specifier) as A
    return { value, mdsfFallback: warnings.some((w) => w.includes("native addon is not built")) }
  } finally {
    console.warn = warn
  }
}

