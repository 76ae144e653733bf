/**
 * The protocol engine: one synchronous state machine per connection
 * (protocol.md §3-§7). Text frames go in through `receive`; messages go out
 * through the `Link`; replies come back through callbacks, completed
 * synchronously from `receive`. No sockets, timers or Effects in here: the
 * host (a transport and the Effect API or a facade) supplies those.
 *
 * @since 0.1.0
 */
import { ERR_INTERFACE_NOT_FOUND, ERR_INVALID_SIGNATURE, ERR_NO_HANDSHAKE_RESPONSE, ERR_NOT_A_SERVER } from "../wire/ErrorCode.js"
import { FramingError, MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import * as Message from "../wire/Message.js"
import { SerdeError } from "../wire/SerdeError.js"
import * as ErrorPayload from "./ErrorPayload.js"
import { Session } from "./Session.js"

/**
 * Where the engine writes: one call per message, without terminator or
 * framing (the transport adds what it needs).
 *
 * @since 0.1.0
 */
export interface Link {
  readonly send: (text: string) => void
  readonly close: () => void
}

/**
 * Completes a request: `error` is set on failure (a remote error, or
 * `ErrorPayload.connectionClosed` when the connection closed first).
 *
 * @since 0.1.0
 */
export type Reply = (error: Message.ErrorPayload | undefined, values: ReadonlyArray<unknown>) => void

/**
 * The local application as the engine sees it, bound to one connection.
 *
 * @since 0.1.0
 */
export interface Dispatcher {
  /** Runs a method; `reply` may be called later, and only its first call counts. */
  readonly call: (iface: string, method: string, args: ReadonlyArray<unknown>, reply: Reply) => void
  /** The method names of an interface, or undefined if there is none. */
  readonly methods: (iface: string) => ReadonlyArray<string> | undefined
  /** Delivers a peer's event to the application's handler, if any. */
  readonly event: (iface: string, event: string, args: ReadonlyArray<unknown>) => void
}

/**
 * What a server's host decides about a handshake request.
 *
 * @since 0.1.0
 */
export type HandshakeOutcome =
  | {
    readonly _tag: "Accepted"
    readonly session: Session
    /** Restored sessions answer with their receivedCount instead of their id. */
    readonly restored: boolean
    readonly application: Dispatcher
  }
  | { readonly _tag: "Rejected"; readonly error: Message.ErrorPayload }

/**
 * Why a connection closed.
 *
 * @since 0.1.0
 */
export type CloseReason =
  | "Closed" // close() was called
  | "PeerClosed" // the link ended
  | "ProtocolViolation" // unparseable input, a message before or a second handshake
  | "HandshakeRejected" // the server answered the handshake with an error
  | "HandshakeTimeout"
  | "Transport" // the link failed

/**
 * The logging events of the documented API, with their arguments.
 *
 * @since 0.1.0
 */
export type LogEvent =
  | "call"
  | "callback"
  | "event"
  | "handshake"
  | "inspect"
  | "messageRejected"
  | "heartbeat"
  | "incomingMessage"
  | "outgoingMessage"

/**
 * The host's side of an engine.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly role: "client" | "server"
  readonly link: Link
  /** The local application; a client's may be given at creation. */
  readonly application?: Dispatcher | undefined
  /** Servers: decides a handshake request, now or later. */
  readonly onHandshake?: ((request: Message.HandshakeRequest, done: (outcome: HandshakeOutcome) => void) => void) | undefined
  /** A peer's event, for remote proxies and event streams. */
  readonly onEvent?: ((iface: string, event: string, args: ReadonlyArray<unknown>) => void) | undefined
  /** Called once, when the connection closes. */
  readonly onClose?: ((reason: CloseReason, cause: unknown) => void) | undefined
  /** Logging events; absent, no logging work is done. */
  readonly log?: ((event: LogEvent, args: ReadonlyArray<unknown>) => void) | undefined
  /** The largest message written; larger requests fail locally. */
  readonly maxMessageSize?: number | undefined
}

/**
 * Where a connection is in its life.
 *
 * @since 0.1.0
 */
export type Phase = "AwaitingHandshake" | "Handshaking" | "Open" | "Closed"

