/**
 * A byte-stream socket from `@effect/platform` as a link of NUL-terminated
 * frames (protocol.md §2). Reads are split and handed over synchronously;
 * writes are queued synchronously and flushed by one writer fiber, which
 * writes everything queued as one chunk and waits for the socket to take it
 * before the next (backpressure, and fewer system calls under load).
 *
 * @since 0.1.0
 */
import { Socket } from "@effect/platform"
import { Effect, type Scope } from "effect"
import * as Framing from "../wire/Framing.js"
import { type FramedLink, type LinkOptions, TransportError } from "./Link.js"

const TERMINATOR = Framing.TERMINATOR

const fromSocketError = (error: Socket.SocketError): TransportError =>
  new TransportError({
    reason: error.reason === "Open" ? "Open" : error.reason === "Write" ? "Write" : "Read",
    // The platform's message is generic; the cause says what happened.
    message: "cause" in error && error.cause instanceof Error ? error.cause.message : error.message,
    cause: error
  })

/**
 * Frames `socket`. The writer fiber lives in the current scope.
 *
 * @since 0.1.0
 */
export const make = (
  socket: Socket.Socket,
  options?: LinkOptions
): Effect.Effect<FramedLink, never, Scope.Scope> =>
  Effect.gen(function*() {
    let outbox: Array<string> = []
    let closing = false
    let wake: (() => void) | undefined

    const signal = () => {
      const resume = wake
      wake = undefined
      resume?.()
    }

    const waitForWork = Effect.async<void>((resume) => {
      if (outbox.length > 0 || closing) return resume(Effect.void)
      wake = () => resume(Effect.void)
      return Effect.sync(() => {
        wake = undefined
      })
    })

    // The writer fiber takes the socket's writer itself, so that the fiber
    // that acquired it also releases it: a release run by another fiber (the
    // one closing the link's scope) would carry this fiber's FiberRefs along.
    const writer = Effect.scoped(Effect.gen(function*() {
      const write = yield* socket.writer
      for (;;) {
        yield* waitForWork
        if (outbox.length > 0) {
          const batch = outbox.join(TERMINATOR) + TERMINATOR
          outbox = []
          yield* write(batch)
        } else if (closing) {
          yield* write(new Socket.CloseEvent(1000))
          return
        }
      }
    }))
    yield* Effect.forkScoped(Effect.ignore(writer))

    const send = (text: string) => {
      if (closing) return
      outbox.push(text)
      if (wake !== undefined) signal()
    }

    const close = () => {
      if (closing) return
      closing = true
      signal()
    }

    const run = (onFrame: (text: string) => void) =>
      Effect.suspend(() => {
        const decoder = Framing.makeDecoder(options)
        let failure: TransportError | undefined
        const onChunk = (chunk: Uint8Array) => {
          if (failure !== undefined) return
          try {
            decoder.push(chunk, onFrame)
          } catch (error) {
            failure = error instanceof Framing.FramingError
              ? new TransportError({ reason: "MessageTooLarge", message: error.message, cause: error })
              : new TransportError({ reason: "Read", message: "A frame handler failed", cause: error })
            close()
          }
        }
        return socket.run(onChunk).pipe(
          // Closed by us (destroyed after the last write) or cleanly by the peer.
          Effect.catchIf((error) => "code" in error && error.code === 1000, () => Effect.void),
          Effect.mapError(fromSocketError),
          Effect.zipRight(Effect.suspend(() => failure === undefined ? Effect.void : Effect.fail(failure))),
          Effect.ensuring(Effect.sync(() => {
            closing = true
          }))
        )
      })

    return { send, close, run }
  })
