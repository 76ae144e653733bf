// Compat benchmark: THE SAME CommonJS program (bench/compat/program.cjs),
// written against the documented @metarhia/jstp 2.x API, run through our
// drop-in facade (`require("effect-jstp/compat")`, bench/compat/ours.cjs) and
// through @metarhia/jstp 2.3.0 (`require("@metarhia/jstp")`,
// bench/compat/reference.cjs); the two entry files differ only in that
// require line. Server and client are separate child processes (plain
// `node`, no TypeScript loader), pinned with taskset to a CPU each (servers
// on CPU 1, clients on CPU 0) when there are 2 or more; this process only
// starts them and collects their reports over IPC.
//
// Scenarios: (1) pipelined, 10 connections with 100 calls in flight each
// (callback chains), (2) sequential, 1 connection, one call at a time, both
// echoing a 100-byte string; (3) idle memory per connection: a fresh server
// (with --expose-gc) measured after global.gc() with 0 and then with 2,000
// open, handshaken, idle connections held by a client process.
//
// (1) and (2) run their measured calls in rounds that alternate between the
// implementations (ours, ref, ref, ours, ...), and measure what else the
// machine is doing (/proc/stat busy time minus the benchmark's processes'
// CPU time): a round during which other processes used more than 0.2 cores
// is run again after waiting for the machine to be quiet. Every result is
// checked to be exactly [payload]; any error, wrong echo, lost call or
// connection error fails the benchmark after the tables are printed.
//
// `effect-jstp/compat` resolves through package.json exports to dist/cjs:
// if dist is missing or older than any file of src/, this module runs the
// build (scripts/build.mjs) first.
//
// For profiling: BENCH_COMPAT_SCENARIOS=pipelined,sequential,memory and
// BENCH_COMPAT_IMPLS=ours,reference pick what runs; BENCH_COMPAT_SERVER_FLAGS
// and BENCH_COMPAT_CLIENT_FLAGS add Node flags to the server and client
// processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"); BENCH_COMPAT_PIN=0
// does not pin; BENCH_COMPAT_MAX_FOREIGN sets the other-load limit (cores).
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type BenchModule, consume, formatRate, formatRatio, markdownTable, type RunOptions } from "./harness.js"

type Impl = "ours" | "reference"
const impls: ReadonlyArray<Impl> = ["ours", "reference"]
const implName: Record<Impl, string> = { ours: "ours (effect-jstp/compat)", reference: "reference (@metarhia/jstp 2.3.0)" }

const root = fileURLToPath(new URL("..", import.meta.url))
const entryOf = (impl: Impl): string => fileURLToPath(new URL(`./compat/${impl}.cjs`, import.meta.url))

// --- Scenarios ----------------------------------------------------------------

type ScenarioKey = "pipelined" | "sequential" | "memory"

interface CallScenario {
  readonly key: "pipelined" | "sequential"
  readonly label: string
  readonly connections: number
  /** Calls in flight per connection. */
  readonly inFlight: number
  readonly warmupCalls: number
  /** Measured calls per implementation, in `rounds` batches that alternate between the implementations. */
  readonly calls: number
  readonly rounds: number
  readonly payloadBytes: number
}

const callScenarios: ReadonlyArray<CallScenario> = [
  {
    key: "pipelined",
    label: "(1) pipelined: 10 conns × 100 in flight, 100 B",
    connections: 10,
    inFlight: 100,
    warmupCalls: 20_000,
    // Rounds of about 0.3 s (ours) to 0.8 s (the reference): long enough that
    // a stall of the machine for a tenth of a second moves a result little.
    calls: 400_000,
    rounds: 5,
    payloadBytes: 100
  },
  {
    key: "sequential",
    label: "(2) sequential: 1 conn, 1 in flight, 100 B",
    connections: 1,
    inFlight: 1,
    // Both implementations are still being optimized by V8 until about
    // 8,000 calls one at a time (node --trace-opt; calls/s rises until then).
    warmupCalls: 10_000,
    calls: 40_000,
    rounds: 10,
    payloadBytes: 100
  }
]

/** Idle connections of (3), opened at most this many handshakes at a time. */
const IDLE_CONNECTIONS = 2_000
const IDLE_CONCURRENCY = 50
/** Connections opened and closed before the baseline, so that lazily loaded code and first-use state are in it. */
const IDLE_WARMUP_CONNECTIONS = 20

/** How long a child may take to send an expected message. */
const MESSAGE_TIMEOUT_MS = 120_000

/**
 * A round during which other processes on the machine used more than this
 * many cores (from /proc/stat, minus the benchmark's own processes) is run
 * again, up to MAX_RETRIES times per round.
 */
const MAX_FOREIGN_CORES = ((value: number) => (Number.isFinite(value) && value >= 0 ? value : 0.2))(
  Number(process.env["BENCH_COMPAT_MAX_FOREIGN"] ?? 0.2)
)
const MAX_RETRIES = 8
/** Before running a round again, wait (up to this long) until other processes use less than MAX_FOREIGN_CORES. */
const QUIET_WAIT_MS = 30_000

