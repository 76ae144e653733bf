/**
 * The protocol engine: one synchronous state machine per connection
 * (protocol.md §3-§7). Text frames go in through `receive`; messages go out
 * through the `Link`; replies come back through callbacks, completed
 * synchronously from `receive`. No sockets, timers or Effects in here: the
 * host (a transport and the Effect API or a facade) supplies those.
 *
 * @since 0.1.0
 */
import { ERR_INTERFACE_NOT_FOUND, ERR_INTERNAL_API_ERROR, ERR_INVALID_SIGNATURE, ERR_NO_HANDSHAKE_RESPONSE, ERR_NOT_A_SERVER } from "../wire/ErrorCode.js"
import { FramingError, MAX_MESSAGE_SIZE } from "../wire/Framing.js"
import * as Message from "../wire/Message.js"
import * as Serde from "../wire/Serde.js"
import { byteLength } from "../wire/Utf8.js"
import { SerdeError } from "../wire/SerdeError.js"
import * as Data from "effect/Data"
import type * as Tracer from "effect/Tracer"
import * as ErrorPayload from "./ErrorPayload.js"
import { PendingReplies } from "./PendingReplies.js"
import { type CallProbe, compiledIn, type HandshakeEnd, type HandshakeProbe, type Probe } from "./Probe.js"
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
  /**
   * Runs a method; `reply` may be called later, and only its first call
   * counts. `span`, when the call is observed, is the handler's span.
   */
  readonly call: (
    iface: string,
    method: string,
    args: ReadonlyArray<unknown>,
    reply: Reply,
    span?: Tracer.AnySpan | undefined
  ) => void
  /** Whether the application has that method (absent: taken as yes). */
  readonly knows?: ((iface: string, method: string) => boolean) | undefined
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
  /** Another engine (the session's own) took this link over: go quiet. */
  | { readonly _tag: "Transferred" }

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
  | "Overflow" // servers: the peer did not keep up, its session's buffer reached its bound

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
  /** Whether anyone listens to `event` now; absent, every event is logged. */
  readonly wantsLog?: ((event: LogEvent) => boolean) | undefined
  /** The largest message written; larger requests fail locally. */
  readonly maxMessageSize?: number | undefined
  /** The most unacknowledged requests kept (default `DEFAULT_MAX_BUFFERED`). */
  readonly maxBuffered?: number | undefined
  /**
   * The most bytes of unacknowledged requests kept (default
   * `DEFAULT_MAX_BUFFERED_BYTES` for servers, `DEFAULT_CLIENT_MAX_BUFFERED_BYTES`
   * for clients).
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * What a full buffer does: `"end"` the session (servers' default), or
   * `"fail"` the request with `BufferFullError` (clients' default).
   */
  readonly onBufferFull?: "end" | "fail" | undefined
  /** Clients: makes the session the server names (default: an engine `Session`). */
  readonly makeSession?: ((id: string, username: string | null) => Session) | undefined
  /**
   * Clients: keep sent requests for a resend (default true). A client that
   * never restores its session only counts them.
   */
  readonly keepsMessages?: boolean | undefined
  /**
   * Clients: a restore the server refuses leaves the engine detached, to
   * `renew` its session, rather than closing it.
   */
  readonly renews?: boolean | undefined
  /** Metrics and spans of this connection; absent, none (see Probe.ts). */
  readonly probe?: Probe | undefined
}

/**
 * Requests are kept until acknowledged, and while the link is down; past
 * this many the next request fails (default 10,000).
 *
 * @since 0.1.0
 */
export const DEFAULT_MAX_BUFFERED = 10_000

/**
 * Requests are kept until acknowledged up to this many bytes of their text
 * (16 MiB; see `Session.bufferedBytes`).
 *
 * @since 0.1.0
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024

/**
 * A client's bound (64 MiB): its requests fail past it, and only its own
 * memory is at stake.
 *
 * @since 0.1.0
 */
export const DEFAULT_CLIENT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024

