// `npm run bench -- rpc` runs this module too ("rpc-observability"): what
// observability costs a call, end to end, against the same build with the
// instrumentation compiled out (bench/observability/builds.ts).
//
// Five variants (bench/observability/variant.ts), each a client in this
// process and a server process of its own (bench/observability/server.ts),
// both sides alike: compiled out; compiled in and not enabled (what every
// user who does not ask for it runs); metrics on; metrics and spans with
// Effect's tracer; metrics and spans through the OpenTelemetry SDK (spans
// batched to an exporter that drops them).
//
// Two scenarios, the (1) and (2) of bench/rpc.ts with a 100-byte payload:
// pipelined (10 connections × 100 fibers looping on connection.call) and
// sequential (one fiber, one call at a time); calls/s, and CPU µs per call
// (client + server, process.cpuUsage). After a warm-up round:
//
// - the engine alone (bench/observability/engine.ts: a client and a server
//   engine over synchronous in-memory links), compiled in against compiled
//   out in this process, PAIRS back-to-back measurements: the cost of the
//   probe sites with nothing else around them;
// - free when unused: the default (compiled in, not enabled) against
//   compiled out, back to back in alternating order, PAIRS times; the table
//   gives the median of the pairs' ratios (a round's calls/s moves by a
//   third between identical rounds on this machine: pairing cancels the
//   drift);
// - every variant, in rounds in a rotated order: the median over the rounds.
//
// BENCH_OBSERVABILITY_PAIRS (default 24) and BENCH_OBSERVABILITY_ROUNDS
// (default 5) set the pairs and rounds;
// BENCH_OBSERVABILITY_CALLS (default 60,000) the pipelined calls per round
// (sequential: a tenth).
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { type BenchModule, consume, formatRate, formatRatio, markdownTable, measure, type RunOptions } from "./harness.js"
import { isServerMessage, type ServerMessage } from "./rpc/ipc.js"
import { type Build, buildAll, pathOf } from "./observability/builds.js"
import type * as EnginePair from "./observability/engine.js"
import { load, observing, type Variant, variants } from "./observability/variant.js"

const ROUNDS = Math.max(1, Number(process.env["BENCH_OBSERVABILITY_ROUNDS"] ?? 5) || 5)
const PAIRS = Math.max(1, Number(process.env["BENCH_OBSERVABILITY_PAIRS"] ?? 24) || 24)
const CALLS = Math.max(1000, Number(process.env["BENCH_OBSERVABILITY_CALLS"] ?? 60_000) || 60_000)
const PAYLOAD = "x".repeat(100)

interface ServerProcess {
  readonly port: number
  readonly usage: () => Promise<number>
  readonly close: () => void
}

const startServer = (variant: Variant): Promise<ServerProcess> =>
  new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(new URL("./observability/server.ts", import.meta.url)), [variant.build, variant.mode], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    let waiting: ((micros: number) => void) | undefined
    child.on("message", (message: unknown) => {
      if (!isServerMessage(message)) return
      const m: ServerMessage = message
      if (m._tag === "Ready") {
        resolve({
          port: m.port,
          usage: () =>
            new Promise<number>((done) => {
              waiting = done
              child.send({ _tag: "Usage" })
            }),
          close: () => child.send({ _tag: "Close" })
        })
      } else if (m._tag === "Usage") {
        waiting?.(m.user + m.system)
      } else if (m._tag === "Failed") {
        reject(new Error(m.message))
      }
    })
    child.once("exit", (code) => reject(new Error(`the ${variant.key} server exited with ${code}`)))
  })

interface Sample {
  readonly rate: number
  readonly cpuPerCall: number
}

type Lib = Awaited<ReturnType<typeof load>>

