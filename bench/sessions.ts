// `npm run bench -- sessions`: what sessions cost a server's memory. Our
// Server runs in a child process (bench/sessions/server.mjs: the built
// package, so run `npm run build` first; plain node with --expose-gc); this process opens BENCH_SESSIONS (default 10,000) raw TCP
// clients that each complete a handshake and then never answer (so whatever
// the server sends them stays unacknowledged in their sessions). The
// server's heap and RSS after a full GC are read: before any client, with
// every session live and idle, after BENCH_SESSIONS_EVENTS (default 10)
// broadcasts of a 100-byte payload that no client acknowledges, and after
// every client dropped (every session inactive: kept for a restore in the
// server's cache and its in-memory store).
import { fork } from "node:child_process"
import { existsSync } from "node:fs"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import type { BenchModule } from "./harness.js"

interface Memory {
  readonly heapUsed: number
  readonly rss: number
  readonly connections: number
}

const root = fileURLToPath(new URL("..", import.meta.url))
const serverEntry = fileURLToPath(new URL("./sessions/server.mjs", import.meta.url))

const count = Number(process.env.BENCH_SESSIONS ?? 10_000)
const events = Number(process.env.BENCH_SESSIONS_EVENTS ?? 10)
const PAYLOAD = "x".repeat(100)
const MB = 1024 * 1024

const startServer = () =>
  new Promise<{ port: number; ask: <A>(request: object, answer: string) => Promise<A>; close: () => void }>((resolve, reject) => {
    const child = fork(serverEntry, [], { cwd: root, execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const waiting = new Map<string, (message: unknown) => void>()
    child.on("message", (message: { _tag: string; port?: number }) => {
      if (message._tag === "listening") {
        resolve({
          port: message.port!,
          ask: <A>(request: object, answer: string) =>
            new Promise<A>((done) => {
              waiting.set(answer, done as (message: unknown) => void)
              child.send(request)
            }),
          close: () => child.send({ _tag: "close" })
        })
      }
      waiting.get(message._tag)?.(message)
      waiting.delete(message._tag)
    })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`the sessions server exited (${code})`)))
  })

const handshake = (port: number): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1", () => socket.write("{handshake:[0,'calc']}\0"))
    socket.once("error", reject)
    // Reads everything (so the server's writes drain) and answers nothing.
    socket.once("data", () => resolve(socket))
    socket.resume()
  })

const waitFor = async (check: () => Promise<boolean>) => {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50))
}

const sessions: BenchModule = {
  name: "sessions",
  run: async (options) => {
    if (!existsSync(fileURLToPath(new URL("../dist/esm/index.js", import.meta.url)))) {
      throw new Error("bench sessions runs the built package: npm run build first")
    }
    const server = await startServer()
    const measure = () => server.ask<Memory>({ _tag: "measure" }, "memory")
    const rows: Array<[string, Memory]> = []
    rows.push(["no client", await measure()])
    const sockets: Array<Net.Socket> = []
    for (let opened = 0; opened < count;) {
      const batch = Math.min(500, count - opened)
      sockets.push(...await Promise.all(Array.from({ length: batch }, () => handshake(server.port))))
      opened += batch
      options.progress(`sessions: ${opened} of ${count} clients`)
    }
    await waitFor(async () => (await server.ask<{ connections: number }>({ _tag: "count" }, "count")).connections === count)
    rows.push([`${count.toLocaleString("en")} live idle sessions`, await measure()])
    await server.ask({ _tag: "broadcast", count: events, payload: PAYLOAD }, "broadcasted")
    rows.push([`… each holding ${events} unacknowledged events of ${PAYLOAD.length} B`, await measure()])
    for (const socket of sockets) socket.destroy()
    await waitFor(async () => (await server.ask<{ connections: number }>({ _tag: "count" }, "count")).connections === 0)
    rows.push([`… all dropped: ${count.toLocaleString("en")} inactive sessions kept for a restore`, await measure()])
    server.close()

    const base = rows[0]![1]
    console.log(`## Sessions: the server's memory (after a full GC), ${count.toLocaleString("en")} raw clients that never acknowledge\n`)
    console.log("| State | Heap used | RSS | Heap per session over no client |")
    console.log("|---|--:|--:|--:|")
    for (const [state, memory] of rows) {
      const perSession = memory === base ? "" : `${((memory.heapUsed - base.heapUsed) / count / 1024).toFixed(2)} KiB`
      console.log(`| ${state} | ${(memory.heapUsed / MB).toFixed(1)} MiB | ${(memory.rss / MB).toFixed(1)} MiB | ${perSession} |`)
    }
    console.log(
      "\nBounds (defaults): a session holds at most 10,000 unacknowledged messages and 16 MiB of them (then it is ended);" +
        " the in-memory store holds at most 256 MiB of inactive sessions' buffers (then the oldest are evicted)."
    )
  }
}

export default sessions
