// The ceiling row of the RPC benchmark: the least a NUL-framed JSON echo can
// do, with no protocol: our socket link (NUL framing and its write batching)
// carrying JSON.parse and JSON.stringify, and nothing else (no
// engine, handshake, validation or session buffer). Whatever parses and
// writes its messages has at least this work to do.
import * as Net from "node:net"
import * as SocketLink from "../../src/transport/SocketLink.js"

interface CallMessage {
  readonly call: readonly [number, string]
  readonly echo: ReadonlyArray<unknown>
}

interface CallbackMessage {
  readonly callback: readonly [number]
  readonly ok: ReadonlyArray<unknown>
}

const ignoreClose = (): void => {}

/** Serves echo on 127.0.0.1 (a port the system chooses); resolves to the server. */
export const serve = (): Promise<Net.Server> =>
  new Promise((resolve) => {
    const server = Net.createServer((socket) => {
      socket.setNoDelay(true)
      const link: SocketLink.SocketLink = SocketLink.make(socket, {
        onFrame: (text) => {
          const message = JSON.parse(text) as CallMessage
          const reply: CallbackMessage = { callback: [message.call[0]], ok: message.echo }
          link.send(JSON.stringify(reply))
        },
        onClose: ignoreClose
      })
    })
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

/** A client connection: `call(payload, callback)`, answered in order. */
export interface FloorConnection {
  readonly call: (payload: string, callback: (results: ReadonlyArray<unknown>) => void) => void
  readonly close: () => void
}

export const connect = (port: number): Promise<FloorConnection> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1")
    const pending = new Map<number, (results: ReadonlyArray<unknown>) => void>()
    let nextId = 1
    socket.once("error", reject)
    socket.once("connect", () => {
      socket.off("error", reject)
      socket.setNoDelay(true)
      const link = SocketLink.make(socket, {
        onFrame: (text) => {
          const message = JSON.parse(text) as CallbackMessage
          const callback = pending.get(message.callback[0])
          pending.delete(message.callback[0])
          callback?.(message.ok)
        },
        onClose: ignoreClose
      })
      resolve({
        call: (payload, callback) => {
          const id = nextId++
          pending.set(id, callback)
          const message: CallMessage = { call: [id, "echo"], echo: [payload] }
          link.send(JSON.stringify(message))
        },
        close: () => link.destroy()
      })
    })
  })
