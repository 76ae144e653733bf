/**
 * Running an application's handlers for the engine (protocol.md §6): finding
 * a method without ever reaching a prototype, the arity check, the three
 * handler styles, and mapping every way a handler can fail to an error code.
 * Shared by the Effect API and the facade; Effects are run by the host.
 *
 * @since 0.1.0
 */
import { ERR_INTERFACE_NOT_FOUND, ERR_INVALID_SIGNATURE, ERR_METHOD_NOT_FOUND } from "../wire/ErrorCode.js"
import type * as Tracer from "effect/Tracer"
import type { Dispatcher, Reply } from "./Engine.js"
import * as ErrorPayload from "./ErrorPayload.js"

/**
 * A handler as the engine calls it; its declared arity matters.
 *
 * @since 0.1.0
 */
export type AnyFunction = (...args: Array<never>) => unknown

/**
 * Interfaces of methods (or of event handlers), by name.
 *
 * @since 0.1.0
 */
export type Table = { readonly [iface: string]: { readonly [name: string]: AnyFunction } }

/**
 * Marks a function as callback-style, `(connection, ...args, callback)`.
 *
 * @since 0.1.0
 */
export const CallbackStyle: unique symbol = Symbol.for("effect-jstp/CallbackStyle")

/**
 * How a plain (not async) function without the `CallbackStyle` mark is
 * called: as 2.x calls every plain function (`"callback"`), or as returning
 * its result, a promise or an Effect (`"returning"`).
 *
 * @since 0.1.0
 */
export type PlainStyle = "callback" | "returning"

/**
 * What the host adds: running results the engine does not know (Effects),
 * and logging handlers that failed unexpectedly.
 *
 * @since 0.1.0
 */
export interface Hooks {
  readonly isEffect: (value: unknown) => boolean
  /**
   * Runs an Effect a handler returned, answering through `reply`; under
   * `span` (the call's, when it is observed).
   */
  readonly runEffect: (effect: unknown, reply: Reply | undefined, where: string, span?: Tracer.AnySpan | undefined) => void
  /** A handler threw, or an async one rejected with a plain Error. */
  readonly onDefect: (cause: unknown, where: string) => void
  readonly plainStyle: PlainStyle
  /** The results a returned (or resolved) value answers with; absent, `[value]`. */
  readonly resultsOf?: ((value: unknown) => ReadonlyArray<unknown>) | undefined
}

const single = (value: unknown): ReadonlyArray<unknown> => [value]

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key)

/**
 * `table[iface][name]` if both are own properties and the entry is a function.
 *
 * @since 0.1.0
 */
export const lookup = (table: Table | undefined, iface: string, name: string): AnyFunction | undefined => {
  if (table === undefined || !hasOwn(table, iface)) return undefined
  const entries = table[iface]
  if (typeof entries !== "object" || entries === null || !hasOwn(entries, name)) return undefined
  const entry = entries[name]
  return typeof entry === "function" ? entry : undefined
}

const isAsyncFunction = (fn: AnyFunction): boolean =>
  (fn as unknown as Record<symbol, unknown>)[Symbol.toStringTag] === "AsyncFunction"

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === "object" || typeof value === "function") && value !== null &&
  typeof (value as { then?: unknown }).then === "function"

const isPlainError = (value: unknown): boolean =>
  (value instanceof Error || Object.prototype.toString.call(value) === "[object Error]") &&
  typeof (value as { toJSTP?: unknown }).toJSTP !== "function"

const apply = (fn: AnyFunction, args: ReadonlyArray<unknown>): unknown =>
  (fn as unknown as (...args: ReadonlyArray<unknown>) => unknown)(...args)

/**
 * Runs method `fn` for a call with `args`, answering through `reply`:
 * - an async function `(connection, ...args)` answers `[value]` (or what
 *   `hooks.resultsOf` makes of it), or an error;
 *   a plain Error (no `toJSTP`) rejected becomes 16 and is logged;
 * - a callback-style function (marked, or any plain one when
 *   `hooks.plainStyle` is "callback") is called
 *   `(connection, ...args, callback(error, ...results))`;
 * - any other function `(connection, ...args)` returns an Effect (run by the
 *   host), a promise, or a plain value.
 * The declared arity must fit the call (`args + 2` for callback-style,
 * `args + 1` otherwise), else the answer is 17 and the handler does not run.
 * A handler that throws answers 16 and is logged.
 *
 * @since 0.1.0
 */
