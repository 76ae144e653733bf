// A server node for `npm run bench -- cluster`, in its own process: argv
// [store, redisUrl]; store is memory, redis or crash-safe. It tells its
// parent its port, then serves bench.echo(x) and bench.fanout(count) (a
// broadcast of feed.tick(k) for k = 1 … count, to every node's
// connections), until its parent disconnects.
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Application, type Connection, Server, SessionStore } from "effect-jstp"

const [store = "memory", url = ""] = process.argv.slice(2)
let server: Server.Server | undefined
const app = Application.make({
  name: "bench",
  api: {
    bench: {
      echo: (_connection: Connection.Connection, x: unknown) => Effect.succeed(x),
      fanout: (_connection: Connection.Connection, count: number) =>
        Effect.forEach(Array.from({ length: count }, (_, i) => i + 1), (k) => server!.broadcast("feed", "tick", [k]), { discard: true })
    }
  }
})
const storeLayer: Layer.Layer<SessionStore.SessionStore> = store === "memory"
  ? SessionStore.layerMemory()
  : SessionStore.layerRedis({ url, crashSafe: store === "crash-safe" })

Effect.gen(function*() {
  server = yield* Server.make({ applications: [app], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] })
  const address = server.addresses[0]!
  process.send!({ port: address._tag === "Tcp" ? address.port : 0 })
  yield* Effect.async<void>((resume) => void process.once("disconnect", () => resume(Effect.void)))
}).pipe(Effect.scoped, Effect.provide(storeLayer), NodeRuntime.runMain)
