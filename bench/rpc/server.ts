// Server process of the RPC benchmark (forked by bench/rpc.ts with
// `--import tsx`): serves the application `bench` with the method
// `echo.echo(value) -> value` on 127.0.0.1 (a port the system chooses), with
// our Server, the reference's or the bare Node echo of floor.ts, by argv[2] =
// "ours" | "reference" | "floor". The
// handler is the same callback-style function for both (ours marks it with
// Application.callback). It answers Usage requests with its CPU time and
// exits after Close (or when the parent goes).
import { Effect } from "effect"
import { Application, type Connection, Server } from "effect-jstp"
import * as Floor from "./floor.js"
import { isImpl, isParentMessage, type ServerMessage } from "./ipc.js"
import { loadReference, type RefCallback, type RefServer } from "./reference.js"

const send = (message: ServerMessage): void => {
  if (process.send === undefined) throw new Error("bench/rpc/server.ts must be started with child_process.fork")
  process.send(message)
}

let requestClose: () => void = () => {}
const closeRequested = new Promise<void>((resolve) => {
  requestClose = resolve
})

process.on("message", (message: unknown) => {
  if (!isParentMessage(message)) return
  if (message._tag === "Usage") {
    const { user, system } = process.cpuUsage()
    send({ _tag: "Usage", user, system })
  } else {
    requestClose()
  }
})
process.on("disconnect", () => requestClose())

const serveOurs = (): Promise<void> => {
  const application = Application.make({
    name: "bench",
    api: {
      echo: {
        echo: Application.callback(
          (_connection: Connection.Connection, value: unknown, callback: (error: unknown, result: unknown) => void): void =>
            callback(null, value)
        )
      }
    }
  })
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const server = yield* Server.make({ applications: [application], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] })
    const address = server.addresses[0]
    if (address?._tag !== "Tcp") return yield* Effect.dieMessage("the server has no TCP address")
    send({ _tag: "Ready", port: address.port, mdsfFallback: null })
    yield* Effect.promise(() => closeRequested)
  })))
}

const serveReference = async (): Promise<void> => {
  const { jstp, mdsfFallback } = loadReference()
  const application = new jstp.Application("bench", {
    echo: { echo: (_connection: unknown, value: unknown, callback: RefCallback): void => callback(null, value) }
  })
  const server = jstp.net.createServer({ applications: [application] })
  server.on("error", (error) => send({ _tag: "Failed", message: `reference server: ${error.message}` }))
  // An 'error' event without a listener would throw out of the socket handler.
  server.on("connect", (connection) => connection.on("error", () => {}))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  await runListening(server, "the reference server", mdsfFallback)
}

const serveFloor = async (): Promise<void> => runListening(await Floor.serve(), "the floor server", null)

// Reports a listening Node server ready, and closes it once asked to.
const runListening = async (server: Pick<RefServer, "address" | "close">, what: string, mdsfFallback: boolean | null): Promise<void> => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error(`${what} has no TCP address`)
  send({ _tag: "Ready", port: address.port, mdsfFallback })
  await closeRequested
  // Resolves once the clients (closed by the parent first) are gone.
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

const impl = process.argv[2]
try {
  if (!isImpl(impl)) throw new Error(`usage: server.ts ours|reference|floor (got ${String(impl)})`)
  await (impl === "ours" ? serveOurs() : impl === "reference" ? serveReference() : serveFloor())
} catch (error) {
  const message = error instanceof Error ? error.stack ?? error.message : String(error)
  if (process.connected) send({ _tag: "Failed", message })
  else console.error(message)
  process.exitCode = 1
}
if (process.connected) process.disconnect()
