/**
 * A session storage provider in Redis for the facade's servers, shared by
 * server nodes (the same store as the Effect API's `SessionStore.redis`):
 * `net.createServer({ applications, sessionStorageProvider: new
 * RedisSessionStorageProvider({ url }) })`. A dropped connection's session
 * is restored by any node that uses the same Redis. It answers `get`
 * asynchronously (`isAsync()`), as 2.x allows. Exported from
 * `effect-jstp/redis`, so that the facade loads neither ioredis nor Effect
 * unless it is used.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Option, Scope } from "effect"
import * as RedisSessions from "../internal/RedisSessions.js"
import type { RedisOptions, SessionStoreError } from "../SessionStoreError.js"
import type { Bus } from "../engine/ServerCore.js"
import type { SessionStorageProvider } from "./Application.js"
import { Session } from "./Session.js"

/**
 * @since 0.1.0
 */
export interface RedisSessionStorageProviderOptions extends RedisOptions {
  /**
   * Told of each failure of the store (each is also logged): a session
   * that could not be stored cannot be restored; one that could not be read
   * is refused (error 11).
   */
  readonly onError?: ((error: SessionStoreError) => void) | undefined
}

/**
 * @since 0.1.0
 */
export class RedisSessionStorageProvider implements SessionStorageProvider {
  private readonly scope = Effect.runSync(Scope.make())
  private readonly texts: Promise<RedisSessions.RedisSessionTexts>

  constructor(private readonly options: RedisSessionStorageProviderOptions = {}) {
    this.texts = Effect.runPromise(Scope.extend(RedisSessions.make(options), this.scope))
  }

  /** `get` answers through its callback. */
  isAsync(): boolean {
    return true
  }

  /** Answers through `callback` (undefined when Redis has no such session, or cannot be reached). */
  get(sessionId: string, callback?: (session: Session | undefined) => void): void {
    this.run(
      (texts) => RedisSessions.claimSession(texts, sessionId, Session.fromString),
      (session) => callback?.(Option.getOrUndefined(session)),
      () => callback?.(undefined)
    )
  }

  set(sessionId: string, session: Session): void {
    this.run((texts) => texts.set(sessionId, session.toString()))
  }

  setInactive(sessionId: string): void {
    this.run((texts) => texts.setInactive(sessionId))
  }

  /** Forgets a session the server ended. */
  delete(sessionId: string): void {
    this.run((texts) => texts.remove(sessionId))
  }

  /**
   * Carries the broadcasts of a server that uses this provider to the
   * other nodes (Redis pub/sub): `server.broadcast` reaches every node's
   * connections.
   */
  readonly bus: Bus = {
    publish: (text) => this.run((texts) => texts.publish(text)),
    subscribe: (listener) => {
      let unsubscribe: (() => void) | undefined
      let done = false
      void this.texts.then((texts) => {
        if (!done) unsubscribe = texts.subscribe(listener)
      })
      return () => {
        done = true
        unsubscribe?.()
      }
    }
  }

  /** Closes its Redis connection. */
  close(): Promise<void> {
    return this.texts.then(() => Effect.runPromise(Scope.close(this.scope, Exit.void)))
  }

  private run<A>(
    operation: (texts: RedisSessions.RedisSessionTexts) => Effect.Effect<A, SessionStoreError>,
    onSuccess?: (value: A) => void,
    onFailure?: () => void
  ): void {
    void this.texts.then((texts) =>
      Effect.runCallback(operation(texts), {
        onExit: (exit) => {
          if (Exit.isSuccess(exit)) return onSuccess?.(exit.value)
          Option.map(Cause.failureOption(exit.cause), (error) => this.report(error))
          onFailure?.()
        }
      })
    )
  }

  private report(error: SessionStoreError): void {
    this.options.onError?.(error)
    Effect.runFork(Effect.logError(`${error.message}; the session cannot be restored`, error))
  }
}
