// Nodes of examples/cluster.ts as child processes, for the multi-process
// tests: each on a free port, on a given Redis, killed with the scope.
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { root } from "./run.js"

export interface ClusterNode {
  readonly name: string
  readonly port: number
  /** What it printed, stdout and stderr. */
  readonly output: () => string
  /** Kills it with `signal` and waits for it to exit. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
}

const exited = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

/** Starts node `name` of examples/cluster.ts on `redisUrl`; resolves once it listens. */
export const clusterNode = (
  name: string,
  redisUrl: string,
  env: Readonly<Record<string, string>> = {}
): Effect.Effect<ClusterNode, Error, Scope.Scope> =>
  Effect.gen(function*() {
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", "examples/cluster.ts"], {
          cwd: root,
          env: { ...process.env, NODE_NAME: name, PORT: "0", REDIS_URL: redisUrl, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.suspend(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        return exited(child)
      })
    )
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const port = yield* Effect.async<number, Error>((resume) => {
      const timer = setTimeout(() => resume(Effect.fail(new Error(`node ${name} did not start: ${output}`))), 20_000)
      const look = () => {
        const found = new RegExp(`node ${name} PORT=(\\d+)`).exec(output)
        if (found === null) return
        clearTimeout(timer)
        child.stdout!.off("data", look)
        resume(Effect.succeed(Number(found[1])))
      }
      child.stdout!.on("data", look)
      child.once("exit", () => resume(Effect.fail(new Error(`node ${name} exited: ${output}`))))
    })
    return {
      name,
      port,
      output: () => output,
      kill: (signal) => Effect.suspend(() => {
        child.kill(signal)
        return exited(child)
      })
    }
  })
