// A typed contract in one program: the shop's interface declared once with
// Effect Schema, a server implementing it (no annotations: the handlers'
// types come from the contract), and a typed client as a service under a
// tag of its own. A declared failure comes back as the same tagged error.
import { Console, Context, Effect, Layer, Schema, Stream } from "effect"
import { Contract, Server, SessionStore } from "effect-jstp"

class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  item: Schema.String,
  left: Schema.Number
}) {}

const ShopContract = Contract.make({
  name: "shop",
  version: "1.0.0",
  interfaces: {
    cart: {
      methods: {
        // One result: the stock left.
        add: Contract.method({
          params: [Schema.String, Schema.Int.pipe(Schema.positive())],
          success: Schema.Number,
          failures: [Contract.failure(OutOfStock, 409)]
        }),
        // Several results, as 2.x's callback(null, total, currency).
        total: Contract.method({ params: [], results: [Schema.Number, Schema.String] })
      },
      events: { restocked: Contract.event(Schema.String, Schema.Number) }
    }
  }
})

const stock = new Map([["apple", 3]])

const shop = Contract.implement(ShopContract, {
  cart: {
    add: (_connection, item, count) => {
      const left = stock.get(item) ?? 0
      if (count > left) return Effect.fail(new OutOfStock({ item, left }))
      stock.set(item, left - count)
      return Effect.succeed(left - count)
    },
    total: () => Effect.succeed([12.5, "EUR"] as const)
  }
})

class Shop extends Context.Tag("examples/Shop")<Shop, Contract.Client<typeof ShopContract>>() {}

const ServerLive = Server.layer({ applications: [shop], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] }).pipe(
  Layer.provide(SessionStore.layerMemory())
)

// The client dials whatever port the server was given.
const ShopLive = Layer.unwrapEffect(
  Effect.map(Server.Server, (server) => Contract.layer(Shop, ShopContract, { address: server.addresses[0]! }))
)

const program = Effect.gen(function*() {
  const client = yield* Shop
  const server = yield* Server.Server
  const left = yield* client.methods.cart.add("apple", 2)
  yield* Console.log(`apples left: ${left}`)
  const message = yield* client.methods.cart.add("apple", 5).pipe(
    Effect.catchTag("OutOfStock", (error) => Effect.succeed(`out of stock: ${error.left} ${error.item} left`))
  )
  yield* Console.log(message)
  const [amount, currency] = yield* client.methods.cart.total()
  yield* Console.log(`total: ${amount} ${currency}`)
  const restocked = yield* client.events.cart.restocked.pipe(Stream.take(1), Stream.runHead, Effect.fork)
  yield* Effect.sleep("20 millis")
  yield* Contract.emitter(ShopContract, server.broadcast).cart.restocked("pear", 10)
  yield* Console.log("restocked:", yield* restocked.pipe(Effect.flatten))
})

program.pipe(Effect.provide(ShopLive.pipe(Layer.provideMerge(ServerLive))), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
