// End-to-end RPC benchmark: calls to `echo.echo(payload)` over TCP on
// 127.0.0.1, ours (our Server, our client through Connection.connect and
// connection.call, or connection.callAll in (1)) against the reference,
// @metarhia/jstp 2.3.0 (its server and its callback client), in the same run
// and the same setup.
//
// The client runs in this process and the server in a child process
// (bench/rpc/server.ts, child_process.fork with `--import tsx`), so that with
// 2 cores client and server each have an event loop and a core of their own.
//
// Scenarios: (1) pipelined, 10 connections with 100 calls in flight each, ours
// both as 100 looping fibers per connection (connection.call) and as one
// connection.callAll per connection (concurrency 100); (2) sequential, 1
// connection, one call at a time; (3) a 64 KiB string, sequential, once as
// prose and once as base64 (how a 64 KiB Buffer travels in JSTP). Each runs a
// warm-up batch on the same connections first. Every
// call's latency (call start to result, process.hrtime.bigint) is kept, and
// every result is checked against the payload; any error or mismatch fails
// the benchmark after the table is printed.
//
// Each scenario also has a ceiling row: a bare Node echo (bench/rpc/floor.ts:
// node:net, NUL framing, JSON.parse and JSON.stringify, no protocol engine),
// the most any implementation that parses and writes its messages can do on
// this machine. Its ratio to the reference bounds every target.
//
// For profiling: BENCH_RPC_SCENARIOS=pipelined,sequential,large,large-base64
// and BENCH_RPC_IMPLS=ours,callAll,reference,floor pick what runs (callAll: the
// "ours (callAll)" row, in (1) only); BENCH_RPC_CPU_PROF=<dir>
// starts the server processes with `--cpu-prof --cpu-prof-dir=<dir>` (profile
// the client with `node --cpu-prof --import tsx bench/index.ts rpc`).
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { availableParallelism, loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit } from "effect"
import { Connection } from "effect-jstp"
import { type BenchModule, consume, formatRate, formatRatio, markdownTable, type RunOptions } from "./harness.js"
import { type Impl, isServerMessage, type ParentMessage, type ServerMessage } from "./rpc/ipc.js"
import * as Floor from "./rpc/floor.js"
import { loadReference, type RefConnection, type Jstp } from "./rpc/reference.js"

// --- Scenarios ----------------------------------------------------------------

type ScenarioKey = "pipelined" | "sequential" | "large" | "large-base64"

/**
 * A row of the table: ours with connection.call (`inFlight` looping fibers
 * per connection), ours with one connection.callAll per connection, the
 * reference, or the ceiling (a bare Node echo).
 */
type Variant = "ours" | "callAll" | "reference" | "floor"

const variantName: Record<Variant, string> = {
  ours: "ours",
  callAll: "ours (callAll)",
  reference: "reference",
  floor: "ceiling: bare Node echo"
}

/** The server a variant calls. */
const implOf = (variant: Variant): Impl =>
  variant === "reference" ? "reference" : variant === "floor" ? "floor" : "ours"

interface Scenario {
  readonly key: ScenarioKey
  readonly label: string
  /** The rows it runs, in this order. */
  readonly variants: ReadonlyArray<Variant>
  readonly connections: number
  /** Calls in flight per connection. */
  readonly inFlight: number
  readonly payload: string
  /** Calls of the warm-up batch, over all connections. */
  readonly warmupCalls: number
  /** Measured calls over all connections, or as many as take about `targetMs` (from the warm-up's mean). */
  readonly calls: number | { readonly targetMs: number; readonly min: number; readonly max: number }
}

// Prose of `length` UTF-16 code units with a few quotes and, every 4096 words,
// a non-ASCII word (so UTF-8 framing and escaping both matter).
const makeText = (length: number): string => {
  const words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "minim"]
  const rare = ["\"quoted\"", "it's", "don't", "\"a 'mixed' one\""]
  const nonAscii = ["café", "Grüße", "Привет", "日本語", "👋"]
  const parts: Array<string> = []
  let size = 0
  for (let n = 1; size < length; n++) {
    const word = n % 4096 === 0
      ? nonAscii[(n / 4096) % nonAscii.length]!
      : n % 53 === 0
      ? rare[(n / 53) % rare.length]!
      : words[(n * 7) % words.length]!
    const part = word + (n % 17 === 0 ? ". " : " ")
    parts.push(part)
    size += part.length
  }
  let text = parts.join("").slice(0, length)
  const last = text.charCodeAt(text.length - 1)
  if (last >= 0xd800 && last <= 0xdbff) text = text.slice(0, -1) + "."
  return text
}

