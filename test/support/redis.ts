// A private redis-server for the tests that need one: Debian's redis-server,
// found on the machine or installed (see external.ts), started on a free
// loopback port with no persistence, and stopped with the scope. `stop` and
// `start` let a test take it down and bring it back on the same port.
import { Effect, Schedule, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as Net from "node:net"
import { findTool } from "./external.js"
import { freePort } from "./servers.js"

export const redisServer = findTool({
  name: "redis-server",
  envVar: "REDIS_SERVER_PATH",
  paths: ["/usr/bin/redis-server"],
  pkg: "redis-server"
})

export interface PrivateRedis {
  readonly url: string
  readonly port: number
  /** Stops the server (SIGKILL: as a crash, nothing saved). */
  readonly stop: Effect.Effect<void>
  /** Starts it again on the same port. */
  readonly start: Effect.Effect<void, Error>
}

// Resolves once the port accepts connections.
const listening = (port: number): Effect.Effect<void, Error> =>
  Effect.async<void, Error>((resume) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`redis-server did not listen on ${port}`) })
  )

const exited = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** A redis-server at `path` on a free port, for the scope. */
export const privateRedis = (path: string): Effect.Effect<PrivateRedis, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    let child: ChildProcess | undefined
    const start = Effect.suspend(() => {
      child = spawn(path, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdio: "ignore"
      })
      return listening(port)
    })
    const stop = Effect.suspend(() => {
      const running = child
      child = undefined
      if (running === undefined) return Effect.void
      running.kill("SIGKILL")
      return exited(running)
    })
    yield* Effect.acquireRelease(start, () => stop)
    return { url: `redis://127.0.0.1:${port}`, port, stop, start }
  })
