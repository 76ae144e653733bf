/**
 * `npm run soak`: our own chaos test (issue 14 point 5).
 *
 *   npm run soak                                   1,000 connections, 60 s of chaos
 *   npm run soak -- --connections 50 --seconds 10  the small run of .ci/run
 *   npm run soak -- --help                         every parameter
 *
 * Three processes: this one runs the clients (Effect API, our facade, and
 * @metarhia/jstp 2.3.0, naive and careful; see soak/clients), a child runs
 * our server (soak/server.ts, with --expose-gc: its memory is measured after
 * a full GC), another the chaos proxy between them (soak/proxy.ts).
 *
 * 1. Chaos: the clients call the server (plainly and with resend) and send
 *    it numbered events; the server broadcasts, sends each client numbered
 *    events and calls each client; the proxy kills links at random (reset,
 *    clean close, dead peer, one direction dead) and refuses connections
 *    now and then. Clients keep calling and sending while their link is
 *    down; heartbeats drop dead links; reconnectors restore the sessions.
 * 2. Drain: the proxy stops killing and the traffic stops; every client
 *    waits for its calls, then `soak.sync` (a barrier: once it answers,
 *    everything sent before it arrived, both ways); the server waits for
 *    its calls. Completion is verified, not slept on; the drain times out
 *    only after --drain-timeout.
 * 3. Check, per connection, exactly: events both ways once each and in
 *    order; every call ran once (answered or -1), with resend at least once
 *    and at most once more per restore it went through; nothing pending.
 * 4. Slow consumers: a server with a small maxBuffered, some clients stop
 *    reading (the proxy holds what the server sends them, or stops reading
 *    from the server), the server broadcasts as fast as the others keep up.
 *    What a stalled client got must be an in-order, duplicate-free prefix
 *    of what was broadcast to it, and if it is not all of it, its session
 *    was ended and it was told (its restore refused).
 *
 * The exit code is 1 on any anomaly of ours; 2.3.0's clients' anomalies
 * that its own known bugs explain are reported apart (see
 * soak/clients/callback.ts and soak/check.ts), not failing the run.
 */
import { dirname, join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import { checkConnection, kindTotals, type KindTotals } from "./check.js"
import { type ClientSettings, type Kind, SoakClient } from "./clients/base.js"
import { CallbackApiClient } from "./clients/callback.js"
import { EffectClient } from "./clients/effect.js"
import { type Config, parse } from "./config.js"
import { Child } from "./ipc.js"
import { totalAnomalies } from "./ledger.js"
import type { MemorySample, ProxyMethods, ServerMethods, ServerReport } from "./protocol.js"
import type { ChaosOptions, LaneStats } from "./proxy.js"
import { anomalyTable, exampleLines, failureLines, kindName, memoryTable, proxyTable, referenceLines, table, trafficTable } from "./report.js"

const here = dirname(fileURLToPath(import.meta.url))
const HOST = "127.0.0.1"
const kinds: ReadonlyArray<Kind> = ["effect", "compat", "ref-naive", "ref-careful"]

const started = Date.now()
const log = (line: string) => process.stderr.write(`[soak ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`)

// Anything thrown out of a callback is a failure of the run (ours or the harness's), not a crash.
const uncaught: Array<string> = []
process.on("uncaughtException", (error) => {
  uncaught.push(error.stack ?? String(error))
  log(`uncaught exception: ${error.stack ?? String(error)}`)
})
process.on("unhandledRejection", (reason) => {
  uncaught.push(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`)
  log(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`)
})

const config: Config = parse(process.argv.slice(2), process.env)

const settingsFor = (port: number): ClientSettings => ({
  host: HOST,
  port,
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 3000,
  handshakeTimeoutMs: 5000,
  backoffMinMs: 100,
  backoffMaxMs: 2000,
  callShare: 0.6,
  resendShare: 0.5
})

const chaos: ChaosOptions = {
  meanLifeMs: config.meanLifeMs,
  weights: { destroy: 3, end: 2, silent: 2, deafClient: 1.5, deafServer: 1.5 },
  refuseEveryMs: 7000,
  refuseForMs: 300
}

const makeClient = (key: string, kind: Kind, port: number): SoakClient =>
  kind === "effect" ? new EffectClient(key, kind, settingsFor(port)) : new CallbackApiClient(key, kind, settingsFor(port))

/** `n` split among the kinds: a third each to the Effect API and the facade, the rest to 2.3.0 (half naive, half careful). */
const split = (n: number): Record<Kind, number> => {
  const effect = Math.ceil(n / 3)
  const compat = Math.round(n / 3)
  const ref = Math.max(0, n - effect - compat)
  return { effect, compat, "ref-naive": Math.ceil(ref / 2), "ref-careful": Math.floor(ref / 2) }
}

/** Runs `work` over `items`, `concurrency` at a time. */
const pool = async <A>(items: ReadonlyArray<A>, concurrency: number, work: (item: A) => Promise<void>): Promise<void> => {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!)
  }))
}

