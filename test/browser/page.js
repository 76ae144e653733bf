// Runs in Chromium, loaded by test/browser.test.ts: the Effect client and
// the facade from dist/browser/effect-jstp.js. The test drives each step
// through the functions on `window` and checks what they return.
import { compat, Connection, Effect, Schedule, Scope, Stream } from "/effect-jstp.js"

const port = Number(new URLSearchParams(location.search).get("port"))
const url = `ws://127.0.0.1:${port}/jstp`

const waitFor = (condition, what) =>
  new Promise((resolve, reject) => {
    const started = Date.now()
    const poll = () => {
      if (condition()) return resolve()
      if (Date.now() - started > 10000) return reject(new Error(`Timed out waiting for ${what}`))
      setTimeout(poll, 10)
    }
    poll()
  })

const effectClient = {
  lifecycle: [],
  events: [],
  connection: undefined
}

// Connects, calls a method, and receives an event the call makes the server send.
window.effectConnect = async () => {
  const scope = await Effect.runPromise(Scope.make())
  const connection = await Effect.runPromise(Scope.extend(
    Connection.connect({
      address: { _tag: "WebSocket", host: "127.0.0.1", port, path: "/jstp" },
      application: "calc",
      reconnect: { schedule: Schedule.spaced("100 millis") }
    }),
    scope
  ))
  effectClient.connection = connection
  Effect.runFork(Stream.runForEach(connection.lifecycle, (event) => Effect.sync(() => effectClient.lifecycle.push(event._tag))))
  Effect.runFork(Stream.runForEach(connection.events("calc"), (event) => Effect.sync(() => effectClient.events.push(event))))
  const [sum] = await Effect.runPromise(connection.call("calc", "add", [2, 3]))
  await Effect.runPromise(connection.call("calc", "notify", ["from effect"]))
  await waitFor(() => effectClient.events.length > 0, "the event")
  const event = effectClient.events[0]
  return { sum, event: { iface: event.iface, event: event.event, args: event.args } }
}

// After the server dropped the socket: a call made now is answered once the
// session is restored over a new WebSocket.
window.effectAfterDrop = async () => {
  const [sum] = await Effect.runPromise(effectClient.connection.call("calc", "add", [40, 2]))
  await waitFor(() => effectClient.lifecycle.includes("Restored"), "the restore")
  return { sum, lifecycle: effectClient.lifecycle }
}

const facadeClient = {
  events: [],
  reconnects: [],
  connection: undefined
}

const callMethod = (connection, iface, method, args) =>
  new Promise((resolve, reject) => {
    connection.callMethod(iface, method, args, (error, ...results) => error ? reject(error) : resolve(results))
  })

window.facadeConnect = () =>
  new Promise((resolve, reject) => {
    const client = { reconnector: (_connection, reconnect) => setTimeout(reconnect, 100) }
    compat.ws.connectAndInspect("calc", client, ["calc"], url, (error, connection, proxies) => {
      if (error) return reject(error)
      facadeClient.connection = connection
      connection.on("reconnect", (failure) => facadeClient.reconnects.push(failure === null ? "ok" : String(failure)))
      proxies.calc.on("tick", (...args) => facadeClient.events.push(args))
      callMethod(connection, "calc", "add", [2, 3]).then(([sum]) =>
        callMethod(connection, "calc", "notify", ["from the facade"]).then(() =>
          waitFor(() => facadeClient.events.length > 0, "the event").then(() =>
            resolve({ sum, event: facadeClient.events[0] })
          )
        )
      ).catch(reject)
    })
  })

window.facadeAfterDrop = async () => {
  const [sum] = await callMethod(facadeClient.connection, "calc", "add", [40, 2])
  await waitFor(() => facadeClient.reconnects.includes("ok"), "the reconnect")
  return { sum, reconnects: facadeClient.reconnects }
}

document.getElementById("status").textContent = "ready"
