// Server process of the observability benchmark (forked by
// bench/observability.ts with `--import tsx`): our Server from the build
// argv[2] ("in" or "out"), observing as argv[3] says (see variant.ts), serving
// `bench` with `echo.echo(value) -> value` (the callback-style handler of
// bench/rpc's "ours" rows) on 127.0.0.1, a port the system chooses. Answers
// Usage with its CPU time; exits on Close or when the parent goes.
import { Effect } from "effect"
import { isParentMessage, type ServerMessage } from "../rpc/ipc.js"
import type { Build } from "./builds.js"
import { load, type Mode, observing } from "./variant.js"

const send = (message: ServerMessage): void => void process.send!(message)

const build = process.argv[2] as Build
const mode = process.argv[3] as Mode
const lib = await load(build)

const app = lib.Application.make({
  name: "bench",
  api: {
    echo: {
      echo: lib.Application.callback((_connection: unknown, value: unknown, callback: (error: null, value: unknown) => void) =>
        callback(null, value))
    }
  }
})

const serve = Effect.gen(function*() {
  const server = yield* lib.Server.make({ applications: [app], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] })
  const address = server.addresses[0]
  send({ _tag: "Ready", port: address?._tag === "Tcp" ? address.port : 0, wsPort: null, mdsfFallback: null })
  yield* Effect.async<void>((resume) => {
    process.on("message", (message: unknown) => {
      if (!isParentMessage(message)) return
      if (message._tag === "Usage") {
        const { user, system } = process.cpuUsage()
        send({ _tag: "Usage", user, system })
      } else if (message._tag === "Close") {
        resume(Effect.void)
      }
    })
  })
}).pipe(Effect.scoped, Effect.provide(lib.SessionStore.layerMemory()), observing(lib, mode))

process.on("disconnect", () => process.exit(0))
await Effect.runPromise(serve)
process.exit(0)