/** Opens every client; those that fail are reported and left out. */
const openAll = async (clients: ReadonlyArray<SoakClient>, failures: Array<string>): Promise<Array<SoakClient>> => {
  const opened: Array<SoakClient> = []
  await pool(clients, 50, async (client) => {
    try {
      await client.open()
      opened.push(client)
    } catch (error) {
      failures.push(`${client.key} (${kindName(client.kind)}) did not connect: ${error instanceof Error ? error.message : String(error)}`)
    }
  })
  return opened
}

/** Steps every client at random, `rate` operations per second each on average. */
const drive = (clients: ReadonlyArray<SoakClient>, rate: number): () => void => {
  const tickMs = 50
  const p = rate * tickMs / 1000
  const timer = setInterval(() => {
    for (const client of clients) if (Math.random() < p) client.step()
  }, tickMs)
  return () => clearInterval(timer)
}

/** Drains every client, logging progress; resolves when all are done or at the deadline. */
const drainAll = async (clients: ReadonlyArray<SoakClient>, deadline: number): Promise<number> => {
  let done = 0
  const unfinished = new Set(clients)
  const all = Promise.all(clients.map((client) =>
    client.drain().finally(() => {
      done++
      unfinished.delete(client)
    })
  ))
  let finished = false
  void all.then(() => finished = true)
  let before = -1
  while (!finished && Date.now() < deadline) {
    await Promise.race([all, sleep(5000)])
    if (finished) break
    log(`  drain: ${done}/${clients.length} clients done`)
    // No progress in 5 s: say who is still waiting, and on what.
    if (done === before) for (const client of [...unfinished].slice(0, 5)) log(`    waiting: ${client.key}: ${client.describe()}`)
    before = done
  }
  return clients.length - done
}

const checkAll = (clients: ReadonlyArray<SoakClient>, report: ServerReport): Array<KindTotals> => {
  const byKey = new Map(report.keys.map((key) => [key.key, key]))
  const totals = new Map(kinds.map((kind) => [kind, kindTotals(kind)]))
  for (const client of clients) checkConnection(client, byKey.get(client.key), totals.get(client.kind)!)
  return kinds.map((kind) => totals.get(kind)!).filter((t) => t.connections > 0)
}

const progress = (clients: ReadonlyArray<SoakClient>, lanes: ReadonlyArray<LaneStats>) => {
  let restores = 0
  let drops = 0
  let pending = 0
  let calls = 0
  for (const client of clients) {
    restores += client.restores
    drops += client.drops
    pending += client.calls.pending
    calls += client.calls.issued
  }
  const kills = lanes.reduce((n, lane) => n + Object.values(lane.kills).reduce((a, b) => a + b, 0), 0)
  const open = lanes.reduce((n, lane) => n + lane.open, 0)
  return `calls ${calls} (pending ${pending}), drops ${drops}, restores ${restores}, links killed ${kills}, proxy pairs ${open}`
}

