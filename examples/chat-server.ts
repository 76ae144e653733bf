// The example server of `npm start`: a chat application on TCP, port PORT
// (default 3000), and on WebSocket, port WS_PORT (default 8080). Clients join
// with a name, say things, and receive everyone's messages as `chat.message`
// events. It prints how to reach it, jstp-cli included. Ctrl-C shuts it down
// cleanly.
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { Application, Connection, RemoteError, Server, SessionStore } from "effect-jstp"

const members = new Map<Connection.Connection, string>()

const tellEveryone = (from: string, text: string) =>
  Effect.forEach(members.keys(), (member) => Effect.ignore(member.emit("chat", "message", [from, text])), {
    discard: true
  })

const chat = Application.make({
  name: "chat@1.0.0",
  api: {
    chat: {
      join: (connection: Connection.Connection, name: string) =>
        Effect.gen(function*() {
          if (typeof name !== "string" || name.trim() === "") return yield* RemoteError.make(400, "A name is required")
          members.set(connection, name)
          yield* tellEveryone("server", `${name} joined`)
          return [...members.values()]
        }),
      say: (connection: Connection.Connection, text: string) =>
        Effect.gen(function*() {
          const name = members.get(connection)
          if (name === undefined) return yield* RemoteError.make(401, "Join first")
          yield* tellEveryone(name, String(text))
          return true
        }),
      users: async (_connection: Connection.Connection) => [...members.values()]
    }
  }
})

const port = Number(process.env.PORT ?? 3000)
const wsPort = Number(process.env.WS_PORT ?? 8080)
const host = process.env.HOST ?? "127.0.0.1"

const main = Effect.gen(function*() {
  const server = yield* Server.make({
    applications: [chat],
    listen: [{ _tag: "Tcp", host, port }, { _tag: "WebSocket", host, port: wsPort }],
    heartbeatInterval: "10 seconds"
  })
  const [tcp, ws] = server.addresses.map((address) => address._tag === "Unix" ? 0 : address.port)
  yield* Console.log(`JSTP chat server (application chat@1.0.0) listening on tcp://${host}:${tcp} and ws://${host}:${ws}`)
  yield* Console.log(`Reach it with the example client: PORT=${tcp} npx tsx examples/chat-client.ts`)
  yield* Console.log(`or over WebSocket: WS_PORT=${ws} npx tsx examples/chat-client.ts`)
  yield* Console.log(`or interactively with jstp-cli: npm run cli -- jstp://${host}:${tcp} chat chat`)
  yield* Console.log("Press Ctrl-C to stop.")
  yield* server.events.pipe(
    Stream.runForEach((event) => {
      if (event._tag === "Disconnected") members.delete(event.connection)
      return event._tag === "Connected" || event._tag === "Disconnected"
        ? Console.log(`${event._tag.toLowerCase()}: connection ${event.connection.id} from ${event.connection.remoteAddress}`)
        : Effect.void
    })
  )
}).pipe(
  Effect.scoped,
  // Dropped clients' sessions, kept in memory (restorable for 24 hours).
  Effect.provide(SessionStore.layerMemory()),
  Effect.onInterrupt(() => Console.log("Stopped: listener closed, connections closed."))
)

NodeRuntime.runMain(main)
