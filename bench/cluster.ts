// `npm run bench -- cluster`: what Redis costs a cluster. Server nodes run
// in child processes (bench/cluster/node.ts); this process is the clients.
//
// - pipelined: 10 connections × 100 fibers, each looping on `call` (a
//   100-byte echo), on one node with the in-memory store, with the Redis
//   store, and with the Redis store in crash-safe mode (every call changes
//   the session's receivedCount: journaled per tick);
// - fan-out: 100 connections, a node broadcasts 2,000 events, every delivery
//   counted: one node (memory store; and Redis crash-safe, where each event
//   waits for the journal), against two nodes sharing Redis (50
//   connections on each; the events reach the second node by pub/sub, in
//   one Redis message per tick).
//
// Each configuration is measured BENCH_CLUSTER_ROUNDS times (default 3),
// alternating; the median is shown. It needs redis-server on PATH (Debian's
// redis-server), started here on a free port, without persistence.
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"
import { Connection } from "effect-jstp"
import { type BenchModule, formatRate, formatRatio, markdownTable, type RunOptions } from "./harness.js"

type Store = "memory" | "redis" | "crash-safe"

const nodeEntry = fileURLToPath(new URL("./cluster/node.ts", import.meta.url))
const rounds = Number(process.env.BENCH_CLUSTER_ROUNDS ?? 3)
const PAYLOAD = "x".repeat(100)
const EVENTS = 2000
const FAN_OUT_CONNECTIONS = 100

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })

const startRedis = async (): Promise<{ url: string; child: ChildProcess }> => {
  const port = await freePort()
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" })
  for (let i = 0; i < 500; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = Net.connect(port, "127.0.0.1", () => {
        socket.destroy()
        resolve(true)
      }).once("error", () => resolve(false))
    })
    if (up) return { url: `redis://127.0.0.1:${port}`, child }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error("redis-server did not start")
}

// A node in a child process, for the scope.
const node = (store: Store, url: string): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ child: ChildProcess; port: number }>((resume) => {
      const child = fork(nodeEntry, [store, url], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
      child.once("message", (message: { port: number }) => resume(Effect.succeed({ child, port: message.port })))
    }),
    ({ child }) => Effect.async<void>((resume) => {
      child.once("exit", () => resume(Effect.void))
      child.disconnect()
    })
  ).pipe(Effect.map(({ port }) => port))

const connect = (port: number, onEvent?: () => void) =>
  Connection.connect({
    address: { _tag: "Tcp", host: "127.0.0.1", port },
    application: "bench",
    onEvent: onEvent === undefined ? undefined : () => onEvent()
  })

// Calls per second of 10 connections × 100 looping fibers, for the budget.
const pipelined = (store: Store, url: string, options: RunOptions) =>
  Effect.scoped(Effect.gen(function*() {
    const port = yield* node(store, url)
    const connections = yield* Effect.all(Array.from({ length: 10 }, () => connect(port)))
    const run = (ms: number) =>
      Effect.gen(function*() {
        let calls = 0
        const deadline = Date.now() + ms
        const loop = (connection: Connection.Connection) =>
          Effect.whileLoop({
            while: () => Date.now() < deadline,
            body: () => connection.call("bench", "echo", [PAYLOAD]),
            step: () => void calls++
          })
        const started = performance.now()
        yield* Effect.all(connections.flatMap((c) => Array.from({ length: 100 }, () => loop(c))), { concurrency: "unbounded", discard: true })
        return calls / ((performance.now() - started) / 1000)
      })
    // A fresh process each time: warmed up longer than the other benches.
    yield* run(Math.max(1000, options.warmupMs))
    return yield* run(Math.max(2000, options.budgetMs))
  }))

// Deliveries per second of one broadcast of EVENTS events to 100 connections over `nodes` nodes.
const fanOut = (store: Store, url: string, nodes: number) =>
  Effect.scoped(Effect.gen(function*() {
    const ports = yield* Effect.all(Array.from({ length: nodes }, () => node(store, url)))
    let delivered = 0
    let done: (() => void) | undefined
    const total = FAN_OUT_CONNECTIONS * EVENTS
    const connections = yield* Effect.all(Array.from({ length: FAN_OUT_CONNECTIONS }, (_, i) =>
      connect(ports[i % nodes]!, () => {
        if (++delivered === total) done?.()
      })))
    // The other nodes' subscriptions are in place once a broadcast reaches them.
    yield* connections[0]!.call("bench", "fanout", [1])
    while (delivered < FAN_OUT_CONNECTIONS) yield* Effect.sleep("10 millis")
    yield* Effect.sleep("50 millis")
    delivered = 0
    const started = performance.now()
    const all = Effect.async<void>((resume) => {
      done = () => resume(Effect.void)
    })
    yield* connections[0]!.call("bench", "fanout", [EVENTS])
    yield* all.pipe(Effect.timeout("60 seconds"))
    return total / ((performance.now() - started) / 1000)
  }))

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const cluster: BenchModule = {
  name: "cluster",
  run: async (options) => {
    if (spawnSync("redis-server", ["--version"]).status !== 0) {
      console.log("## cluster\n\nredis-server is not on PATH (Debian: apt-get install redis-server): not measured.")
      return
    }
    const redis = await startRedis()
    try {
      const configs = {
        "pipelined, 1 node, memory store": () => pipelined("memory", redis.url, options),
        "pipelined, 1 node, Redis store": () => pipelined("redis", redis.url, options),
        "pipelined, 1 node, Redis crash-safe": () => pipelined("crash-safe", redis.url, options),
        "fan-out, 1 node, memory store": () => fanOut("memory", redis.url, 1),
        "fan-out, 1 node, Redis crash-safe": () => fanOut("crash-safe", redis.url, 1),
        "fan-out, 2 nodes, Redis store": () => fanOut("redis", redis.url, 2)
      } satisfies Record<string, () => Effect.Effect<number, unknown>>
      const results = new Map<string, Array<number>>()
      for (let round = 0; round < rounds; round++) {
        for (const [name, measure] of Object.entries(configs)) {
          options.progress(`${name}, round ${round + 1}`)
          const value = await Effect.runPromise(measure())
          results.set(name, [...(results.get(name) ?? []), value])
        }
      }
      const of = (name: keyof typeof configs) => median(results.get(name)!)
      const row = (name: keyof typeof configs, base: keyof typeof configs, unit: string, target: string) => [
        name,
        `${formatRate(of(name))} ${unit}`,
        results.get(name)!.map((v) => formatRate(v)).join(", "),
        name === base ? "1" : formatRatio(of(name) / of(base)),
        target
      ]
      console.log(`## cluster (median of ${rounds} rounds)\n`)
      console.log(markdownTable(["configuration", "median", "rounds", "vs memory, 1 node", "target"], [
        row("pipelined, 1 node, memory store", "pipelined, 1 node, memory store", "calls/s", ""),
        row("pipelined, 1 node, Redis store", "pipelined, 1 node, memory store", "calls/s", "≥ 0.95×"),
        row("pipelined, 1 node, Redis crash-safe", "pipelined, 1 node, memory store", "calls/s", "≥ 0.5×"),
        row("fan-out, 1 node, memory store", "fan-out, 1 node, memory store", "events/s", ""),
        row("fan-out, 1 node, Redis crash-safe", "fan-out, 1 node, memory store", "events/s", ""),
        row("fan-out, 2 nodes, Redis store", "fan-out, 1 node, memory store", "events/s", "≥ 0.8×")
      ]))
    } finally {
      redis.child.kill("SIGKILL")
    }
  }
}

export default cluster
