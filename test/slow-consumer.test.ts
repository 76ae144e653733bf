// A client that does not keep up (it never acknowledges): once its session's
// buffer reaches its bound, both servers end the session (the link closes,
// the session is never restored, one server event), instead of refusing the
// messages after it one by one and leaving a gap nobody is told about.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Application, Server } from "effect-jstp"
import * as Net from "node:net"
import { facade, HOST, recordEvents, release, serve, waitFor } from "./support/compat.js"
import { withStore } from "./support/servers.js"

afterEach(release)

/** A raw client: handshakes, then reads without ever answering (no pong, no callback). */
const rawClient = (port: number, auth = "") =>
  new Promise<{ socket: Net.Socket; sessionId: string | undefined; reply: string; received: () => string }>((resolve, reject) => {
    let text = ""
    const socket = Net.connect(port, HOST, () => socket.write(`{handshake:[0,'calc']${auth}}\0`))
    socket.setEncoding("utf8")
    socket.on("error", reject)
    socket.on("data", (chunk: string) => {
      const first = text === ""
      text += chunk
      if (first) {
        const reply = text.slice(0, text.indexOf("\0"))
        resolve({ socket, sessionId: /"?ok"?:["']([^"']+)["']/.exec(reply)?.[1], reply, received: () => text })
      }
    })
  })

const LIMIT = 40

const closedOf = (socket: Net.Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()))

/** The tick numbers of the events in `text`, and how many pings it holds. */
const ticksIn = (text: string) => {
  const messages = text.split("\0")
  return {
    ticks: messages.flatMap((message) => /^\{"?event"?:.*"?tick"?:\[(\d+)\]\}$/.exec(message)?.slice(1).map(Number) ?? []),
    pings: messages.filter((message) => /^\{"?ping"?:/.test(message)).length
  }
}

// The session keeps LIMIT messages: LIMIT - 1 events, and the ping that asks for acknowledgement at half.
const kept = { ticks: Array.from({ length: LIMIT - 1 }, (_, i) => i), pings: 1 }


describe("a client that does not keep up", () => {
  it.scopedLive("the Effect server ends its session at the bound: one SessionOverflow, the link closed, no restore", () =>
    Effect.gen(function*() {
      const calc = Application.make({ name: "calc", api: { calc: {} } })
      const server = yield* Server.make({ applications: [calc], listen: [{ _tag: "Tcp", host: HOST, port: 0 }], maxBuffered: LIMIT }).pipe(withStore)
      const address = server.addresses[0]!
      const port = address._tag === "Tcp" ? address.port : 0
      const overflows: Array<Server.ServerEvent> = []
      yield* server.events.pipe(
        Stream.runForEach((event) => Effect.sync(() => event._tag === "SessionOverflow" && overflows.push(event))),
        Effect.forkScoped
      )
      const client = yield* Effect.promise(() => rawClient(port))
      expect(client.sessionId).toBeDefined()
      const closed = closedOf(client.socket)
      for (let i = 0; i < LIMIT * 3; i++) yield* server.broadcast("calc", "tick", [i])
      yield* Effect.promise(() => closed)
      // What it got is an unbroken prefix, each event once.
      expect(ticksIn(client.received())).toEqual(kept)
      // Its session is gone: a restore is refused with 11.
      const again = yield* Effect.promise(() => rawClient(port, `,session:['${client.sessionId}',${LIMIT}]`))
      expect(again.reply).toMatch(/^\{"?handshake"?:\[0\],"?error"?:\[11\]\}$/)
      again.socket.destroy()
      expect(overflows).toHaveLength(1)
      expect(overflows[0]).toMatchObject({ _tag: "SessionOverflow", sessionId: client.sessionId })
    }))

  it("the facade's server ends its session at the bound: one 'sessionOverflow', the link closed, no restore", async () => {
    const { server, port } = await serve(facade, { applications: [new facade.Application("calc", { calc: {} })], maxBuffered: LIMIT })
    const overflows = recordEvents(server, "sessionOverflow")
    const logged = recordEvents(server, "log")
    const client = await rawClient(port)
    const closed = closedOf(client.socket)
    await waitFor(() => server.getClientsArray().length === 1, "the client")
    for (let i = 0; i < LIMIT * 3; i++) server.broadcast("calc", "tick", i)
    await closed
    expect(ticksIn(client.received())).toEqual(kept)
    expect(overflows).toHaveLength(1)
    expect((overflows[0]![2] as Error).message).toMatch(/waiting for the peer's acknowledgement/)
    expect(server.getClientsArray()).toHaveLength(0)
    expect(logged.filter(([, , event]) => event === "sessionOverflow")).toHaveLength(1)
    const again = await rawClient(port, `,session:['${client.sessionId}',${LIMIT}]`)
    expect(again.reply).toMatch(/^\{"?handshake"?:\[0\],"?error"?:\[11\]\}$/)
    again.socket.destroy()
  })
})
