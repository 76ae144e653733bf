// The typed contract of the Contract tests (test/contract.test.ts, and
// test/interop.test.ts against 2.3.0): a shop's cart, with declared
// failures, several results, dates that travel encoded, and an event.
import { expectTypeOf } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { Contract } from "effect-jstp"

export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  item: Schema.String,
  left: Schema.Number
}) {}

export class Banned extends Schema.TaggedError<Banned>()("Banned", { until: Schema.DateFromString }) {}

export class Odd extends Schema.TaggedError<Odd>()("Odd", {}) {}

export class Unrelated extends Schema.TaggedError<Unrelated>()("Unrelated", {}) {}

export const Shop = Contract.make({
  name: "shop",
  version: "1.2.0",
  interfaces: {
    cart: {
      methods: {
        add: Contract.method({
          params: [Schema.String, Schema.Int.pipe(Schema.positive())],
          success: Schema.Number,
          failures: [Contract.failure(OutOfStock, 409), Contract.failure(Banned, 403)]
        }),
        totals: Contract.method({ params: [], results: [Schema.Number, Schema.String] }),
        clear: Contract.method({ params: [Schema.String] }),
        since: Contract.method({ params: [Schema.DateFromString], success: Schema.DateFromString }),
        broken: Contract.method({ params: [], success: Schema.Number })
      },
      events: {
        changed: Contract.event(Schema.String, Schema.Int.pipe(Schema.nonNegative()))
      }
    }
  }
})

export class Service extends Context.Tag("test/Stock")<Service, { readonly left: (item: string) => number }>() {}

export const cleared: Array<string> = []

export const shopApp = Contract.implement(Shop, {
  cart: {
    // No annotations: the parameters' types come from the contract.
    add: (_connection, item, count) =>
      Effect.gen(function*() {
        const stock = yield* Service
        const left = stock.left(item)
        if (item === "banned") return yield* new Banned({ until: new Date("2030-01-01T00:00:00.000Z") })
        if (count > left) return yield* new OutOfStock({ item, left })
        return left - count
      }),
    totals: () => Effect.succeed([3, "EUR"] as const),
    clear: (_connection, cart) => {
      expectTypeOf(cart).toEqualTypeOf<string>()
      return Effect.sync(() => void cleared.push(cart))
    },
    since: (_connection, date) => Effect.succeed(new Date(date.getTime() + 1000)),
    // Fails with an error its contract does not declare (the cast stands for
    // a program whose types lie, e.g. a rejected promise turned into a failure).
    broken: () => Effect.fail(new Unrelated()) as unknown as Effect.Effect<number>
  }
})

export const stockLayer = Layer.succeed(Service, { left: (item) => item === "apple" ? 5 : 0 })

