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
// this machine. Its ratio to the reference bounds every target. (1), (2) and
// (5) also have an "Effect floor" row: the same bare echo, driven like ours (a
// looping fiber per call in flight, 100 per connection in (1)), each call one
// Effect.async resumed from the bare client's callback: no implementation
// with a fiber per call in flight can beat it.
//
// (1) and (2) also have server rows, to read server CPU per call: the
// cheapest client, the facade's (`effect-jstp/compat` net.connect +
// callMethod, driven like the reference), against our Server with the
// callback-style handler (the server of the "ours" rows), our Server with an
// Effect handler `(_connection, x) => Effect.succeed(x)`, and the facade's
// server (a 2.x Application with the callback-style handler). Their measured
// batches alternate, 3 each, and each row is its median batch (by server CPU).
//
// (4) fan-out: FANOUT_CONNECTIONS clients connected to one server (in the
// child process), which broadcasts FANOUT_EVENTS events `bench.tick(i,
// payload)` (the same driver for every server: bursts of FANOUT_BURST, a
// setImmediate between bursts). Ours, Effect API: Server.make's
// `server.broadcast`, clients Connection.connect receiving through
// `connection.events("bench")` (Stream.runForEach) or through the `onEvent`
// connect option, and an Effect floor for the Stream: onEvent into a
// Mailbox per client, a tick's events at once, and a fiber per client
// looping on takeAll (no Stream); ours, facade: its server's `broadcast`, 2.x-style clients
// (connectAndInspect, `proxies.bench.on("tick", ...)`); the reference: the
// same with @metarhia/jstp 2.3.0. Every client must receive every event
// exactly once and in order (ids 0..FANOUT_EVENTS-1); events/s = deliveries
// (clients × events) / wall time from the broadcast request to the last
// client's last event. A smaller batch warms up first.
//
// (5) WebSocket pipelined: (1) over WebSocket, ours (Connection.connect with a
// WebSocket address, against our Server listening on one; call from 100
// fibers per connection, and callAll) against the reference's jstp.ws server
// and client. Its ceiling and Effect floor rows run the bare echo over
// WebSocket (`ws` on both ends, no extensions, our WebSocket link: a text
// frame per message).
//
// For profiling: BENCH_RPC_SCENARIOS=pipelined,sequential,large,large-base64,
// fanout,ws-pipelined and BENCH_RPC_IMPLS=ours,typed,callAll,reference,floor,
// effect-floor,server-ours,server-ours-effect,server-compat,onEvent,event-floor,compat pick
// what runs (typed: the typed-contract row of (1), ours through
// Contract.connect; callAll: the "ours (callAll)" rows of (1) and (5); the server-*
// keys: the server rows of (1) and (2); in (4), ours is the events Stream row,
// onEvent the onEvent row, event-floor its Effect floor, compat the facade's); BENCH_RPC_FANOUT_BURST sets
// the events the fan-out's server issues per burst (default 50); BENCH_RPC_CPU_PROF=<dir>
// starts the server processes with `--cpu-prof --cpu-prof-dir=<dir>` (profile
// the client with `TSX_TSCONFIG_PATH=bench/tsconfig.json node --cpu-prof
// --import tsx bench/index.ts rpc`, after `npm run build`).
import { fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { availableParallelism, loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit, Mailbox, Schema, type Scope, Stream } from "effect"
import { Connection, Contract } from "effect-jstp"
import { type Connection as CompatConnection, net as compatNet, type RemoteProxy as CompatRemoteProxy } from "effect-jstp/compat"
import { type BenchModule, consume, formatRate, formatRatio, markdownTable, type RunOptions } from "./harness.js"
import { type Impl, impls as allImpls, isServerMessage, type ParentMessage, type ServerMessage } from "./rpc/ipc.js"
import type * as ConnectionHandleModule from "../src/internal/ConnectionHandle.js"
import { built } from "./built.js"
import * as Floor from "./rpc/floor.js"
import { loadReference, type Jstp, type RefConnection, type RefRemoteProxy } from "./rpc/reference.js"

// The subscription's own tick batching, for the events Stream's floor row.
const ConnectionHandle = await built<typeof ConnectionHandleModule>("internal/ConnectionHandle.js")

// --- Scenarios ----------------------------------------------------------------

// (4) fan-out: clients connected to one server, events it broadcasts to all.
const FANOUT_CONNECTIONS = 100
const FANOUT_EVENTS = 2_000
/** Events of the warm-up broadcast (the same clients, before the measured one). */
const FANOUT_WARMUP_EVENTS = 200
/**
 * Events the server issues in one go before it yields (setImmediate), so its
 * sockets get written while it broadcasts; BENCH_RPC_FANOUT_BURST overrides
 * it. (On a loaded 2-core machine, the reference's server spent less CPU per
 * delivery with bursts of 10 than of 50 or more, ours more: the ratios
 * depend on it.)
 */
const FANOUT_BURST = Math.max(1, Math.floor(Number(process.env["BENCH_RPC_FANOUT_BURST"] ?? "")) || 50)

type ScenarioKey = "pipelined" | "sequential" | "large" | "large-base64" | "ws-pipelined"

/**
 * A row of the table: ours with connection.call (`inFlight` looping fibers
 * per connection), ours with one connection.callAll per connection, the
 * reference, the ceiling (a bare Node echo), the Effect floor (the bare echo
 * with a fiber per call), or a server row (the facade's client against our
 * Server with either handler, or against the facade's server).
 */
type Variant = "ours" | "typed" | "callAll" | "reference" | "floor" | "effectFloor" | "serverOurs" | "serverOursEffect" | "serverCompat"

const variantName: Record<Variant, string> = {
  ours: "ours",
  typed: "ours, typed (Contract client)",
  callAll: "ours (callAll)",
  reference: "reference",
  floor: "ceiling: bare Node echo",
  effectFloor: "Effect floor: bare echo + a fiber per call",
  serverOurs: "server: ours, callback handler (facade client)",
  serverOursEffect: "server: ours, Effect handler (facade client)",
  serverCompat: "server: facade (facade client)"
}

/** A variant's name in BENCH_RPC_IMPLS. */
const variantKey: Record<Variant, string> = {
  ours: "ours",
  typed: "typed",
  callAll: "callAll",
  reference: "reference",
  floor: "floor",
  effectFloor: "effect-floor",
  serverOurs: "server-ours",
  serverOursEffect: "server-ours-effect",
  serverCompat: "server-compat"
}

/** The server a variant calls. */
const implOf: Record<Variant, Impl> = {
  ours: "ours",
  typed: "ours",
  callAll: "ours",
  reference: "reference",
  floor: "floor",
  effectFloor: "floor",
  serverOurs: "ours",
  serverOursEffect: "ours-effect",
  serverCompat: "compat"
}

interface Scenario {
  readonly key: ScenarioKey
  readonly label: string
  /** TCP, or WebSocket (the servers' second port). */
  readonly transport: "tcp" | "ws"
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
    transport: "tcp",
    variants: ["ours", "typed", "callAll", "reference", "floor", "effectFloor", "serverOurs", "serverOursEffect", "serverCompat"],
    connections: 10,
    inFlight: 100,
    payload: smallPayload,
    warmupCalls: 20_000,
    calls: 200_000
  },
  {
    key: "sequential",
    label: "(2) sequential: 1 conn, 1 in flight, 100 B",
    transport: "tcp",
    variants: ["ours", "reference", "floor", "effectFloor", "serverOurs", "serverOursEffect", "serverCompat"],
    connections: 1,
    inFlight: 1,
    payload: smallPayload,
    // V8 keeps optimizing both implementations until about 8,000 calls
    // (node --trace-opt; the compat bench found the same).
    warmupCalls: 10_000,
    calls: 20_000
  },
  {
    key: "large",
    label: "(3) 64 KiB echo, text: 1 conn, 1 in flight",
    transport: "tcp",
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
    transport: "tcp",
    variants: ["ours", "reference", "floor"],
    connections: 1,
    inFlight: 1,
    payload: largeBase64Payload,
    warmupCalls: 40,
    calls: { targetMs: 2000, min: 300, max: 1000 }
  },
  {
    key: "ws-pipelined",
    label: "(5) WebSocket pipelined: 10 conns × 100 in flight, 100 B",
    transport: "ws",
    variants: ["ours", "callAll", "reference", "floor", "effectFloor"],
    connections: 10,
    inFlight: 100,
    payload: smallPayload,
    warmupCalls: 10_000,
    calls: 100_000
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

// A typed call's result: the value itself.
const checkValue = (tally: Tally, value: unknown, payload: string): void => {
  tally.completed++
  if (value !== payload) tally.mismatches++
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

/**
 * A call of a fiber-driven client: an Effect that succeeds with its results
 * (an array, checked by `checkResults`), or with the echoed value itself
 * when `echoesValue` (a typed call: checked without wrapping it).
 */
interface FiberCall<C> {
  (connection: C, payload: string): Effect.Effect<unknown, unknown>
  readonly echoesValue?: true
}

const oursCall: FiberCall<Connection.Connection> = (connection, payload) => connection.call("echo", "echo", [payload])

// The same call through a typed contract: the argument encoded, the result
// decoded (a string), which is checked as it is.
const BenchContract = Contract.make({
  name: "bench",
  version: "1.0.0",
  interfaces: { echo: { methods: { echo: Contract.method({ params: [Schema.String], success: Schema.String }) } } }
})

const typedCall: FiberCall<Contract.Client<typeof BenchContract>> = Object.assign(
  (client: Contract.Client<typeof BenchContract>, payload: string) => client.methods.echo.echo(payload),
  { echoesValue: true as const }
)

// The Effect floor: the bare echo's client, each call one Effect.async
// resumed from its callback.
const effectFloorCall: FiberCall<Floor.FloorConnection> = (connection, payload) =>
  Effect.async<ReadonlyArray<unknown>>((resume) => connection.call(payload, (results) => resume(Effect.succeed(results))))

// Ours (and the Effect floor): `inFlight` fibers per connection, each
// looping over its connection's share of the calls; the whole batch is one
// Effect.
const fiberBatch = <C>(
  who: string,
  call: FiberCall<C>,
  connections: ReadonlyArray<C>,
  inFlight: number,
  perConnection: number,
  payload: string
): Effect.Effect<Batch, Error> =>
  Effect.suspend(() => {
    const latencies = new Float64Array(connections.length * perConnection)
    const tally = newTally()
    const started = process.hrtime.bigint()
    const drive = (connection: C, c: number) => {
      const base = c * perConnection
      let next = 0
      const worker = Effect.gen(function*() {
        while (next < perConnection) {
          const slot = base + next++
          const start = process.hrtime.bigint()
          const exit = yield* Effect.exit(call(connection, payload))
          latencies[slot] = Number(process.hrtime.bigint() - start)
          if (Exit.isSuccess(exit)) {
            if (call.echoesValue) checkValue(tally, exit.value, payload)
            else checkResults(tally, exit.value as ReadonlyArray<unknown>, payload)
          }
          else checkError(tally, Cause.squash(exit.cause))
        }
      })
      return Effect.forEach(Array.from({ length: Math.min(inFlight, perConnection) }), () => worker, {
        concurrency: "unbounded",
        discard: true
      })
    }
    const stalled = Effect.async<never, Error>((resume) => {
      const stop = watchdog(tally, () => resume(Effect.fail(stallError(who, tally, latencies.length))))
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
// exactly when it issues that call); onResult(i) stamps the end and checks
// the results, which callAll does not keep (`discard: true`: like the
// reference's callbacks, nothing holds 200,000 results to the end). callAll
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
      return Effect.exit(connection.callAll("echo", "echo", argsList(), { concurrency: inFlight, onResult, discard: true })).pipe(
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

const compatCall: CallbackCall<CompatConnection> = (connection, payload, done) =>
  connection.callMethod("echo", "echo", [payload], (error, ...results) => done(error, results))

// --- Server processes ---------------------------------------------------------

interface CpuUsage {
  readonly user: number
  readonly system: number
}

interface ServerProcess {
  readonly impl: Impl
  readonly port: number
  /** The WebSocket listener's port (ours and the reference have one). */
  readonly wsPort: number | null
  readonly mdsfFallback: boolean | null
  readonly usage: () => Promise<CpuUsage>
  /** Broadcasts `bench.tick(i, payload)`, i in 0..count-1; resolves to the number of clients it went to once all are issued. */
  readonly broadcast: (count: number, payload: string, burst: number) => Promise<number>
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
    // (Written rather than piped: a pipe per stream of each of the five
    // servers would pass the default 10 listeners of process.stderr.)
    const forward = (chunk: Buffer): void => void process.stderr.write(chunk)
    child.stdout?.on("data", forward)
    child.stderr?.on("data", forward)
    let ready = false
    let gone: string | undefined
    const usageWaiters: Array<{ readonly resolve: (usage: CpuUsage) => void; readonly reject: (error: Error) => void }> = []
    const broadcastWaiters: Array<{ readonly resolve: (clients: number) => void; readonly reject: (error: Error) => void }> = []
    const exited = new Promise<number | null>((done) =>
      child.once("exit", (code, signal) => {
        gone = `the ${impl} server exited (${signal ?? `code ${code}`})`
        for (const waiter of [...usageWaiters.splice(0), ...broadcastWaiters.splice(0)]) waiter.reject(new Error(`rpc bench: ${gone}`))
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
            wsPort: m.wsPort,
            mdsfFallback: m.mdsfFallback,
            usage: () =>
              new Promise((resolve, reject) => {
                if (gone !== undefined || !child.connected) return reject(new Error(`rpc bench: ${gone ?? `the ${impl} server is gone`}`))
                usageWaiters.push({ resolve, reject })
                post({ _tag: "Usage" })
              }),
            broadcast: (count, payload, burst) =>
              new Promise((resolve, reject) => {
                if (gone !== undefined || !child.connected) return reject(new Error(`rpc bench: ${gone ?? `the ${impl} server is gone`}`))
                broadcastWaiters.push({ resolve, reject })
                post({ _tag: "Broadcast", count, payload, burst })
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
        case "Broadcasted":
          broadcastWaiters.shift()?.resolve(m.connections)
          return
        case "Failed":
          process.stderr.write(`rpc bench: the ${impl} server failed: ${m.message}\n`)
          if (!ready) reject(new Error(`rpc bench: the ${impl} server failed: ${m.message}`))
          // A broadcast under way fails with it.
          broadcastWaiters.shift()?.reject(new Error(`rpc bench: the ${impl} server failed: ${m.message}`))
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
  /**
   * The typed row only: client CPU µs per call of each measured batch, typed
   * and untyped, run alternately in the same process (its batch is the
   * median typed one).
   */
  readonly alternated?: { readonly typed: ReadonlyArray<number>; readonly untyped: ReadonlyArray<number> }
}

const cpuDelta = (before: CpuUsage, after: CpuUsage): number => after.user - before.user + after.system - before.system

const split = (scenario: Scenario, calls: number): number => Math.max(1, Math.round(calls / scenario.connections))

const ADDRESS_HOST = "127.0.0.1"

// The WebSocket port of a server, for (5).
const wsPortOf = (server: ServerProcess): number => {
  if (server.wsPort === null) throw new Error(`rpc bench: the ${server.impl} server has no WebSocket listener`)
  return server.wsPort
}

const wsUrl = (server: ServerProcess): string => `ws://${ADDRESS_HOST}:${wsPortOf(server)}/`

// The address ours dials in a scenario: the server's TCP port, or its WebSocket one.
const oursAddress = (scenario: Scenario, server: ServerProcess): Connection.ConnectOptions["address"] =>
  scenario.transport === "ws"
    ? { _tag: "WebSocket", host: ADDRESS_HOST, port: wsPortOf(server) }
    : { _tag: "Tcp", host: ADDRESS_HOST, port: server.port }

// A fiber-driven client (ours, the Effect floor): the whole scenario
// (connect, warm-up, measured batch, close) is one Effect.
const runFibers = <C, E>(
  variant: Variant,
  scenario: Scenario,
  server: ServerProcess,
  connect: Effect.Effect<C, E, Scope.Scope>,
  batchOf: (connections: ReadonlyArray<C>, inFlight: number, perConnection: number, payload: string) => Effect.Effect<Batch, Error>
): Promise<Result> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const connections = yield* Effect.forEach(Array.from({ length: scenario.connections }), () => connect, {
      concurrency: "unbounded"
    })
    const warmup = yield* batchOf(connections, scenario.inFlight, split(scenario, scenario.warmupCalls), scenario.payload)
    const perConnection = split(scenario, measuredCalls(scenario, warmup))
    const serverBefore = yield* Effect.promise(() => server.usage())
    const clientBefore = process.cpuUsage()
    const batch = yield* batchOf(connections, scenario.inFlight, perConnection, scenario.payload)
    const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
    const serverCpuUs = cpuDelta(serverBefore, yield* Effect.promise(() => server.usage()))
    return { variant, scenario, batch: withWarmupFailures(batch, warmup), clientCpuUs, serverCpuUs } as const
  })))

// Ours: connection.call fibers or connection.callAll, over TCP or WebSocket.
const runOurs = (variant: "ours" | "callAll", scenario: Scenario, server: ServerProcess): Promise<Result> =>
  runFibers(
    variant,
    scenario,
    server,
    Connection.connect({ address: oursAddress(scenario, server), application: "bench" }),
    (connections, inFlight, perConnection, payload) =>
      variant === "ours"
        ? fiberBatch(variantName.ours, oursCall, connections, inFlight, perConnection, payload)
        : oursCallAllBatch(connections, inFlight, perConnection, payload)
  )

// How many measured batches each of the typed and the untyped client runs, alternately.
const TYPED_ROUNDS = 3

// Ours through a typed contract, against ours untyped: connections of each
// (Contract.connect and Connection.connect), `inFlight` looping fibers per
// connection, and their measured batches alternate (untyped, typed, ...
// TYPED_ROUNDS times), so that neither runs only in the other's wake (a
// second row in one process runs on a grown heap). The row is the median
// typed batch.
const runTyped = (scenario: Scenario, server: ServerProcess): Promise<Result> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const address = oursAddress(scenario, server)
    const each = Array.from({ length: scenario.connections })
    const plain = yield* Effect.forEach(each, () => Connection.connect({ address, application: "bench" }), { concurrency: "unbounded" })
    const typed = yield* Effect.forEach(each, () => Contract.connect(BenchContract, { address }), { concurrency: "unbounded" })
    const batchOf = (which: "typed" | "untyped", perConnection: number) =>
      which === "typed"
        ? fiberBatch(variantName.typed, typedCall, typed, scenario.inFlight, perConnection, scenario.payload)
        : fiberBatch(variantName.ours, oursCall, plain, scenario.inFlight, perConnection, scenario.payload)
    yield* batchOf("untyped", split(scenario, scenario.warmupCalls))
    const warmup = yield* batchOf("typed", split(scenario, scenario.warmupCalls))
    const perConnection = split(scenario, measuredCalls(scenario, warmup))
    const cpu = { typed: [] as Array<number>, untyped: [] as Array<number> }
    const typedRuns: Array<{ readonly batch: Batch; readonly clientCpuUs: number; readonly serverCpuUs: number }> = []
    for (let round = 0; round < TYPED_ROUNDS; round++) {
      for (const which of ["untyped", "typed"] as const) {
        const serverBefore = yield* Effect.promise(() => server.usage())
        const clientBefore = process.cpuUsage()
        const batch = yield* batchOf(which, perConnection)
        const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
        const serverCpuUs = cpuDelta(serverBefore, yield* Effect.promise(() => server.usage()))
        cpu[which].push(clientCpuUs / batch.latencies.length)
        if (which === "typed") typedRuns.push({ batch: withWarmupFailures(batch, warmup), clientCpuUs, serverCpuUs })
      }
    }
    const median = [...typedRuns].sort((a, b) => a.clientCpuUs - b.clientCpuUs)[Math.floor(TYPED_ROUNDS / 2)]!
    return { variant: "typed", scenario, ...median, alternated: cpu } as const
  })))

// The bare echo's client, over the scenario's transport.
const floorConnect = (scenario: Scenario, server: ServerProcess): Promise<Floor.FloorConnection> =>
  scenario.transport === "ws" ? Floor.connectWebSocket(wsPortOf(server)) : Floor.connect(server.port)

// The Effect floor: the bare echo's client, a looping fiber per call in flight.
const runEffectFloor = (scenario: Scenario, server: ServerProcess): Promise<Result> =>
  runFibers(
    "effectFloor",
    scenario,
    server,
    Effect.acquireRelease(Effect.promise(() => floorConnect(scenario, server)), (connection) => Effect.sync(() => connection.close())),
    (connections, inFlight, perConnection, payload) =>
      fiberBatch(variantName.effectFloor, effectFloorCall, connections, inFlight, perConnection, payload)
  )

// Failures in the warm-up batch are reported with the measured batch's.
const withWarmupFailures = (batch: Batch, warmup: Batch): Batch => ({
  ...batch,
  errors: batch.errors + warmup.errors,
  mismatches: batch.mismatches + warmup.mismatches,
  firstError: warmup.firstError ?? batch.firstError
})

// A callback of a 2.x-style connect: (error, connection, ...).
const settle = <A>(resolve: (value: A) => void, reject: (error: Error) => void) => (error: unknown, value: A): void => {
  if (error !== null && error !== undefined) reject(error instanceof Error ? error : new Error(String(error)))
  else resolve(value)
}

// No reconnector: the default one keeps a 1-2 s timer alive after close.
const noReconnect = () => ({ reconnector: () => {} })

const referenceConnect = (jstp: Jstp, port: number): Promise<RefConnection> =>
  new Promise((resolve, reject) => jstp.net.connect("bench", noReconnect(), port, ADDRESS_HOST, settle(resolve, reject)))

const referenceWsConnect = (jstp: Jstp, url: string): Promise<RefConnection> =>
  new Promise((resolve, reject) => jstp.ws.connect("bench", noReconnect(), {}, url, settle(resolve, reject)))

const compatConnect = (port: number): Promise<CompatConnection> =>
  new Promise((resolve, reject) =>
    compatNet.connect("bench", noReconnect(), port, ADDRESS_HOST, (error: Error | null, connection?: unknown) =>
      settle(resolve, reject)(error, connection as CompatConnection))
  )

/** What closing a 2.x-style connection needs: close() and a 'close' event. */
interface Closable {
  close(): void
  once(event: "close", listener: () => void): unknown
}

const closeAndWait = (connection: Closable): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, 5_000)
    connection.once("close", () => {
      clearTimeout(timer)
      resolve()
    })
    connection.close()
  })

// A measured batch, with the client's and the server's CPU time over it.
const measured = async (server: ServerProcess, run: () => Promise<Batch>) => {
  const serverBefore = await server.usage()
  const clientBefore = process.cpuUsage()
  const batch = await run()
  const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
  const serverCpuUs = cpuDelta(serverBefore, await server.usage())
  return { batch, clientCpuUs, serverCpuUs }
}

/** A callback-style client: how it connects, calls and closes. */
interface CallbackClient<C> {
  readonly connect: () => Promise<C>
  readonly call: CallbackCall<C>
  readonly close: (connection: C) => Promise<void>
}

// Callback-style rows of one scenario, each a client against its server, all
// connected at once: warm-up, then `rounds` rounds of measured batches, each
// row once a round, the order rotating (so that rows read against each other
// ran on the same machine state), then close. Each row is its batch of median
// server CPU; the failures of its warm-up and other batches count with it.
const runCallbackRows = async <C>(
  rows: ReadonlyArray<{ readonly variant: Variant; readonly server: ServerProcess; readonly client: CallbackClient<C> }>,
  scenario: Scenario,
  rounds: number
): Promise<Array<Result>> => {
  const state = rows.map((row) => ({
    ...row,
    connections: [] as Array<C>,
    runs: [] as Array<{ readonly batch: Batch; readonly clientCpuUs: number; readonly serverCpuUs: number }>
  }))
  const batch = (row: (typeof state)[number], perConnection: number) =>
    callbackBatch(variantName[row.variant], row.client.call, row.connections, scenario.inFlight, perConnection, scenario.payload)
  try {
    for (const row of state) {
      for (let i = 0; i < scenario.connections; i++) row.connections.push(await row.client.connect())
    }
    const warmups: Array<Batch> = []
    for (const row of state) warmups.push(await batch(row, split(scenario, scenario.warmupCalls)))
    const perConnection = split(scenario, measuredCalls(scenario, warmups[0]!))
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < state.length; k++) {
        const row = state[(round + k) % state.length]!
        row.runs.push(await measured(row.server, () => batch(row, perConnection)))
      }
    }
    return state.map((row, i) => {
      const median = [...row.runs].sort((x, y) => x.serverCpuUs - y.serverCpuUs)[Math.floor(rounds / 2)]!
      const failures = row.runs.reduce((all, run) => run === median ? all : withWarmupFailures(all, run.batch), warmups[i]!)
      return { variant: row.variant, scenario, ...median, batch: withWarmupFailures(median.batch, failures) }
    })
  } finally {
    await Promise.all(state.flatMap((row) => row.connections.map(row.client.close)))
  }
}

