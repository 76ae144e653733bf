// Typed contracts (src/Contract.ts) between our server and our client over
// TCP: inferred handler types, arguments decoded before a handler runs,
// successes, several results and declared failures encoded and decoded,
// undeclared failures as defects (16, logged), typed event streams, several
// typed backends as services in one program. Interop with 2.3.0 is in
// test/contract-interop.test.ts.
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Schema, Stream } from "effect"
import { type Application, Connection, type ConnectionError, Contract, RemoteError, Server } from "effect-jstp"
import { captureLogs, portOf, TCP, withStore } from "./support/servers.js"
import { Banned, cleared, Odd, OutOfStock, type Service, Shop, shopApp, stockLayer, Unrelated } from "./support/shop.js"

const serveShop = Effect.gen(function*() {
  const server = yield* Server.make({ applications: [shopApp], listen: [TCP] }).pipe(withStore)
  return { server, port: portOf(server.addresses[0]) }
}).pipe(Effect.provide(stockLayer))

const address = (port: number) => ({ _tag: "Tcp" as const, host: "127.0.0.1", port })

describe("Contract", () => {
  it.scopedLive("a typed client calls a typed server: success, several results, nothing, encoded values", () =>
    Effect.gen(function*() {
      const { port } = yield* serveShop
      const shop = yield* Contract.connect(Shop, { address: address(port) })
      const left: number = yield* shop.methods.cart.add("apple", 2)
      expect(left).toBe(3)
      const totals: readonly [number, string] = yield* shop.methods.cart.totals()
      expect(totals).toEqual([3, "EUR"])
      // `ok: [a, b]` on the wire, as 2.x's callback(null, a, b).
      expect(yield* shop.connection.call("cart", "totals")).toEqual([3, "EUR"])
      yield* shop.methods.cart.clear("c1")
      expect(cleared).toContain("c1")
      expect(yield* shop.connection.call("cart", "clear", ["c2"])).toEqual([])
      // Dates travel encoded (as strings) and come back as Dates.
      const later = yield* shop.methods.cart.since(new Date("2026-01-01T00:00:00.000Z"))
      expect(later).toBeInstanceOf(Date)
      expect(later.toISOString()).toBe("2026-01-01T00:00:01.000Z")
      expect(yield* shop.connection.call("cart", "since", ["2026-01-01T00:00:00.000Z"])).toEqual(["2026-01-01T00:00:01.000Z"])
    }))

  it.scopedLive("a declared failure comes back as the same tagged error, fields intact; on the wire it is [code, message, encoded]", () =>
    Effect.gen(function*() {
      const { port } = yield* serveShop
      const shop = yield* Contract.connect(Shop, { address: address(port) })
      const outOfStock = yield* shop.methods.cart.add("pear", 1).pipe(Effect.flip)
      expect(outOfStock).toBeInstanceOf(OutOfStock)
      expect(outOfStock).toMatchObject({ _tag: "OutOfStock", item: "pear", left: 0 })
      // catchTag reaches it.
      const handled = yield* shop.methods.cart.add("pear", 1).pipe(
        Effect.catchTag("OutOfStock", (error) => Effect.succeed(`only ${error.left} ${error.item}`))
      )
      expect(handled).toBe("only 0 pear")
      const banned = yield* shop.methods.cart.add("banned", 1).pipe(Effect.flip)
      expect(banned).toBeInstanceOf(Banned)
      expect((banned as Banned).until.toISOString()).toBe("2030-01-01T00:00:00.000Z")
      // The untyped call sees what a 2.x peer sees.
      const raw = yield* shop.connection.call("cart", "add", ["pear", 1]).pipe(Effect.flip)
      expect(raw).toBeInstanceOf(RemoteError.RemoteError)
      expect(raw).toMatchObject({ code: 409, message: "OutOfStock", info: [{ _tag: "OutOfStock", item: "pear", left: 0 }] })
      const rawBanned = yield* shop.connection.call("cart", "add", ["banned", 1]).pipe(Effect.flip)
      expect(rawBanned).toMatchObject({ code: 403, info: [{ _tag: "Banned", until: "2030-01-01T00:00:00.000Z" }] })
    }))

  it.scopedLive("arguments that do not decode are answered 17 with a message, and the handler never runs", () =>
    Effect.gen(function*() {
      const { port } = yield* serveShop
      const connection = yield* Connection.connect({ address: address(port), application: "shop" })
      const before = cleared.length
      const wrongType = yield* connection.call("cart", "clear", [42]).pipe(Effect.flip)
      expect(wrongType).toMatchObject({ code: 17 })
      expect((wrongType as RemoteError.RemoteError).message).toContain("Invalid arguments for cart.clear")
      expect((wrongType as RemoteError.RemoteError).message).toContain("Expected string, actual 42")
      expect(cleared.length).toBe(before)
      const refined = yield* connection.call("cart", "add", ["apple", -1]).pipe(Effect.flip)
      expect(refined).toMatchObject({ code: 17 })
      expect((refined as RemoteError.RemoteError).message).toContain("Invalid arguments for cart.add")
      // A wrong count is the engine's arity check, as for any handler: [17] alone.
      const wrongCount = yield* connection.call("cart", "clear", []).pipe(Effect.flip)
      expect(wrongCount).toMatchObject({ code: 17, message: "Invalid signature" })
    }))

  it.scopedLive("an undeclared failure is a defect: answered 16 and logged with the failure", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const { port } = yield* serveShop
      const shop = yield* Contract.connect(Shop, { address: address(port) })
      const error = yield* shop.methods.cart.broken().pipe(Effect.flip)
      expect(error).toMatchObject({ _tag: "RemoteError", code: 16 })
      const line = logs.lines.find((l) => l.text.includes("Handler cart.broken failed; answered 16"))
      expect(line?.level).toBe("ERROR")
      expect(line?.text).toContain("Unrelated")
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("the client checks what it sends and what it gets: ContractError with a reason", () =>
    Effect.gen(function*() {
      // A server of the same application whose answers break the contract.
      const liar = Contract.implement(
        Contract.make({
          name: "shop",
          version: "1.2.0",
          interfaces: {
            cart: {
              methods: {
                add: Contract.method({
                  params: [Schema.String, Schema.Number],
                  success: Schema.Number,
                  failures: [Contract.failure(Odd, 409)]
                }),
                totals: Contract.method({ params: [], results: [Schema.Number] }),
                clear: Contract.method({ params: [Schema.String] }),
                since: Contract.method({ params: [Schema.String], success: Schema.Number }),
                broken: Contract.method({ params: [], success: Schema.Number })
              }
            }
          }
        }),
        {
          cart: {
            add: () => Effect.fail(new Odd()),
            totals: () => Effect.succeed([1] as const),
            clear: () => Effect.void,
            since: () => Effect.succeed(7),
            broken: () => Effect.succeed(1)
          }
        }
      )
      const server = yield* Server.make({ applications: [liar], listen: [TCP] }).pipe(withStore)
      const shop = yield* Contract.connect(Shop, { address: address(portOf(server.addresses[0])) })
      const results = yield* shop.methods.cart.since(new Date(0)).pipe(Effect.flip)
      expect(results).toBeInstanceOf(Contract.ContractError)
      expect(results).toMatchObject({ reason: "InvalidResults" })
      expect((results as Contract.ContractError).message).toContain("Results of cart.since")
      expect(yield* shop.methods.cart.totals().pipe(Effect.flip)).toMatchObject({ reason: "InvalidResults" })
      // Code 409 is OutOfStock's, but its data is not.
      const failure = yield* shop.methods.cart.add("apple", 1).pipe(Effect.flip)
      expect(failure).toMatchObject({ _tag: "ContractError", reason: "InvalidFailure" })
      expect((failure as Contract.ContractError).message).toContain("cart.add failed with code 409")
      // Arguments that do not encode are not sent.
      const args = yield* shop.methods.cart.add("apple", -1).pipe(Effect.flip)
      expect(args).toMatchObject({ _tag: "ContractError", reason: "InvalidArguments" })
      expect(shop.connection.stats().pending).toBe(0)
    }))

  it.scopedLive("a client over a Connection made elsewhere (a wrapper) decodes the same way, through its call", () =>
    Effect.gen(function*() {
      const { port } = yield* serveShop
      const connection = yield* Connection.connect({ address: address(port), application: "shop" })
      let calls = 0
      const wrapped: Connection.Connection = {
        ...connection,
        call: (iface, method, args, options) => Effect.suspend(() => {
          calls++
          return connection.call(iface, method, args, options)
        })
      }
      const shop = Contract.client(Shop, wrapped)
      expect(yield* shop.methods.cart.add("apple", 1)).toBe(4)
      const outOfStock = yield* Effect.flip(shop.methods.cart.add("pear", 1))
      expect(outOfStock).toBeInstanceOf(OutOfStock)
      expect(yield* Effect.flip(shop.methods.cart.broken())).toMatchObject({ _tag: "RemoteError", code: 16 })
      expect(calls).toBe(3)
    }))

  it.scopedLive("events are typed streams, sent through a typed emitter; one that does not decode fails the stream", () =>
    Effect.gen(function*() {
      const { port, server } = yield* serveShop
      const shop = yield* Contract.connect(Shop, { address: address(port) })
      const received = yield* shop.events.cart.changed.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("50 millis")
      const broadcast = Contract.emitter(Shop, server.broadcast)
      yield* broadcast.cart.changed("apple", 3)
      yield* broadcast.cart.changed("pear", 0)
      const events = yield* Effect.fromFiber(received)
      expect([...events]).toEqual([["apple", 3], ["pear", 0]])
      // Arguments that do not encode: nothing is sent, the sender is told.
      const next = yield* shop.events.cart.changed.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("50 millis")
      const bad = yield* broadcast.cart.changed("x", -1).pipe(Effect.flip)
      expect(bad).toMatchObject({ _tag: "ContractError", reason: "InvalidArguments" })
      yield* broadcast.cart.changed("plum", 1)
      expect([...(yield* Effect.fromFiber(next))]).toEqual([["plum", 1]])
      const failing = yield* shop.events.cart.changed.pipe(Stream.runCollect, Effect.fork)
      yield* Effect.sleep("50 millis")
      yield* server.broadcast("cart", "changed", ["apple", "three"])
      const exit = yield* failing.await
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
      expect(error?._tag === "Some" ? error.value : error).toMatchObject({ _tag: "ContractError", reason: "InvalidEvent" })
    }))

  it.scopedLive("several typed backends as services in one program, each under its own tag", () =>
    Effect.gen(function*() {
      const first = yield* serveShop
      const second = yield* serveShop
      class Main extends Context.Tag("test/Main")<Main, Contract.Client<typeof Shop>>() {}
      class Backup extends Context.Tag("test/Backup")<Backup, Contract.Client<typeof Shop>>() {}
      const program = Effect.gen(function*() {
        const main = yield* Main
        const backup = yield* Backup
        const a = yield* main.methods.cart.add("apple", 1)
        const b = yield* backup.methods.cart.add("apple", 4)
        return [a, b, main.connection.remoteAddress === backup.connection.remoteAddress]
      })
      const result = yield* program.pipe(
        Effect.provide(Layer.merge(
          Contract.layer(Main, Shop, { address: address(first.port) }),
          Contract.layer(Backup, Shop, { address: address(second.port) })
        ))
      )
      expect(result).toEqual([4, 1, false])
    }))

  it("types: handlers inferred from the contract, requirements collected, client methods and streams typed", () => {
    // Checked by tsc (npm run check); at run time these only look at values.
    expectTypeOf(shopApp).toEqualTypeOf<Application.Application<Service>>()
    // What a handler of cart.add is given and must give back.
    type AddHandler = Contract.Handlers<typeof Shop>["cart"]["add"]
    expectTypeOf<AddHandler>().parameters.toEqualTypeOf<[Connection.Connection, string, number]>()
    expectTypeOf<AddHandler>().returns.toEqualTypeOf<Effect.Effect<number, OutOfStock | Banned, unknown>>()
    expectTypeOf<Contract.Handlers<typeof Shop>["cart"]["totals"]>().returns.toEqualTypeOf<
      Effect.Effect<readonly [number, string], never, unknown>
    >()
    expectTypeOf<Contract.ContractError["reason"]>().toEqualTypeOf<
      "InvalidResults" | "InvalidFailure" | "InvalidEvent" | "InvalidArguments"
    >()
    type Client = Contract.Client<typeof Shop>
    expectTypeOf<Client["methods"]["cart"]["add"]>().parameters.toEqualTypeOf<[string, number]>()
    expectTypeOf<Client["methods"]["cart"]["add"]>().returns.toEqualTypeOf<
      Effect.Effect<number, OutOfStock | Banned | RemoteError.RemoteError | ConnectionError | Contract.ContractError>
    >()
    expectTypeOf<Client["methods"]["cart"]["totals"]>().returns.toEqualTypeOf<
      Effect.Effect<readonly [number, string], RemoteError.RemoteError | ConnectionError | Contract.ContractError>
    >()
    expectTypeOf<Client["methods"]["cart"]["clear"]>().returns.toEqualTypeOf<
      Effect.Effect<void, RemoteError.RemoteError | ConnectionError | Contract.ContractError>
    >()
    expectTypeOf<Client["methods"]["cart"]["since"]>().parameters.toEqualTypeOf<[Date]>()
    expectTypeOf<Client["events"]["cart"]["changed"]>().toEqualTypeOf<
      Stream.Stream<readonly [string, number], Contract.ContractError>
    >()
    // A handler failing with an error its method does not declare is refused.
    Contract.implement(Shop, {
      cart: {
        // @ts-expect-error Unrelated is not a declared failure of cart.add
        add: () => Effect.fail(new Unrelated()),
        totals: () => Effect.succeed([1, "x"] as const),
        clear: () => Effect.void,
        since: (_connection, date) => Effect.succeed(date),
        broken: () => Effect.succeed(1)
      }
    })
    expect(Shop.name).toBe("shop")
  })

  it("refuses a failure code that protocol.md reserves, and an implementation missing a method", () => {
    expect(() => Contract.failure(OutOfStock, 16)).toThrow(Contract.InvalidContractError)
    expect(() => Contract.failure(OutOfStock, -1)).toThrow(/reserved/)
    expect(() => Contract.failure(OutOfStock, 1.5)).toThrow(Contract.InvalidContractError)
    const contract = Contract.make({
      name: "x",
      version: "1.0.0",
      interfaces: { i: { methods: { m: Contract.method({ params: [] }) } } }
    })
    expect(() => Contract.implement(contract, { i: {} } as never)).toThrow(/No handler for i.m/)
    expect(() => Contract.make({ name: "x", version: "one", interfaces: {} })).toThrow(/Invalid semver/)
  })
})
