/**
 * A Node stream socket (`net.Socket`, `tls.TLSSocket`) as a link of
 * NUL-terminated frames, driven by callbacks rather than fibers: for the
 * callback facade, which must not run a fiber per message. Messages written
 * in the same tick go out in one write.
 *
 * @since 0.1.0
 */
import type { Duplex } from "node:stream"
import type { Link } from "../engine/Engine.js"
import * as Framing from "../wire/Framing.js"

/**
 * What a socket link reports.
 *
 * @since 0.1.0
 */
export interface Handlers {
  readonly onFrame: (text: string) => void
  /** The socket closed; `error` is set if it failed (or sent too large a frame). */
  readonly onClose: (error: Error | undefined) => void
}

/**
 * A live socket link.
 *
 * @since 0.1.0
 */
export interface SocketLink extends Link {
  readonly socket: Duplex
  /** Stops reporting frames and the close; the socket stays as it is (`close` still ends it). */
  readonly detach: () => void
  /** Destroys the socket at once, without flushing. */
  readonly destroy: (error?: Error) => void
}

/**
 * Frames `socket`. Frames and the close are reported to `handlers`; an
 * exception thrown by `onFrame` fails the link instead of escaping into the
 * socket's events.
 *
 * @since 0.1.0
 */
export const make = (
  socket: Duplex,
  handlers: Handlers,
  options?: { readonly maxMessageSize?: number | undefined }
): SocketLink => {
  const decoder = Framing.makeDecoder(options)
  let outbox: Array<string> = []
  let flushScheduled = false
  let closed = false
  let failure: Error | undefined

  const flush = () => {
    flushScheduled = false
    if (outbox.length === 0 || closed) return
    const batch = outbox.join(Framing.TERMINATOR) + Framing.TERMINATOR
    outbox = []
    socket.write(batch)
  }

  const onData = (chunk: Buffer) => {
    try {
      decoder.push(chunk, handlers.onFrame)
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error))
      socket.destroy()
    }
  }
  const onError = (error: Error) => {
    failure ??= error
  }
  const onClose = () => {
    closed = true
    detach()
    handlers.onClose(failure)
  }
  const detach = () => {
    socket.off("data", onData)
    socket.off("error", onError)
    socket.off("close", onClose)
  }
  socket.on("data", onData)
  socket.on("error", onError)
  socket.on("close", onClose)

  return {
    socket,
    send: (text) => {
      if (closed) return
      outbox.push(text)
      if (!flushScheduled) {
        flushScheduled = true
        process.nextTick(flush)
      }
    },
    close: () => {
      if (closed) return
      flush()
      closed = true
      socket.end()
    },
    detach,
    destroy: (error) => {
      failure ??= error
      socket.destroy()
    }
  }
}