// A callback-style client alone: connect, warm-up, measured batch, close.
const runCallbackStyle = async <C>(
  variant: Variant,
  scenario: Scenario,
  server: ServerProcess,
  client: CallbackClient<C>
): Promise<Result> => (await runCallbackRows([{ variant, server, client }], scenario, 1))[0]!

const runReference = (scenario: Scenario, server: ServerProcess, jstp: Jstp): Promise<Result> =>
  runCallbackStyle("reference", scenario, server, {
    connect: async () => {
      const connection = scenario.transport === "ws"
        ? await referenceWsConnect(jstp, wsUrl(server))
        : await referenceConnect(jstp, server.port)
      // Its pending callbacks are not called on a transport error: the batch's watchdog fails it.
      connection.on("error", (error) => process.stderr.write(`rpc bench: reference client connection: ${String(error)}\n`))
      return connection
    },
    call: referenceCall,
    close: closeAndWait
  })

const runFloor = (scenario: Scenario, server: ServerProcess): Promise<Result> =>
  runCallbackStyle("floor", scenario, server, {
    connect: () => floorConnect(scenario, server),
    call: floorCall,
    close: async (connection) => connection.close()
  })

type ServerVariant = "serverOurs" | "serverOursEffect" | "serverCompat"

const isServerVariant = (variant: Variant): variant is ServerVariant =>
  variant === "serverOurs" || variant === "serverOursEffect" || variant === "serverCompat"

