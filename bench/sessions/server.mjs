// Server process of the sessions benchmark, forked by bench/sessions.ts with
// plain `node --expose-gc` (no TypeScript loader: tsx would rewrite every
// function to keep its name, which costs each closure a property table and
// would overstate what a session costs). It runs the built package (dist/,
// `npm run build`): our Server (Server.make) on 127.0.0.1, an application
// `calc` with no methods. Over IPC it answers "measure" with its memory
// after a full GC, "count" with its live connections, and "broadcast" by
// sending `calc.tick(i, payload)` to every client.
import { Effect } from "effect"
import { Application, Server, SessionStore } from "effect-jstp"

const send = (message) => void process.send?.(message)

const program = Effect.gen(function*() {
  const server = yield* Server.make({
    applications: [Application.make({ name: "calc", api: { calc: {} } })],
    listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }]
  }).pipe(Effect.provideServiceEffect(SessionStore.SessionStore, SessionStore.memory()))
  send({ _tag: "listening", port: server.addresses[0].port })
  yield* Effect.async((resume) => {
    process.on("message", (request) => {
      switch (request._tag) {
        case "measure": {
          globalThis.gc?.()
          globalThis.gc?.()
          const { heapUsed, rss } = process.memoryUsage()
          return send({ _tag: "memory", heapUsed, rss, connections: server.connections().length })
        }
        case "count":
          return send({ _tag: "count", connections: server.connections().length })
        case "broadcast":
          for (let i = 0; i < request.count; i++) Effect.runSync(server.broadcast("calc", "tick", [i, request.payload]))
          return send({ _tag: "broadcasted" })
        case "close":
          return resume(Effect.void)
      }
    })
    process.on("disconnect", () => resume(Effect.void))
  })
}).pipe(Effect.scoped)

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
