// The Effect API in one program: a server and a client as layers, a call, a
// typed remote error, inspect, events both ways, and a call from the server
// to the client's own application.
import { Console, Effect, Layer, Stream } from "effect"
import { Application, Connection, RemoteError, Server, SessionStore } from "effect-jstp"

const greeter = Application.make({
  name: "greeter@1.0.0",
  api: {
    greeter: {
      // An Effect handler: its failure is a RemoteError with its own code.
      hello: (_connection: Connection.Connection, name: string) =>
        name === "" ? Effect.fail(RemoteError.make(400, "Who are you?")) : Effect.succeed(`Hello, ${name}!`),
      // An async handler, which calls back into the client.
      askClient: async (connection: Connection.Connection) => {
        const [answer] = await Effect.runPromise(connection.call("client", "whoAreYou"))
        return `the client says it is ${String(answer)}`
      },
      // A callback-style handler with two results.
      divide: Application.callback(
        (_connection: Connection.Connection, a: number, b: number, callback: (error: unknown, ...results: Array<unknown>) => void) =>
          b === 0 ? callback(RemoteError.make(422, "Division by zero")) : callback(null, Math.floor(a / b), a % b)
      )
    }
  },
  events: {
    greeter: {
      wave: (connection: Connection.Connection, who: string) => connection.emit("greeter", "wavedBack", [`hi ${who}`])
    }
  }
})

const client = Application.make({
  name: "client",
  api: { client: { whoAreYou: (_connection: Connection.Connection) => Effect.succeed("hello.ts") } }
})

const ServerLive = Server.layer({ applications: [greeter], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] }).pipe(
  Layer.provide(SessionStore.layerMemory())
)

// The client dials whatever port the server was given.
const ClientLive = Layer.unwrapEffect(
  Effect.map(Server.Server, (server) =>
    Connection.layer({ address: server.addresses[0]!, application: "greeter@^1.0.0", client }))
)

const program = Effect.gen(function*() {
  const connection = yield* Connection.ClientConnection
  yield* Console.log(yield* connection.call("greeter", "hello", ["Effect"]))
  const failed = yield* Effect.flip(connection.call("greeter", "hello", [""]))
  yield* Console.log(`failed with ${failed._tag} ${failed._tag === "RemoteError" ? failed.code : ""}: ${failed.message}`)
  const greeterApi = yield* connection.inspect("greeter")
  yield* Console.log(`greeter offers ${greeterApi.methodNames.join(", ")}`)
  yield* Console.log(yield* greeterApi.methods.divide!(17, 5))
  yield* Console.log(yield* greeterApi.methods.askClient!())
  const greetings = yield* connection.subscribe("greeter") // subscribed from now on
  yield* greeterApi.emit("wave", "server")
  for (const event of yield* greetings.pipe(Stream.take(1), Stream.runCollect)) {
    yield* Console.log(`event ${event.event}: ${String(event.args[0])}`)
  }
}).pipe(Effect.scoped)

Effect.runPromise(program.pipe(Effect.provide(Layer.provideMerge(ClientLive, ServerLive)))).then(
  () => console.log("done"),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