// How many measured batches each server row runs.
const SERVER_ROUNDS = 3

// The facade's client (the cheapest) of `server`.
const facadeClient = (server: ServerProcess): CallbackClient<CompatConnection> => ({
  connect: async () => {
    const connection = await compatConnect(server.port)
    connection.on("error", (error: unknown) => process.stderr.write(`rpc bench: facade client connection: ${String(error)}\n`))
    return connection
  },
  call: compatCall,
  close: closeAndWait
})

// The server rows of a scenario: the facade's client against the server of
// each, their measured batches alternating: one after another, the
// sequential rows' server CPU per call moved by 10 µs between rows.
const runServerRows = (
  variants: ReadonlyArray<ServerVariant>,
  scenario: Scenario,
  serverOf: (variant: ServerVariant) => ServerProcess
): Promise<Array<Result>> =>
  runCallbackRows(
    variants.map((variant) => ({ variant, server: serverOf(variant), client: facadeClient(serverOf(variant)) })),
    scenario,
    SERVER_ROUNDS
  )

const runScenario = (variant: Exclude<Variant, ServerVariant>, scenario: Scenario, server: ServerProcess, jstp: Jstp): Promise<Result> => {
  switch (variant) {
    case "ours":
    case "callAll":
      return runOurs(variant, scenario, server)
    case "typed":
      return runTyped(scenario, server)
    case "reference":
      return runReference(scenario, server, jstp)
    case "floor":
      return runFloor(scenario, server)
    case "effectFloor":
      return runEffectFloor(scenario, server)
  }
}

