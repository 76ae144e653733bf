/**
 * An application: a name, a semver version, interfaces of methods and event
 * handlers. Servers offer applications; a client can offer one too, so the
 * server can call it.
 *
 * A method is `(connection, ...args) => result`, where the result is an
 * Effect (its failure, a `RemoteError`, keeps its code; a defect becomes error
 * 16, logged), a promise, or a plain value, each answering `[value]`, or
 * several results when the value is `Application.results(a, b, ...)`; or, marked with
 * `Application.callback`, callback-style:
 * `(connection, ...args, callback(error, ...results))`. The declared arity is
 * checked against the call's arguments (17 on a mismatch).
 *
 * @since 0.1.0
 */
import { Cause, Data, Effect, Exit, Runtime } from "effect"
import semver from "semver"
import type * as Connection from "./Connection.js"
import * as Dispatch from "./engine/Dispatch.js"
import type { Dispatcher, Reply } from "./engine/Engine.js"
import * as Versions from "./engine/Versions.js"
import * as ErrorPayload from "./engine/ErrorPayload.js"

/**
 * A method or event handler; the first argument is the calling connection.
 *
 * @since 0.1.0
 */
export type Handler = (connection: Connection.Connection, ...args: Array<never>) => unknown

/**
 * Interfaces by name, each a table of handlers by name.
 *
 * @since 0.1.0
 */
export type Interfaces = { readonly [iface: string]: { readonly [name: string]: Handler } }

// A handler that only throws returns `never`, which would match any Effect.
type HandlerRequirements<F> = F extends (...args: Array<never>) => infer Out
  ? [Out] extends [never] ? never : Out extends Effect.Effect<unknown, unknown, infer R> ? R : never
  : never

/**
 * The services that the Effect handlers of some interfaces require.
 *
 * @since 0.1.0
 */
export type Requirements<T extends Interfaces> = {
  [I in keyof T]: { [M in keyof T[I]]: HandlerRequirements<T[I][M]> }[keyof T[I]]
}[keyof T]

/**
 * Marks a method as callback-style: `(connection, ...args, callback)`, where
 * `callback(error, ...results)` answers. (A plain function is otherwise taken
 * to return its result, a promise or an Effect: the two cannot be told apart
 * by their parameters.)
 *
 * @since 0.1.0
 */
export const callback = <F extends (connection: Connection.Connection, ...args: Array<never>) => void>(fn: F): F =>
  Object.assign(fn, { [Dispatch.CallbackStyle]: true })

const ResultsTypeId: unique symbol = Symbol.for("effect-jstp/Application/Results")

/**
 * Several results for one call, as 2.x's `callback(null, a, b)` answers:
 * see `results`.
 *
 * @since 0.1.0
 */
export interface Results<A extends ReadonlyArray<unknown> = ReadonlyArray<unknown>> {
  readonly [ResultsTypeId]: A
}

/**
 * Answers a call with several results: a handler returns
 * `Effect.succeed(Application.results(a, b))` (or a promise of it, or it
 * plainly) and the caller gets `[a, b]`, where any other value `x` answers
 * `[x]`. `results()` answers `[]`.
 *
 * @since 0.1.0
 */
export const results = <const A extends ReadonlyArray<unknown>>(...values: A): Results<A> => ({ [ResultsTypeId]: values })

const isResults = (value: unknown): value is Results =>
  typeof value === "object" && value !== null && ResultsTypeId in value

const resultsOf = (value: unknown): ReadonlyArray<unknown> => isResults(value) ? value[ResultsTypeId] : [value]

/**
 * @since 0.1.0
 */
export interface Application<R = never> {
  readonly name: string
  readonly version: string
  readonly api: Interfaces
  readonly events: Interfaces
  /** Phantom: the services its Effect handlers require. */
  readonly _R?: (_: never) => R
}

/**
 * An application that cannot be served: no name (`MissingName`), a version
 * that is not semver (`InvalidVersion`), or, in `Server.make`, two of the
 * same name and version (`Duplicate`).
 *
 * @since 0.1.0
 */
export class InvalidApplicationError extends Data.TaggedError("InvalidApplicationError")<{
  readonly reason: "MissingName" | "InvalidVersion" | "Duplicate"
  readonly message: string
}> {}

/**
 * Splits `name@version` at the last `@`.
 *
 * @since 0.1.0
 */
export const splitName = Versions.splitName

/**
 * Defines an application. `name` may carry `@version` (preferred over
 * `version`); the version defaults to `1.0.0`. Throws an
 * `InvalidApplicationError` for an invalid semver version.
 *
 * @since 0.1.0
 */
export const make = <const Api extends Interfaces, const Events extends Interfaces = Record<never, never>>(options: {
  readonly name: string
  readonly version?: string | undefined
  readonly api: Api
  readonly events?: Events | undefined
}): Application<Requirements<Api> | Requirements<Events>> => {
  const [name, fromName] = splitName(options.name)
  const version = fromName ?? options.version ?? "1.0.0"
  if (name === "") throw new InvalidApplicationError({ reason: "MissingName", message: "An application needs a name" })
  if (semver.valid(version) === null) {
    throw new InvalidApplicationError({ reason: "InvalidVersion", message: `Invalid semver version: ${version}` })
  }
  return { name, version, api: options.api, events: options.events ?? {} }
}

/**
 * The application a client offers when it offers none: `jstp@1.0.0`, empty.
 *
 * @since 0.1.0
 */
export const empty: Application = make({ name: "jstp", api: {} })

/**
 * The engine's view of an application bound to one connection, running its
 * Effect handlers with `runtime`.
 *
 * @since 0.1.0
 */
export const dispatcher = <R>(
  application: Application<R>,
  connection: Connection.Connection,
  runtime: Runtime.Runtime<R>
): Dispatcher => {
  const runCallback = Runtime.runCallback(runtime)
  const logDefect = (cause: Cause.Cause<unknown>, where: string) =>
    runCallback(Effect.logError(`Handler ${where} failed; answered 16`, cause))
  const hooks: Dispatch.Hooks = {
    isEffect: Effect.isEffect,
    runEffect: (effect, reply: Reply | undefined, where, span) => {
      const answer = (exit: Exit.Exit<unknown, unknown>) => {
        if (Exit.isSuccess(exit)) return reply?.(undefined, resultsOf(exit.value))
        const failure = Cause.failureOption(exit.cause)
        if (failure._tag === "Some") return reply?.(ErrorPayload.fromValue(failure.value), [])
        logDefect(exit.cause, where)
        reply?.(ErrorPayload.internalError, [])
      }
      // An Effect that is already its result (Effect.succeed, Effect.fail,
      // an Exit) is answered at once: a fiber costs more than the call.
      if (Exit.isExit(effect)) return answer(effect)
      const run = effect as Effect.Effect<unknown, unknown, R>
      runCallback(span === undefined ? run : Effect.withParentSpan(run, span), { onExit: answer })
    },
    onDefect: (cause, where) => logDefect(Cause.die(cause), where),
    plainStyle: "returning",
    resultsOf
  }
  return Dispatch.makeDispatcher(application.api, application.events, connection, hooks)
}