interface PhaseResult {
  readonly totals: Array<KindTotals>
  readonly lanes: Array<LaneStats>
  readonly report: ServerReport
  readonly setupFailures: Array<string>
  readonly unfinished: number
  readonly serverPending: number
}

const serverExecArgv = ["--import", "tsx", "--expose-gc"]

/** Phase 1-3: chaos, drain, check. */
const chaosPhase = async (proxy: Child<ProxyMethods>, memory: Array<MemorySample>): Promise<PhaseResult> => {
  const server = new Child<ServerMethods>("server", join(here, "server.ts"), serverExecArgv)
  try {
    const { port } = await server.request("start", { heartbeatIntervalMs: 2000, handshakeTimeoutMs: 10_000 })
    memory.push(await server.request("memory", { label: "start" }))
    const lanes = {
      effect: await proxy.request("addLane", { name: "effect", target: port }),
      // Neither the facade's heartbeat nor 2.3.0's detects a dead peer: the network gives up on it.
      compat: await proxy.request("addLane", { name: "compat", target: port, cutHalfOpen: [2000, 6000] }),
      ref: await proxy.request("addLane", { name: "2.3.0", target: port, cutHalfOpen: [2000, 6000] })
    }
    const counts = split(config.connections)
    const all: Array<SoakClient> = []
    for (const kind of kinds) {
      const port = kind === "effect" ? lanes.effect : kind === "compat" ? lanes.compat : lanes.ref
      for (let i = 0; i < counts[kind]; i++) all.push(makeClient(`${kind}-${i}`, kind, port))
    }
    log(`chaos phase: opening ${all.length} connections (${kinds.map((k) => `${counts[k]} ${kindName(k)}`).join(", ")})`)
    const setupFailures: Array<string> = []
    const clients = await openAll(all, setupFailures)
    memory.push(await server.request("memory", { label: "connected" }))
    log(`chaos phase: ${clients.length} connected; chaos for ${config.seconds} s`)

    await server.request("traffic", { broadcastEveryMs: 200, directEveryMs: 1000, callEveryMs: 2000, resendShare: 0.5 })
    await proxy.request("chaos", chaos)
    const stopDriving = drive(clients, config.rate)
    const chaosEnd = Date.now() + config.seconds * 1000
    let middleTaken = false
    while (Date.now() < chaosEnd) {
      await sleep(Math.min(5000, chaosEnd - Date.now()))
      if (!middleTaken && Date.now() >= chaosEnd - config.seconds * 500) {
        middleTaken = true
        memory.push(await server.request("memory", { label: "middle (chaos)" }))
      }
      log(`  chaos: ${progress(clients, await proxy.request("stats", null))}`)
    }
    stopDriving()
    const { broadcasts } = await server.request("traffic", null)
    await proxy.request("chaos", null)
    log(`drain: chaos and traffic stopped (${broadcasts} broadcasts); waiting for every client to finish`)
    const deadline = Date.now() + config.drainTimeout * 1000
    const unfinished = await drainAll(clients, deadline)
    const { pending: serverPending } = await server.request("settle", { timeoutMs: Math.max(1000, deadline - Date.now()) })
    log(`drain: done (${unfinished} clients unfinished, ${serverPending} server calls unsettled)`)
    const report = await server.request("report", null)
    memory.push(await server.request("memory", { label: "end (drained)" }))
    const lanesStats = await proxy.request("stats", null)
    const totals = checkAll(clients, report)
    await Promise.all(clients.map((client) => client.close()))
    await server.request("awaitLive", { count: 0, timeoutMs: 30_000 })
    memory.push(await server.request("memory", { label: "clients closed" }))
    await server.request("close", null)
    return { totals, lanes: lanesStats.filter((lane) => !lane.name.startsWith("slow")), report, setupFailures, unfinished, serverPending }
  } finally {
    await server.stop()
  }
}