// --- Fan-out ------------------------------------------------------------------

/**
 * A row of the fan-out table: ours with the Effect API (clients receiving
 * through the events Stream, or through the onEvent connect option, or
 * through onEvent into a fiber per client: the floor of any stream a fiber
 * runs), ours through the facade, or the reference.
 */
type FanoutVariant = "stream" | "onEvent" | "fiber" | "compat" | "reference"

const fanoutVariants: ReadonlyArray<FanoutVariant> = ["stream", "onEvent", "fiber", "compat", "reference"]

const fanoutName: Record<FanoutVariant, string> = {
  stream: "ours, Effect API: events Stream",
  onEvent: "ours, Effect API: onEvent",
  fiber: "Effect floor: onEvent into a fiber per client",
  compat: "ours, facade",
  reference: "reference"
}

/** A fan-out variant's name in BENCH_RPC_IMPLS. */
const fanoutKey: Record<FanoutVariant, string> = {
  stream: "ours",
  onEvent: "onEvent",
  fiber: "event-floor",
  compat: "compat",
  reference: "reference"
}

/** The server a fan-out variant's clients subscribe to. */
const fanoutImpl: Record<FanoutVariant, Impl> = {
  stream: "ours",
  onEvent: "ours",
  fiber: "ours",
  compat: "compat",
  reference: "reference"
}

const fanoutLabel = `(4) fan-out: ${FANOUT_CONNECTIONS} connections subscribed, server broadcasts ${FANOUT_EVENTS.toLocaleString("en-US")} events`

/**
 * The deliveries of one broadcast: each client must get tick(i, payload) for
 * i in 0..count-1, each once and in order. A wrong, missing or repeated event
 * is a mismatch (the expected id then follows the id received, so one lost
 * event is one mismatch). `onDone` is called when every client has its last
 * event.
 */
