// Several JSTP server nodes sharing Redis (`npm run start:cluster`): one per
// core by default (NODES), node i on PORT + i (PORT default 3001), all on
// REDIS_URL (default redis://127.0.0.1:6379). Sessions are crash-safe (set
// CRASH_SAFE=0 to store them only at disconnect): kill a node, even with
// SIGKILL, and its clients restore their sessions on another, with every
// event the dead node sent and they had not acknowledged. Broadcasts and
// `sendTo` reach the connections of every node.
//
// Run as the primary, it starts the nodes (this same file with NODE_NAME
// set) and stops them on Ctrl-C. Each node prints `node <name> PORT=<port>`
// once it listens. A client picks nodes with `reconnect.target` (see the
// README's "A cluster on Redis").
//
// The application, `feed`:
//   feed.whoami()           the node's name
//   feed.follow(count, ms)  sends this connection feed.item(1) … feed.item(count), ten per `ms`
//   feed.slow(ms)           answers the node's name after `ms`
//   feed.later()            answers the node's name after 4 s
//   feed.say(text)          broadcasts feed.said(text, node) to every connection of every node
//   feed.tell(user, text)   sends feed.told(text, node) to every session of `user`, wherever it is
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect, Schedule } from "effect"
import { Application, type Connection, Server, SessionStore } from "effect-jstp"
import { fork } from "node:child_process"
import { availableParallelism } from "node:os"

const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
const basePort = Number(process.env["PORT"] ?? 3001)

const runNode = (name: string, port: number) => {
  // The handlers reach the server (broadcast, sendTo) once it is made.
  let server: Server.Server | undefined
  const feed = Application.make({
    name: "feed",
    api: {
      feed: {
        whoami: (_connection: Connection.Connection) => Effect.succeed(name),
        follow: (connection: Connection.Connection, count: number, every: number) =>
          Effect.gen(function*() {
            let sent = 0
            yield* Effect.forkDaemon(
              Effect.suspend(() =>
                Effect.forEach(
                  Array.from({ length: Math.min(10, count - sent) }, () => ++sent),
                  (k) => connection.emit("feed", "item", [k]),
                  { discard: true }
                )
              ).pipe(
                Effect.repeat({ schedule: Schedule.spaced(Duration.millis(every)), until: () => sent >= count }),
                Effect.ignore
              )
            )
            return name
          }),
        slow: (_connection: Connection.Connection, ms: number) => Effect.as(Effect.sleep(Duration.millis(ms)), name),
        later: (_connection: Connection.Connection) => Effect.as(Effect.sleep(Duration.seconds(4)), name),
        say: (_connection: Connection.Connection, text: string) => server!.broadcast("feed", "said", [text, name]),
        tell: (_connection: Connection.Connection, user: string, text: string) =>
          server!.sendTo({ user }, "feed", "told", [text, name])
      }
    }
  })
  return Effect.gen(function*() {
    server = yield* Server.make({
      applications: [feed],
      listen: [{ _tag: "Tcp", host: "127.0.0.1", port }],
      // Any login is accepted, as its user name: `feed.tell` reaches users.
      authPolicy: ({ credentials }) => Effect.succeed(Array.isArray(credentials) ? String(credentials[0]) : null)
    })
    const address = server.addresses[0]!
    yield* Effect.sync(() => console.log(`node ${name} PORT=${address._tag === "Tcp" ? address.port : ""}`))
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(SessionStore.layerRedis({ url: redisUrl, crashSafe: process.env["CRASH_SAFE"] !== "0" })),
    NodeRuntime.runMain
  )
}

// The primary: a node per core, stopped with it.
const runPrimary = () => {
  const count = Number(process.env["NODES"] ?? availableParallelism())
  const children = Array.from({ length: count }, (_, i) =>
    fork(process.argv[1]!, [], {
      env: { ...process.env, NODE_NAME: `node-${i + 1}`, PORT: String(basePort === 0 ? 0 : basePort + i) },
      execArgv: process.execArgv
    }))
  console.log(`cluster: ${count} nodes on Redis at ${redisUrl}`)
  const stop = () => {
    for (const child of children) child.kill("SIGINT")
  }
  // The primary lives as long as its nodes do.
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
}

const nodeName = process.env["NODE_NAME"]
if (nodeName !== undefined) runNode(nodeName, basePort)
else runPrimary()
