/**
 * A W3C WebSocket (the browser's, or the `ws` package's on Node) as a link:
 * one message per text frame, no terminator (protocol.md §2). Free of Node
 * built-ins, for the browser build.
 *
 * Sending is synchronous while the socket takes data; once more than
 * `highWaterMark` bytes wait in `bufferedAmount` (or before the socket is
 * open), messages queue and a writer fiber hands them over as the socket
 * drains. WebSocket has no drain event, so the writer polls.
 *
 * @since 0.1.0
 */
import { Effect, Scope } from "effect"
import { MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import { byteLength } from "../wire/Utf8.js"
import { type FramedLink, type LinkOptions, TransportError } from "./Link.js"

/**
 * The subprotocol JSTP peers agree on.
 *
 * @since 0.1.0
 */
export const PROTOCOL = "metarhia-jstp"

/**
 * The close codes this transport sends (RFC 6455 §7.4.1).
 *
 * @since 0.1.0
 */
export const CloseCode = {
  /** The connection was closed on purpose. */
  Normal: 1000,
  /** The server is shutting down. */
  GoingAway: 1001,
  /** The peer broke the protocol (a message that is not text, say). */
  ProtocolError: 1002,
  /** A message over the size limit. */
  MessageTooBig: 1009,
  /** A message could not be handled. */
  InternalError: 1011
} as const

/**
 * The part of the W3C `WebSocket` interface this transport uses.
 *
 * @since 0.1.0
 */
export interface WebSocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  binaryType: string
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: "open", listener: () => void): void
  /** `ws` gives the error and its message; a browser gives neither. */
  addEventListener(type: "error", listener: (event: { readonly message?: string; readonly error?: unknown }) => void): void
  addEventListener(type: "message", listener: (event: { readonly data: unknown }) => void): void
  addEventListener(
    type: "close",
    listener: (event: { readonly code: number; readonly reason: string; readonly wasClean: boolean }) => void
  ): void
}

/**
 * Options of a WebSocket link.
 *
 * @since 0.1.0
 */
export interface Options extends LinkOptions {
  /** Queue messages once this many bytes wait to be sent (default 1 MiB). */
  readonly highWaterMark?: number | undefined
}

const CONNECTING = 0
const OPEN = 1
const POLL_MILLIS = 5

// Closes that end the link in good order: asked for by either side, or a
// server going away.
const isOrderly = (code: number) => code === CloseCode.Normal || code === CloseCode.GoingAway || code === 1005

// The code of the error `ws` reports for a message over `maxPayload`.
const TOO_LARGE = "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
const errorCode = (error: unknown) =>
  typeof error === "object" && error !== null && "code" in error ? (error as { code: unknown }).code : undefined

const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true })

const textOf = (data: unknown): string | undefined => {
  if (typeof data === "string") return data
  if (data instanceof ArrayBuffer) return textDecoder.decode(data)
  if (ArrayBuffer.isView(data)) return textDecoder.decode(data as Uint8Array)
  return undefined
}

/**
 * Links the socket `create` returns (open or connecting). Closing the scope
 * closes the socket.
 *
 * @since 0.1.0
 */