interface SlowResult extends PhaseResult {
  readonly stalled: number
  readonly stalledEnded: number
  readonly stalledTold: number
  readonly stalledComplete: number
  readonly flood: { broadcasts: number; ms: number; timedOut: boolean }
}

/** Phase 4: slow consumers. */
const slowPhase = async (proxy: Child<ProxyMethods>): Promise<SlowResult> => {
  const server = new Child<ServerMethods>("slow server", join(here, "server.ts"), serverExecArgv)
  try {
    const bound = config.slowBound
    const { port } = await server.request("start", { heartbeatIntervalMs: 2000, handshakeTimeoutMs: 10_000, maxBuffered: bound })
    const lanes = {
      normal: await proxy.request("addLane", { name: "slow-normal", target: port }),
      hold: await proxy.request("addLane", { name: "slow-hold", target: port }),
      backpressure: await proxy.request("addLane", { name: "slow-backpressure", target: port })
    }
    // The same number of each kind (at least 2), half of each stalling: by a
    // proxy that holds what the server sends, or one that stops reading from
    // the server, in turn.
    const perKind = Math.max(2, Math.round(config.slowConnections / kinds.length))
    const all: Array<SoakClient> = []
    const stalledKeys = new Set<string>()
    let stalls = 0
    for (const kind of kinds) {
      for (let i = 0; i < perKind; i++) {
        const stall = i % 2 === 0 ? undefined : stalls++ % 2 === 0 ? "hold" : "backpressure"
        const key = `slow-${kind}-${i}${stall === undefined ? "" : `-${stall}`}`
        if (stall !== undefined) stalledKeys.add(key)
        all.push(makeClient(key, kind, stall === undefined ? lanes.normal : stall === "hold" ? lanes.hold : lanes.backpressure))
      }
    }
    log(`slow consumers: ${all.length} connections (${stalledKeys.size} will stop reading), the server's maxBuffered ${bound}`)
    const setupFailures: Array<string> = []
    const clients = await openAll(all, setupFailures)
    // Traffic first, so that calls are in flight when sessions end.
    const stopDriving = drive(clients, Math.max(config.rate, 5))
    await sleep(1000)
    await proxy.request("stall", { lane: "slow-hold", stall: "hold" })
    await proxy.request("stall", { lane: "slow-backpressure", stall: "backpressure" })
    const flood = await server.request("flood", { stalled: [...stalledKeys], bound, maxMs: 30_000, minBroadcasts: bound * 4 })
    log(`slow consumers: ${flood.broadcasts} broadcasts in ${flood.ms} ms; ${flood.stalledEnded} stalled sessions ended, ${flood.stalledUnlinked} unlinked${flood.timedOut ? " (timed out)" : ""}`)
    stopDriving()
    await proxy.request("unstall", { lane: "slow-hold" })
    await proxy.request("unstall", { lane: "slow-backpressure" })
    const deadline = Date.now() + config.drainTimeout * 1000
    const unfinished = await drainAll(clients, deadline)
    const { pending: serverPending } = await server.request("settle", { timeoutMs: Math.max(1000, deadline - Date.now()) })
    const report = await server.request("report", null)
    const lanesStats = await proxy.request("stats", null)
    const totals = checkAll(clients, report)
    const byKey = new Map(report.keys.map((key) => [key.key, key]))
    let stalledEnded = 0
    let stalledTold = 0
    let stalledComplete = 0
    for (const client of clients) {
      if (!stalledKeys.has(client.key)) continue
      if (byKey.get(client.key)?.ended != null) stalledEnded++
      if (client.told !== undefined) stalledTold++
      if (client.synced) stalledComplete++
    }
    await Promise.all(clients.map((client) => client.close()))
    await server.request("close", null)
    return {
      totals,
      lanes: lanesStats.filter((lane) => lane.name.startsWith("slow")),
      report,
      setupFailures,
      unfinished,
      serverPending,
      stalled: stalledKeys.size,
      stalledEnded,
      stalledTold,
      stalledComplete,
      flood
    }
  } finally {
    await server.stop()
  }
}