const smallPayload = makeText(100) // ASCII: 100 bytes
const largePayload = makeText(64 * 1024)
// A 64 KiB Buffer travels in JSTP as a base64 string: 49,152 random bytes are
// exactly 65,536 base64 characters (ASCII).
const largeBase64Payload = randomBytes(49152).toString("base64")

const scenarios: ReadonlyArray<Scenario> = [
  {
    key: "pipelined",
    label: "(1) pipelined: 10 conns × 100 in flight, 100 B",
    variants: ["ours", "callAll", "reference", "floor"],
    connections: 10,
    inFlight: 100,
    payload: smallPayload,
    warmupCalls: 20_000,
    calls: 200_000
  },
  {
    key: "sequential",
    label: "(2) sequential: 1 conn, 1 in flight, 100 B",
    variants: ["ours", "reference", "floor"],
    connections: 1,
    inFlight: 1,
    payload: smallPayload,
    warmupCalls: 2_000,
    calls: 20_000
  },
  {
    key: "large",
    label: "(3) 64 KiB echo, text: 1 conn, 1 in flight",
    variants: ["ours", "reference", "floor"],
    connections: 1,
    inFlight: 1,
    payload: largePayload,
    warmupCalls: 40,
    calls: { targetMs: 2000, min: 300, max: 1000 }
  },
  {
    key: "large-base64",
    label: "(3) 64 KiB echo, base64: 1 conn, 1 in flight",
    variants: ["ours", "reference", "floor"],
    connections: 1,
    inFlight: 1,
    payload: largeBase64Payload,
    warmupCalls: 40,
    calls: { targetMs: 2000, min: 300, max: 1000 }
  }
]

const measuredCalls = (scenario: Scenario, warmup: Batch): number => {
  const calls = scenario.calls
  if (typeof calls === "number") return calls
  let sum = 0
  for (let i = 0; i < warmup.latencies.length; i++) sum += warmup.latencies[i]!
  const meanNs = sum / Math.max(1, warmup.latencies.length)
  const n = Math.round((calls.targetMs * 1e6) / Math.max(meanNs, 1))
  return Math.max(calls.min, Math.min(calls.max, n))
}

// --- Batches ------------------------------------------------------------------

/** One batch of calls: every latency, in nanoseconds, and what went wrong. */
interface Batch {
  readonly latencies: Float64Array
  readonly elapsedNs: number
  readonly completed: number
  readonly errors: number
  readonly mismatches: number
  readonly firstError: unknown
}

interface Tally {
  completed: number
  errors: number
  mismatches: number
  firstError: unknown
}

const newTally = (): Tally => ({ completed: 0, errors: 0, mismatches: 0, firstError: undefined })

// A result is right if it is exactly `[payload]`.
const checkResults = (tally: Tally, results: ReadonlyArray<unknown>, payload: string): void => {
  tally.completed++
  if (results.length !== 1 || results[0] !== payload) tally.mismatches++
}

const checkError = (tally: Tally, error: unknown): void => {
  tally.completed++
  tally.errors++
  if (tally.firstError === undefined) tally.firstError = error
}

// A batch fails if no call completes for this long (a server gone, a lost reply).
const STALL_MS = 10_000

// Calls `onStall` once if `tally.completed` does not move for STALL_MS; returns a stop function.
const watchdog = (tally: Tally, onStall: () => void): (() => void) => {
  let seen = -1
  let quietSince = Date.now()
  const timer = setInterval(() => {
    if (tally.completed !== seen) {
      seen = tally.completed
      quietSince = Date.now()
    } else if (Date.now() - quietSince >= STALL_MS) {
      clearInterval(timer)
      onStall()
    }
  }, 500)
  return () => clearInterval(timer)
}

const stallError = (who: string, tally: Tally, total: number): Error =>
  new Error(`rpc bench (${who}): no call completed for ${STALL_MS / 1000} s (${tally.completed} of ${total} calls done)`)