class Deliveries implements Tally {
  completed = 0
  errors = 0
  mismatches = 0
  firstError: unknown = undefined
  /** When the last client got its last event. */
  doneAt: bigint | undefined = undefined
  private readonly next: Int32Array
  private readonly finished: Uint8Array
  private clientsDone = 0

  constructor(
    readonly clients: number,
    readonly count: number,
    private readonly onDone: () => void
  ) {
    this.next = new Int32Array(clients)
    this.finished = new Uint8Array(clients)
  }

  /** Client `c` got tick(id, payload). */
  receive(c: number, id: unknown, payload: unknown): void {
    this.completed++
    const expected = this.next[c]!
    if (id !== expected || payload !== smallPayload || expected >= this.count) {
      this.mismatch(`client ${c} got tick(${typeof id === "number" ? id : typeof id}${payload === smallPayload ? ", payload" : ", a wrong payload"}) where tick(${expected}, payload) was due`)
    }
    const next = typeof id === "number" ? id + 1 : expected + 1
    this.next[c] = next
    if (next === this.count && this.finished[c] === 0) {
      this.finished[c] = 1
      if (++this.clientsDone === this.clients) {
        this.doneAt = process.hrtime.bigint()
        this.onDone()
      }
    }
  }

  /** Client `c` got something else than a tick of `bench`. */
  stray(c: number, what: string): void {
    this.completed++
    this.mismatch(`client ${c} got ${what}`)
  }

  /** Client `c`'s connection failed. */
  error(c: number, error: unknown): void {
    this.errors++
    this.firstError ??= new Error(`client ${c}: ${describeError(error)}`)
  }

  private mismatch(message: string): void {
    this.mismatches++
    this.firstError ??= new Error(message)
  }
}

const describeError = (error: unknown): string => error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** One broadcast and its deliveries. */
interface FanoutBatch {
  /** Deliveries due: clients × events. */
  readonly due: number
  readonly completed: number
  readonly errors: number
  readonly mismatches: number
  readonly firstError: unknown
  /** Clients the server broadcast to. */
  readonly connections: number
  readonly elapsedNs: number
  readonly clientCpuUs: number
  readonly serverCpuUs: number
}

// How long to wait after the last delivery for deliveries that should not come.
const FANOUT_SETTLE_MS = 100

// Asks the server to broadcast `count` events and waits until every client
// has them all; `use` points the clients' listeners at the new tally.
const fanoutBatch = async (
  who: string,
  server: ServerProcess,
  count: number,
  use: (tally: Deliveries) => void
): Promise<FanoutBatch> => {
  const serverBefore = await server.usage()
  let finish: () => void = () => {}
  const done = new Promise<void>((resolve) => {
    finish = resolve
  })
  const tally = new Deliveries(FANOUT_CONNECTIONS, count, () => finish())
  use(tally)
  const due = FANOUT_CONNECTIONS * count
  let stop: () => void = () => {}
  const stalled = new Promise<never>((_, reject) => {
    stop = watchdog(tally, () =>
      reject(new Error(`rpc bench (${who}): no event delivered for ${STALL_MS / 1000} s (${tally.completed} of ${due} deliveries done)`)))
  })
  try {
    const clientBefore = process.cpuUsage()
    const started = process.hrtime.bigint()
    const broadcasted = server.broadcast(count, smallPayload, FANOUT_BURST)
    await Promise.race([done, stalled, broadcasted.then(() => Promise.race([done, stalled]))])
    const clientCpuUs = cpuDelta(clientBefore, process.cpuUsage())
    const elapsedNs = Number(tally.doneAt! - started)
    const connections = await broadcasted
    const serverCpuUs = cpuDelta(serverBefore, await server.usage())
    await new Promise((resolve) => setTimeout(resolve, FANOUT_SETTLE_MS))
    const { completed, errors, mismatches, firstError } = tally
    return { due, completed, errors, mismatches, firstError, connections, elapsedNs, clientCpuUs, serverCpuUs }
  } finally {
    stop()
  }
}

interface FanoutResult {
  readonly variant: FanoutVariant
  readonly warmup: FanoutBatch
  readonly batch: FanoutBatch
}

// The warm-up broadcast, then the measured one, to the same clients.
const fanoutRounds = async (variant: FanoutVariant, server: ServerProcess, use: (tally: Deliveries) => void): Promise<FanoutResult> => {
  const warmup = await fanoutBatch(fanoutName[variant], server, FANOUT_WARMUP_EVENTS, use)
  const batch = await fanoutBatch(fanoutName[variant], server, FANOUT_EVENTS, use)
  return { variant, warmup, batch }
}

// Ours, Effect API: FANOUT_CONNECTIONS Connection.connect clients, receiving
// through `connection.events("bench")` (Stream.runForEach, a fiber each) or
// through the onEvent connect option; one Effect.
const runFanoutOurs = (variant: "stream" | "onEvent" | "fiber", server: ServerProcess): Promise<FanoutResult> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    let current: Deliveries | undefined
    const receive = (c: number, event: Connection.RemoteEvent): void => {
      if (event.iface === "bench" && event.event === "tick" && event.args.length === 2) current?.receive(c, event.args[0], event.args[1])
      else current?.stray(c, `${event.iface}.${event.event} with ${event.args.length} arguments`)
    }
    // The floor: onEvent hands a tick's events to a mailbox at once, through
    // the events Stream's own batching (perTick), and a fiber per client
    // loops on takeAll; no Stream.
    const mailboxes = variant === "fiber"
      ? yield* Effect.forEach(Array.from({ length: FANOUT_CONNECTIONS }), () => Mailbox.make<Connection.RemoteEvent>())
      : []
    const intoMailbox = (c: number) =>
      ConnectionHandle.perTick((events: Array<Connection.RemoteEvent>) => mailboxes[c]!.unsafeOfferAll(events)).push
    const connections = yield* Effect.forEach(
      Array.from({ length: FANOUT_CONNECTIONS }),
      (_, c) =>
        Connection.connect({
          address: { _tag: "Tcp", host: ADDRESS_HOST, port: server.port },
          application: "bench",
          onEvent: variant === "onEvent" ? (event) => receive(c, event) : variant === "fiber" ? intoMailbox(c) : undefined
        }),
      { concurrency: "unbounded" }
    )
    if (variant === "fiber") {
      yield* Effect.forEach(
        mailboxes,
        (mailbox, c) =>
          Effect.gen(function*() {
            while (true) {
              const [events] = yield* mailbox.takeAll
              for (const event of events) receive(c, event)
            }
          }).pipe(Effect.forkScoped),
        { discard: true }
      )
    }
    if (variant === "stream") {
      yield* Effect.forEach(
        connections,
        (connection, c) =>
          connection.events("bench").pipe(Stream.runForEach((event) => Effect.sync(() => receive(c, event))), Effect.forkScoped),
        { discard: true }
      )
      // A stream subscribes when it runs: let every one start (the warm-up
      // would fail if one missed an event).
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.tryPromise({
      try: () => fanoutRounds(variant, server, (tally) => current = tally),
      catch: (error) => error instanceof Error ? error : new Error(String(error))
    })
  })))

/** A 2.x-style client connection of the fan-out: it closes, and its errors are reported. */
interface FanoutConnection extends Closable {
  on(event: "error", listener: (error: unknown) => void): unknown
}

