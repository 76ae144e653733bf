// The memory budget of inactive sessions: the in-memory store (both APIs'
// default) holds at most `maxInactiveBytes` of their buffers, evicting the
// oldest inactive first and reporting each eviction; a server drops an
// evicted session too (it is no longer restorable) and says so.
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Application, Server, SessionStore } from "effect-jstp"
import * as Net from "node:net"
import { MemorySessions } from "../src/engine/MemorySessions.js"
import { Session } from "../src/engine/Session.js"
import { facade, HOST, recordEvents, release, serve, waitFor } from "./support/compat.js"
import { withStore } from "./support/servers.js"

afterEach(release)

const withBuffer = (id: string, bytes: number): Session => {
  const session = new Session(id)
  session.bufferMessage(1, "x".repeat(bytes))
  return session
}

describe("MemorySessions: the budget of inactive sessions' bytes", () => {
  it("evicts the oldest inactive first, each reported; active sessions do not count", () => {
    const store = new MemorySessions(60_000, 60_000, 1_000)
    const evicted: Array<string> = []
    store.onEvict((id) => void evicted.push(id))
    for (const id of ["a", "b", "c"]) store.set(id, withBuffer(id, 400))
    store.setInactive("a")
    store.setInactive("b")
    expect(store.inactiveBytes).toBe(800)
    // Active again: no longer counted.
    expect(store.get("a")?.id).toBe("a")
    expect(store.inactiveBytes).toBe(400)
    store.setInactive("a")
    store.setInactive("c")
    // b (inactive since before a's second time) goes first.
    expect(evicted).toEqual(["b"])
    expect(store.get("b")).toBeUndefined()
    expect(store.inactiveBytes).toBe(800)
    store.stop()
  })

  it("a session larger than the whole budget is evicted at once; purge still forgets by lifetime", () => {
    const store = new MemorySessions(1_000, 60_000, 100)
    const evicted: Array<string> = []
    store.onEvict((id) => void evicted.push(id))
    store.set("big", withBuffer("big", 500))
    store.setInactive("big")
    expect(evicted).toEqual(["big"])
    store.set("small", withBuffer("small", 10))
    store.setInactive("small")
    store.purge(Date.now() + 1_000)
    expect(store.get("small")).toBeUndefined()
    expect(store.inactiveBytes).toBe(0)
    store.stop()
  })
})

/** A raw client that handshakes and never acknowledges; its session id. */
const rawClient = (port: number) =>
  new Promise<{ socket: Net.Socket; sessionId: string }>((resolve, reject) => {
    let text = ""
    const socket = Net.connect(port, HOST, () => socket.write("{handshake:[0,'calc']}\0"))
    socket.setEncoding("utf8")
    socket.on("error", reject)
    socket.on("data", (chunk: string) => {
      const first = text === ""
      text += chunk
      if (first) resolve({ socket, sessionId: /"?ok"?:["']([^"']+)["']/.exec(text)![1]! })
    })
  })

/** Asks to restore `sessionId`; the server's handshake answer. */
const restore = (port: number, sessionId: string) =>
  new Promise<string>((resolve, reject) => {
    let text = ""
    const socket = Net.connect(port, HOST, () => socket.write(`{handshake:[0,'calc'],session:['${sessionId}',0]}\0`))
    socket.setEncoding("utf8")
    socket.on("error", reject)
    socket.on("data", (chunk: string) => {
      text += chunk
      if (text.includes("\0")) {
        socket.destroy()
        resolve(text.slice(0, text.indexOf("\0")))
      }
    })
  })

const refused = /^\{"?handshake"?:\[0\],"?error"?:\[11\]\}$/
const PAYLOAD = "y".repeat(200)

describe("a server over the budget", () => {
  it("the facade: the oldest dropped session is evicted, reported ('sessionEvicted'), and no longer restorable", async () => {
    const storage = new facade.SimpleSessionStorageProvider(undefined, undefined, 3_000)
    const { server, port } = await serve(facade, {
      applications: [new facade.Application("calc", { calc: {} })],
      sessionStorageProvider: storage
    })
    const evictions = recordEvents(server, "sessionEvicted")
    const first = await rawClient(port)
    const second = await rawClient(port)
    await waitFor(() => server.getClientsArray().length === 2, "both clients")
    // About 2 KB unacknowledged in each session.
    for (let i = 0; i < 10; i++) server.broadcast("calc", "tick", PAYLOAD)
    first.socket.destroy()
    await waitFor(() => server.getClientsArray().length === 1, "the first drop")
    expect(evictions).toEqual([])
    second.socket.destroy()
    await waitFor(() => evictions.length === 1, "an eviction")
    expect(evictions).toEqual([["sessionEvicted", first.sessionId]])
    expect(await restore(port, first.sessionId)).toMatch(refused)
    expect(await restore(port, second.sessionId)).toMatch(/^\{"?handshake"?:\[0\],"?ok"?:/)
  })

  it.scopedLive("the Effect API: SessionStore.layerMemory({ maxInactiveBytes }) evicts, the server reports SessionEvicted", () =>
    Effect.gen(function*() {
      const calc = Application.make({ name: "calc", api: { calc: {} } })
      const server = yield* Server.make({ applications: [calc], listen: [{ _tag: "Tcp", host: HOST, port: 0 }] }).pipe(withStore, 
        Effect.provideServiceEffect(SessionStore.SessionStore, SessionStore.memory({ maxInactiveBytes: 3_000 }))
      )
      const address = server.addresses[0]!
      const port = address._tag === "Tcp" ? address.port : 0
      const evicted: Array<string> = []
      yield* server.events.pipe(
        Stream.runForEach((event) => Effect.sync(() => event._tag === "SessionEvicted" && evicted.push(event.sessionId))),
        Effect.forkScoped
      )
      const first = yield* Effect.promise(() => rawClient(port))
      const second = yield* Effect.promise(() => rawClient(port))
      yield* Effect.promise(() => waitFor(() => server.connections().length === 2, "both clients"))
      for (let i = 0; i < 10; i++) yield* server.broadcast("calc", "tick", [PAYLOAD])
      first.socket.destroy()
      yield* Effect.promise(() => waitFor(() => server.connections().length === 1, "the first drop"))
      second.socket.destroy()
      yield* Effect.promise(() => waitFor(() => evicted.length === 1, "an eviction"))
      expect(evicted).toEqual([first.sessionId])
      expect(yield* Effect.promise(() => restore(port, first.sessionId))).toMatch(refused)
      expect(yield* Effect.promise(() => restore(port, second.sessionId))).toMatch(/^\{"?handshake"?:\[0\],"?ok"?:/)
    }))
})
