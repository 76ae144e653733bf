// The ceiling row of the RPC benchmark: the least a NUL-framed JSON echo can
// do with Node alone, written with node:net, JSON.parse and JSON.stringify
// and nothing else (no protocol engine, no handshake, no validation, no
// session buffer). Messages written in the same tick go out in one write, as
// ours do. It shows what the machine and Node allow: a JSTP implementation
// that parses and serializes its messages has at least this work to do.
import * as Net from "node:net"

const NUL = 0

/** Writes text frames to `socket`, those of one tick in one write. */
const batchedWriter = (socket: Net.Socket): ((text: string) => void) => {
  let outbox: Array<string> = []
  const flush = () => {
    const batch = outbox.join("\0") + "\0"
    outbox = []
    socket.write(batch)
  }
  return (text) => {
    if (outbox.push(text) === 1) process.nextTick(flush)
  }
}

/**
 * Splits `socket`'s bytes into NUL-terminated frames, each decoded as UTF-8.
 */
const onFrames = (socket: Net.Socket, onFrame: (text: string) => void): void => {
  let tail: Array<Buffer> = []
  socket.on("data", (chunk: Buffer) => {
    let start = 0
    let end = chunk.indexOf(NUL)
    if (end !== -1 && tail.length > 0) {
      tail.push(chunk.subarray(0, end))
      const frame = Buffer.concat(tail)
      tail = []
      onFrame(frame.toString("utf8"))
      start = end + 1
      end = chunk.indexOf(NUL, start)
    }
    while (end !== -1) {
      onFrame(chunk.toString("utf8", start, end))
      start = end + 1
      end = chunk.indexOf(NUL, start)
    }
    if (start < chunk.length) tail.push(Buffer.from(chunk.subarray(start)))
  })
}

interface CallMessage {
  readonly call: readonly [number, string]
  readonly echo: ReadonlyArray<unknown>
}

interface CallbackMessage {
  readonly callback: readonly [number]
  readonly ok: ReadonlyArray<unknown>
}

/** Serves echo on 127.0.0.1 (a port the system chooses); resolves to the server. */
export const serve = (): Promise<Net.Server> =>
  new Promise((resolve) => {
    const server = Net.createServer((socket) => {
      socket.setNoDelay(true)
      socket.on("error", () => {})
      const write = batchedWriter(socket)
      onFrames(socket, (text) => {
        const message = JSON.parse(text) as CallMessage
        const reply: CallbackMessage = { callback: [message.call[0]], ok: message.echo }
        write(JSON.stringify(reply))
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
      const write = batchedWriter(socket)
      onFrames(socket, (text) => {
        const message = JSON.parse(text) as CallbackMessage
        const callback = pending.get(message.callback[0])
        pending.delete(message.callback[0])
        callback?.(message.ok)
      })
      resolve({
        call: (payload, callback) => {
          const id = nextId++
          pending.set(id, callback)
          const message: CallMessage = { call: [id, "echo"], echo: [payload] }
          write(JSON.stringify(message))
        },
        close: () => socket.destroy()
      })
    })
  })
