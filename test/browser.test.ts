// The browser build end to end: headless Chromium (Debian's, driven by
// playwright-core) loads a page that imports dist/browser/effect-jstp.js,
// connects to our WebSocket server with the Effect client and with the
// facade, calls a method, receives an event, and survives the server
// dropping its socket, by restoring the session. `npm test` builds dist first.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import { chromium } from "playwright-core"
import { Application, type Connection, Server } from "effect-jstp"
import { findTool, withTool } from "./support/external.js"
import { withStore } from "./support/servers.js"

// CHROMIUM_PATH, Debian's, or installed now (root with apt); else skipped with why.
const chromiumFound = findTool({ name: "chromium", envVar: "CHROMIUM_PATH", paths: ["/usr/bin/chromium"], pkg: "chromium" })
// As the machine's probe starts it: no sandbox (root), and nothing that
// reaches for the network.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const files: Record<string, { readonly path: URL; readonly type: string }> = {
  "/": { path: new URL("./browser/page.html", import.meta.url), type: "text/html" },
  "/page.js": { path: new URL("./browser/page.js", import.meta.url), type: "text/javascript" },
  "/effect-jstp.js": { path: new URL("../dist/browser/effect-jstp.js", import.meta.url), type: "text/javascript" }
}

const calc = Application.make({
  name: "calc",
  api: {
    calc: {
      add: (_connection: Connection.Connection, a: number, b: number) => Effect.succeed(a + b),
      notify: (connection: Connection.Connection, text: string) => Effect.as(connection.emit("calc", "tick", [text]), "sent")
    }
  }
})

// An http server for the page, with the JSTP WebSocket endpoint attached at
// /jstp; `dropSockets` destroys every socket it accepted (the server side).
const pageServer = Effect.acquireRelease(
  Effect.async<{ server: Http.Server; port: number; dropSockets: () => void }>((resume) => {
    const sockets = new Set<Net.Socket>()
    const server = Http.createServer((request, response) => {
      const file = files[(request.url ?? "/").split("?")[0]!]
      if (file === undefined) {
        response.writeHead(404)
        return response.end()
      }
      response.writeHead(200, { "Content-Type": file.type })
      response.end(readFileSync(file.path))
    })
    server.on("connection", (socket: Net.Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    })
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      resume(Effect.succeed({ server, port, dropSockets: () => sockets.forEach((socket) => socket.destroy()) }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const browserPage = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: "path" in chromiumFound ? chromiumFound.path : "", args: CHROMIUM_ARGS })),
  (browser) => Effect.promise(() => browser.close())
).pipe(Effect.flatMap((browser) => Effect.promise(() => browser.newPage())))

describe("browser build in headless Chromium", () => {
  withTool(chromiumFound, "the Effect client and the facade call, receive events and restore after a server-side drop", (name) =>
  it.scopedLive(name, () =>
    Effect.gen(function*() {
      const http = yield* pageServer
      const server = yield* Server.make({
        applications: [calc],
        listen: [{ _tag: "WebSocket", server: http.server, path: "/jstp", port: 0 }]
      }).pipe(withStore)
      const restored = yield* Stream.runCount(
        Stream.takeUntil(Stream.filter(server.events, (event) => event._tag === "Restored"), () => true)
      ).pipe(Effect.fork)
      const page = yield* browserPage
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(error.message))
      yield* Effect.promise(() => page.goto(`http://127.0.0.1:${http.port}/?port=${http.port}`))
      yield* Effect.promise(() => page.waitForFunction("document.getElementById('status')?.textContent === 'ready'"))

      const effectFirst = yield* Effect.promise(() => page.evaluate(() => (globalThis as unknown as Page).effectConnect()))
      expect(effectFirst).toEqual({ sum: 5, event: { iface: "calc", event: "tick", args: ["from effect"] } })
      const facadeFirst = yield* Effect.promise(() => page.evaluate(() => (globalThis as unknown as Page).facadeConnect()))
      expect(facadeFirst).toEqual({ sum: 5, event: ["from the facade"] })
      expect(server.connections()).toHaveLength(2)

      http.dropSockets()
      const effectAfter = yield* Effect.promise(() => page.evaluate(() => (globalThis as unknown as Page).effectAfterDrop()))
      expect(effectAfter.sum).toBe(42)
      expect(effectAfter.lifecycle).toEqual(expect.arrayContaining(["Disconnected", "Attempt", "Restored"]))
      const facadeAfter = yield* Effect.promise(() => page.evaluate(() => (globalThis as unknown as Page).facadeAfterDrop()))
      expect(facadeAfter).toEqual({ sum: 42, reconnects: ["ok"] })
      yield* Effect.fromFiber(restored)
      // Both sessions were restored, not begun anew.
      expect(server.connections()).toHaveLength(2)
      expect(errors).toEqual([])
    }), 60_000))
})

interface Page {
  effectConnect(): Promise<{ sum: number; event: unknown }>
  effectAfterDrop(): Promise<{ sum: number; lifecycle: Array<string> }>
  facadeConnect(): Promise<{ sum: number; event: unknown }>
  facadeAfterDrop(): Promise<{ sum: number; reconnects: Array<string> }>
}
