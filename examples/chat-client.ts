// A chat client for examples/chat-server.ts: joins as NAME (default "ada"),
// says hello, prints the messages it receives, and leaves. It dials TCP on
// PORT (default 3000), or WebSocket on WS_PORT when that is set.
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Fiber, Stream } from "effect"
import { Connection, Net } from "effect-jstp"

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? "127.0.0.1"
const name = process.env.NAME ?? "ada"
const wsPort = process.env.WS_PORT
const address: Net.Address = wsPort === undefined
  ? { _tag: "Tcp", host, port }
  : { _tag: "WebSocket", host, port: Number(wsPort) }

const main = Effect.gen(function*() {
  const connection = yield* Connection.connect({ address, application: "chat@^1.0.0" })
  const chat = yield* connection.inspect("chat")
  yield* Console.log(`connected to ${Net.describe(address)}; chat offers ${chat.methodNames.join(", ")}`)
  const printer = yield* chat.events.pipe(
    Stream.take(2),
    Stream.runForEach(({ args: [from, text] }) => Console.log(`<${String(from)}> ${String(text)}`)),
    Effect.fork
  )
  const [users] = yield* chat.methods.join!(name)
  yield* Console.log(`joined; in the room: ${(users as Array<string>).join(", ")}`)
  yield* chat.methods.say!("Hello, JSTP!")
  yield* Fiber.join(printer)
  yield* Console.log("bye")
}).pipe(Effect.scoped)

NodeRuntime.runMain(main)
