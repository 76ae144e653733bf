/**
 * The soak's server, in a child process of its own (forked by
 * soak/index.ts with --expose-gc, so that its memory is its own and can be
 * measured after a full GC): our Effect API `Server` with the `soak`
 * application, and the bookkeeping of what it received, ran and sent, per
 * client (by the key the client gave in `hello`).
 *
 * - `soak.hello(key)` registers the client and answers the broadcast number
 *   so far (the broadcasts after it are the client's).
 * - `soak.work(key, seq, resend)` counts a run of the client's call `seq`
 *   and answers `seq`; one call in four answers after 5-155 ms, so that
 *   links die between the run and the answer.
 * - `soak.sync(key)` answers once everything the client sent before it has
 *   arrived (the link keeps order): the drain's barrier.
 * - the event `soak.up(key, seq)`: the client's events, numbered from 1.
 *
 * The server sends `soak.tick(n)` broadcasts (numbered globally),
 * `soak.direct(seq)` events to each client (numbered per client) and calls
 * `soakClient.work(key, seq, resend)` on each client.
 */
import { Cause, Duration, Effect, Exit, Logger, LogLevel, Scope, Stream } from "effect"
import { Application, type Connection, Server, SessionStore } from "effect-jstp"
import { serve } from "./ipc.js"
import { CallLedger, Counts, Outcome, Runs } from "./ledger.js"
import type { FloodInput, FloodResult, KeyReport, MemorySample, ServerConfig, ServerMethods, TrafficConfig } from "./protocol.js"

interface KeyState {
  readonly key: string
  connection: Connection.Connection
  base: number
  readonly up: Runs
  readonly runs: Counts
  readonly ticks: Runs
  directSent: number
  readonly calls: CallLedger
  restores: number
  drops: number
  ended: string | null
  broadcastFailed: number
}

const keys = new Map<string, KeyState>()
const byConnection = new Map<number, KeyState>()
const counters: Record<string, number> = {}
const count = (name: string, by = 1) => {
  counters[name] = (counters[name] ?? 0) + by
}
let broadcasts = 0
let server: Server.Server | undefined
let scope: Scope.CloseableScope | undefined
let stopTraffic: (() => void) | undefined

const stateOf = (key: string): KeyState | undefined => {
  const state = keys.get(key)
  if (state === undefined) count("unknown key")
  return state
}

const soak = Application.make({
  name: "soak",
  api: {
    soak: {
      hello: (connection: Connection.Connection, key: string) => {
        let state = keys.get(key)
        if (state === undefined) {
          state = {
            key,
            connection,
            base: broadcasts,
            up: new Runs(),
            runs: new Counts(),
            ticks: new Runs(),
            directSent: 0,
            calls: new CallLedger(),
            restores: 0,
            drops: 0,
            ended: null,
            broadcastFailed: 0
          }
          keys.set(key, state)
        } else if (state.connection !== connection) {
          // The same client in a new session (it renewed): counted, not expected here.
          count("hello from a new session")
          state.connection = connection
        }
        byConnection.set(connection.id, state)
        return state.base
      },
      work: (_connection: Connection.Connection, key: string, seq: number, _resend: boolean) => {
        stateOf(key)?.runs.add(seq)
        if (seq % 4 !== 0) return Effect.succeed(seq)
        return Effect.as(Effect.sleep(Duration.millis(5 + Math.floor(Math.random() * 150))), seq)
      },
      sync: (_connection: Connection.Connection, _key: string) => true
    }
  },
  events: {
    soak: {
      up: (_connection: Connection.Connection, key: string, seq: number) => {
        stateOf(key)?.up.add(seq)
      }
    }
  }
})

