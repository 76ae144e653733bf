/**
 * How a server decides a handshake request (protocol.md §5, §8): the
 * application, then anonymous, session restore, or the auth policy. Shared by
 * the Effect server and the facade's; each supplies its own application
 * index, storage, policy and registry through a `Host`.
 *
 * @since 0.1.0
 */
import { ERR_APP_NOT_FOUND, ERR_AUTH_FAILED } from "../wire/ErrorCode.js"
import type * as Message from "../wire/Message.js"
import type { Dispatcher, HandshakeOutcome } from "./Engine.js"
import * as ErrorPayload from "./ErrorPayload.js"
import type { Session } from "./Session.js"

/**
 * What a server supplies to decide one request.
 *
 * @since 0.1.0
 */
export interface Host<App, S extends Session = Session> {
  /** The application asked for, made ready for the connection; undefined → 10. */
  readonly select: (name: string, version: string | undefined) => App | undefined
  /** A restore onto the engine that kept the session: true if it took the link over. */
  readonly transfer: (sessionId: string, receivedCount: number) => boolean
  /** The session from storage, now or later; undefined → 11. */
  readonly load: (application: App, sessionId: string, done: (session: S | undefined) => void) => void
  /** The auth policy, if there is one (without one, only anonymous and session handshakes pass). */
  readonly authenticate:
    | ((application: App, strategy: string, credentials: unknown, done: (error: unknown, username: unknown) => void) => void)
    | undefined
  readonly newSession: (username: string | null) => S
  /** Registers the accepted connection; gives its dispatcher. */
  readonly accept: (application: App, session: S, restored: boolean) => Dispatcher
  /** After the answer is sent. */
  readonly started: (application: App, session: S, restored: boolean) => void
  readonly rejected: (error: Message.ErrorPayload) => void
  /** Whether the connection still waits for the answer (an async step may outlive it). */
  readonly pending: () => boolean
}

const strategyOf = (auth: Message.HandshakeAuth): string =>
  auth._tag === "Anonymous" ? "anonymous" : auth._tag === "Login" ? "login" : auth._tag === "Session" ? "session" : auth.strategy

/**
 * The name of a request's strategy, as 2.x reports it (`handshakeRequest`).
 *
 * @since 0.1.0
 */
export const strategy = (request: Message.HandshakeRequest): string => strategyOf(request.auth)

/**
 * Decides `request` for an engine's `onHandshake`.
 *
 * @since 0.1.0
 */
export const decide = <App, S extends Session = Session>(
  request: Message.HandshakeRequest,
  host: Host<App, S>,
  done: (outcome: HandshakeOutcome) => void
): void => {
  const reject = (error: Message.ErrorPayload) => {
    if (!host.pending()) return
    done({ _tag: "Rejected", error })
    host.rejected(error)
  }
  const application = host.select(request.app, request.version)
  if (application === undefined) return reject(ErrorPayload.make(ERR_APP_NOT_FOUND))
  const accept = (session: S, restored: boolean) => {
    if (!host.pending()) return
    done({ _tag: "Accepted", session, restored, application: host.accept(application, session, restored) })
    host.started(application, session, restored)
  }
  const auth = request.auth
  switch (auth._tag) {
    case "Anonymous":
      return accept(host.newSession(null), false)
    case "Session":
      if (host.transfer(auth.sessionId, auth.receivedCount)) return done({ _tag: "Transferred" })
      return host.load(application, auth.sessionId, (session) =>
        session === undefined ? reject(ErrorPayload.make(ERR_AUTH_FAILED)) : accept(session, true))
    default: {
      const authenticate = host.authenticate
      if (authenticate === undefined) return reject(ErrorPayload.make(ERR_AUTH_FAILED))
      const credentials = auth._tag === "Login" ? [auth.login, auth.password] : auth.credentials
      authenticate(application, strategyOf(auth), credentials, (error, username) => {
        if (error !== null && error !== undefined) return reject(ErrorPayload.fromAuthFailure(error))
        if (typeof username !== "string" || username === "") return reject(ErrorPayload.make(ERR_AUTH_FAILED))
        accept(host.newSession(username), false)
      })
    }
  }
}