// Ours: `inFlight` fibers per connection, each looping over its connection's
// share of the calls; the whole batch is one Effect.
const oursBatch = (
  connections: ReadonlyArray<Connection.Connection>,
  inFlight: number,
  perConnection: number,
  payload: string
): Effect.Effect<Batch, Error> =>
  Effect.suspend(() => {
    const latencies = new Float64Array(connections.length * perConnection)
    const tally = newTally()
    const started = process.hrtime.bigint()
    const drive = (connection: Connection.Connection, c: number) => {
      const base = c * perConnection
      let next = 0
      const worker = Effect.gen(function*() {
        while (next < perConnection) {
          const slot = base + next++
          const start = process.hrtime.bigint()
          const exit = yield* Effect.exit(connection.call("echo", "echo", [payload]))
          latencies[slot] = Number(process.hrtime.bigint() - start)
          if (Exit.isSuccess(exit)) checkResults(tally, exit.value, payload)
          else checkError(tally, Cause.squash(exit.cause))
        }
      })
      return Effect.forEach(Array.from({ length: Math.min(inFlight, perConnection) }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
    }
    const stalled = Effect.async<never, Error>((resume) => {
      const stop = watchdog(tally, () => resume(Effect.fail(stallError("ours", tally, latencies.length))))
      return Effect.sync(stop)
    })
    return Effect.forEach(connections, drive, { concurrency: "unbounded", discard: true }).pipe(
      Effect.raceFirst(stalled),
      Effect.map((): Batch => ({ latencies, elapsedNs: Number(process.hrtime.bigint() - started), ...tally }))
    )
  })

// Ours with connection.callAll: one callAll per connection keeps `inFlight`
// calls in flight under one fiber. Its args iterable is a generator that
// stamps call i's start when it yields i's args (callAll pulls the next args
// exactly when it issues that call); onResult(i) stamps the end. callAll
// stops at the first failure, which is counted as one error (the calls it
// cancelled count as not completed).
const oursCallAllBatch = (
  connections: ReadonlyArray<Connection.Connection>,
  inFlight: number,
  perConnection: number,
  payload: string
): Effect.Effect<Batch, Error> =>
  Effect.suspend(() => {
    const latencies = new Float64Array(connections.length * perConnection)
    // Start times, in nanoseconds since `started`.
    const starts = new Float64Array(latencies.length)
    const tally = newTally()
    const started = process.hrtime.bigint()
    const sinceStarted = (): number => Number(process.hrtime.bigint() - started)
    const drive = (connection: Connection.Connection, c: number) => {
      const base = c * perConnection
      function* argsList(): Generator<ReadonlyArray<unknown>, void, unknown> {
        for (let i = 0; i < perConnection; i++) {
          starts[base + i] = sinceStarted()
          yield [payload]
        }
      }
      const onResult = (index: number, results: ReadonlyArray<unknown>): void => {
        const slot = base + index
        latencies[slot] = sinceStarted() - starts[slot]!
        checkResults(tally, results, payload)
      }
      return Effect.exit(connection.callAll("echo", "echo", argsList(), { concurrency: inFlight, onResult })).pipe(
        Effect.map((exit) => {
          if (Exit.isFailure(exit)) checkError(tally, Cause.squash(exit.cause))
        })
      )
    }
    const stalled = Effect.async<never, Error>((resume) => {
      const stop = watchdog(tally, () => resume(Effect.fail(stallError(variantName.callAll, tally, latencies.length))))
      return Effect.sync(stop)
    })
    return Effect.forEach(connections, drive, { concurrency: "unbounded", discard: true }).pipe(
      Effect.raceFirst(stalled),
      Effect.map((): Batch => ({ latencies, elapsedNs: Number(process.hrtime.bigint() - started), ...tally }))
    )
  })

/** A call of a callback-style client: `done(error, results)` once. */
type CallbackCall<C> = (connection: C, payload: string, done: (error: unknown, results: ReadonlyArray<unknown>) => void) => void

// A callback-style client (the reference, the ceiling): `inFlight` chains per
// connection; each callback starts the chain's next call.
const callbackBatch = <C>(
  who: string,
  call: CallbackCall<C>,
  connections: ReadonlyArray<C>,
  inFlight: number,
  perConnection: number,
  payload: string
): Promise<Batch> =>
  new Promise((resolve, reject) => {
    const latencies = new Float64Array(connections.length * perConnection)
    const tally = newTally()
    let connectionsLeft = connections.length
    const stop = watchdog(tally, () => reject(stallError(who, tally, latencies.length)))
    const started = process.hrtime.bigint()
    connections.forEach((connection, c) => {
      const base = c * perConnection
      let next = 0
      let done = 0
      const issue = (): void => {
        const slot = base + next++
        const start = process.hrtime.bigint()
        call(connection, payload, (error, results) => {
          latencies[slot] = Number(process.hrtime.bigint() - start)
          if (error !== null && error !== undefined) checkError(tally, error)
          else checkResults(tally, results, payload)
          done++
          if (next < perConnection) issue()
          else if (done === perConnection && --connectionsLeft === 0) {
            stop()
            resolve({ latencies, elapsedNs: Number(process.hrtime.bigint() - started), ...tally })
          }
        })
      }
      for (let i = 0; i < Math.min(inFlight, perConnection); i++) issue()
    })
  })

const referenceCall: CallbackCall<RefConnection> = (connection, payload, done) =>
  connection.callMethod("echo", "echo", [payload], (error, ...results) => done(error, results))

const floorCall: CallbackCall<Floor.FloorConnection> = (connection, payload, done) =>
  connection.call(payload, (results) => done(null, results))

// --- Server processes ---------------------------------------------------------

interface CpuUsage {
  readonly user: number
  readonly system: number
}

interface ServerProcess {
  readonly impl: Impl
  readonly port: number
  readonly mdsfFallback: boolean | null
  readonly usage: () => Promise<CpuUsage>
  readonly close: () => Promise<void>
}

const root = fileURLToPath(new URL("..", import.meta.url))
const serverEntry = fileURLToPath(new URL("./rpc/server.ts", import.meta.url))

const startServer = (impl: Impl): Promise<ServerProcess> =>
  new Promise((resolve, reject) => {
    const profDir = process.env["BENCH_RPC_CPU_PROF"]
    const child = fork(serverEntry, [impl], {
      cwd: root,
      execArgv: ["--import", "tsx", ...(profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [])],
      stdio: ["ignore", "pipe", "pipe", "ipc"]
    })
    // The server's output goes to stderr: stdout holds only the tables.
    child.stdout?.pipe(process.stderr, { end: false })
    child.stderr?.pipe(process.stderr, { end: false })
    let ready = false
    let gone: string | undefined
    const usageWaiters: Array<{ readonly resolve: (usage: CpuUsage) => void; readonly reject: (error: Error) => void }> = []
    const exited = new Promise<number | null>((done) =>
      child.once("exit", (code, signal) => {
        gone = `the ${impl} server exited (${signal ?? `code ${code}`})`
        for (const waiter of usageWaiters.splice(0)) waiter.reject(new Error(`rpc bench: ${gone}`))
        done(code)
      })
    )
    // IPC errors (the server gone) are reported through `exited` and `gone`.
    child.on("error", (error) => process.stderr.write(`rpc bench: the ${impl} server: ${error.message}\n`))
    const post = (message: ParentMessage): void => {
      if (child.connected) child.send(message)
    }
    const startTimer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`rpc bench: the ${impl} server did not start within 30 s`))
    }, 30_000)
    void exited.then(() => {
      clearTimeout(startTimer)
      if (!ready) reject(new Error(`rpc bench: ${gone} before listening`))
    })
    child.on("message", (message: unknown) => {
      if (!isServerMessage(message)) return
      const m: ServerMessage = message
      switch (m._tag) {
        case "Ready": {
          ready = true
          clearTimeout(startTimer)
          resolve({
            impl,
            port: m.port,
            mdsfFallback: m.mdsfFallback,
            usage: () =>
              new Promise((resolve, reject) => {
                if (gone !== undefined || !child.connected) return reject(new Error(`rpc bench: ${gone ?? `the ${impl} server is gone`}`))
                usageWaiters.push({ resolve, reject })
                post({ _tag: "Usage" })
              }),
            close: async () => {
              post({ _tag: "Close" })
              const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
              const code = await exited
              clearTimeout(timer)
              if (code !== 0) throw new Error(`rpc bench: ${gone}`)
            }
          })
          return
        }
        case "Usage":
          usageWaiters.shift()?.resolve({ user: m.user, system: m.system })
          return
        case "Failed":
          process.stderr.write(`rpc bench: the ${impl} server failed: ${m.message}\n`)
          if (!ready) reject(new Error(`rpc bench: the ${impl} server failed: ${m.message}`))
          return
      }
    })
  })