/**
 * The session's buffer of unacknowledged requests is full: `limit`
 * requests, or `bytesLimit` bytes of them. A client's request fails with it;
 * a server ends the session instead (see `Overflow`).
 *
 * @since 0.1.0
 */
export class BufferFullError extends Data.TaggedError("BufferFullError")<{
  readonly limit: number
  readonly bytesLimit: number
  readonly message: string
}> {}

/**
 * Where a connection is in its life. `Detached`: the link is gone but the
 * session is kept for a restore; requests are buffered, pending ones wait.
 *
 * @since 0.1.0
 */
export type Phase = "AwaitingHandshake" | "Handshaking" | "Open" | "Detached" | "Closed"

const ignore: Reply = () => {}

// Shared by every engine that is not renewing (most): one array fewer each.
const noReplies: ReadonlyArray<Reply> = []

const LOG_ARITY: Readonly<Record<LogEvent, 1 | 2 | 3>> = {
  call: 3,
  callback: 2,
  event: 3,
  handshake: 2,
  inspect: 1,
  messageRejected: 1,
  heartbeat: 1,
  incomingMessage: 1,
  outgoingMessage: 1
}

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
  private readonly pending = new PendingReplies()
  private handshakeReply: ((error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void) | undefined
  private readonly maxMessageSize: number
  private readonly maxBuffered: number
  private readonly maxBufferedBytes: number
  private login: string | null = null
  private link: Link
  private acknowledgementAsked = false
  // Clients: a handshake to restore the session (`reattach`) is under way,
  // or one to renew it (`renew`).
  private restoring = false
  private renewing = false
  // Renewing: the old session's requests, failed with -1 once the new one is open.
  private renewLost: ReadonlyArray<Reply> = noReplies
  private readonly probe: Probe | undefined
  private handshakeProbe: HandshakeProbe | undefined = undefined

  constructor(readonly options: Options) {
    this.step = options.role === "client" ? 1 : -1
    this.application = options.application
    this.maxMessageSize = options.maxMessageSize ?? MAX_MESSAGE_SIZE
    this.maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED
    this.maxBufferedBytes = options.maxBufferedBytes ??
      (options.role === "client" ? DEFAULT_CLIENT_MAX_BUFFERED_BYTES : DEFAULT_MAX_BUFFERED_BYTES)
    this.link = options.link
    this.probe = compiledIn ? options.probe : undefined
  }

  /** Callbacks that came for no pending request (cancelled, or stray). */
  droppedCallbacks = 0

  // Logging costs nothing unless the host has a log hook and, if it says,
  // someone listens: the arguments array is made only then.
  private logEvent(event: LogEvent, a?: unknown, b?: unknown, c?: unknown): void {
    const options = this.options
    if (options.log === undefined || options.wantsLog?.(event) === false) return
    options.log(event, LOG_ARITY[event] === 1 ? [a] : LOG_ARITY[event] === 2 ? [a, b] : [a, b, c])
  }

  /** Whether `link` is the link this engine writes to. */
  isLinkedTo(link: Link): boolean {
    return this.link === link
  }

  /** The number of requests waiting for their callback or pong. */
  get pendingCount(): number {
    return this.pending.size
  }

  // ---------------------------------------------------------------- input

  /** Handles one received frame. */
  receive(text: string): void {
    if (this.phase === "Closed") return
    if (compiledIn && this.probe !== undefined) this.probe.received(text)
    let value: unknown
    try {
      value = Serde.parse(text)
    } catch (error) {
      if (error instanceof SerdeError) {
        this.logEvent("messageRejected", text)
        return this.terminate("ProtocolViolation", error)
      }
      throw error
    }
    let message: Message.Message
    try {
      message = Message.decode(value)
    } catch (error) {
      if (error instanceof Message.MessageError) return this.onMalformed(error, value)
      throw error
    }
    this.dispatch(message)
  }

  /** Handles one decoded message. */
  dispatch(message: Message.Message): void {
    if (this.phase === "Closed") return
    if (message._tag === "Heartbeat") {
      this.logEvent("heartbeat", message)
      return
    }
    this.logEvent("incomingMessage", message)
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

  /** The link ended or failed: the connection is over. Ignored for a link already replaced. */
  linkClosed(reason: "PeerClosed" | "Transport" = "PeerClosed", cause?: unknown, link: Link = this.link): void {
    if (link !== this.link) return
    this.finish(reason, cause)
  }

  /**
   * The link ended or failed, but the session is kept for a restore: pending
   * requests wait, new ones are buffered. A connection that never completed
   * its handshake has no session to keep, and closes. Ignored for a link
   * already replaced.
   */
  detach(reason: "PeerClosed" | "Transport" = "PeerClosed", cause?: unknown, link: Link = this.link): void {
    if (link !== this.link || this.phase === "Closed" || this.phase === "Detached") return
    if (this.renewing && (this.phase === "Handshaking" || this.phase === "AwaitingHandshake")) {
      // A renewal cut short: it can be tried again.
      const handshakeReply = this.handshakeReply
      this.handshakeReply = undefined
      this.phase = "AwaitingHandshake"
      if (compiledIn) this.endHandshake("lost", undefined)
      handshakeReply?.(ErrorPayload.make(ERR_NO_HANDSHAKE_RESPONSE), undefined)
      return
    }
    if (this.session === undefined || (this.phase !== "Open" && this.handshakeReply === undefined)) {
      return this.finish(reason, cause)
    }
    const handshakeReply = this.handshakeReply
    this.handshakeReply = undefined
    this.phase = "Detached"
    if (compiledIn && this.probe !== undefined) {
      this.probe.open(false)
      this.endHandshake("lost", undefined)
    }
    handshakeReply?.(ErrorPayload.make(ERR_NO_HANDSHAKE_RESPONSE), undefined)
  }

  /** Client: sets the link of a connection not yet handshaken (made before its link was dialled). */
  useLink(link: Link): void {
    if (this.phase !== "AwaitingHandshake") throw new Error(`Cannot change the link in phase ${this.phase}`)
    this.link = link
  }

  /**
   * Client: takes over a session of an earlier connection (not yet
   * handshaken), to restore it with `reattach`.
   */
  resumeSession(session: Session): void {
    if (this.phase !== "AwaitingHandshake" || this.options.role !== "client") {
      throw new Error(`Cannot resume a session in phase ${this.phase} as a ${this.options.role}`)
    }
    this.session = session
    this.phase = "Detached"
    const past = session.latestBufferedMessageId + this.step
    if (past > this.nextId) this.nextId = past
  }

  /**
   * Client: restores the session over a new link, sending
   * `{handshake:[0,app],session:[id, receivedCount]}`. On the server's
   * answer the buffer is restored and resent (see `restoreFrom`); `done` gets
   * the server's receivedCount, or its error.
   */
  reattach(
    link: Link,
    app: string,
    version: string | undefined,
    done: (error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void
  ): void {
    const session = this.session
    if (this.phase !== "Detached" || session === undefined) {
      throw new Error(`Cannot restore a session in phase ${this.phase}`)
    }
    this.link = link
    this.phase = "Handshaking"
    this.handshakeReply = done
    this.restoring = true
    if (compiledIn && this.probe !== undefined) this.handshakeProbe = this.probe.handshaking(true)
    const auth: Message.HandshakeAuth = { _tag: "Session", sessionId: session.id, receivedCount: session.receivedCount }
    this.write({ _tag: "HandshakeRequest", id: 0, app, version, auth })
  }

  /**
   * Client: after the server refused to restore the session, starts a new
   * one over `link`: the old session is dropped, its requests the peer may
   * have received fail with ERR_CALLBACK_LOST (-1) (and those it never
   * received too: the new session cannot tell them apart), and ids start
   * again from 1. `done` gets the server's answer, as for `handshake`.
   * Throws if there is no session to renew.
   */
  renew(
    link: Link,
    app: string,
    version: string | undefined,
    auth: Message.HandshakeAuth,
    done: (error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void
  ): void {
    const first = this.phase === "Detached"
    if (!(first || (this.renewing && this.phase === "AwaitingHandshake")) || this.options.role !== "client") {
      throw new Error(`Cannot renew a session in phase ${this.phase}`)
    }
    if (first) {
      // Requests made until the new session opens are kept in a provisional
      // one, with the new session's ids, and sent once it is open.
      this.renewLost = this.pending.values()
      this.pending.clear()
      this.session = new Session("", this.login)
      this.nextId = this.step
      this.acknowledgementAsked = false
      this.renewing = true
      this.restoring = false
    }
    this.link = link
    this.phase = "Handshaking"
    this.handshakeReply = done
    this.login = auth._tag === "Login" ? auth.login : null
    if (compiledIn && this.probe !== undefined) this.handshakeProbe = this.probe.handshaking(false)
    this.write({ _tag: "HandshakeRequest", id: 0, app, version, auth })
  }

  /**
   * Server: the session of this engine is restored over `link` (a new
   * connection's); the old link, if still open, is closed. Answers the
   * handshake with this side's receivedCount, then restores from the peer's.
   */
  adopt(link: Link, peerReceivedCount: number): void {
    if (this.phase === "Closed" || this.session === undefined) {
      throw new Error(`Cannot adopt a link in phase ${this.phase}`)
    }
    const old = this.link
    this.link = link
    if (this.phase === "Open") old.close()
    this.opened()
    this.write({ _tag: "HandshakeOk", id: 0, ok: this.session.receivedCount })
    this.restoreFrom(peerReceivedCount)
  }

  /**
   * Given the peer's receivedCount R (protocol.md §8): drops what it has,
   * failing each request it received but whose answer was lost with
   * ERR_CALLBACK_LOST (-1); resends the rest with their ids; and continues
   * ids past the highest used.
   */
  restoreFrom(peerReceivedCount: number): void {
    const session = this.session
    if (session === undefined) return
    const upTo = Math.min(peerReceivedCount, Math.abs(session.latestBufferedMessageId))
    this.acknowledged(upTo)
    // Every request the peer received and did not answer lost its answer with
    // the link, whether or not a later answer already acknowledged it.
    const lost: Array<Reply> = []
    for (const [id, reply] of this.pending.entries()) {
      if (Math.abs(id) <= upTo) {
        this.pending.delete(id)
        lost.push(reply)
      }
    }
    const past = session.latestBufferedMessageId + this.step
    if (Math.abs(past) > Math.abs(this.nextId)) this.nextId = past
    const resend = [...session.buffer.keys()].sort((a, b) => a - b)
    for (const key of resend) this.resend(session.buffer.get(key)!)
    for (const reply of lost) reply(ErrorPayload.callbackLost, [])
    this.askAcknowledgement()
  }

  // Events alone are never answered: past half the buffer, a ping asks the
  // peer to acknowledge everything so far (pings are never refused).
  private askAcknowledgement(): void {
    const session = this.session
    if (this.phase !== "Open" || this.acknowledgementAsked || session === undefined) return
    if (session.unacknowledged < this.maxBuffered / 2) return
    this.acknowledgementAsked = true
    this.ping(() => {
      this.acknowledgementAsked = false
    })
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

  // `value` is the parsed message, logged as it came.
  private onMalformed(error: Message.MessageError, value: unknown): void {
    if (this.phase !== "Open") {
      this.logEvent("messageRejected", value)
      return this.terminate("ProtocolViolation", error)
    }
    if (error.kind === "call" && error.id !== undefined) {
      // Answered as 2.x answers: a call to a non-string interface finds none.
      this.session?.onMessageReceived(error.id)
      const code = error.reason === "BadName" ? ERR_INTERFACE_NOT_FOUND : ERR_INVALID_SIGNATURE
      this.sendCallback(error.id, ErrorPayload.make(code), [])
    } else if (error.kind === "event" && error.id !== undefined) {
      this.session?.onMessageReceived(error.id)
    }
    this.logEvent("messageRejected", value)
    if (error.kind === "handshake") this.terminate("ProtocolViolation", error)
  }

  private reject(message: Message.Message, fatal: boolean): void {
    this.logEvent("messageRejected", message)
    if (fatal) this.terminate("ProtocolViolation", undefined)
  }

  private onHandshakeRequest(request: Message.HandshakeRequest): void {
    const options = this.options
    if (options.onHandshake === undefined) {
      this.sendHandshakeError(request.id, ErrorPayload.make(ERR_NOT_A_SERVER))
      return this.terminate("ProtocolViolation", undefined)
    }
    this.phase = "Handshaking"
    if (compiledIn && this.probe !== undefined) this.handshakeProbe = this.probe.handshaking(request.auth._tag === "Session")
    let decided = false
    options.onHandshake(request, (outcome) => {
      if (decided || this.phase !== "Handshaking") return
      decided = true
      if (outcome._tag === "Rejected") {
        if (compiledIn) this.endHandshake("rejected", outcome.error)
        this.sendHandshakeError(request.id, outcome.error)
        return this.terminate("HandshakeRejected", outcome.error)
      }
      if (outcome._tag === "Transferred") {
        // The session's own engine took the link: that is a restore.
        if (compiledIn) this.endHandshake("restored", undefined)
        this.phase = "Closed"
        return
      }
      this.session = outcome.session
      this.application = outcome.application
      if (compiledIn) this.endHandshake(outcome.restored ? "restored" : "accepted", undefined)
      this.opened()
      if (!outcome.restored) return this.write({ _tag: "HandshakeOk", id: this.takeId(), ok: outcome.session.id })
      this.write({ _tag: "HandshakeOk", id: 0, ok: outcome.session.receivedCount })
      this.restoreFrom(request.auth._tag === "Session" ? request.auth.receivedCount : 0)
    })
  }

  private onHandshakeReply(message: Message.HandshakeOk | Message.HandshakeError): void {
    const reply = this.handshakeReply!
    this.handshakeReply = undefined
    const restoring = this.restoring
    const renewing = this.renewing
    this.restoring = false
    this.renewing = false
    if (message._tag === "HandshakeOk") {
      this.logEvent("handshake", undefined, message.ok)
      if (compiledIn) this.endHandshake(typeof message.ok === "number" ? "restored" : "accepted", undefined)
      this.opened()
      if (typeof message.ok === "number" && this.session !== undefined) {
        this.restoreFrom(message.ok)
      } else if (typeof message.ok === "string") {
        // A new session, named by the server; anything of an old one is lost
        // (renewing: what was made meanwhile goes on in the new one).
        const provisional = renewing ? this.session : undefined
        const lost = renewing ? this.renewLost : this.pending.values()
        if (renewing) this.renewLost = noReplies
        else this.pending.clear()
        const session = this.options.makeSession?.(message.ok, this.login) ?? new Session(message.ok, this.login)
        session.keepsMessages = this.options.keepsMessages ?? true
        this.session = session
        if (provisional !== undefined) {
          for (const [id, text] of provisional.buffer) session.buffer.set(id, text)
          session.bufferedBytes = provisional.bufferedBytes
          session.latestBufferedMessageId = provisional.latestBufferedMessageId
          for (const id of [...session.buffer.keys()].sort((a, b) => a - b)) this.resend(session.buffer.get(id)!)
        }
        for (const pending of lost) pending(ErrorPayload.callbackLost, [])
      }
      reply(undefined, message.ok)
    } else {
      this.logEvent("handshake", message.error, undefined)
      if (compiledIn) this.endHandshake("rejected", message.error)
      if (restoring && this.options.renews === true) {
        // The session is unknown there: kept detached, to be renewed.
        this.phase = "Detached"
        this.link.close()
        return reply(message.error, undefined)
      }
      reply(message.error, undefined)
      this.terminate("HandshakeRejected", message.error)
    }
  }

  private onCall(message: Message.Call): void {
    this.session?.onMessageReceived(message.id)
    this.logEvent("call", message.iface, message.method, message.args)
    const application = this.application
    const { id, iface, method } = message
    const probe = this.probe
    // Observed: the call's span and metrics around the handler.
    const served = compiledIn && probe !== undefined
      ? probe.serving(iface, method, id, message.trace, application !== undefined && (application.knows?.(iface, method) ?? true))
      : undefined
    if (application === undefined) {
      const error = ErrorPayload.make(ERR_INTERFACE_NOT_FOUND)
      served?.end("error", error)
      return this.sendCallback(id, error, [])
    }
    let replied = false
    application.call(iface, method, message.args, (error, results) => {
      if (replied) return
      replied = true
      served?.end(error === undefined ? "ok" : "error", error)
      this.sendCallback(id, error, results)
    }, served?.span)
  }

  // The peer has every request up to |id|: they leave the buffer.
  private acknowledged(id: number): void {
    const session = this.session
    if (session === undefined) return
    session.onAcknowledged(id)
    if (compiledIn && this.probe !== undefined) this.probe.buffered(session.unacknowledged)
  }

  private onCallback(id: number, error: Message.ErrorPayload | undefined, values: ReadonlyArray<unknown>): void {
    this.acknowledged(id)
    const probe = this.probe
    this.logEvent("callback", error, error === undefined ? values : undefined)
    const reply = this.pending.take(id)
    if (reply === undefined) {
      this.droppedCallbacks++
      if (compiledIn && probe !== undefined) probe.droppedCallback()
      this.logEvent("messageRejected", error === undefined
        ? { _tag: "CallbackOk", id, results: values }
        : { _tag: "CallbackError", id, error })
      return
    }
    reply(error, values)
  }

  private onEvent(message: Message.Event): void {
    this.session?.onMessageReceived(message.id)
    this.logEvent("event", message.iface, message.event, message.args)
    if (compiledIn && this.probe !== undefined) this.probe.event("in")
    this.options.onEvent?.(message.iface, message.event, message.args)
    this.application?.event(message.iface, message.event, message.args)
  }

  private onInspect(message: Message.Inspect): void {
    this.session?.onMessageReceived(message.id)
    this.logEvent("inspect", message.iface)
    const methods = this.application?.methods(message.iface)
    if (methods === undefined) this.sendCallback(message.id, ErrorPayload.make(ERR_INTERFACE_NOT_FOUND), [])
    else this.sendCallback(message.id, undefined, methods)
  }

  private onPing(message: Message.Ping): void {
    this.session?.onMessageReceived(message.id)
    this.write({ _tag: "Pong", id: message.id })
  }

  private onPong(message: Message.Pong): void {
    this.acknowledged(message.id)
    const reply = this.pending.take(message.id)
    if (reply === undefined) return this.reject(message, false)
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
    done: (error: Message.ErrorPayload | undefined, ok: string | number | undefined) => void,
    parent?: Tracer.AnySpan
  ): void {
    if (this.phase !== "AwaitingHandshake" || this.options.role !== "client") {
      throw new Error(`Cannot start a handshake in phase ${this.phase} as a ${this.options.role}`)
    }
    const message: Message.HandshakeRequest = { _tag: "HandshakeRequest", id: this.nextId, app, version, auth }
    const text = Message.serialize(message) // throws before anything changes
    this.takeId()
    this.phase = "Handshaking"
    this.handshakeReply = done
    this.login = auth._tag === "Login" ? auth.login : null
    if (compiledIn && this.probe !== undefined) this.handshakeProbe = this.probe.handshaking(false, parent)
    this.send(text, message)
  }

  /**
   * Calls a remote method and returns the call's id. Throws, sending nothing,
   * a `SerdeError` if `args` cannot be serialized, a `MessageError` for a
   * method name that cannot be sent, a `FramingError` if the message is over
   * the size limit. Fails through `reply` if the connection is closed.
   */
  call(iface: string, method: string, args: ReadonlyArray<unknown>, reply: Reply, parent?: Tracer.AnySpan): number {
    const id = this.nextId
    const probe = this.probe
    if (compiledIn && probe !== undefined) return this.callObserved(iface, method, args, reply, parent, probe)
    this.request({ _tag: "Call", id, iface, method, args, trace: undefined }, reply)
    return id
  }

  // call, with its span (whose context travels with it) and metrics.
  private callObserved(
    iface: string,
    method: string,
    args: ReadonlyArray<unknown>,
    reply: Reply,
    parent: Tracer.AnySpan | undefined,
    probe: Probe
  ): number {
    const id = this.nextId
    const calling = probe.calling(iface, method, id, parent)
    const observed = observedReply(calling, reply)
    try {
      this.request({ _tag: "Call", id, iface, method, args, trace: calling.traceparent }, observed)
    } catch (error) {
      calling.end("error", undefined)
      throw error
    }
    return id
  }

  /**
   * Forgets a pending request (its caller gave up); a callback that still
   * comes for it is dropped and counted in `droppedCallbacks`.
   */
  cancel(id: number): void {
    const reply = this.pending.take(id)
    if (compiledIn && reply !== undefined) (reply as ObservedReply).observedCall?.end("cancelled", undefined)
  }

  /** Sends an event. Throws as `call` does. */
  emit(iface: string, event: string, args: ReadonlyArray<unknown>): void {
    this.request({ _tag: "Event", id: this.nextId, iface, event, args }, undefined)
  }

  /** Sends an event serialized beforehand (see `broadcast`). Throws as `call` does. */
  emitPrepared(prepared: Message.PreparedEvent): void {
    const { iface, event, args } = prepared
    this.request({ _tag: "Event", id: this.nextId, iface, event, args }, undefined, prepared)
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
  private request(
    message: Message.Call | Message.Event | Message.Inspect | Message.Ping,
    reply: Reply | undefined,
    prepared?: Message.PreparedEvent
  ): void {
    const session = this.session
    // Not open: a session being restored buffers; otherwise nothing can be sent.
    if (this.phase !== "Open" && (this.phase === "Closed" || session === undefined)) {
      reply?.(ErrorPayload.connectionClosed, [])
      return
    }
    // A server's overflow ends the connection: the request fails with it.
    if (session !== undefined && message._tag !== "Ping" && session.unacknowledged >= this.maxBuffered) {
      this.overflow(session)
      return reply?.(ErrorPayload.connectionClosed, [])
    }
    const id = message.id
    const text = prepared === undefined ? Message.serialize(message) : Message.eventText(prepared, id)
    if (session !== undefined && session.keepsMessages && session.bufferedBytes + text.length > this.maxBufferedBytes) {
      this.overflow(session)
      return reply?.(ErrorPayload.connectionClosed, [])
    }
    if (text.length > this.maxMessageSize / 3) {
      const size = byteLength(text)
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
    session?.bufferMessage(id, text)
    if (reply !== undefined) this.pending.set(id, reply)
    const probe = this.probe
    if (compiledIn && probe !== undefined) {
      if (session !== undefined) probe.buffered(session.unacknowledged)
      if (message._tag === "Event") probe.event("out")
    }
    if (this.phase !== "Open") return
    this.send(text, message)
    if (message._tag !== "Ping") this.askAcknowledgement()
  }

  /**
   * The buffer reached its bound. A client's request fails (its caller is
   * told). A server ends the session: sending on would leave a gap in what
   * the peer receives that nobody would know of; ended, the session is never
   * restored, and its client learns it must start again.
   */
  private overflow(session: Session): void {
    const error = new BufferFullError({
      limit: this.maxBuffered,
      bytesLimit: this.maxBufferedBytes,
      message: `${session.unacknowledged} requests (${session.bufferedBytes} bytes) are waiting for the peer's ` +
        `acknowledgement, the most kept (${this.maxBuffered} requests, ${this.maxBufferedBytes} bytes)`
    })
    if ((this.options.onBufferFull ?? (this.options.role === "client" ? "fail" : "end")) === "fail") throw error
    session.ended = true
    this.terminate("Overflow", error)
  }

  private sendCallback(id: number, error: Message.ErrorPayload | undefined, results: ReadonlyArray<unknown>): void {
    if (this.phase !== "Open") return
    const message: Message.Message = error === undefined
      ? { _tag: "CallbackOk", id, results }
      : { _tag: "CallbackError", id, error }
    let text: string
    try {
      text = Message.serialize(message)
    } catch {
      // The handler answered with something that cannot be written.
      return this.write({ _tag: "CallbackError", id, error: ErrorPayload.internalError })
    }
    if (text.length > this.maxMessageSize / 3 && byteLength(text) > this.maxMessageSize) {
      // The peer would refuse it and fail the connection.
      return this.write({ _tag: "CallbackError", id, error: ErrorPayload.make(ERR_INTERNAL_API_ERROR, "Result too large") })
    }
    this.send(text, message)
  }

  private sendHandshakeError(id: number, error: Message.ErrorPayload): void {
    this.write({ _tag: "HandshakeError", id, error })
  }

  private write(message: Message.Message): void {
    this.send(Message.serialize(message), message)
  }

  private send(text: string, message: Message.Message): void {
    this.link.send(text)
    if (compiledIn && this.probe !== undefined) this.probe.sent(text)
    this.logEvent("outgoingMessage", message)
  }

  // A buffered request sent again after a restore.
  private resend(text: string): void {
    this.link.send(text)
    if (compiledIn && this.probe !== undefined) this.probe.sent(text)
  }

  private opened(): void {
    this.phase = "Open"
    if (compiledIn && this.probe !== undefined) this.probe.open(true)
  }

  private endHandshake(outcome: HandshakeEnd, error: Message.ErrorPayload | undefined): void {
    const handshake = this.handshakeProbe
    this.handshakeProbe = undefined
    handshake?.end(outcome, error)
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
    try {
      this.finish(reason, cause)
    } finally {
      this.link.close()
    }
  }

  private finish(reason: CloseReason, cause: unknown): void {
    if (this.phase === "Closed") return
    this.phase = "Closed"
    if (compiledIn && this.probe !== undefined) {
      this.probe.open(false)
      this.probe.buffered(0)
      this.endHandshake("lost", undefined)
    }
    const handshakeReply = this.handshakeReply
    this.handshakeReply = undefined
    const pending = [...this.pending.values(), ...this.renewLost]
    this.pending.clear()
    this.renewLost = noReplies
    // A reply that throws (a user's callback) neither stops the others nor
    // the close; the first error is thrown once all have run.
    let failed = false
    let failure: unknown
    const settle = (run: () => void) => {
      try {
        run()
      } catch (error) {
        if (!failed) failure = error
        failed = true
      }
    }
    if (handshakeReply !== undefined) settle(() => handshakeReply(ErrorPayload.make(ERR_NO_HANDSHAKE_RESPONSE), undefined))
    for (const reply of pending) settle(() => reply(ErrorPayload.connectionClosed, []))
    this.options.onClose?.(reason, cause)
    if (failed) throw failure
  }
}

// An observed call's reply carries its probe, so that a call its caller
// gives up (cancel) still ends its span and counts.
interface ObservedReply extends Reply {
  observedCall?: CallProbe
}

const observedReply = (calling: CallProbe, reply: Reply): Reply => {
  const observed: ObservedReply = (error, values) => {
    // -1 made here (the link is gone) is lost; the peer's own answers are errors.
    const lost = error === ErrorPayload.connectionClosed || error === ErrorPayload.callbackLost
    calling.end(error === undefined ? "ok" : lost ? "lost" : "error", error)
    reply(error, values)
  }
  observed.observedCall = calling
  return observed
}

/**
 * Sends one event to every target's engine, serialized once (each engine
 * stamps its own id in). A target that cannot take it (its buffer is full,
 * the message is over its size limit) goes to `onFailure`, and the others
 * still get it. Throws, sending nothing, if the event cannot be serialized.
 *
 * @since 0.1.0
 */
export const broadcast = <T>(
  targets: Iterable<T>,
  engineOf: (target: T) => Engine,
  prepared: Message.PreparedEvent,
  onFailure: (target: T, error: unknown) => void
): void => {
  for (const target of targets) {
    try {
      engineOf(target).emitPrepared(prepared)
    } catch (error) {
      onFailure(target, error)
    }
  }
}
