// Server process of the RPC benchmark (forked by bench/rpc.ts with
// `--import tsx`): serves the application `bench` with the method
// `echo.echo(value) -> value` on 127.0.0.1 (a port the system chooses), by
// argv[2]:
//
//   ours         our Server (Server.make), the callback-style handler
//                `(connection, x, callback) => callback(null, x)` marked with
//                Application.callback; also on WebSocket (a second port)
//   ours-effect  our Server, the Effect handler `(_connection, x) => Effect.succeed(x)`
//   compat       the facade's server (effect-jstp/compat net.createServer), a
//                2.x Application with the callback-style handler
//   reference    @metarhia/jstp 2.3.0's net server, the callback-style
//                handler; also jstp.ws.createServer on a second port
//   floor        the bare echo of floor.ts; also on WebSocket (a second port)
//
// Every JSTP server also offers an empty interface `bench`, for the 2.x
// clients of the fan-out scenario to inspect (a 2.x client receives a
// server's events through the remote proxy of their interface). On a
// Broadcast request, a JSTP server sends `bench.tick(i, payload)` to every
// client for i in 0..count-1, with the same driver for every server: `burst`
// events in one go, then a setImmediate (so the sockets get written), until
// all are issued; then it answers Broadcasted. It answers Usage requests with
// its CPU time and exits after Close (or when the parent goes).
import { Effect, Runtime } from "effect"
import { Application, type Connection, Server, SessionStore } from "effect-jstp"
import { Application as CompatApplication, net as compatNet } from "effect-jstp/compat"
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

/** What a server does on Broadcast: send one event to every client; how many clients it has. */
interface Broadcaster {
  readonly emit: (i: number, payload: string) => void
  readonly clients: () => number
}

let broadcaster: Broadcaster | undefined

// The one broadcast driver: `burst` events, then a setImmediate, until done.
const broadcast = (count: number, payload: string, burst: number): void => {
  const target = broadcaster
  if (target === undefined) return send({ _tag: "Failed", message: `the ${String(process.argv[2])} server cannot broadcast` })
  const clients = target.clients()
  let i = 0
  const step = (): void => {
    try {
      const end = Math.min(count, i + burst)
      for (; i < end; i++) target.emit(i, payload)
    } catch (error) {
      return send({ _tag: "Failed", message: `broadcast: ${error instanceof Error ? error.stack ?? error.message : String(error)}` })
    }
    if (i < count) setImmediate(step)
    else send({ _tag: "Broadcasted", connections: clients })
  }
  step()
}

process.on("message", (message: unknown) => {
  if (!isParentMessage(message)) return
  switch (message._tag) {
    case "Usage": {
      const { user, system } = process.cpuUsage()
      return send({ _tag: "Usage", user, system })
    }
    case "Broadcast":
      return broadcast(message.count, message.payload, message.burst)
    case "Close":
      return requestClose()
  }
})
process.on("disconnect", () => requestClose())

const echoCallback = Application.callback(
  (_connection: Connection.Connection, value: unknown, callback: (error: unknown, result: unknown) => void): void =>
    callback(null, value)
)

const echoEffect = (_connection: Connection.Connection, value: unknown) => Effect.succeed(value)

const serveOurs = (handler: "callback" | "effect"): Promise<void> => {
  const application = Application.make({
    name: "bench",
    api: { echo: { echo: handler === "callback" ? echoCallback : echoEffect }, bench: {} }
  })
  return Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const server = yield* Server.make({
      applications: [application],
      listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }, { _tag: "WebSocket", host: "127.0.0.1", port: 0 }]
    }).pipe(Effect.provideServiceEffect(SessionStore.SessionStore, SessionStore.memory()))
    const [tcp, ws] = server.addresses
    if (tcp?._tag !== "Tcp") return yield* Effect.dieMessage("the server has no TCP address")
    if (ws?._tag !== "WebSocket") return yield* Effect.dieMessage("the server has no WebSocket address")
    const runSync = Runtime.runSync(yield* Effect.runtime<never>())
    broadcaster = {
      emit: (i, payload) => runSync(server.broadcast("bench", "tick", [i, payload])),
      clients: () => server.connections().length
    }
    send({ _tag: "Ready", port: tcp.port, wsPort: ws.port, mdsfFallback: null })
    yield* Effect.promise(() => closeRequested)
  })))
}