export const make = (
  create: () => WebSocketLike,
  options?: Options
): Effect.Effect<FramedLink, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxMessageSize = options?.maxMessageSize ?? MAX_MESSAGE_SIZE
    const highWaterMark = options?.highWaterMark ?? 1024 * 1024
    let socket: WebSocketLike | undefined
    let openFailure: TransportError | undefined
    try {
      socket = create()
      socket.binaryType = "arraybuffer"
    } catch (cause) {
      openFailure = new TransportError({ reason: "Open", message: String(cause instanceof Error ? cause.message : cause), cause })
    }
    let outbox: Array<string> = []
    let closing = false
    let closeCode: number = CloseCode.Normal
    let wake: (() => void) | undefined

    const canSend = () => socket !== undefined && socket.readyState === OPEN && socket.bufferedAmount <= highWaterMark

    const closeSocket = () => {
      if (socket !== undefined && socket.readyState <= OPEN) socket.close(closeCode)
    }

    // Sends what it can; true when nothing is left to do.
    const flush = (): boolean => {
      let sent = 0
      while (sent < outbox.length && canSend()) socket!.send(outbox[sent++]!)
      outbox = sent === outbox.length ? [] : outbox.slice(sent)
      if (outbox.length > 0) return false
      if (closing) closeSocket()
      return true
    }

    const waitForWork = Effect.async<void>((resume) => {
      if (outbox.length > 0 || closing) return resume(Effect.void)
      wake = () => resume(Effect.void)
      return Effect.sync(() => {
        wake = undefined
      })
    })

    const writer = Effect.gen(function*() {
      for (;;) {
        yield* waitForWork
        while (!flush()) {
          if (socket === undefined || socket.readyState > OPEN) return
          yield* Effect.sleep(POLL_MILLIS)
        }
        if (closing) return
      }
    })
    yield* Effect.forkScoped(writer)
    // Not Effect.addFinalizer, which would carry this fiber's FiberRefs into
    // the fiber that closes the link's scope (see Connection.connect).
    yield* Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sync(closeSocket)))

    const signal = () => {
      const resume = wake
      wake = undefined
      resume?.()
    }

    const send = (text: string) => {
      if (closing) return
      if (outbox.length === 0 && canSend()) return socket!.send(text)
      outbox.push(text)
      signal()
    }

    const close = () => {
      if (closing) return
      closing = true
      signal()
    }

    const run = (onFrame: (text: string) => void) =>
      Effect.async<void, TransportError>((resume) => {
        if (openFailure !== undefined) return resume(Effect.fail(openFailure))
        const live = socket!
        let opened = live.readyState === OPEN
        let failure: TransportError | undefined
        let lastError: { readonly message?: string; readonly error?: unknown } | undefined
        const fail = (error: TransportError, code: number) => {
          if (failure !== undefined) return
          failure = error
          closeCode = code
          outbox = []
          closing = true
          closeSocket()
        }
        live.addEventListener("open", () => {
          opened = true
        })
        live.addEventListener("message", (event) => {
          if (failure !== undefined || closing) return
          const text = textOf(event.data)
          if (text === undefined) {
            return fail(new TransportError({ reason: "Read", message: "A message that is not text" }), CloseCode.ProtocolError)
          }
          if (text.length > maxMessageSize / 3) {
            const size = byteLength(text)
            if (size > maxMessageSize) {
              return fail(
                new TransportError({
                  reason: "MessageTooLarge",
                  message: `Message of ${size} bytes exceeds the limit of ${maxMessageSize} bytes`
                }),
                CloseCode.MessageTooBig
              )
            }
          }
          try {
            onFrame(text)
          } catch (cause) {
            fail(new TransportError({ reason: "Read", message: "A frame handler failed", cause }), CloseCode.InternalError)
          }
        })
        live.addEventListener("close", (event) => {
          closing = true
          if (failure !== undefined) return resume(Effect.fail(failure))
          const detail = lastError?.message === undefined || lastError.message === "" ? "" : `: ${lastError.message}`
          if (!opened) {
            return resume(Effect.fail(
              new TransportError({ reason: "Open", message: `WebSocket refused (${event.code})${detail}`, cause: lastError?.error })
            ))
          }
          if (isOrderly(event.code)) return resume(Effect.void)
          // `ws` refuses a message over its limit itself: an error, then 1006.
          const tooLarge = event.code === CloseCode.MessageTooBig || errorCode(lastError?.error) === TOO_LARGE
          resume(Effect.fail(
            new TransportError({
              reason: tooLarge ? "MessageTooLarge" : "Read",
              message: `WebSocket closed with code ${event.code}${event.reason === "" ? "" : `: ${event.reason}`}${detail}`,
              cause: lastError?.error
            })
          ))
        })
        // An error is always followed by a close event, which ends the run.
        live.addEventListener("error", (event) => {
          lastError = event
        })
        if (live.readyState === CONNECTING) return
        if (live.readyState > OPEN) {
          resume(Effect.fail(new TransportError({ reason: "Read", message: "WebSocket already closed" })))
        }
      })

    return { send, close, run }
  })