// --- The build ----------------------------------------------------------------

const newestMtime = (dir: string): number => {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** Builds dist/ if it is missing or older than src/; tells whether it built. */
const ensureBuild = (options: RunOptions): boolean => {
  // scripts/build.mjs writes dist/cjs/package.json last.
  const marker = join(root, "dist/cjs/package.json")
  const entry = join(root, "dist/cjs/compat/index.js")
  if (existsSync(marker) && existsSync(entry) && statSync(marker).mtimeMs >= newestMtime(join(root, "src"))) return false
  options.progress("compat: dist/ is missing or older than src/: building (scripts/build.mjs)")
  execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, stdio: ["ignore", process.stderr, process.stderr] })
  return true
}

// --- File descriptors ---------------------------------------------------------

interface FdLimits {
  readonly soft: number
  readonly hard: number
}

const parseLimit = (text: string | undefined): number => (text === "unlimited" ? Infinity : Number(text))

const fdLimits = (): FdLimits => {
  const [soft, hard] = execFileSync("/bin/sh", ["-c", "ulimit -Sn; ulimit -Hn"], { encoding: "utf8" }).trim().split(/\s+/)
  return { soft: parseLimit(soft), hard: parseLimit(hard) }
}

// --- Child processes ----------------------------------------------------------

interface Message {
  readonly type: string
  readonly [key: string]: unknown
}

const isMessage = (value: unknown): value is Message =>
  typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string"

interface Program {
  readonly label: string
  /** The next message of this type (kept if it came first); rejects on a failure or exit first. */
  readonly next: (type: string) => Promise<Message>
  readonly send: (message: Message) => void
  /** Resolves with the exit code once the process is gone; rejects if it is not 0. */
  readonly exited: () => Promise<void>
  readonly kill: () => void
}

interface SpawnOptions {
  readonly role: "server" | "client" | "hold"
  readonly params?: object
  readonly extraFlags: ReadonlyArray<string>
  /** File descriptors it needs: the soft limit is raised (through sh) if it is lower. */
  readonly fds: number
  readonly limits: FdLimits
  /** The CPU to pin it to (taskset), if any. */
  readonly cpu: number | undefined
}

const startProgram = (impl: Impl, options: SpawnOptions): Program => {
  const label = `${impl} ${options.role}`
  const args = [options.role, ...(options.params === undefined ? [] : [JSON.stringify(options.params)])]
  let argv = [process.execPath, ...options.extraFlags, entryOf(impl), ...args]
  if (options.fds > options.limits.hard) {
    throw new Error(`compat bench: the ${label} needs ${options.fds} file descriptors; the hard limit is ${options.limits.hard}`)
  }
  // Raise the soft limit for this process only, then exec node in place (the IPC channel's fd survives the exec).
  if (options.fds > options.limits.soft) argv = ["/bin/sh", "-c", `ulimit -n ${options.fds} && exec "$@"`, "sh", ...argv]
  if (options.cpu !== undefined) argv = ["taskset", "-c", String(options.cpu), ...argv]
  // Advanced serialization: latencies come back as Float64Arrays.
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced"
  })
  // Children's output goes to stderr: stdout holds only the tables.
  child.stdout?.pipe(process.stderr, { end: false })
  child.stderr?.pipe(process.stderr, { end: false })

  const inbox: Array<Message> = []
  const waiters: Array<{ readonly type: string; readonly resolve: (m: Message) => void; readonly reject: (e: Error) => void }> = []
  let failure: Error | undefined
  let exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
  const exitWaiters: Array<() => void> = []

  const failAll = (error: Error): void => {
    failure ??= error
    for (const waiter of waiters.splice(0)) waiter.reject(failure)
  }
  child.on("message", (raw: unknown) => {
    if (!isMessage(raw)) return
    if (raw.type === "failed") return failAll(new Error(`compat bench: the ${label} failed: ${String(raw["message"])}`))
    const i = waiters.findIndex((w) => w.type === raw.type)
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(raw)
    else inbox.push(raw)
  })
  child.on("error", (error) => failAll(new Error(`compat bench: the ${label}: ${error.message}`)))
  child.on("exit", (code, signal) => {
    exit = { code, signal }
    failAll(new Error(`compat bench: the ${label} exited (${signal ?? `code ${code}`}) before sending what was expected`))
    for (const done of exitWaiters.splice(0)) done()
  })

  return {
    label,
    next: (type) =>
      new Promise((resolve, reject) => {
        const i = inbox.findIndex((m) => m.type === type)
        if (i >= 0) return resolve(inbox.splice(i, 1)[0]!)
        if (failure !== undefined) return reject(failure)
        const timer = setTimeout(() => {
          const j = waiters.findIndex((w) => w.resolve === done)
          if (j >= 0) waiters.splice(j, 1)
          child.kill("SIGKILL")
          reject(new Error(`compat bench: the ${label} sent no "${type}" within ${MESSAGE_TIMEOUT_MS / 1000} s`))
        }, MESSAGE_TIMEOUT_MS)
        const done = (m: Message): void => {
          clearTimeout(timer)
          resolve(m)
        }
        waiters.push({
          type,
          resolve: done,
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          }
        })
      }),
    send: (message) => {
      if (child.connected) child.send(message)
    },
    exited: () =>
      new Promise<void>((resolve, reject) => {
        const settle = (): void => {
          clearTimeout(timer)
          if (exit?.code === 0) resolve()
          else reject(new Error(`compat bench: the ${label} exited with ${exit?.signal ?? `code ${exit?.code}`}`))
        }
        const timer = setTimeout(() => {
          child.kill("SIGKILL")
        }, 15_000)
        if (exit !== undefined) settle()
        else exitWaiters.push(settle)
      }),
    kill: () => {
      if (exit === undefined) child.kill("SIGKILL")
    }
  }
}