// The facade or the reference: FANOUT_CONNECTIONS clients of the 2.x API,
// connectAndInspect("bench", ..., ["bench"], ...) and
// `proxies.bench.on("tick", (id, payload) => ...)`.
const runFanoutCallbacks = async (
  variant: "compat" | "reference",
  server: ServerProcess,
  connectAndInspect: (callback: (error: unknown, connection: FanoutConnection, proxy: RefRemoteProxy | undefined) => void) => void
): Promise<FanoutResult> => {
  let current: Deliveries | undefined
  const connections: Array<FanoutConnection> = []
  try {
    await Promise.all(Array.from({ length: FANOUT_CONNECTIONS }, (_, c) =>
      new Promise<void>((resolve, reject) =>
        connectAndInspect((error, connection, proxy) => {
          if (error !== null && error !== undefined) return reject(error instanceof Error ? error : new Error(String(error)))
          connections.push(connection)
          connection.on("error", (failure) => {
            if (current === undefined) process.stderr.write(`rpc bench: ${fanoutName[variant]} client ${c}: ${String(failure)}\n`)
            else current.error(c, failure)
          })
          if (proxy === undefined) return reject(new Error(`rpc bench: ${fanoutName[variant]}: no remote proxy for bench`))
          proxy.on("tick", (id, payload) => current?.receive(c, id, payload))
          resolve()
        })
      )
    ))
    return await fanoutRounds(variant, server, (tally) => current = tally)
  } finally {
    await Promise.all(connections.map(closeAndWait))
  }
}

const runFanout = (variant: FanoutVariant, server: ServerProcess, jstp: Jstp): Promise<FanoutResult> => {
  switch (variant) {
    case "stream":
    case "onEvent":
    case "fiber":
      return runFanoutOurs(variant, server)
    case "compat":
      return runFanoutCallbacks(variant, server, (callback) =>
        compatNet.connectAndInspect("bench", noReconnect(), ["bench"], server.port, ADDRESS_HOST, (error: Error | null, connection?: unknown, proxies?: unknown) => {
          const proxy: CompatRemoteProxy | undefined = (proxies as Record<string, CompatRemoteProxy> | undefined)?.["bench"]
          callback(error, connection as CompatConnection, proxy)
        }))
    case "reference":
      return runFanoutCallbacks(variant, server, (callback) =>
        jstp.net.connectAndInspect("bench", noReconnect(), ["bench"], server.port, ADDRESS_HOST, (error, connection, proxies) =>
          callback(error, connection, proxies?.["bench"])))
  }
}

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

// CPU per delivery: a fraction of a microsecond.
const formatCpuFine = (us: number): string => (us < 10 ? us.toFixed(2) : formatCpu(us))

// Whether a key is listed in the environment variable `name` (comma-separated; unset or empty: every key).
const wants = (name: string): ((key: string) => boolean) => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return () => true
  const wanted = raw.split(",").map((s) => s.trim())
  return (key) => wanted.includes(key)
}

