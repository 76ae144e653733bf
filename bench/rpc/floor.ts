// The ceiling rows of the RPC benchmark: the least a JSON echo can do, with
// no protocol: our socket link (NUL framing and its write batching), or our
// WebSocket link (a text frame per message, a tick's frames in one write),
// carrying JSON.parse and JSON.stringify, and nothing else (no engine,
// handshake, validation or session buffer). Whatever parses and writes its
// messages over the same transport has at least this work to do.
import * as Net from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import type { Handlers, SocketLink as Link } from "../../src/transport/CallbackLink.js"
import type * as SocketLinkModule from "../../src/transport/SocketLink.js"
import type * as WebSocketLinkModule from "../../src/transport/WebSocketLink.js"
import { built } from "../built.js"

// The links as built, like ours in the other rows.
const SocketLink = await built<typeof SocketLinkModule>("transport/SocketLink.js")
const WebSocketLink = await built<typeof WebSocketLinkModule>("transport/WebSocketLink.js")

interface CallMessage {
  readonly call: readonly [number, string]
  readonly echo: ReadonlyArray<unknown>
}

interface CallbackMessage {
  readonly callback: readonly [number]
  readonly ok: ReadonlyArray<unknown>
}

const ignoreClose = (): void => {}

// The server's side of a link: each call answered with its arguments.
const echoing = (link: () => Link): Handlers => ({
  onFrame: (text) => {
    const message = JSON.parse(text) as CallMessage
    const reply: CallbackMessage = { callback: [message.call[0]], ok: message.echo }
    link().send(JSON.stringify(reply))
  },
  onClose: ignoreClose
})

/** Serves echo over TCP on 127.0.0.1 (a port the system chooses); resolves to the server. */
export const serve = (): Promise<Net.Server> =>
  new Promise((resolve) => {
    const server = Net.createServer((socket) => {
      socket.setNoDelay(true)
      const link: Link = SocketLink.make(socket, echoing(() => link))
    })
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** Serves echo over WebSocket (no extensions) on 127.0.0.1; resolves to the server. */
export const serveWebSocket = (): Promise<WebSocketServer> =>
  new Promise((resolve) => {
    const server: WebSocketServer = new WebSocketServer(
      { host: "127.0.0.1", port: 0, perMessageDeflate: false },
      () => resolve(server)
    )
    server.on("connection", (socket: WebSocket) => {
      const link: Link = WebSocketLink.make(socket, echoing(() => link), undefined)
    })
  })

/** A client connection: `call(payload, callback)`, answered in order. */
export interface FloorConnection {
  readonly call: (payload: string, callback: (results: ReadonlyArray<unknown>) => void) => void
  readonly close: () => void
}

// The client's side: calls numbered, answers matched to their callbacks.
const calling = (makeLink: (handlers: Handlers) => Link): FloorConnection => {
  const pending = new Map<number, (results: ReadonlyArray<unknown>) => void>()
  let nextId = 1
  const link = makeLink({
    onFrame: (text) => {
      const message = JSON.parse(text) as CallbackMessage
      const callback = pending.get(message.callback[0])
      pending.delete(message.callback[0])
      callback?.(message.ok)
    },
    onClose: ignoreClose
  })
  return {
    call: (payload, callback) => {
      const id = nextId++
      pending.set(id, callback)
      const message: CallMessage = { call: [id, "echo"], echo: [payload] }
      link.send(JSON.stringify(message))
    },
    close: () => link.destroy()
  }
}

export const connect = (port: number): Promise<FloorConnection> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1")
    socket.once("error", reject)
    socket.once("connect", () => {
      socket.off("error", reject)
      socket.setNoDelay(true)
      resolve(calling((handlers) => SocketLink.make(socket, handlers)))
    })
  })

export const connectWebSocket = (port: number): Promise<FloorConnection> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
    socket.once("error", reject)
    socket.once("open", () => {
      socket.off("error", reject)
      resolve(calling((handlers) => WebSocketLink.make(socket, handlers, undefined, { pausesReading: false })))
    })
  })