const serveCompat = async (): Promise<void> => {
  const application = new CompatApplication("bench", {
    echo: { echo: (_connection: unknown, value: unknown, callback: RefCallback): void => callback(null, value) },
    bench: {}
  })
  const server = compatNet.createServer({ applications: [application] })
  server.on("error", (error: Error) => send({ _tag: "Failed", message: `facade server: ${error.message}` }))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  broadcaster = {
    emit: (i, payload) => server.broadcast("bench", "tick", i, payload),
    clients: () => server.getClientsArray().length
  }
  await runListening(server, "the facade server", { wsPort: null, mdsfFallback: null })
}

const serveReference = async (): Promise<void> => {
  const { jstp, mdsfFallback } = loadReference()
  const application = new jstp.Application("bench", {
    echo: { echo: (_connection: unknown, value: unknown, callback: RefCallback): void => callback(null, value) },
    bench: {}
  })
  const listen = async (server: RefServer, what: string): Promise<RefServer> => {
    server.on("error", (error) => send({ _tag: "Failed", message: `${what}: ${error.message}` }))
    // An 'error' event without a listener would throw out of the socket handler.
    server.on("connect", (connection) => connection.on("error", () => {}))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    return server
  }
  const server = await listen(jstp.net.createServer({ applications: [application] }), "reference server")
  const wsServer = await listen(jstp.ws.createServer({ applications: [application] }), "reference ws server")
  broadcaster = {
    emit: (i, payload) => server.broadcast("bench", "tick", i, payload),
    clients: () => server.getClientsArray().length
  }
  await Promise.all([
    runListening(server, "the reference server", { wsPort: portOf(wsServer, "the reference ws server"), mdsfFallback }),
    closing(wsServer)
  ])
}

const serveFloor = async (): Promise<void> => {
  const [server, wsServer] = await Promise.all([Floor.serve(), Floor.serveWebSocket()])
  await Promise.all([
    runListening(server, "the floor server", { wsPort: portOf(wsServer, "the floor ws server"), mdsfFallback: null }),
    closing(wsServer)
  ])
}

const portOf = (server: Pick<RefServer, "address">, what: string): number => {
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error(`${what} has no TCP address`)
  return address.port
}

// Closes a listening Node server once asked to; resolves once its clients
// (closed by the parent first) are gone.
const closing = async (server: Pick<RefServer, "close">): Promise<void> => {
  await closeRequested
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

// Reports a listening Node server ready, and closes it once asked to.
const runListening = async (
  server: Pick<RefServer, "address" | "close">,
  what: string,
  extra: { readonly wsPort: number | null; readonly mdsfFallback: boolean | null }
): Promise<void> => {
  send({ _tag: "Ready", port: portOf(server, what), ...extra })
  await closing(server)
}

const impl = process.argv[2]
try {
  if (!isImpl(impl)) throw new Error(`usage: server.ts ours|ours-effect|compat|reference|floor (got ${String(impl)})`)
  await (impl === "ours"
    ? serveOurs("callback")
    : impl === "ours-effect"
    ? serveOurs("effect")
    : impl === "compat"
    ? serveCompat()
    : impl === "reference"
    ? serveReference()
    : serveFloor())
} catch (error) {
  const message = error instanceof Error ? error.stack ?? error.message : String(error)
  if (process.connected) send({ _tag: "Failed", message })
  else console.error(message)
  process.exitCode = 1
}
if (process.connected) process.disconnect()