// One round of a scenario: `connections` × `inFlight` fibers issue `calls` calls.
const runScenario = (
  lib: Lib,
  variant: Variant,
  server: ServerProcess,
  connections: number,
  inFlight: number,
  calls: number
): Promise<Sample> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const address = { _tag: "Tcp", host: "127.0.0.1", port: server.port } as const
    const opened = yield* Effect.forEach(
      Array.from({ length: connections }),
      () => lib.Connection.connect({ address, application: "bench" })
    )
    let issued = 0
    let answered = 0
    const loop = (connection: (typeof opened)[number]) =>
      Effect.whileLoop({
        while: () => issued < calls,
        body: () => {
          issued++
          return connection.call("echo", "echo", [PAYLOAD])
        },
        step: (results) => {
          if (results[0] === PAYLOAD) answered++
        }
      })
    const serverBefore = yield* Effect.promise(server.usage)
    const clientBefore = process.cpuUsage()
    const started = performance.now()
    yield* Effect.forEach(opened, (connection) => Effect.forEach(Array.from({ length: inFlight }), () => loop(connection), {
      concurrency: "unbounded",
      discard: true
    }), { concurrency: "unbounded", discard: true })
    const seconds = (performance.now() - started) / 1000
    const client = process.cpuUsage(clientBefore)
    const serverAfter = yield* Effect.promise(server.usage)
    if (answered !== calls) return yield* Effect.die(new Error(`${variant.key}: ${answered} of ${calls} calls answered right`))
    consume(answered)
    return { rate: calls / seconds, cpuPerCall: (client.user + client.system + serverAfter - serverBefore) / calls }
  })).pipe(observing(lib, variant.mode)))

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const scenarios = [
  { key: "pipelined", label: "pipelined, 10 conns × 100 in flight", connections: 10, inFlight: 100, calls: CALLS },
  { key: "sequential", label: "sequential, one call at a time", connections: 1, inFlight: 1, calls: Math.round(CALLS / 10) }
] as const

// The variants of one round, run in `order`; each sample lands in `samples`
// under "<scenario> <variant>".
const runRound = async (
  order: ReadonlyArray<Variant>,
  libs: Readonly<Record<"in" | "out", Lib>>,
  servers: ReadonlyMap<string, ServerProcess>,
  samples: Map<string, Array<Sample>> | undefined
): Promise<void> => {
  for (const scenario of scenarios) {
    for (const variant of order) {
      const { calls, connections, inFlight } = scenario
      const sample = await runScenario(libs[variant.build], variant, servers.get(variant.key)!, connections, inFlight, calls)
      const key = `${scenario.key} ${variant.key}`
      samples?.set(key, [...(samples.get(key) ?? []), sample])
    }
  }
}

// The engine alone (./observability/engine.ts), compiled in against compiled
// out in one process: calls/s of each, measured back to back PAIRS times.
const engineAlone = async (options: RunOptions): Promise<Array<string>> => {
  const pairOf = async (build: Build) => ((await import(pathOf(build, "engine"))) as typeof EnginePair).makePair(PAYLOAD)
  const pairs = { out: await pairOf("out"), in: await pairOf("in") }
  const rates: Record<Build, Array<number>> = { out: [], in: [] }
  const timing = { budgetMs: 200, warmupMs: 50 }
  for (let pair = 0; pair < PAIRS; pair++) {
    options.progress(`rpc-observability: the engine alone, pair ${pair + 1} of ${PAIRS}`)
    for (const build of pair % 2 === 0 ? (["out", "in"] as const) : (["in", "out"] as const)) {
      rates[build].push(measure(pairs[build].call, timing).opsPerSecond)
    }
  }
  return [
    "the engine alone: in-memory links, no sockets, no fibers",
    formatRate(median(rates.out)),
    formatRate(median(rates.in)),
    formatRatio(median(rates.in.map((rate, i) => rate / rates.out[i]!))),
    `${(1e6 / median(rates.out)).toFixed(2)} µs`,
    `${(1e6 / median(rates.in)).toFixed(2)} µs`,
    "–"
  ]
}