const ignore: Reply = () => {}

/**
 * A connection's protocol state machine.
 *
 * @since 0.1.0
 */
export class Engine {
  phase: Phase = "AwaitingHandshake"
  session: Session | undefined = undefined
  application: Dispatcher | undefined
  private nextId = 0
  private readonly step: 1 | -1
  private readonly pending = new Map<number, Reply>()
  private handshakeReply: ((error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void) | undefined
  private readonly maxMessageSize: number
  private login: string | null = null

  constructor(readonly options: Options) {
    this.step = options.role === "client" ? 1 : -1
    this.application = options.application
    this.maxMessageSize = options.maxMessageSize ?? MAX_MESSAGE_SIZE
  }

  /** Callbacks that came for no pending request (cancelled, or stray). */
  droppedCallbacks = 0

  /** The number of requests waiting for their callback or pong. */
  get pendingCount(): number {
    return this.pending.size
  }

  // ---------------------------------------------------------------- input

  /** Handles one received frame. */
  receive(text: string): void {
    if (this.phase === "Closed") return
    let message: Message.Message
    try {
      message = Message.deserialize(text)
    } catch (error) {
      if (error instanceof Message.MessageError) return this.onMalformed(error, text)
      if (error instanceof SerdeError) {
        this.options.log?.("messageRejected", [text])
        return this.terminate("ProtocolViolation", error)
      }
      throw error
    }
    this.dispatch(message)
  }

  /** Handles one decoded message. */
  dispatch(message: Message.Message): void {
    if (this.phase === "Closed") return
    const log = this.options.log
    if (message._tag === "Heartbeat") {
      log?.("heartbeat", [message])
      return
    }
    log?.("incomingMessage", [message])
    if (this.phase !== "Open") return this.dispatchBeforeOpen(message)
    switch (message._tag) {
      case "Call":
        return this.onCall(message)
      case "CallbackOk":
        return this.onCallback(message.id, undefined, message.results)
      case "CallbackError":
        return this.onCallback(message.id, message.error, [])
      case "Event":
        return this.onEvent(message)
      case "Inspect":
        return this.onInspect(message)
      case "Ping":
        return this.onPing(message)
      case "Pong":
        return this.onPong(message)
      default:
        // A second handshake closes the connection.
        return this.reject(message, true)
    }
  }

  /** The link ended or failed. */
  linkClosed(reason: "PeerClosed" | "Transport" = "PeerClosed", cause?: unknown): void {
    this.finish(reason, cause)
  }

  private dispatchBeforeOpen(message: Message.Message): void {
    if (message._tag === "HandshakeRequest" && this.phase === "AwaitingHandshake") {
      if (this.options.role === "server") return this.onHandshakeRequest(message)
      this.sendHandshakeError(message.id, ErrorPayload.make(ERR_NOT_A_SERVER))
      return this.terminate("ProtocolViolation", undefined)
    }
    if ((message._tag === "HandshakeOk" || message._tag === "HandshakeError") && this.handshakeReply !== undefined) {
      return this.onHandshakeReply(message)
    }
    this.reject(message, true)
  }

  private onMalformed(error: Message.MessageError, text: string): void {
    if (this.phase !== "Open") {
      this.options.log?.("messageRejected", [text])
      return this.terminate("ProtocolViolation", error)
    }
    if (error.kind === "call" && error.id !== undefined && error.reason === "PayloadNotArray") {
      this.session?.onMessageReceived(error.id)
      this.sendCallback(error.id, ErrorPayload.make(ERR_INVALID_SIGNATURE), [])
    } else if (error.kind === "event" && error.id !== undefined) {
      this.session?.onMessageReceived(error.id)
    }
    this.options.log?.("messageRejected", [text])
    if (error.kind === "handshake") this.terminate("ProtocolViolation", error)
  }

  private reject(message: Message.Message, fatal: boolean): void {
    this.options.log?.("messageRejected", [message])
    if (fatal) this.terminate("ProtocolViolation", undefined)
  }

  private onHandshakeRequest(request: Message.HandshakeRequest): void {
    const decide = this.options.onHandshake
    if (decide === undefined) {
      this.sendHandshakeError(request.id, ErrorPayload.make(ERR_NOT_A_SERVER))
      return this.terminate("ProtocolViolation", undefined)
    }
    this.phase = "Handshaking"
    let decided = false
    decide(request, (outcome) => {
      if (decided || this.phase !== "Handshaking") return
      decided = true
      if (outcome._tag === "Rejected") {
        this.sendHandshakeError(request.id, outcome.error)
        return this.terminate("HandshakeRejected", outcome.error)
      }
      this.session = outcome.session
      this.application = outcome.application
      this.phase = "Open"
      const ok = outcome.restored ? outcome.session.receivedCount : outcome.session.id
      this.write({ _tag: "HandshakeOk", id: this.takeId(), ok })
    })
  }

  private onHandshakeReply(message: Message.HandshakeOk | Message.HandshakeError): void {
    const reply = this.handshakeReply!
    this.handshakeReply = undefined
    if (message._tag === "HandshakeOk") {
      this.options.log?.("handshake", [undefined, message.ok])
      this.phase = "Open"
      // A new session: the server named it. (A restored one keeps its own.)
      if (typeof message.ok === "string") this.session = new Session(message.ok, this.login)
      reply(undefined, message.ok)
    } else {
      this.options.log?.("handshake", [message.error, undefined])
      reply(message.error, undefined)
      this.terminate("HandshakeRejected", message.error)
    }
  }

  private onCall(message: Message.Call): void {
    this.session?.onMessageReceived(message.id)
    this.options.log?.("call", [message.iface, message.method, message.args])
    const application = this.application
    const id = message.id
    if (application === undefined) return this.sendCallback(id, ErrorPayload.make(ERR_INTERFACE_NOT_FOUND), [])
    let replied = false
    application.call(message.iface, message.method, message.args, (error, results) => {
      if (replied) return
      replied = true
      this.sendCallback(id, error, results)
    })
  }

  private onCallback(id: number, error: Message.ErrorPayload | undefined, values: ReadonlyArray<unknown>): void {
    this.session?.onAcknowledged(id)
    const log = this.options.log
    log?.("callback", [error, error === undefined ? values : undefined])
    const reply = this.pending.get(id)
    if (reply === undefined) {
      this.droppedCallbacks++
      log?.("messageRejected", [error === undefined
        ? { _tag: "CallbackOk", id, results: values }
        : { _tag: "CallbackError", id, error }])
      return
    }
    this.pending.delete(id)
    reply(error, values)
  }

  private onEvent(message: Message.Event): void {
    this.session?.onMessageReceived(message.id)
    this.options.log?.("event", [message.iface, message.event, message.args])
    this.options.onEvent?.(message.iface, message.event, message.args)
    this.application?.event(message.iface, message.event, message.args)
  }

  private onInspect(message: Message.Inspect): void {
    this.session?.onMessageReceived(message.id)
    this.options.log?.("inspect", [message.iface])
    const methods = this.application?.methods(message.iface)
    if (methods === undefined) this.sendCallback(message.id, ErrorPayload.make(ERR_INTERFACE_NOT_FOUND), [])
    else this.sendCallback(message.id, undefined, methods)
  }

  private onPing(message: Message.Ping): void {
    this.session?.onMessageReceived(message.id)
    this.write({ _tag: "Pong", id: message.id })
  }

  private onPong(message: Message.Pong): void {
    this.session?.onAcknowledged(message.id)
    const reply = this.pending.get(message.id)
    if (reply === undefined) return this.reject(message, false)
    this.pending.delete(message.id)
    reply(undefined, [])
  }

  // --------------------------------------------------------------- output

  /**
   * Client: sends the handshake request (id 0). `done` gets the server's
   * answer: a session id, or a receivedCount for a restored session.
   */
  handshake(
    app: string,
    version: string | undefined,
    auth: Message.HandshakeAuth,
    done: (error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void
  ): void {
    if (this.phase !== "AwaitingHandshake" || this.options.role !== "client") {
      throw new Error(`Cannot start a handshake in phase ${this.phase} as a ${this.options.role}`)
    }
    this.phase = "Handshaking"
    this.handshakeReply = done
    this.login = auth._tag === "Login" ? auth.login : null
    this.write({ _tag: "HandshakeRequest", id: this.takeId(), app, version, auth })
  }

  /**
   * Calls a remote method and returns the call's id. Throws, sending nothing,
   * a `SerdeError` if `args` cannot be serialized, a `MessageError` for a
   * method name that cannot be sent, a `FramingError` if the message is over
   * the size limit. Fails through `reply` if the connection is closed.
   */
  call(iface: string, method: string, args: ReadonlyArray<unknown>, reply: Reply): number {
    const id = this.nextId
    this.request({ _tag: "Call", id, iface, method, args }, reply)
    return id
  }

  /**
   * Forgets a pending request (its caller gave up); a callback that still
   * comes for it is dropped and counted in `droppedCallbacks`.
   */
  cancel(id: number): void {
    this.pending.delete(id)
  }

  /** Sends an event. Throws as `call` does. */
  emit(iface: string, event: string, args: ReadonlyArray<unknown>): void {
    this.request({ _tag: "Event", id: this.nextId, iface, event, args }, undefined)
  }

  /** Asks for the method names of a remote interface; returns the request's id. */
  inspect(iface: string, reply: Reply): number {
    const id = this.nextId
    this.request({ _tag: "Inspect", id, iface }, reply)
    return id
  }

  /** Sends a ping; `reply` runs on the pong. Returns the ping's id. */
  ping(reply: Reply = ignore): number {
    const id = this.nextId
    this.request({ _tag: "Ping", id }, reply)
    return id
  }

  // `message` carries the next id; it is taken only once the message is sent.
  private request(message: Message.Call | Message.Event | Message.Inspect | Message.Ping, reply: Reply | undefined): void {
    if (this.phase !== "Open") {
      reply?.(ErrorPayload.connectionClosed, [])
      return
    }
    const id = message.id
    const text = Message.serialize(message)
    if (text.length > this.maxMessageSize / 3) {
      const size = Buffer.byteLength(text)
      if (size > this.maxMessageSize) {
        throw new FramingError({
          reason: "MessageTooLarge",
          size,
          limit: this.maxMessageSize,
          message: `Message of ${size} bytes exceeds the limit of ${this.maxMessageSize} bytes`
        })
      }
    }
    this.nextId += this.step
    this.session?.bufferMessage(id, text)
    if (reply !== undefined) this.pending.set(id, reply)
    this.send(text, message)
  }

  private sendCallback(id: number, error: Message.ErrorPayload | undefined, results: ReadonlyArray<unknown>): void {
    if (this.phase === "Closed") return
    if (error !== undefined) return this.write({ _tag: "CallbackError", id, error })
    let text: string
    try {
      text = Message.serialize({ _tag: "CallbackOk", id, results })
    } catch {
      // The handler answered with something that cannot be written.
      return this.write({ _tag: "CallbackError", id, error: ErrorPayload.internalError })
    }
    this.send(text, { _tag: "CallbackOk", id, results })
  }

  private sendHandshakeError(id: number, error: Message.ErrorPayload): void {
    this.write({ _tag: "HandshakeError", id, error })
  }

  private write(message: Message.Message): void {
    this.send(Message.serialize(message), message)
  }

  private send(text: string, message: Message.Message): void {
    this.options.link.send(text)
    this.options.log?.("outgoingMessage", [message])
  }

  private takeId(): number {
    const id = this.nextId
    this.nextId += this.step
    return id
  }

  // ------------------------------------------------------------ lifecycle

  /** Closes the connection: pending requests fail, the link is closed. */
  close(reason: CloseReason = "Closed", cause?: unknown): void {
    this.terminate(reason, cause)
  }

  private terminate(reason: CloseReason, cause: unknown): void {
    if (this.phase === "Closed") return
    this.finish(reason, cause)
    this.options.link.close()
  }

  private finish(reason: CloseReason, cause: unknown): void {
    if (this.phase === "Closed") return
    this.phase = "Closed"
    const handshakeReply = this.handshakeReply
    this.handshakeReply = undefined
    handshakeReply?.(ErrorPayload.make(ERR_NO_HANDSHAKE_RESPONSE), undefined)
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const reply of pending) reply(ErrorPayload.connectionClosed, [])
    this.options.onClose?.(reason, cause)
  }
}