interface Server {
  readonly program: Program
  readonly port: number
  readonly mdsfFallback: boolean
  readonly cpuUs: () => Promise<number>
  readonly memory: (expect: number) => Promise<Memory>
  /** Asks it to close and waits for its exit; returns the connection errors it saw. */
  readonly close: () => Promise<number>
}

interface Memory {
  readonly clients: number
  readonly rss: number
  readonly heapUsed: number
  readonly heapTotal: number
  readonly external: number
  readonly arrayBuffers: number
}

const num = (m: Message, key: string): number => {
  const value = m[key]
  if (typeof value !== "number") throw new Error(`compat bench: "${m.type}" without a number "${key}"`)
  return value
}

/** What every child is started with. */
interface Setup {
  readonly limits: FdLimits
  /** CPUs to pin servers and clients to, if pinned. */
  readonly pin: { readonly server: number; readonly client: number } | undefined
}

const startServer = async (impl: Impl, setup: Setup, fds: number): Promise<Server> => {
  const program = startProgram(impl, {
    role: "server",
    extraFlags: ["--expose-gc", ...serverFlags()],
    fds,
    limits: setup.limits,
    cpu: setup.pin?.server
  })
  try {
    const ready = await program.next("ready")
    return {
      program,
      port: num(ready, "port"),
      mdsfFallback: ready["mdsfFallback"] === true,
      cpuUs: async () => {
        program.send({ type: "usage" })
        const usage = await program.next("usage")
        return num(usage, "user") + num(usage, "system")
      },
      memory: async (expect) => {
        program.send({ type: "memory", expect })
        const m = await program.next("memory")
        return {
          clients: num(m, "clients"),
          rss: num(m, "rss"),
          heapUsed: num(m, "heapUsed"),
          heapTotal: num(m, "heapTotal"),
          external: num(m, "external"),
          arrayBuffers: num(m, "arrayBuffers")
        }
      },
      close: async () => {
        program.send({ type: "close" })
        const closed = await program.next("closed")
        await program.exited()
        return num(closed, "connectionErrors")
      }
    }
  } catch (error) {
    program.kill()
    throw error
  }
}

const flagsFrom = (name: string): ReadonlyArray<string> => (process.env[name] ?? "").split(/\s+/).filter((s) => s !== "")
const serverFlags = (): ReadonlyArray<string> => flagsFrom("BENCH_COMPAT_SERVER_FLAGS")
const clientFlags = (): ReadonlyArray<string> => flagsFrom("BENCH_COMPAT_CLIENT_FLAGS")

// --- Other load on the machine ------------------------------------------------

const clockTicks = (): number => {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
}

/** Busy CPU time of the whole machine so far (user, nice, system, irq, softirq, steal), µs; undefined without /proc/stat. */
const machineBusyUs = (ticksPerSecond: number): number | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? ""
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
    const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)
    return Number.isFinite(busy) ? (busy * 1e6) / ticksPerSecond : undefined
  } catch {
    return undefined
  }
}