const onServerEvent = (event: Server.ServerEvent): void => {
  count(event._tag)
  switch (event._tag) {
    case "Restored": {
      const state = byConnection.get(event.connection.id)
      if (state !== undefined) state.restores++
      return
    }
    case "Disconnected": {
      const state = byConnection.get(event.connection.id)
      if (state !== undefined) state.drops++
      return
    }
    case "SessionOverflow": {
      const state = byConnection.get(event.connection.id)
      if (state !== undefined) state.ended = event.message
      return
    }
    case "BroadcastFailed": {
      const state = byConnection.get(event.connection.id)
      if (state !== undefined) state.broadcastFailed++
      return
    }
    default:
      return
  }
}

const start = async (config: ServerConfig): Promise<{ port: number }> => {
  scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromise(
    Scope.extend(
      Server.make({
        applications: [soak],
        listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }],
        heartbeatInterval: Duration.millis(config.heartbeatIntervalMs),
        handshakeTimeout: Duration.millis(config.handshakeTimeoutMs),
        maxBuffered: config.maxBuffered
      }).pipe(Effect.provideServiceEffect(SessionStore.SessionStore, SessionStore.memory())),
      scope
    ).pipe(
      // The server logs each ended session as a warning: counted here instead.
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
  )
  server = made
  // Subscribed before any client comes.
  let subscribe!: () => void
  const subscribed = new Promise<void>((resolve) => subscribe = resolve)
  Effect.runFork(
    Effect.gen(function*() {
      const events = yield* Stream.toPull(made.events)
      subscribe()
      for (;;) {
        const chunk = yield* events.pipe(Effect.catchAll(() => Effect.succeed(undefined)))
        if (chunk === undefined) return
        for (const event of chunk) onServerEvent(event)
      }
    }).pipe(Effect.scoped)
  )
  await subscribed
  const address = made.addresses[0]!
  return { port: address._tag === "Tcp" ? address.port : 0 }
}

const gc = (globalThis as { gc?: () => void }).gc

const memory = ({ label }: { label: string }): MemorySample => {
  if (gc !== undefined) {
    gc()
    gc()
  }
  const usage = process.memoryUsage()
  return {
    label,
    heapUsed: usage.heapUsed,
    rss: usage.rss,
    external: usage.external,
    gc: gc !== undefined,
    live: server?.connections().length ?? 0,
    registered: keys.size
  }
}

const broadcast = (): void => {
  const seq = ++broadcasts
  // The connections a broadcast reaches are those with a link now.
  for (const connection of server!.connections()) byConnection.get(connection.id)?.ticks.add(seq)
  Effect.runSync(Effect.either(server!.broadcast("soak", "tick", [seq])))
}

const failureText = (cause: Cause.Cause<unknown>): { outcome: Outcome; text?: string } => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None") return { outcome: Outcome.Failed, text: `defect ${Cause.pretty(cause).split("\n")[0]}` }
  const error = failure.value as { _tag?: string; code?: number; reason?: string; message?: string }
  if (error._tag === "RemoteError" && error.code === -1) return { outcome: Outcome.Lost }
  if (error._tag === "ConnectionError" && error.reason === "Closed") return { outcome: Outcome.Closed }
  return { outcome: Outcome.Failed, text: `${error._tag} ${error.reason ?? error.code} ${error.message}` }
}

const callClient = (state: KeyState, resend: boolean): void => {
  const seq = state.calls.issue(resend, state.restores)
  const connection = state.connection
  const effect = resend
    ? connection.callWithResend("soakClient", "work", [state.key, seq, resend])
    : connection.call("soakClient", "work", [state.key, seq, resend])
  Effect.runCallback(effect, {
    onExit: (exit) => {
      if (Exit.isSuccess(exit)) return state.calls.settle(seq, Outcome.Ok, state.restores)
      const { outcome, text } = failureText(exit.cause)
      state.calls.settle(seq, outcome, state.restores, text)
    }
  })
}

