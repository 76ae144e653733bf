// Connection.callAll (many calls under one fiber) and Connection.subscribe
// (an event stream subscribed at once), over TCP.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { Application, Connection, RemoteError, Server } from "effect-jstp"
import { withStore } from "./support/servers.js"

const setup = (maxInFlight: { current: number; peak: number }, gate?: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const app = Application.make({
      name: "calc",
      api: {
        calc: {
          square: (_connection: Connection.Connection, n: number) =>
            Effect.gen(function*() {
              maxInFlight.current++
              maxInFlight.peak = Math.max(maxInFlight.peak, maxInFlight.current)
              if (gate !== undefined) yield* Deferred.await(gate)
              yield* Effect.sleep(1)
              maxInFlight.current--
              if (n < 0) return yield* RemoteError.make(422, `negative: ${n}`)
              return n * n
            })
        }
      }
    })
    const server = yield* Server.make({ applications: [app], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] }).pipe(withStore)
    const connection = yield* Connection.connect({ address: server.addresses[0]!, application: "calc" })
    return { server, connection }
  })

describe("Connection.callAll", () => {
  it.scopedLive("answers every call, in the order of the arguments, with at most `concurrency` in flight", () =>
    Effect.gen(function*() {
      const load = { current: 0, peak: 0 }
      const { connection } = yield* setup(load)
      const seen: Array<number> = []
      const results = yield* connection.callAll("calc", "square", Array.from({ length: 50 }, (_, i) => [i]), {
        concurrency: 7,
        onResult: (index) => seen.push(index)
      })
      expect(results).toEqual(Array.from({ length: 50 }, (_, i) => [i * i]))
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
      expect(load.peak).toBeLessThanOrEqual(7)
      expect(load.peak).toBeGreaterThan(1)
      expect(connection.stats().pending).toBe(0)
    }))

  it.scopedLive("with discard: true, hands each result to onResult, keeps none, and succeeds with void", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup({ current: 0, peak: 0 })
      const seen = new Map<number, ReadonlyArray<unknown>>()
      const done: void = yield* connection.callAll("calc", "square", Array.from({ length: 30 }, (_, i) => [i]), {
        concurrency: 4,
        discard: true,
        onResult: (index, results) => seen.set(index, results)
      })
      expect(done).toBeUndefined()
      expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      expect([...seen].every(([i, results]) => results.length === 1 && results[0] === i * i)).toBe(true)
      const error = yield* Effect.flip(connection.callAll("calc", "square", [[1], [-2], [3]], { discard: true }))
      expect(error._tag === "RemoteError" ? error.code : undefined).toBe(422)
      expect(connection.stats().pending).toBe(0)
    }))

  it.scopedLive("an empty list succeeds at once with no results", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup({ current: 0, peak: 0 })
      expect(yield* connection.callAll("calc", "square", [])).toEqual([])
    }))

  it.scopedLive("fails with the first failure, and forgets the calls still in flight", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup({ current: 0, peak: 0 })
      const error = yield* Effect.flip(connection.callAll("calc", "square", [[1], [2], [-3], [4], [5], [6]], { concurrency: 2 }))
      expect(error._tag).toBe("RemoteError")
      expect(error._tag === "RemoteError" ? [error.code, error.message] : []).toEqual([422, "negative: -3"])
      expect(connection.stats().pending).toBe(0)
      // The connection goes on.
      expect(yield* connection.call("calc", "square", [9])).toEqual([81])
    }))

  it.scopedLive("interrupted, it forgets every call in flight", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const load = { current: 0, peak: 0 }
      const { connection } = yield* setup(load, gate)
      const fiber = yield* Effect.fork(connection.callAll("calc", "square", [[1], [2], [3]], { concurrency: 3 }))
      while (load.current < 3) yield* Effect.sleep(2)
      expect(connection.stats().pending).toBe(3)
      yield* Fiber.interrupt(fiber)
      expect(connection.stats().pending).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      // The late answers are dropped and counted.
      while (connection.stats().droppedCallbacks < 3) yield* Effect.sleep(2)
      expect(connection.stats().droppedCallbacks).toBe(3)
    }))

  it.scopedLive("arguments that cannot be sent fail it with InvalidArgument", () =>
    Effect.gen(function*() {
      const { connection } = yield* setup({ current: 0, peak: 0 })
      const error = yield* Effect.flip(connection.callAll("calc", "square", [[1], [10n]]))
      expect(error._tag).toBe("ConnectionError")
      expect(error._tag === "ConnectionError" ? error.reason : undefined).toBe("InvalidArgument")
      // The serializer's TypeError, naming where the value is.
      expect(error.message).toBe("Cannot serialize a bigint at args[0]")
      expect(error._tag === "ConnectionError" ? error.cause : undefined).toBeInstanceOf(TypeError)
      const cycle: Record<string, unknown> = {}
      cycle.self = [cycle]
      const single = yield* Effect.flip(connection.call("calc", "square", [{ n: { id: 1n } }]))
      expect([single._tag, single._tag === "ConnectionError" ? single.reason : "", single.message])
        .toEqual(["ConnectionError", "InvalidArgument", "Cannot serialize a bigint at args[0].n.id"])
      const event = yield* Effect.flip(connection.emit("calc", "tick", [1, cycle]))
      expect([event.reason, event.message])
        .toEqual(["InvalidArgument", "Cannot serialize a circular structure: args[1].self[0] is args[1]"])
    }))
})

describe("Connection.subscribe", () => {
  it.scopedLive("has every event sent after it returns, however late its stream runs", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* setup({ current: 0, peak: 0 })
      const events = yield* connection.subscribe("news")
      yield* server.broadcast("news", "flash", [1])
      yield* server.broadcast("news", "flash", [2])
      yield* server.broadcast("other", "ignored", [3])
      const received = yield* events.pipe(Stream.take(2), Stream.runCollect)
      expect([...received]).toEqual([
        { iface: "news", event: "flash", args: [1] },
        { iface: "news", event: "flash", args: [2] }
      ])
    }))
})
