// A connection opened in one fiber and closed from another (as jstp-cli
// does, one command connecting and a later one disconnecting) must leave
// nothing behind in the fiber that closes it.
import { describe, expect, it } from "@effect/vitest"
import { Effect, ExecutionStrategy, Exit, Fiber, Scope } from "effect"
import { Application, Connection, Server } from "effect-jstp"
import { withStore } from "./support/servers.js"

const app = Application.make({ name: "calc", api: { calc: { add: (_c: Connection.Connection, a: number, b: number) => Effect.succeed(a + b) } } })

// The longest FiberRef stack of the current fiber (FiberRefs keeps one stack
// per ref, internally): it grows by an entry per connection if closing a
// connection copies its opening fiber's FiberRefs in, keeping it reachable.
const longestStack = Effect.map(Effect.getFiberRefs, (refs) => {
  const locals = (refs as unknown as { readonly locals?: unknown }).locals
  if (!(locals instanceof Map)) throw new Error("FiberRefs has no locals map: update this test for the new Effect")
  return Math.max(0, ...[...(locals as Map<unknown, ReadonlyArray<unknown>>).values()].map((stack) => stack.length))
})

describe("connections opened and closed by different fibers", () => {
  for (const kind of ["Tcp", "WebSocket"] as const) {
    it.scopedLive(`leave the closing fiber's FiberRefs as they were (${kind}, 60 connections)`, () =>
      Effect.gen(function*() {
        const server = yield* Server.make({ applications: [app], listen: [{ _tag: kind, host: "127.0.0.1", port: 0 }] }).pipe(withStore)
        const address = server.addresses[0]!
        const outer = yield* Scope.make()
        const before = yield* longestStack
        for (let i = 0; i < 60; i++) {
          const opened = yield* Effect.fork(Effect.gen(function*() {
            const scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
            const connection = yield* Connection.connect({ address, application: "calc" }).pipe(Scope.extend(scope))
            expect(yield* connection.call("calc", "add", [i, 1])).toEqual([i + 1])
            return scope
          }))
          const scope = yield* Fiber.join(opened)
          yield* Scope.close(scope, Exit.void)
        }
        expect(yield* longestStack).toBeLessThanOrEqual(before + 2)
        yield* Scope.close(outer, Exit.void)
      }))
  }
})