// --- Running a scenario -------------------------------------------------------

interface Result {
  readonly variant: Variant
  readonly scenario: Scenario
  readonly batch: Batch
  /** Client (this process) and server CPU time of the measured batch, microseconds. */
  readonly clientCpuUs: number
  readonly serverCpuUs: number
}

const cpuDelta = (before: CpuUsage, after: CpuUsage): number => after.user - before.user + after.system - before.system

const split = (scenario: Scenario, calls: number): number => Math.max(1, Math.round(calls / scenario.connections))

const ADDRESS_HOST = "127.0.0.1"

// Ours: the whole scenario (connect, warm-up, measured batch, close) is one
// Effect, with connection.call fibers or connection.callAll.
const runOurs = (variant: "ours" | "callAll", scenario: Scenario, server: ServerProcess): Promise<Result> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const oursBatchOf = variant === "ours" ? oursBatch : oursCallAllBatch
    const connections = yield* Effect.forEach(
      Array.from({ length: scenario.connections }),
      () => Connection.connect({ address: { _tag: "Tcp", host: ADDRESS_HOST, port: server.port }, application: "bench" }),
      { concurrency: "unbounded" }
    )
    const warmup = yield* oursBatchOf(connections, scenario.inFlight, split(scenario, scenario.warmupCalls), scenario.payload)
    const perConnection = split(scenario, measuredCalls(scenario, warmup))
    const serverBefore = yield* Effect.promise(() => server.usage())
    const clientBefore = process.cpuUsage()
    const batch = yield* oursBatchOf(connections, scenario.inFlight, perConnection, scenario.payload)
    const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
    const serverCpuUs = cpuDelta(serverBefore, yield* Effect.promise(() => server.usage()))
    return { variant, scenario, batch: withWarmupFailures(batch, warmup), clientCpuUs, serverCpuUs } as const
  })))