const run = async (options: RunOptions): Promise<void> => {
  const started = process.hrtime.bigint()
  const loadBefore = loadavg()[0] ?? 0
  const { jstp, mdsfFallback } = loadReference()
  const wantsImpl = wants("BENCH_RPC_IMPLS")
  const wantsScenario = wants("BENCH_RPC_SCENARIOS")
  const runs = scenarios.filter((s) => wantsScenario(s.key)).flatMap((scenario) =>
    scenario.variants.filter((v) => wantsImpl(variantKey[v])).map((variant) => ({ scenario, variant }))
  )
  const fanoutRuns = wantsScenario("fanout") ? fanoutVariants.filter((v) => wantsImpl(fanoutKey[v])) : []
  const impls = allImpls.filter((impl) =>
    runs.some((r) => implOf[r.variant] === impl) || fanoutRuns.some((v) => fanoutImpl[v] === impl)
  )

  options.progress(`rpc: starting server processes (${impls.join(", ")})`)
  const servers = new Map<Impl, ServerProcess>()
  const results: Array<Result> = []
  const fanoutResults: Array<FanoutResult> = []
  try {
    for (const impl of impls) servers.set(impl, await startServer(impl))
    for (const { scenario, variant } of runs) {
      if (isServerVariant(variant)) {
        // A scenario's server rows run together, their batches alternating.
        if (results.some((r) => r.scenario === scenario && isServerVariant(r.variant))) continue
        const together = runs.flatMap((r) => r.scenario === scenario && isServerVariant(r.variant) ? [r.variant] : [])
        options.progress(`rpc: ${scenario.label}: ${together.map((v) => variantName[v]).join(", ")}, alternating`)
        results.push(...await runServerRows(together, scenario, (v) => servers.get(implOf[v])!))
        continue
      }
      options.progress(`rpc: ${scenario.label}: ${variantName[variant]}`)
      results.push(await runScenario(variant, scenario, servers.get(implOf[variant])!, jstp))
    }
    for (const variant of fanoutRuns) {
      options.progress(`rpc: ${fanoutLabel}: ${fanoutName[variant]}`)
      fanoutResults.push(await runFanout(variant, servers.get(fanoutImpl[variant])!, jstp))
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

  // Fan-out: deliveries per second over the measured broadcast, and CPU per delivery.
  const fanoutRate = (r: FanoutResult): number => (r.batch.due * 1e9) / Math.max(1, r.batch.elapsedNs)
  const findFanout = (variant: FanoutVariant): FanoutResult | undefined => fanoutResults.find((r) => r.variant === variant)
  const fanoutRatioOf = (variant: Exclude<FanoutVariant, "reference">): number => {
    const ours = findFanout(variant)
    const reference = findFanout("reference")
    return ours === undefined || reference === undefined ? Number.NaN : fanoutRate(ours) / fanoutRate(reference)
  }
  const fanoutRows = fanoutResults.map((r, i) => {
    consume(Math.round(fanoutRate(r)))
    return [
      i === 0 ? fanoutLabel : "",
      fanoutName[r.variant],
      r.batch.due.toLocaleString("en-US"),
      formatRate(fanoutRate(r)),
      formatLatency(r.batch.elapsedNs),
      `${formatCpuFine(r.batch.clientCpuUs / r.batch.due)} + ${formatCpuFine(r.batch.serverCpuUs / r.batch.due)}`,
      r.variant === "reference" ? "" : formatRatio(fanoutRatioOf(r.variant))
    ]
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
  // Which code ran as ours: the build (npm run bench), or src through tsx.
  const oursFrom = import.meta.resolve("effect-jstp").includes("/dist/")
    ? "ours loaded from the build (dist/esm), as an application runs it"
    : "ours loaded from src through tsx (not the build: tsx keeps function names, which slows closures; run npm run bench)"
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const out: Array<string> = []
  if (rows.length > 0) {
    out.push("## RPC: echo over TCP on 127.0.0.1, (5) over WebSocket (calls/s higher is better, latency lower is better)", "")
    out.push(markdownTable(
      ["Scenario", "Impl", "Calls", "Calls/s", "p50", "p99", "CPU µs/call (client + server)", "ours/ref calls/s"],
      rows
    ))
  }
  if (fanoutRows.length > 0) {
    if (out.length > 0) out.push("")
    out.push("## RPC fan-out: server broadcast over TCP on 127.0.0.1 (events/s higher is better)", "")
    out.push(markdownTable(
      ["Scenario", "Impl", "Deliveries", "Events/s", "Wall time", "CPU µs/delivery (client + server)", "ours/ref events/s"],
      fanoutRows
    ))
  }
  const echoSetup = [
    `Setup: client in the bench process, server in a child process (child_process.fork with --import tsx, one per implementation), so client and server each have an event loop (and, on this ${availableParallelism()}-core machine, a core). ` +
      "Ours: Server.make + Connection.connect, `connection.call(\"echo\", \"echo\", [payload])`, one Effect.runPromise per scenario, " +
      "concurrency from long-lived fibers (one per call in flight) looping over their share of calls. " +
      "Ours (callAll), in (1) and (5) only: the same, but each connection driven by ONE `connection.callAll(\"echo\", \"echo\", args, { concurrency: 100, onResult })` " +
      "(100 calls in flight under one fiber; args is a generator that stamps call i's start when it yields i's args, which callAll pulls as it issues the call; onResult(i) stamps its end and checks its result). " +
      "Ours, typed, in (1) only: the same fibers calling `client.methods.echo.echo(payload)` of a Contract client (`Contract.connect`, echo declared `params: [Schema.String], success: Schema.String`: the argument encoded, the result decoded), against the same untyped server; its measured batches alternate with the untyped client's (3 each, in one process) and its row is the median typed batch. " +
      "Reference: @metarhia/jstp 2.3.0 jstp.net.createServer + jstp.net.connect (no-op reconnector), `callMethod` with callbacks, each callback starting the next call. " +
      "Both servers run the same callback-style handler `(connection, x, callback) => callback(null, x)` (ours wrapped in Application.callback). " +
      "Ceiling: a bare Node echo (bench/rpc/floor.ts), client and server with node:net, NUL framing, JSON.parse and JSON.stringify and nothing else (no handshake, validation, session buffer or protocol engine), driven like the reference; " +
      "no implementation that parses and serializes its messages can beat it here, so its ratio bounds what a target can ask of this machine.",
    "Effect floor, in (1), (2) and (5): the same bare echo, its client driven like ours (a looping fiber per call in flight), each call one `Effect.async` resumed from the bare client's callback: " +
      "what an implementation with a fiber per call in flight cannot beat. " +
      "Server rows, in (1) and (2): the facade's client (`effect-jstp/compat` net.connect, no-op reconnector, `callMethod`, driven like the reference), the cheapest client, against " +
      "our Server with the callback-style handler (the server of the ours rows), our Server with the Effect handler `(_connection, x) => Effect.succeed(x)`, and the facade's server " +
      "(`effect-jstp/compat` net.createServer, `new Application(\"bench\", { echo: { echo: (connection, value, callback) => callback(null, value) } })`): read their server CPU µs/call. Their measured batches alternate (3 each, the order rotating, all connected at once) and each row is its batch of median server CPU. " +
      "(5) WebSocket: ours dials `{ _tag: \"WebSocket\", host, port }` and our Server listens on one (the `ws` package); the reference: jstp.ws.createServer (an http.Server, the `websocket` package) and jstp.ws.connect; the ceiling and Effect floor rows of (5): the bare echo over WebSocket (`ws` on both ends, no extensions, our WebSocket link carrying a text frame per message).",
    `Latency is per call, from the call's start to its result (process.hrtime.bigint), over the measured batch; calls/s = measured calls / batch wall time. Each scenario runs a warm-up batch first on the same connections (not measured; (3)'s warm-up also sets its call count for ~2 s, between 300 and 1000). CPU µs/call = process.cpuUsage (user + system) of the client and of the server process over the measured batch, per call.`,
    `Payloads: a 100-byte ASCII string; (3) text: a 64 KiB string (65,536 UTF-16 code units, ${Buffer.byteLength(largePayload).toLocaleString("en-US")} UTF-8 bytes, prose with quotes and a few non-ASCII words); ` +
      `(3) base64: randomBytes(49152).toString("base64"), ${largeBase64Payload.length.toLocaleString("en-US")} ASCII characters (how a 64 KiB Buffer travels in JSTP). Every result was checked to be exactly [payload].`
  ]
  const fanoutSetup = [
    `Fan-out: ${FANOUT_CONNECTIONS} client connections (in the bench process) to one server (in its child process), which broadcasts \`bench.tick(i, payload)\` (the 100-byte payload) for i in 0..${FANOUT_EVENTS - 1}, ` +
      `${FANOUT_BURST} events at a time with a setImmediate between (the same driver for every server), after a warm-up broadcast of ${FANOUT_WARMUP_EVENTS} to the same clients. ` +
      "Ours, Effect API: Server.make's `server.broadcast(\"bench\", \"tick\", [i, payload])`, clients Connection.connect receiving through `connection.events(\"bench\")` (Stream.runForEach, a fiber per client) or through the `onEvent` connect option; its Effect floor: the onEvent clients handing a tick's events to a Mailbox each, with a fiber per client looping on `takeAll` (what a fiber per subscription costs, with no Stream); " +
      "ours, facade: its net server's `broadcast(\"bench\", \"tick\", i, payload)`, clients `connectAndInspect(\"bench\", client, [\"bench\"], ...)` with `proxies.bench.on(\"tick\", (i, payload) => ...)`; the reference: the same 2.x program on @metarhia/jstp 2.3.0. " +
      `Events/s = deliveries (${FANOUT_CONNECTIONS} × events) / wall time from the broadcast request until the last client has its last event; CPU µs/delivery = process.cpuUsage of the clients' process and of the server over it, per delivery. ` +
      `Every client was checked to get every event exactly once and in order, and nothing more within ${FANOUT_SETTLE_MS} ms after.`
  ]
  out.push(
    "",
    ...(rows.length > 0 ? echoSetup : []),
    ...(fanoutRows.length > 0 ? fanoutSetup : []),
    `${flagsLine}; ${oursFrom}. ${mdsfLine}. NODE_ENV=${process.env["NODE_ENV"] ?? "(unset)"}; Node ${process.version}; rpc bench took ${seconds.toFixed(1)} s; 1-min load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after (other work on the machine makes these figures noisy).`
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
  // What the bare Node echo (or it with a fiber per call) reaches: no target above it can be met on this machine.
  const ceilingPart = (variant: "floor" | "effectFloor", label: string): string | undefined => {
    const found = scenarios.flatMap((scenario) => {
      const r = ratioOf(scenario.key, variant)
      return Number.isNaN(r) ? [] : [`${scenario.label} ${formatRatio(r)}`]
    })
    return found.length === 0 ? undefined : `${label}: ${found.join(", ")}`
  }
  // Server CPU per call of the server rows, in (1) and (2).
  const serverCpu = (key: ScenarioKey, variant: Variant): number => find(key, variant)?.cpuPerCallUs.server ?? Number.NaN
  const serverScenarios = scenarios.filter((s) => s.key === "pipelined" || s.key === "sequential")
  const serverRatioPart = (): string | undefined => {
    const found = serverScenarios.flatMap((scenario) => {
      const effect = serverCpu(scenario.key, "serverOurs")
      const facade = serverCpu(scenario.key, "serverCompat")
      const r = effect / facade
      return Number.isNaN(r)
        ? []
        : [`${scenario.label} ${formatCpu(effect)} / ${formatCpu(facade)} µs = ${formatRatio(r)} (${r <= 1.1 ? "met" : "MISSED"})`]
    })
    return found.length === 0
      ? undefined
      : `Effect server CPU per call / facade server CPU per call (target ≤ 1.1×; both with the callback-style handler, facade client): ${found.join(", ")}`
  }
  const handlerPart = (): string | undefined => {
    const found = serverScenarios.flatMap((scenario) => {
      const d = serverCpu(scenario.key, "serverOursEffect") - serverCpu(scenario.key, "serverOurs")
      return Number.isNaN(d) ? [] : [`${scenario.label} ${d >= 0 ? "+" : ""}${d.toFixed(1)} µs (${d <= 2 ? "met" : "MISSED"})`]
    })
    return found.length === 0
      ? undefined
      : `Effect handler minus callback handler, server µs per call (target ≤ 2 µs; our Server, facade client): ${found.join(", ")}`
  }
  const fanoutPart = (): string | undefined => {
    const target = 2
    const found = (["stream", "onEvent", "compat"] as const).flatMap((variant) => {
      const r = fanoutRatioOf(variant)
      return Number.isNaN(r) ? [] : [`${fanoutName[variant]} ${formatRatio(r)} the reference (${r >= target ? "met" : "MISSED"})`]
    })
    return found.length === 0 ? undefined : `fan-out events/s (target ≥ ${target}×): ${found.join(", ")}`
  }
  const streamVsOnEventPart = (): string | undefined => {
    const stream = findFanout("stream")
    const onEvent = findFanout("onEvent")
    if (stream === undefined || onEvent === undefined) return undefined
    const perEvent = (r: FanoutResult): number => r.batch.clientCpuUs / r.batch.due
    const floor = findFanout("fiber")
    return `events Stream µs per event vs onEvent µs per event (client CPU per delivery, no target): ${formatCpuFine(perEvent(stream))} vs ${formatCpuFine(perEvent(onEvent))} µs (${
      perEvent(stream) >= perEvent(onEvent) ? "+" : ""
    }${(perEvent(stream) - perEvent(onEvent)).toFixed(2)} µs)${
      floor === undefined ? "" : `, the Effect floor (a fiber per client, no Stream) ${formatCpuFine(perEvent(floor))} µs`
    }`
  }
  // Pipelined `call` (issue 12): ≥ 2× the reference, or, where the Effect
  // floor itself is below 2.5× the reference, ≥ 0.8× the floor.
  const callPart = (): string | undefined => {
    const ours = find("pipelined", "ours")
    const floor = find("pipelined", "effectFloor")
    const reference = find("pipelined", "reference")
    if (ours === undefined || floor === undefined || reference === undefined) return undefined
    const ofReference = ours.rate / reference.rate
    const floorOfReference = floor.rate / reference.rate
    const ofFloor = ours.rate / floor.rate
    const met = floorOfReference < 2.5 ? ofReference >= 2 || ofFloor >= 0.8 : ofReference >= 2
    return `pipelined with connection.call (target ≥ 2× the reference, or ≥ 0.8× the Effect floor while the floor is below 2.5× the reference): ${
      formatRatio(ofReference)
    } the reference, ${formatRatio(ofFloor)} the Effect floor (which is ${formatRatio(floorOfReference)} the reference) (${met ? "met" : "MISSED"})`
  }
  // WebSocket `call` against what a fiber per call can reach over WebSocket
  // (no target of its own: it bounds the ≥ 2× above).
  const wsFloorPart = (): string | undefined => {
    const ours = find("ws-pipelined", "ours")
    const floor = find("ws-pipelined", "effectFloor")
    const reference = find("ws-pipelined", "reference")
    if (ours === undefined || floor === undefined || reference === undefined) return undefined
    return `WebSocket pipelined with connection.call against the WebSocket Effect floor (no target): ${
      formatRatio(ours.rate / floor.rate)
    } the Effect floor, which is ${formatRatio(floor.rate / reference.rate)} the reference`
  }
  // A typed call (issue 15) costs at most 15% more than an untyped one:
  // the medians of the alternated batches' client CPU per call.
  const typedPart = (): string | undefined => {
    const alternated = results.find((r) => r.variant === "typed")?.alternated
    if (alternated === undefined) return undefined
    const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
    const typed = median(alternated.typed)
    const untyped = median(alternated.untyped)
    const r = typed / untyped
    const list = (values: ReadonlyArray<number>) => values.map(formatCpu).join(", ")
    return `pipelined, typed call / untyped call (target ≤ 1.15×; client CPU per call, medians of ${TYPED_ROUNDS} alternated batches each): ${
      formatCpu(typed)
    } / ${formatCpu(untyped)} µs = ${formatRatio(r)} (typed ${list(alternated.typed)}; untyped ${list(alternated.untyped)}) (${r <= 1.15 ? "met" : "MISSED"})`
  }
  // 64 KiB (issue 12): ours ≥ 0.9× the ceiling row.
  const largePart = (): string | undefined => {
    const found = (["large", "large-base64"] as const).flatMap((key) => {
      const ours = find(key, "ours")
      const floor = find(key, "floor")
      if (ours === undefined || floor === undefined) return []
      const r = ours.rate / floor.rate
      return [`${key === "large" ? "text" : "base64"} ${formatRatio(r)} (${r >= 0.9 ? "met" : "MISSED"})`]
    })
    return found.length === 0 ? undefined : `64 KiB, ours / the ceiling (target ≥ 0.9×): ${found.join(", ")}`
  }
  const verdict = [
    callPart(),
    typedPart(),
    verdictPart("pipelined with connection.callAll", 2.5, [
      ["ours with connection.callAll (one call per connection, concurrency 100)", "pipelined", "callAll"]
    ]),
    largePart(),
    verdictPart("sequential", 1.2, [["ours", "sequential", "ours"]]),
    verdictPart("WebSocket pipelined", 2, [
      ["ours with connection.call (100 looping fibers per connection)", "ws-pipelined", "ours"],
      ["ours with connection.callAll (one call per connection, concurrency 100)", "ws-pipelined", "callAll"]
    ]),
    wsFloorPart(),
    serverRatioPart(),
    handlerPart(),
    fanoutPart(),
    streamVsOnEventPart(),
    ceilingPart("floor", "ceiling (a bare Node echo / the reference)"),
    ceilingPart("effectFloor", "Effect floor (the bare echo with a fiber per call / the reference)")
  ].filter((part) => part !== undefined)
  if (verdict.length > 0) out.push("", `Verdict: ${verdict.join("; ")}.`)

  // Fail loudly on any error or wrong echo.
  const failures = results.filter((r) => r.batch.errors + r.batch.mismatches > 0 || r.batch.completed !== r.batch.latencies.length)
  for (const f of failures) {
    out.push(
      "",
      `FAILED: ${f.scenario.label}, ${variantName[f.variant]}: ${f.batch.errors} errors and ${f.batch.mismatches} wrong echoes (warm-up included); ` +
        `${f.batch.completed} of ${f.batch.latencies.length} measured calls completed; first error: ${describeError(f.batch.firstError)}`
    )
  }
  // And on any lost, repeated, extra or wrong event, in the warm-up or the measured broadcast.
  const fanoutFailures = fanoutResults.flatMap((r) =>
    ([["warm-up", r.warmup], ["measured", r.batch]] as const).filter(([, b]) =>
      b.errors + b.mismatches > 0 || b.completed !== b.due || b.connections !== FANOUT_CONNECTIONS
    ).map(([which, b]) => ({ variant: r.variant, which, batch: b }))
  )
  for (const f of fanoutFailures) {
    out.push(
      "",
      `FAILED: ${fanoutLabel}, ${fanoutName[f.variant]}, ${f.which} broadcast: ${f.batch.errors} client errors and ${f.batch.mismatches} wrong, repeated or out-of-order events; ` +
        `${f.batch.completed} of ${f.batch.due} deliveries; the server broadcast to ${f.batch.connections} of ${FANOUT_CONNECTIONS} clients; first error: ${
          f.batch.firstError === undefined ? "–" : describeError(f.batch.firstError)
        }`
    )
  }
  console.log(out.join("\n"))
  const failed = failures.length + fanoutFailures.length
  if (failed > 0) throw new Error(`rpc bench: ${failed} scenario run(s) had errors, wrong echoes or wrong deliveries (see above)`)
}

const rpc: BenchModule = { name: "rpc", run }
export default rpc