const ownCpuUs = (): number => {
  const { user, system } = process.cpuUsage()
  return user + system
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits until, over half a second, the machine is busy with less than
 * MAX_FOREIGN_CORES besides this process (the children are idle between
 * rounds), or QUIET_WAIT_MS has passed; returns the milliseconds waited.
 */
const waitForQuiet = async (ticks: number): Promise<number> => {
  const started = Date.now()
  while (Date.now() - started < QUIET_WAIT_MS) {
    const busyBefore = machineBusyUs(ticks)
    const ownBefore = ownCpuUs()
    const wallBefore = process.hrtime.bigint()
    await sleep(500)
    const busyAfter = machineBusyUs(ticks)
    if (busyBefore === undefined || busyAfter === undefined) break
    const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000
    if ((busyAfter - busyBefore - (ownCpuUs() - ownBefore)) / wallUs <= MAX_FOREIGN_CORES) break
  }
  return Date.now() - started
}

// --- Call scenarios -----------------------------------------------------------

interface Client {
  readonly program: Program
  readonly warmup: Tally
}

interface Tally {
  readonly calls: number
  readonly completed: number
  readonly errors: number
  readonly mismatches: number
  readonly firstError: string | undefined
}

const tallyOf = (m: Message, calls: number): Tally => ({
  calls,
  completed: num(m, "completed"),
  errors: num(m, "errors"),
  mismatches: num(m, "mismatches"),
  firstError: typeof m["firstError"] === "string" ? m["firstError"] : undefined
})

/** One measured batch of one implementation. */
interface Round {
  readonly impl: Impl
  readonly latencies: Float64Array
  readonly elapsedNs: number
  readonly clientCpuUs: number
  readonly serverCpuUs: number
  /** Cores other processes used during the batch (NaN without /proc/stat). */
  readonly foreignCores: number
  readonly tally: Tally
}

const startClient = async (impl: Impl, scenario: CallScenario, server: Server, setup: Setup): Promise<Client> => {
  const params = {
    port: server.port,
    connections: scenario.connections,
    inFlight: scenario.inFlight,
    warmupCalls: scenario.warmupCalls,
    payloadBytes: scenario.payloadBytes
  }
  const program = startProgram(impl, {
    role: "client",
    params,
    extraFlags: clientFlags(),
    fds: scenario.connections + 64,
    limits: setup.limits,
    cpu: setup.pin?.client
  })
  try {
    const warm = await program.next("warm")
    return { program, warmup: tallyOf(warm, num(warm, "calls")) }
  } catch (error) {
    program.kill()
    throw error
  }
}

const runRound = async (impl: Impl, calls: number, client: Client, server: Server, ticks: number): Promise<Round> => {
  const serverBefore = await server.cpuUs()
  const ownBefore = ownCpuUs()
  const busyBefore = machineBusyUs(ticks)
  const wallBefore = process.hrtime.bigint()
  client.program.send({ type: "go", calls })
  const r = await client.program.next("result")
  const busyAfter = machineBusyUs(ticks)
  const wallUs = Number(process.hrtime.bigint() - wallBefore) / 1000
  const ownUs = ownCpuUs() - ownBefore
  const serverCpuUs = (await server.cpuUs()) - serverBefore
  const latencies = r["latencies"]
  if (!(latencies instanceof Float64Array)) throw new Error("compat bench: a result without latencies")
  const clientCpuUs = num(r, "cpuUs")
  const foreignCores = busyBefore === undefined || busyAfter === undefined
    ? Number.NaN
    : Math.max(0, busyAfter - busyBefore - clientCpuUs - serverCpuUs - ownUs) / wallUs
  return {
    impl,
    latencies,
    elapsedNs: num(r, "elapsedNs"),
    clientCpuUs,
    serverCpuUs,
    foreignCores,
    tally: tallyOf(r, latencies.length)
  }
}

interface CallResult {
  readonly impl: Impl
  readonly scenario: CallScenario
  /** The rounds kept (other load below MAX_FOREIGN_CORES, or out of retries). */
  readonly rounds: ReadonlyArray<Round>
  /** Rounds run again because of other load. */
  readonly retried: number
  readonly warmup: Tally
  readonly connectionErrors: number
  readonly firstConnectionError: string | undefined
}

/**
 * Runs a scenario for the given implementations: one client process each
 * (warmed up), then `rounds` measured batches per implementation,
 * alternating (ABBA...) so that both see the same machine; a batch during
 * which other processes used more than MAX_FOREIGN_CORES is run again.
 */
const runCallScenario = async (
  scenario: CallScenario,
  servers: ReadonlyMap<Impl, Server>,
  setup: Setup,
  ticks: number,
  options: RunOptions
): Promise<Array<CallResult>> => {
  const chosen = [...servers.keys()]
  const clients = new Map<Impl, Client>()
  try {
    for (const impl of chosen) clients.set(impl, await startClient(impl, scenario, servers.get(impl)!, setup))
    const kept = new Map<Impl, Array<Round>>(chosen.map((impl) => [impl, []]))
    const retried = new Map<Impl, number>(chosen.map((impl) => [impl, 0]))
    const perRound = Math.round(scenario.calls / scenario.rounds)
    for (let round = 0; round < scenario.rounds; round++) {
      const order = round % 2 === 0 ? chosen : [...chosen].reverse()
      for (const impl of order) {
        for (let attempt = 0; ; attempt++) {
          const r = await runRound(impl, perRound, clients.get(impl)!, servers.get(impl)!, ticks)
          const rate = (r.latencies.length * 1e9) / r.elapsedNs
          const noisy = r.foreignCores > MAX_FOREIGN_CORES
          options.progress(
            `compat: ${scenario.key} round ${round + 1}/${scenario.rounds} ${impl}: ${formatRate(rate)} calls/s, ` +
              `other load ${Number.isNaN(r.foreignCores) ? "unknown" : `${r.foreignCores.toFixed(2)} cores`}` +
              (noisy ? (attempt < MAX_RETRIES ? " (run again)" : " (kept: out of retries)") : "")
          )
          if (noisy && attempt < MAX_RETRIES) {
            retried.set(impl, retried.get(impl)! + 1)
            // Failures of a discarded batch still count.
            if (r.tally.errors + r.tally.mismatches > 0 || r.tally.completed !== r.tally.calls) {
              kept.get(impl)!.push(r)
              break
            }
            const waited = await waitForQuiet(ticks)
            if (waited > 1000) options.progress(`compat: waited ${(waited / 1000).toFixed(1)} s for other load to drop`)
            continue
          }
          kept.get(impl)!.push(r)
          break
        }
      }
    }
    const results: Array<CallResult> = []
    for (const impl of chosen) {
      const client = clients.get(impl)!
      client.program.send({ type: "done" })
      const closed = await client.program.next("closed")
      await client.program.exited()
      const firstConnectionError = closed["firstConnectionError"]
      results.push({
        impl,
        scenario,
        rounds: kept.get(impl)!,
        retried: retried.get(impl)!,
        warmup: client.warmup,
        connectionErrors: num(closed, "connectionErrors"),
        firstConnectionError: typeof firstConnectionError === "string" ? firstConnectionError : undefined
      })
    }
    return results
  } finally {
    for (const client of clients.values()) client.program.kill()
  }
}

// --- Idle memory --------------------------------------------------------------

interface MemoryResult {
  readonly impl: Impl
  readonly baseline: Memory
  readonly loaded: Memory
  readonly connectionErrors: number
}

// Opens `connections` idle connections from a client process; `release` closes them and waits for its exit.
const holdConnections = async (
  impl: Impl,
  port: number,
  connections: number,
  setup: Setup
): Promise<{ readonly release: () => Promise<number>; readonly kill: () => void }> => {
  const program = startProgram(impl, {
    role: "hold",
    params: { port, connections, concurrency: IDLE_CONCURRENCY },
    extraFlags: clientFlags(),
    fds: connections + 64,
    limits: setup.limits,
    cpu: setup.pin?.client
  })
  try {
    const holding = await program.next("holding")
    if (num(holding, "connections") !== connections) {
      throw new Error(`compat bench: the ${program.label} opened ${String(holding["connections"])} of ${connections} connections`)
    }
  } catch (error) {
    program.kill()
    throw error
  }
  return {
    release: async () => {
      program.send({ type: "release" })
      const released = await program.next("released")
      await program.exited()
      return num(released, "connectionErrors")
    },
    kill: program.kill
  }
}

const runMemory = async (impl: Impl, setup: Setup): Promise<MemoryResult> => {
  const server = await startServer(impl, setup, IDLE_CONNECTIONS + 64)
  let holder: { readonly release: () => Promise<number>; readonly kill: () => void } | undefined
  try {
    let connectionErrors = 0
    const warmup = await holdConnections(impl, server.port, IDLE_WARMUP_CONNECTIONS, setup)
    connectionErrors += await warmup.release()
    const baseline = await server.memory(0)
    holder = await holdConnections(impl, server.port, IDLE_CONNECTIONS, setup)
    const loaded = await server.memory(IDLE_CONNECTIONS)
    connectionErrors += await holder.release()
    holder = undefined
    connectionErrors += await server.close()
    return { impl, baseline, loaded, connectionErrors }
  } finally {
    holder?.kill()
    server.program.kill()
  }
}

// --- Output -------------------------------------------------------------------

const formatLatency = (ns: number): string => {
  if (!Number.isFinite(ns)) return "–"
  const us = ns / 1000
  if (us < 1000) return `${us < 100 ? us.toFixed(1) : us.toFixed(0)} µs`
  const ms = us / 1000
  return `${ms < 100 ? ms.toFixed(2) : ms.toFixed(0)} ms`
}

const formatCpu = (us: number): string => (us < 100 ? us.toFixed(1) : us.toFixed(0))

/** Bytes per connection, in bytes (one unit, so that rows compare at a glance). */
const formatPerConnection = (n: number): string => `${Math.round(n).toLocaleString("en-US")} B`

const formatMiB = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`

const selected = <A extends string>(name: string, all: ReadonlyArray<A>): ReadonlyArray<A> => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return all
  const wanted = raw.split(",").map((s) => s.trim())
  return all.filter((item) => wanted.includes(item))
}

interface Summary {
  readonly calls: number
  readonly completed: number
  readonly rate: number
  readonly p50Ns: number
  readonly p99Ns: number
  readonly clientCpuUs: number
  readonly serverCpuUs: number
  readonly errors: number
  readonly mismatches: number
  readonly firstError: string | undefined
}

// Over the kept rounds: calls/s = calls / summed batch wall time; latency percentiles over every call.
const summarize = (r: CallResult): Summary => {
  const calls = r.rounds.reduce((n, round) => n + round.latencies.length, 0)
  const all = new Float64Array(calls)
  let offset = 0
  for (const round of r.rounds) {
    all.set(round.latencies, offset)
    offset += round.latencies.length
  }
  all.sort()
  const at = (q: number): number => all[Math.min(all.length - 1, Math.floor(q * all.length))] ?? Number.NaN
  const sum = (f: (round: Round) => number): number => r.rounds.reduce((n, round) => n + f(round), 0)
  const tallies = [r.warmup, ...r.rounds.map((round) => round.tally)]
  return {
    calls,
    completed: sum((round) => round.tally.completed),
    rate: (calls * 1e9) / Math.max(1, sum((round) => round.elapsedNs)),
    p50Ns: at(0.5),
    p99Ns: at(0.99),
    clientCpuUs: sum((round) => round.clientCpuUs),
    serverCpuUs: sum((round) => round.serverCpuUs),
    errors: tallies.reduce((n, t) => n + t.errors, 0),
    mismatches: tallies.reduce((n, t) => n + t.mismatches, 0),
    firstError: tallies.find((t) => t.firstError !== undefined)?.firstError
  }
}

const perConnection = (r: MemoryResult) => ({
  rss: (r.loaded.rss - r.baseline.rss) / IDLE_CONNECTIONS,
  heapUsed: (r.loaded.heapUsed - r.baseline.heapUsed) / IDLE_CONNECTIONS,
  external: (r.loaded.external - r.baseline.external) / IDLE_CONNECTIONS
})

const hasTaskset = (): boolean => {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const run = async (options: RunOptions): Promise<void> => {
  const started = process.hrtime.bigint()
  const loadBefore = loadavg()[0] ?? 0
  const built = ensureBuild(options)
  const pinWanted = process.env["BENCH_COMPAT_PIN"] !== "0" && availableParallelism() >= 2
  const setup: Setup = {
    limits: fdLimits(),
    pin: pinWanted && hasTaskset() ? { server: 1, client: 0 } : undefined
  }
  const ticks = clockTicks()
  const chosenImpls = selected<Impl>("BENCH_COMPAT_IMPLS", impls)
  const keys = selected<ScenarioKey>("BENCH_COMPAT_SCENARIOS", ["pipelined", "sequential", "memory"])
  const chosenCalls = callScenarios.filter((s) => keys.includes(s.key))

  const callResults: Array<CallResult> = []
  const memoryResults: Array<MemoryResult> = []
  const failures: Array<string> = []
  let mdsfFallback: boolean | undefined

  if (chosenCalls.length > 0) {
    options.progress(`compat: starting server processes (${chosenImpls.join(", ")})`)
    const servers = new Map<Impl, Server>()
    try {
      for (const impl of chosenImpls) servers.set(impl, await startServer(impl, setup, 256))
      if (servers.has("reference")) mdsfFallback = servers.get("reference")!.mdsfFallback
      for (const scenario of chosenCalls) {
        options.progress(`compat: ${scenario.label}`)
        callResults.push(...(await runCallScenario(scenario, servers, setup, ticks, options)))
      }
      for (const [impl, server] of servers) {
        const errors = await server.close()
        if (errors > 0) failures.push(`the ${impl} server saw ${errors} connection errors`)
      }
    } finally {
      for (const server of servers.values()) server.program.kill()
    }
  }
  if (keys.includes("memory")) {
    for (const impl of chosenImpls) {
      options.progress(`compat: (3) idle memory, ${IDLE_CONNECTIONS.toLocaleString("en-US")} connections: ${impl}`)
      memoryResults.push(await runMemory(impl, setup))
    }
  }

  // Verification: every call completed with exactly [payload], no connection errors, every count as asked.
  const summaries = new Map<CallResult, Summary>(callResults.map((r) => [r, summarize(r)]))
  for (const r of callResults) {
    const s = summaries.get(r)!
    const warmupShort = r.warmup.completed !== r.warmup.calls
    if (s.errors + s.mismatches + r.connectionErrors > 0 || s.completed !== s.calls || s.calls !== r.scenario.calls || warmupShort) {
      failures.push(
        `${r.scenario.label}, ${r.impl}: ${s.errors} errors, ${s.mismatches} wrong echoes (warm-up included), ` +
          `${r.connectionErrors} connection errors; ${s.completed} of ${s.calls} measured calls completed (${r.scenario.calls} asked); ` +
          `warm-up ${r.warmup.completed} of ${r.warmup.calls}; first error: ${s.firstError ?? r.firstConnectionError ?? "–"}`
      )
    }
  }
  for (const r of memoryResults) {
    if (r.baseline.clients !== 0 || r.loaded.clients !== IDLE_CONNECTIONS || r.connectionErrors > 0) {
      failures.push(
        `(3) idle memory, ${r.impl}: the server listed ${r.baseline.clients} clients at the baseline (want 0) and ` +
          `${r.loaded.clients} with the connections open (want ${IDLE_CONNECTIONS}); ${r.connectionErrors} connection errors`
      )
    }
  }

  const findCalls = (key: CallScenario["key"], impl: Impl): CallResult | undefined =>
    callResults.find((r) => r.scenario.key === key && r.impl === impl)
  const callRatio = (key: CallScenario["key"]): number => {
    const ours = findCalls(key, "ours")
    const reference = findCalls(key, "reference")
    return ours === undefined || reference === undefined ? Number.NaN : summaries.get(ours)!.rate / summaries.get(reference)!.rate
  }
  // ours/reference calls/s of each round pair (round i of each), sorted.
  const roundRatios = (key: CallScenario["key"]): Array<number> => {
    const ours = findCalls(key, "ours")
    const reference = findCalls(key, "reference")
    if (ours === undefined || reference === undefined) return []
    const rate = (round: Round): number => (round.latencies.length * 1e9) / round.elapsedNs
    return ours.rounds.map((round, i) => rate(round) / rate(reference.rounds[i]!)).sort((a, b) => a - b)
  }
  const memoryOf = (impl: Impl) => {
    const r = memoryResults.find((m) => m.impl === impl)
    return r === undefined ? undefined : perConnection(r)
  }

  const out: Array<string> = []
  out.push("## Compat: the same 2.x program through effect-jstp/compat and @metarhia/jstp 2.3.0 (calls/s higher is better; latency and memory lower is better)", "")
  if (callResults.length > 0) {
    const rows = callResults.map((r, i) => {
      const s = summaries.get(r)!
      consume(Math.round(s.rate))
      const ratios = roundRatios(r.scenario.key)
      return [
        i === 0 || callResults[i - 1]!.scenario !== r.scenario ? r.scenario.label : "",
        implName[r.impl],
        s.calls.toLocaleString("en-US"),
        formatRate(s.rate),
        formatLatency(s.p50Ns),
        formatLatency(s.p99Ns),
        `${formatCpu(s.clientCpuUs / s.calls)} + ${formatCpu(s.serverCpuUs / s.calls)}`,
        r.impl === "ours" ? formatRatio(callRatio(r.scenario.key)) : "",
        r.impl === "ours" && ratios.length > 0 ? `${formatRatio(ratios[0]!)} – ${formatRatio(ratios[ratios.length - 1]!)}` : ""
      ]
    })
    out.push(markdownTable(
      ["Scenario", "Impl", "Calls", "Calls/s", "p50", "p99", "CPU µs/call (client + server)", "ours/ref calls/s", "per round (min – max)"],
      rows
    ))
  }
  if (memoryResults.length > 0) {
    if (callResults.length > 0) out.push("")
    const ref = memoryOf("reference")
    const rows = memoryResults.map((r, i) => {
      const per = perConnection(r)
      consume(Math.round(per.heapUsed))
      return [
        i === 0 ? `(3) idle memory: ${IDLE_CONNECTIONS.toLocaleString("en-US")} handshaken conns` : "",
        implName[r.impl],
        formatPerConnection(per.rss),
        formatPerConnection(per.heapUsed),
        formatPerConnection(per.external),
        `${formatMiB(r.baseline.rss)} → ${formatMiB(r.loaded.rss)}`,
        `${formatMiB(r.baseline.heapUsed)} → ${formatMiB(r.loaded.heapUsed)}`,
        r.impl === "ours" && ref !== undefined ? `${formatRatio(per.rss / ref.rss)}, ${formatRatio(per.heapUsed / ref.heapUsed)}` : ""
      ]
    })
    out.push(markdownTable(
      ["Scenario (server process)", "Impl", "RSS/conn", "heapUsed/conn", "external/conn", "RSS 0 → 2,000 conns", "heapUsed 0 → 2,000 conns", "ours/ref (RSS, heap)"],
      rows
    ))
  }

  const extra = (flags: ReadonlyArray<string>): string => (flags.length === 0 ? "none" : flags.join(" "))
  const { limits } = setup
  const fdsLine = `fd limit (ulimit -n, as a child sees it) ${limits.soft} soft / ${limits.hard} hard${limits.soft < IDLE_CONNECTIONS + 64 ? ` (raised for the 2,000-connection processes through sh -c "ulimit -n")` : ""}`
  const mdsfLine = mdsfFallback === undefined
    ? ""
    : mdsfFallback
    ? "mdsf (the reference's serializer) runs its JS fallback parser (its native addon is not built; its warning silenced); "
    : "mdsf (the reference's serializer) runs its native addon; "
  const allRounds = callResults.flatMap((r) => r.rounds)
  const foreign = allRounds.map((r) => r.foreignCores).filter((x) => !Number.isNaN(x))
  const retried = callResults.reduce((n, r) => n + r.retried, 0)
  const noisyKept = foreign.filter((x) => x > MAX_FOREIGN_CORES).length
  const loadLine = foreign.length === 0
    ? "Other load during the rounds unknown (no /proc/stat)"
    : `Other processes (/proc/stat busy time minus the benchmark's processes) used ${(foreign.reduce((a, b) => a + b, 0) / foreign.length).toFixed(2)} cores on average during the kept rounds (max ${Math.max(...foreign).toFixed(2)}); ` +
      `${retried} round(s) were run again (after waiting for quiet) because other load was over ${MAX_FOREIGN_CORES} cores` +
      (noisyKept > 0 ? `; ${noisyKept} round(s) KEPT WITH OTHER LOAD over ${MAX_FOREIGN_CORES} cores (out of retries: these figures are unreliable)` : "")
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  out.push(
    "",
    `Setup: the same CommonJS program (bench/compat/program.cjs) for both, entered through bench/compat/ours.cjs (\`require("effect-jstp/compat")\`, the built dist/cjs${built ? ", built by this run" : ""}) or bench/compat/reference.cjs (\`require("@metarhia/jstp")\`), which differ only in that line. ` +
      `Server: \`new jstp.Application("bench", { echo: { echo: (connection, value, callback) => callback(null, value) } })\` served by \`jstp.net.createServer({ applications })\` on 127.0.0.1; ` +
      `clients: \`jstp.net.connect("bench", { reconnector: () => {} }, port, host, callback)\`, calls with \`connection.callMethod("echo", "echo", [payload], callback)\`, each callback starting its chain's next call. ` +
      `Server and client are separate processes (plain node, no TypeScript loader; the server with --expose-gc), one server per implementation, on this ${availableParallelism()}-core machine${setup.pin === undefined ? "" : `, pinned with taskset (servers on CPU ${setup.pin.server}, clients on CPU ${setup.pin.client}; BENCH_COMPAT_PIN=0 to not pin)`}.`,
    `(1), (2): one client process per implementation, warmed up (${callScenarios.map((s) => `${s.warmupCalls.toLocaleString("en-US")} calls`).join(", ")}) on its connections, then the measured calls in ${callScenarios.map((s) => s.rounds).join(", ")} rounds per implementation, alternating between them (ours, ref, ref, ours, ...), so that both see the same machine; ` +
      `calls/s = measured calls / summed batch wall time; latency per call from callMethod to its callback (process.hrtime.bigint), percentiles over every measured call; CPU µs/call = process.cpuUsage of the client and server processes over the measured batches; per round = ours/ref calls/s of each round pair. ` +
      `Payload: a 100-byte ASCII string with quotes; every result was checked to be exactly [payload]. ${loadLine}.`,
    `(3): a fresh server; ${IDLE_WARMUP_CONNECTIONS} connections opened and closed first (code and first-use state in the baseline); then the server's process.memoryUsage() after global.gc() (repeated until heapUsed settles) with 0 clients, and again with ${IDLE_CONNECTIONS.toLocaleString("en-US")} open, handshaken, idle connections (held by a separate client process, ${IDLE_CONCURRENCY} handshakes at a time; the server's getClientsArray() checked to list them all); per connection = difference / ${IDLE_CONNECTIONS.toLocaleString("en-US")}.`,
    `${mdsfLine}Node flags: servers --expose-gc${serverFlags().length > 0 ? ` ${serverFlags().join(" ")}` : ""}, clients ${extra(clientFlags())}; NODE_ENV=${process.env["NODE_ENV"] ?? "(unset)"}; ${fdsLine}; Node ${process.version}; compat bench took ${seconds.toFixed(1)} s; 1-min load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after.`
  )

  const verdict: Array<string> = []
  const callVerdict = (key: CallScenario["key"], target: number): void => {
    const r = callRatio(key)
    if (!Number.isNaN(r)) verdict.push(`${key} ${formatRatio(r)} the reference (target ≥ ${target}×: ${r >= target ? "met" : "MISSED"})`)
  }
  callVerdict("pipelined", 2)
  callVerdict("sequential", 1.2)
  const oursMemory = memoryOf("ours")
  const refMemory = memoryOf("reference")
  if (oursMemory !== undefined && refMemory !== undefined) {
    const rssMet = oursMemory.rss <= refMemory.rss
    const heapMet = oursMemory.heapUsed <= refMemory.heapUsed
    verdict.push(
      `idle memory per connection (target ≤ the reference's): RSS ${formatPerConnection(oursMemory.rss)} vs ${formatPerConnection(refMemory.rss)} (${rssMet ? "met" : "MISSED"}), ` +
        `heapUsed ${formatPerConnection(oursMemory.heapUsed)} vs ${formatPerConnection(refMemory.heapUsed)} (${heapMet ? "met" : "MISSED"})`
    )
  }
  if (verdict.length > 0) {
    out.push("", `Verdict: ${verdict.join("; ")}${noisyKept > 0 ? ` (${noisyKept} round(s) ran with other load: rerun on a quiet machine)` : ""}.`)
  }
  for (const failure of failures) out.push("", `FAILED: ${failure}`)
  console.log(out.join("\n"))
  if (failures.length > 0) throw new Error(`compat bench: ${failures.length} failure(s) (see above)`)
}

const compat: BenchModule = { name: "compat", run }
export default compat