// Failures in the warm-up batch are reported with the measured batch's.
const withWarmupFailures = (batch: Batch, warmup: Batch): Batch => ({
  ...batch,
  errors: batch.errors + warmup.errors,
  mismatches: batch.mismatches + warmup.mismatches,
  firstError: warmup.firstError ?? batch.firstError
})

const referenceConnect = (jstp: Jstp, port: number): Promise<RefConnection> =>
  new Promise((resolve, reject) => {
    // No reconnector: the default one keeps a 1-2 s timer alive after close.
    jstp.net.connect("bench", { reconnector: () => {} }, port, ADDRESS_HOST, (error, connection) => {
      if (error !== null && error !== undefined) reject(error instanceof Error ? error : new Error(String(error)))
      else resolve(connection)
    })
  })

const referenceClose = (connection: RefConnection): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, 5_000)
    connection.once("close", () => {
      clearTimeout(timer)
      resolve()
    })
    connection.close()
  })

// A callback-style client: connect, warm-up, measured batch, close.
const runCallbackStyle = async <C>(
  variant: "reference" | "floor",
  scenario: Scenario,
  server: ServerProcess,
  client: { readonly connect: () => Promise<C>; readonly call: CallbackCall<C>; readonly close: (connection: C) => Promise<void> }
): Promise<Result> => {
  const connections: Array<C> = []
  const batch = (perConnection: number) =>
    callbackBatch(variant, client.call, connections, scenario.inFlight, perConnection, scenario.payload)
  try {
    for (let i = 0; i < scenario.connections; i++) connections.push(await client.connect())
    const warmup = await batch(split(scenario, scenario.warmupCalls))
    const perConnection = split(scenario, measuredCalls(scenario, warmup))
    const serverBefore = await server.usage()
    const clientBefore = process.cpuUsage()
    const measured = await batch(perConnection)
    const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
    const serverCpuUs = cpuDelta(serverBefore, await server.usage())
    return { variant, scenario, batch: withWarmupFailures(measured, warmup), clientCpuUs, serverCpuUs }
  } finally {
    await Promise.all(connections.map(client.close))
  }
}