const run = async (options: RunOptions): Promise<void> => {
  options.progress("rpc-observability: bundling the two builds")
  await buildAll()
  const engineRow = await engineAlone(options)
  const libs = { in: await load("in"), out: await load("out") }
  const servers = new Map<string, ServerProcess>()
  for (const variant of variants) servers.set(variant.key, await startServer(variant))
  const [compiledOut, notEnabled] = [variants[0]!, variants[1]!]
  const pairs = new Map<string, Array<Sample>>()
  const samples = new Map<string, Array<Sample>>()
  try {
    options.progress("rpc-observability: warm-up round")
    await runRound(variants, libs, servers, undefined)
    // Free when unused: the default build against the compiled-out one,
    // back to back in alternating order, many times.
    for (let pair = 0; pair < PAIRS; pair++) {
      options.progress(`rpc-observability: compiled in against compiled out, pair ${pair + 1} of ${PAIRS}`)
      await runRound(pair % 2 === 0 ? [compiledOut, notEnabled] : [notEnabled, compiledOut], libs, servers, pairs)
    }
    for (let round = 1; round <= ROUNDS; round++) {
      options.progress(`rpc-observability: every variant, round ${round} of ${ROUNDS}`)
      // Rotated, so that no variant always runs first or after the same one.
      await runRound(variants.map((_, i) => variants[(i + round) % variants.length]!), libs, servers, samples)
    }
  } finally {
    for (const server of servers.values()) server.close()
  }

  console.log("## rpc-observability: what observing a call costs\n")
  console.log(`Compiled in and not enabled, against compiled out: the median of ${PAIRS} back-to-back pairs' ratios.\n`)
  console.log(markdownTable(
    ["scenario", "calls/s, compiled out", "calls/s, compiled in", "calls/s ratio", "CPU µs/call, out", "CPU µs/call, in", "CPU ratio"],
    scenarios.map((scenario) => {
      const out = pairs.get(`${scenario.key} ${compiledOut.key}`)!
      const inn = pairs.get(`${scenario.key} ${notEnabled.key}`)!
      return [
        scenario.label,
        formatRate(median(out.map((s) => s.rate))),
        formatRate(median(inn.map((s) => s.rate))),
        formatRatio(median(inn.map((s, i) => s.rate / out[i]!.rate))),
        median(out.map((s) => s.cpuPerCall)).toFixed(2),
        median(inn.map((s) => s.cpuPerCall)).toFixed(2),
        formatRatio(median(inn.map((s, i) => s.cpuPerCall / out[i]!.cpuPerCall)))
      ]
    }).concat([engineRow])
  ))
  console.log("")
  console.log("(The engine alone: its CPU µs per call is its time per call, both sides in one thread.)\n")
  for (const scenario of scenarios) {
    const of = (variant: Variant) => samples.get(`${scenario.key} ${variant.key}`)!
    const baseRate = median(of(compiledOut).map((s) => s.rate))
    const baseCpu = median(of(compiledOut).map((s) => s.cpuPerCall))
    const rows = variants.map((variant) => {
      const rates = of(variant).map((s) => s.rate)
      const rate = median(rates)
      const cpu = median(of(variant).map((s) => s.cpuPerCall))
      const spread = `${formatRate(Math.min(...rates))}–${formatRate(Math.max(...rates))}`
      return [variant.label, formatRate(rate), spread, formatRatio(rate / baseRate), cpu.toFixed(2), formatRatio(cpu / baseCpu)]
    })
    console.log(`### Every variant, ${scenario.label}: median of ${ROUNDS} rounds of ${formatRate(scenario.calls)} calls\n`)
    console.log(markdownTable(["variant", "calls/s", "rounds' range", "vs compiled out", "CPU µs/call", "vs compiled out"], rows))
    console.log("")
  }
}

const module: BenchModule = { name: "rpc-observability", run }
export default module