const traffic = (config: TrafficConfig | null): { broadcasts: number } => {
  stopTraffic?.()
  stopTraffic = undefined
  if (config === null) return { broadcasts }
  const timers: Array<ReturnType<typeof setInterval>> = []
  if (config.broadcastEveryMs > 0) timers.push(setInterval(broadcast, config.broadcastEveryMs))
  if (config.directEveryMs > 0) {
    timers.push(setInterval(() => {
      for (const state of keys.values()) {
        if (state.ended !== null) continue
        const sent = Effect.runSync(Effect.either(state.connection.emit("soak", "direct", [state.directSent + 1])))
        if (sent._tag === "Right") state.directSent++
        else count(`direct event refused: ${sent.left.reason}`)
      }
    }, config.directEveryMs))
  }
  if (config.callEveryMs > 0) {
    timers.push(setInterval(() => {
      for (const state of keys.values()) {
        if (state.ended === null) callClient(state, Math.random() < config.resendShare)
      }
    }, config.callEveryMs))
  }
  stopTraffic = () => timers.forEach(clearInterval)
  return { broadcasts }
}

/**
 * Broadcasts as fast as the clients that read keep up with (each of their
 * sessions stays under 3/4 of the bound: a ping at half the bound asks
 * for acknowledgement), until every stalled client's session was ended or
 * lost its link, or `maxMs`.
 */
const flood = (input: FloodInput): Promise<FloodResult> =>
  new Promise((resolve) => {
    const started = Date.now()
    const first = broadcasts
    const stalled = new Set(input.stalled)
    const step = () => {
      const live = server!.connections()
      const liveIds = new Set(live.map((connection) => connection.id))
      let stalledEnded = 0
      let stalledUnlinked = 0
      for (const key of stalled) {
        const state = keys.get(key)
        if (state === undefined) continue
        if (state.ended !== null) stalledEnded++
        else if (!liveIds.has(state.connection.id)) stalledUnlinked++
      }
      const sent = broadcasts - first
      const ms = Date.now() - started
      const done = stalledEnded + stalledUnlinked >= stalled.size && sent >= input.minBroadcasts
      if (done || ms > input.maxMs) {
        return resolve({ broadcasts: sent, stalledEnded, stalledUnlinked, ms, timedOut: !done })
      }
      const keepingUp = live.every((connection) => {
        const state = byConnection.get(connection.id)
        if (state === undefined || stalled.has(state.key)) return true
        return (connection.session()?.buffer.size ?? 0) < input.bound * 0.75
      })
      if (keepingUp) broadcast()
      setImmediate(step)
    }
    step()
  })

const settle = async ({ timeoutMs }: { timeoutMs: number }): Promise<{ pending: number }> => {
  const all = Promise.all([...keys.values()].map((state) => state.calls.allSettled()))
  let timer: ReturnType<typeof setTimeout> | undefined
  await Promise.race([all, new Promise((resolve) => timer = setTimeout(resolve, timeoutMs))])
  clearTimeout(timer)
  let pending = 0
  for (const state of keys.values()) pending += state.calls.pending
  return { pending }
}

const report = () => ({
  broadcasts,
  counters: { ...counters },
  keys: [...keys.values()].map((state): KeyReport => ({
    key: state.key,
    base: state.base,
    up: state.up.runs,
    runs: state.runs.snapshot(),
    ticks: state.ticks.runs,
    directSent: state.directSent,
    calls: state.calls.record(),
    restores: state.restores,
    drops: state.drops,
    ended: state.ended,
    broadcastFailed: state.broadcastFailed
  }))
})

const awaitLive = ({ count: most, timeoutMs }: { count: number; timeoutMs: number }): Promise<number> =>
  new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs
    const poll = () => {
      const live = server?.connections().length ?? 0
      if (live <= most || Date.now() > deadline) resolve(live)
      else setTimeout(poll, 50)
    }
    poll()
  })

serve<ServerMethods>({
  start,
  memory,
  traffic,
  flood,
  settle,
  report,
  awaitLive,
  close: async () => {
    stopTraffic?.()
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  }
})