const counterLine = (report: ServerReport) =>
  Object.entries(report.counters).sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${name} ${n}`).join(", ")

const main = async (): Promise<number> => {
  log(`npm run soak: ${config.connections} connections for ${config.seconds} s, ${config.rate} ops/s each, links live ${config.meanLifeMs} ms on average; slow consumers: ${config.slowConnections} (maxBuffered ${config.slowBound})`)
  const proxy = new Child<ProxyMethods>("proxy", join(here, "proxy-child.ts"), ["--import", "tsx"])
  const memory: Array<MemorySample> = []
  let main: PhaseResult
  let slow: SlowResult | undefined
  try {
    main = await chaosPhase(proxy, memory)
    if (config.slowConnections > 0) slow = await slowPhase(proxy)
    await proxy.request("close", null)
  } finally {
    await proxy.stop()
  }

  const out: Array<string> = []
  out.push("", `## npm run soak: ${config.connections} connections, ${config.seconds} s of chaos (${((Date.now() - started) / 1000).toFixed(0)} s in all)`, "")
  out.push("### Chaos phase: traffic per kind of client", "", trafficTable(main.totals), "")
  out.push("### Chaos phase: anomalies", "", anomalyTable(main.totals), "")
  out.push("### The server's memory", "", memoryTable(memory), "")
  out.push("### The proxy", "", proxyTable(main.lanes), "")
  out.push(`Server events: ${counterLine(main.report)}`, "")
  const notes = [...main.setupFailures.map((line) => `  setup: ${line}`), ...referenceLines(main.totals), ...failureLines(main.totals), ...exampleLines(main.totals)]
  if (main.unfinished > 0) notes.push(`  ${main.unfinished} clients did not finish the drain`)
  if (main.serverPending > 0) notes.push(`  ${main.serverPending} of the server's calls never settled`)
  if (notes.length > 0) out.push("Details:", ...notes, "")
  let ours = main.totals.reduce((n, t) => n + totalAnomalies(t.anomalies), 0) + main.setupFailures.length + main.serverPending
  if (slow !== undefined) {
    out.push(`### Slow consumers (maxBuffered ${config.slowBound})`, "")
    out.push(table(
      ["stalled clients", "sessions ended", "told (restore refused)", "got everything", "broadcasts in the flood", "flood ms"],
      [[slow.stalled, slow.stalledEnded, slow.stalledTold, slow.stalledComplete, slow.flood.broadcasts, `${slow.flood.ms}${slow.flood.timedOut ? " (timed out)" : ""}`]]
    ), "")
    out.push(trafficTable(slow.totals), "", anomalyTable(slow.totals), "", proxyTable(slow.lanes), "")
    out.push(`Server events: ${counterLine(slow.report)}`, "")
    const slowNotes = [...slow.setupFailures.map((line) => `  setup: ${line}`), ...referenceLines(slow.totals), ...failureLines(slow.totals), ...exampleLines(slow.totals)]
    if (slow.serverPending > 0) slowNotes.push(`  ${slow.serverPending} of the server's calls never settled`)
    if (slowNotes.length > 0) out.push("Details:", ...slowNotes, "")
    ours += slow.totals.reduce((n, t) => n + totalAnomalies(t.anomalies), 0) + slow.setupFailures.length + slow.serverPending
  }
  if (uncaught.length > 0) out.push("Uncaught:", ...uncaught.map((line) => `  ${line}`), "")
  ours += uncaught.length
  out.push(ours === 0 ? "PASS: no anomaly of ours" : `FAIL: ${ours} anomalies of ours`)
  console.log(out.join("\n"))
  return ours === 0 ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`soak failed: ${error instanceof Error ? error.stack : String(error)}`)
    process.exit(2)
  }
)