const runReference = (scenario: Scenario, server: ServerProcess, jstp: Jstp): Promise<Result> =>
  runCallbackStyle("reference", scenario, server, {
    connect: async () => {
      const connection = await referenceConnect(jstp, server.port)
      // Its pending callbacks are not called on a transport error: the batch's watchdog fails it.
      connection.on("error", (error) => process.stderr.write(`rpc bench: reference client connection: ${String(error)}\n`))
      return connection
    },
    call: referenceCall,
    close: referenceClose
  })

const runFloor = (scenario: Scenario, server: ServerProcess): Promise<Result> =>
  runCallbackStyle("floor", scenario, server, {
    connect: () => Floor.connect(server.port),
    call: floorCall,
    close: async (connection) => connection.close()
  })

// --- Output -------------------------------------------------------------------

interface Summary {
  readonly calls: number
  readonly rate: number
  readonly p50Ns: number
  readonly p99Ns: number
  readonly cpuPerCallUs: { readonly client: number; readonly server: number }
}

const summarize = (result: Result): Summary => {
  const { batch } = result
  const sorted = Float64Array.from(batch.latencies).sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  const calls = batch.latencies.length
  return {
    calls,
    rate: (calls * 1e9) / Math.max(1, batch.elapsedNs),
    p50Ns: at(0.5),
    p99Ns: at(0.99),
    cpuPerCallUs: { client: result.clientCpuUs / calls, server: result.serverCpuUs / calls }
  }
}

const formatLatency = (ns: number): string => {
  if (!Number.isFinite(ns)) return "–"
  const us = ns / 1000
  if (us < 1000) return `${us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`
  const ms = us / 1000
  return `${ms < 100 ? ms.toFixed(2) : ms.toFixed(0)} ms`
}

const formatCpu = (us: number): string => (us < 100 ? us.toFixed(1) : us.toFixed(0))

const selected = <A extends string>(name: string, all: ReadonlyArray<A>): ReadonlyArray<A> => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return all
  const wanted = raw.split(",").map((s) => s.trim())
  return all.filter((item) => wanted.includes(item))
}

