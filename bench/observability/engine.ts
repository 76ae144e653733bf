// The engine alone, for the observability benchmark: a client engine and a
// server engine joined by synchronous in-memory links, one call a round trip
// (serialize, parse, dispatch to a callback-style echo, answer), no sockets
// and no fibers. Bundled into each build (bench/observability/builds.ts), so
// that the compiled-in and compiled-out engines are timed in one process,
// where nothing but the engine's own code differs.
import * as Dispatch from "../../src/engine/Dispatch.js"
import { Engine, type Reply } from "../../src/engine/Engine.js"
import { Session } from "../../src/engine/Session.js"

/** A connected pair; `call()` makes one synchronous echo call and returns 1 when it was answered right. */
export const makePair = (payload: string): { readonly call: () => number } => {
  const echo = Object.assign((_connection: unknown, value: unknown, callback: (error: null, value: unknown) => void) =>
    callback(null, value), { [Dispatch.CallbackStyle]: true })
  const application = Dispatch.makeDispatcher({ echo: { echo } }, undefined, null, {
    isEffect: () => false,
    runEffect: () => {},
    onDefect: () => {},
    plainStyle: "returning"
  })
  const links: { client?: Engine; server?: Engine } = {}
  const server = new Engine({
    role: "server",
    link: { send: (text) => links.client!.receive(text), close: () => {} },
    onHandshake: (_request, done) => done({ _tag: "Accepted", session: new Session("bench", null), restored: false, application })
  })
  const client = new Engine({ role: "client", link: { send: (text) => links.server!.receive(text), close: () => {} } })
  links.client = client
  links.server = server
  client.handshake("bench", undefined, { _tag: "Anonymous" }, () => {})
  let answered = 0
  const reply: Reply = (error, values) => {
    if (error === undefined && values[0] === payload) answered++
  }
  const args = [payload]
  return {
    call: () => {
      const before = answered
      client.call("echo", "echo", args, reply)
      return answered - before
    }
  }
}
