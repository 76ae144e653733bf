/**
 * A transport of the user's own, as 2.x defines one (`jstp.net.Transport`
 * is the built-in kind): an event emitter that emits each received message
 * as `'message'`, and `'close'` and `'error'`, with `send(text)` for one
 * whole message, `end([text])` and `getRawTransport()`. Both APIs take one:
 * the facade's `new Connection(transport, null, client)`, and the Effect
 * API's `{ _tag: "Transport" }` address. Free of Node built-ins (the
 * browser build uses it).
 *
 * @since 0.1.0
 */
import * as Serde from "../wire/Serde.js"
import { CallbackLink, type Handlers } from "./CallbackLink.js"

/**
 * The Transport interface of 2.x. A received message may be emitted as its
 * text or as the value it parses to (2.x transports parse it).
 *
 * @since 0.1.0
 */
export interface Transport {
  send(data: string): void
  end(data?: string): void
  getRawTransport(): unknown
  on(event: "message", listener: (message: unknown) => void): unknown
  on(event: "close", listener: () => void): unknown
  on(event: "error", listener: (error: Error) => void): unknown
  removeListener(event: "message", listener: (message: unknown) => void): unknown
  removeListener(event: "close", listener: () => void): unknown
  removeListener(event: "error", listener: (error: Error) => void): unknown
}

/**
 * Whether `value` has the shape of a Transport (and is not a link of ours).
 *
 * @since 0.1.0
 */
export const isTransport = (value: unknown): value is Transport =>
  typeof value === "object" && value !== null &&
  typeof (value as Partial<Transport>).send === "function" &&
  typeof (value as Partial<Transport>).end === "function" &&
  typeof (value as Partial<Transport>).getRawTransport === "function" &&
  typeof (value as Partial<Transport>).on === "function" &&
  typeof (value as Partial<Transport>).removeListener === "function"

const remoteAddressOf = (raw: unknown): string | undefined => {
  const address = typeof raw === "object" && raw !== null ? (raw as { remoteAddress?: unknown }).remoteAddress : undefined
  return typeof address === "string" ? address : undefined
}

/**
 * A Transport as a link. It cannot tell how much waits to be written, so
 * it holds nothing: backpressure is the transport's. A message emitted as a
 * value is written back to text for the engine, which checks it as it
 * checks what comes from a socket.
 *
 * @since 0.1.0
 */
export class TransportLink extends CallbackLink<unknown> {
  constructor(readonly transport: Transport, handlers: Handlers) {
    const raw = transport.getRawTransport()
    super(raw, handlers, remoteAddressOf(raw), undefined)
    this.start()
  }

  protected listen(on: boolean): void {
    if (on) {
      this.transport.on("message", this.onData)
      this.transport.on("close", this.onClose)
    } else {
      this.transport.removeListener("message", this.onData)
      this.transport.removeListener("close", this.onClose)
    }
  }

  protected listenErrors(): void {
    this.transport.on("error", this.onError)
  }

  protected receive(message: unknown): void {
    this.handlers.onFrame(typeof message === "string" ? message : Serde.stringify(message))
  }

  protected write(texts: string | ReadonlyArray<string>): void {
    if (typeof texts === "string") this.transport.send(texts)
    else for (const text of texts) this.transport.send(text)
  }

  protected end(): void {
    this.transport.end()
  }

  protected abort(): void {
    const raw = this.socket as { destroy?: unknown } | null
    if (typeof raw === "object" && raw !== null && typeof raw.destroy === "function") (raw.destroy as () => void)()
    else this.transport.end()
  }

  protected setReading(): void {}

  // A failing transport is ended, as 2.x ends it; its close follows.
  protected override onError(error: unknown): void {
    super.onError(error)
    if (!this.closed) {
      this.closed = true
      this.transport.end()
    }
  }
}

/**
 * A link over `transport`.
 *
 * @since 0.1.0
 */
export const make = (transport: Transport, handlers: Handlers): TransportLink => new TransportLink(transport, handlers)