const run = async (options: RunOptions): Promise<void> => {
  const started = process.hrtime.bigint()
  const loadBefore = loadavg()[0] ?? 0
  const { jstp, mdsfFallback } = loadReference()
  const variants = selected<Variant>("BENCH_RPC_IMPLS", ["ours", "callAll", "reference", "floor"])
  const keys = selected<ScenarioKey>("BENCH_RPC_SCENARIOS", scenarios.map((s) => s.key))
  const chosen = scenarios.filter((s) => keys.includes(s.key))
  const runs = chosen.flatMap((scenario) =>
    scenario.variants.filter((v) => variants.includes(v)).map((variant) => ({ scenario, variant }))
  )
  const impls = (["ours", "reference", "floor"] as const).filter((impl) => runs.some((r) => implOf(r.variant) === impl))

  options.progress(`rpc: starting server processes (${impls.join(", ")})`)
  const servers = new Map<Impl, ServerProcess>()
  const results: Array<Result> = []
  try {
    for (const impl of impls) servers.set(impl, await startServer(impl))
    for (const { scenario, variant } of runs) {
      const server = servers.get(implOf(variant))!
      options.progress(`rpc: ${scenario.label}: ${variantName[variant]}`)
      results.push(
        variant === "reference"
          ? await runReference(scenario, server, jstp)
          : variant === "floor"
          ? await runFloor(scenario, server)
          : await runOurs(variant, scenario, server)
      )
    }
  } finally {
    const closing = await Promise.allSettled([...servers.values()].map((server) => server.close()))
    for (const outcome of closing) {
      if (outcome.status === "rejected") process.stderr.write(`${String(outcome.reason)}\n`)
    }
  }

  const summaries = new Map<Result, Summary>(results.map((r) => [r, summarize(r)]))
  const find = (key: ScenarioKey, variant: Variant): Summary | undefined => {
    const result = results.find((r) => r.scenario.key === key && r.variant === variant)
    return result === undefined ? undefined : summaries.get(result)
  }
  // Ours (with connection.call or with connection.callAll), or the ceiling, / the reference, calls/s.
  const ratioOf = (key: ScenarioKey, variant: Exclude<Variant, "reference">): number => {
    const ours = find(key, variant)
    const reference = find(key, "reference")
    return ours === undefined || reference === undefined ? Number.NaN : ours.rate / reference.rate
  }

  const rows: Array<Array<string>> = []
  results.forEach((result, i) => {
    const s = summaries.get(result)!
    const { variant } = result
    rows.push([
      i === 0 || results[i - 1]!.scenario !== result.scenario ? result.scenario.label : "",
      variantName[variant],
      s.calls.toLocaleString("en-US"),
      formatRate(s.rate),
      formatLatency(s.p50Ns),
      formatLatency(s.p99Ns),
      `${formatCpu(s.cpuPerCallUs.client)} + ${formatCpu(s.cpuPerCallUs.server)}`,
      variant === "reference" ? "" : formatRatio(ratioOf(result.scenario.key, variant))
    ])
    consume(Math.round(s.rate))
  })

  const serverFallback = servers.get("reference")?.mdsfFallback
  const describeMdsf = (fallback: boolean | null | undefined): string =>
    fallback === true ? "its JS fallback parser (native addon not built)" : fallback === false ? "its native addon" : "–"
  const mdsfLine = mdsfFallback === true && (serverFallback === true || serverFallback === undefined)
    ? `mdsf (the reference's serializer) runs its JS fallback parser (its native addon is not built) in the client${serverFallback === true ? " and in the reference server" : ""}`
    : `mdsf (the reference's serializer) runs ${describeMdsf(mdsfFallback)} in the client and ${describeMdsf(serverFallback)} in the reference server`
  // Node flags besides `--import tsx` (the TypeScript loader), which every process runs with.
  const extraFlags = (argv: ReadonlyArray<string>): Array<string> =>
    argv.filter((arg, i) => !(arg === "--import" && argv[i + 1] === "tsx") && !(arg === "tsx" && argv[i - 1] === "--import"))
  const clientFlags = extraFlags(process.execArgv)
  const profDir = process.env["BENCH_RPC_CPU_PROF"]
  const serverFlags = profDir ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : []
  const nodeOptions = process.env["NODE_OPTIONS"]?.trim() ?? ""
  const flagsLine = clientFlags.length === 0 && serverFlags.length === 0 && nodeOptions === ""
    ? "Node flags: none (client and servers run with only `--import tsx`, the TypeScript loader; NODE_OPTIONS unset)"
    : `Node flags besides \`--import tsx\`: client ${clientFlags.join(" ") || "none"}, servers ${serverFlags.join(" ") || "none"}; NODE_OPTIONS ${nodeOptions === "" ? "unset" : `"${nodeOptions}"`}`
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const out: Array<string> = []
  out.push("## RPC: echo over TCP on 127.0.0.1 (calls/s higher is better, latency lower is better)", "")
  out.push(markdownTable(
    ["Scenario", "Impl", "Calls", "Calls/s", "p50", "p99", "CPU µs/call (client + server)", "ours/ref calls/s"],
    rows
  ))
  out.push(
    "",
    `Setup: client in the bench process, server in a child process (child_process.fork with --import tsx, one per implementation), so client and server each have an event loop (and, on this ${availableParallelism()}-core machine, a core). ` +
      "Ours: Server.make + Connection.connect, `connection.call(\"echo\", \"echo\", [payload])`, one Effect.runPromise per scenario, " +
      "concurrency from long-lived fibers (one per call in flight) looping over their share of calls. " +
      "Ours (callAll), in (1) only: the same, but each connection driven by ONE `connection.callAll(\"echo\", \"echo\", args, { concurrency: 100, onResult })` " +
      "(100 calls in flight under one fiber; args is a generator that stamps call i's start when it yields i's args, which callAll pulls as it issues the call; onResult(i) stamps its end and checks its result). " +
      "Reference: @metarhia/jstp 2.3.0 jstp.net.createServer + jstp.net.connect (no-op reconnector), `callMethod` with callbacks, each callback starting the next call. " +
      "Both servers run the same callback-style handler `(connection, x, callback) => callback(null, x)` (ours wrapped in Application.callback). " +
      "Ceiling: a bare Node echo (bench/rpc/floor.ts), client and server with node:net, NUL framing, JSON.parse and JSON.stringify and nothing else (no handshake, validation, session buffer or protocol engine), driven like the reference; " +
      "no implementation that parses and serializes its messages can beat it here, so its ratio bounds what a target can ask of this machine.",
    `Latency is per call, from the call's start to its result (process.hrtime.bigint), over the measured batch; calls/s = measured calls / batch wall time. Each scenario runs a warm-up batch first on the same connections (not measured; (3)'s warm-up also sets its call count for ~2 s, between 300 and 1000). CPU µs/call = process.cpuUsage (user + system) of the client and of the server process over the measured batch, per call.`,
    `Payloads: a 100-byte ASCII string; (3) text: a 64 KiB string (65,536 UTF-16 code units, ${Buffer.byteLength(largePayload).toLocaleString("en-US")} UTF-8 bytes, prose with quotes and a few non-ASCII words); ` +
      `(3) base64: randomBytes(49152).toString("base64"), ${largeBase64Payload.length.toLocaleString("en-US")} ASCII characters (how a 64 KiB Buffer travels in JSTP). Every result was checked to be exactly [payload].`,
    `${flagsLine}. ${mdsfLine}. NODE_ENV=${process.env["NODE_ENV"] ?? "(unset)"}; Node ${process.version}; rpc bench took ${seconds.toFixed(1)} s; 1-min load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after (other work on the machine makes these figures noisy).`
  )

  // One target, several ours rows: each row's ratio and whether it meets the target.
  const verdictPart = (
    label: string,
    target: number,
    parts: ReadonlyArray<readonly [description: string, key: ScenarioKey, variant: "ours" | "callAll"]>
  ): string | undefined => {
    const found = parts.flatMap(([description, key, variant]) => {
      const r = ratioOf(key, variant)
      return Number.isNaN(r) ? [] : [`${description} ${formatRatio(r)} the reference (${r >= target ? "met" : "MISSED"})`]
    })
    return found.length === 0 ? undefined : `${label} (target ≥ ${target}×): ${found.join(", ")}`
  }
  const sequentialRatio = ratioOf("sequential", "ours")
  // What the bare Node echo reaches: no target above it can be met on this machine.
  const ceilingPart = (): string | undefined => {
    const found = scenarios.flatMap((scenario) => {
      const r = ratioOf(scenario.key, "floor")
      return Number.isNaN(r) ? [] : [`${scenario.label} ${formatRatio(r)}`]
    })
    return found.length === 0 ? undefined : `ceiling (a bare Node echo / the reference): ${found.join(", ")}`
  }
  const verdict = [
    verdictPart("pipelined", 2, [
      ["ours with connection.call (100 looping fibers per connection)", "pipelined", "ours"],
      ["ours with connection.callAll (one call per connection, concurrency 100)", "pipelined", "callAll"]
    ]),
    verdictPart("64 KiB", 10, [
      ["text payload: ours", "large", "ours"],
      ["base64 payload: ours", "large-base64", "ours"]
    ]),
    Number.isNaN(sequentialRatio) ? undefined : `sequential (no target) ours ${formatRatio(sequentialRatio)}`,
    ceilingPart()
  ].filter((part) => part !== undefined)
  if (verdict.length > 0) out.push("", `Verdict: ${verdict.join("; ")}.`)

  // Fail loudly on any error or wrong echo.
  const failures = results.filter((r) => r.batch.errors + r.batch.mismatches > 0 || r.batch.completed !== r.batch.latencies.length)
  const describeError = (error: unknown): string =>
    error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  for (const f of failures) {
    out.push(
      "",
      `FAILED: ${f.scenario.label}, ${variantName[f.variant]}: ${f.batch.errors} errors and ${f.batch.mismatches} wrong echoes (warm-up included); ` +
        `${f.batch.completed} of ${f.batch.latencies.length} measured calls completed; first error: ${describeError(f.batch.firstError)}`
    )
  }
  console.log(out.join("\n"))
  if (failures.length > 0) throw new Error(`rpc bench: ${failures.length} scenario run(s) had errors or wrong echoes (see above)`)
}

const rpc: BenchModule = { name: "rpc", run }
export default rpc
