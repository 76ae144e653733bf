// A peer that sends a message over the size limit: our servers (both APIs)
// end the link and read what is still coming until the peer lets go, so that
// a peer still writing sees a close, not a reset (a 2.3.0 client crashed on
// the reset: an unhandled `read ECONNRESET`).
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Application, Server } from "effect-jstp"
import * as Net from "node:net"
import { facade, HOST, reference, release, serve } from "./support/compat.js"
import { withStore } from "./support/servers.js"

afterEach(release)

const TEN_MB = 10 * 1024 * 1024

interface Seen {
  readonly ended: boolean
  readonly error: string | undefined
}

/** Writes a 10 MB message with no terminator as fast as the socket takes it; what the socket saw by its close. */
const sendOverLimit = (port: number): Promise<Seen> =>
  new Promise((resolve) => {
    let ended = false
    let error: string | undefined
    const socket = Net.connect(port, HOST, () => {
      socket.write("{handshake:[0,'calc'],session:['" + "x".repeat(TEN_MB) + "'")
    })
    socket.resume()
    socket.on("end", () => (ended = true))
    socket.on("error", (failure: NodeJS.ErrnoException) => (error = failure.code ?? failure.message))
    socket.on("close", () => resolve({ ended, error }))
  })

const calc = Application.make({ name: "calc", api: { calc: { echo: (_connection: unknown, x: unknown) => Effect.succeed(x) } } })

describe("a message over the limit", () => {
  it.scopedLive("the Effect server ends the link: the peer sees a close, not a reset", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ applications: [calc], listen: [{ _tag: "Tcp", host: HOST, port: 0 }] }).pipe(withStore)
      const address = server.addresses[0]!
      const seen = yield* Effect.promise(() => sendOverLimit(address._tag === "Tcp" ? address.port : 0))
      expect(seen).toEqual({ ended: true, error: undefined })
    }))

  it("the facade's server ends the link: the peer sees a close, not a reset", async () => {
    const { port } = await serve(facade, [new facade.Application("calc", {})])
    expect(await sendOverLimit(port)).toEqual({ ended: true, error: undefined })
  })

  it("a 2.3.0 client that calls with 10 MB of arguments sees its connection close, with no error", async () => {
    const { port } = await serve(facade, [new facade.Application("calc", { calc: { echo: (_c: unknown, x: unknown, cb: (e: null, x: unknown) => void) => cb(null, x) } })])
    const connection = await new Promise<InstanceType<typeof reference.Connection>>((resolve, reject) =>
      reference.net.connect("calc", { reconnector: () => {} }, port, HOST, (error: Error | null, connection?: unknown) =>
        error === null ? resolve(connection as InstanceType<typeof reference.Connection>) : reject(error)))
    const errors: Array<unknown> = []
    connection.on("error", (error: unknown) => void errors.push(error))
    const closed = new Promise<void>((resolve) => connection.once("close", () => resolve()))
    connection.callMethod("calc", "echo", ["x".repeat(TEN_MB)], () => {})
    await closed
    expect(errors).toEqual([])
  })
})