export const invoke = (
  fn: AnyFunction,
  connection: unknown,
  args: ReadonlyArray<unknown>,
  reply: Reply,
  hooks: Hooks,
  where: string,
  span?: Tracer.AnySpan | undefined
): void => {
  const callbackStyle = !isAsyncFunction(fn) &&
    (hooks.plainStyle === "callback" || (fn as unknown as Record<symbol, unknown>)[CallbackStyle] === true)
  if (fn.length !== args.length + (callbackStyle ? 2 : 1)) {
    return reply(ErrorPayload.make(ERR_INVALID_SIGNATURE), [])
  }
  let result: unknown
  try {
    result = callbackStyle
      ? apply(fn, [connection, ...args, (error: unknown, ...results: Array<unknown>) => {
        if (error !== null && error !== undefined) reply(ErrorPayload.fromValue(error), [])
        else reply(undefined, results)
      }])
      : apply(fn, [connection, ...args])
  } catch (cause) {
    hooks.onDefect(cause, where)
    return reply(ErrorPayload.internalError, [])
  }
  if (callbackStyle) return
  const resultsOf = hooks.resultsOf ?? single
  if (isThenable(result)) {
    result.then(
      (value) => reply(undefined, resultsOf(value)),
      (error: unknown) => {
        if (isPlainError(error)) {
          hooks.onDefect(error, where)
          reply(ErrorPayload.internalError, [])
        } else {
          reply(ErrorPayload.fromValue(error), [])
        }
      }
    )
    return
  }
  if (hooks.isEffect(result)) hooks.runEffect(result, reply, where, span)
  else reply(undefined, resultsOf(result))
}

/**
 * A dispatcher over tables of methods and event handlers, for one connection.
 *
 * @since 0.1.0
 */
export const makeDispatcher = (
  api: Table,
  events: Table | undefined,
  connection: unknown,
  hooks: Hooks
): Dispatcher => new TableDispatcher(api, events, connection, hooks)

// Prototype methods, not closures: one dispatcher lives per connection.
class TableDispatcher implements Dispatcher {
  constructor(
    private readonly api: Table,
    private readonly events: Table | undefined,
    private readonly connection: unknown,
    private readonly hooks: Hooks
  ) {}

  call(iface: string, method: string, args: ReadonlyArray<unknown>, reply: Reply, span?: Tracer.AnySpan): void {
    if (!hasOwn(this.api, iface)) return reply(ErrorPayload.make(ERR_INTERFACE_NOT_FOUND), [])
    const fn = lookup(this.api, iface, method)
    if (fn === undefined) return reply(ErrorPayload.make(ERR_METHOD_NOT_FOUND), [])
    invoke(fn, this.connection, args, reply, this.hooks, `${iface}.${method}`, span)
  }

  knows(iface: string, method: string): boolean {
    return lookup(this.api, iface, method) !== undefined
  }

  methods(iface: string): ReadonlyArray<string> | undefined {
    if (!hasOwn(this.api, iface)) return undefined
    const entries = this.api[iface]
    return typeof entries === "object" && entries !== null ? Object.keys(entries) : undefined
  }

  event(iface: string, event: string, args: ReadonlyArray<unknown>): void {
    const handler = lookup(this.events, iface, event)
    if (handler === undefined) return
    const where = `event ${iface}.${event}`
    const hooks = this.hooks
    try {
      const result = apply(handler, [this.connection, ...args])
      if (isThenable(result)) {
        result.then(undefined, (cause: unknown) => hooks.onDefect(cause, where))
      } else if (hooks.isEffect(result)) {
        hooks.runEffect(result, undefined, where)
      }
    } catch (cause) {
      hooks.onDefect(cause, where)
    }
  }
}
