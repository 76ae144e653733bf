/**
 * Internal: the connection handle over an engine, shared by the client
 * (`Connection.connect`) and the server (`Server.make`): calls and their
 * resume path, events, emit, inspect, ping, close. Not part of the public API.
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Exit, Fiber, Mailbox, Option, type PubSub, type Scope, Stream } from "effect"
import { identity } from "effect/Function"
import type * as Tracer from "effect/Tracer"
import type {
  CallAll,
  CallAllOptions,
  Connection,
  Lifecycle,
  RemoteEvent,
  RemoteProxy
} from "../Connection.js"
import { ConnectionError } from "../ConnectionError.js"
import { BufferFullError, type CloseReason, type Engine, type Reply } from "../engine/Engine.js"
import * as ErrorPayload from "../engine/ErrorPayload.js"
import * as RemoteError from "../RemoteError.js"
import type * as Message from "../wire/Message.js"
import { compiledIn } from "../engine/Probe.js"

let nextConnectionId = 0

const closedError = () => new ConnectionError({ reason: "Closed", message: "Connection closed" })

// Failures of -1 produced here, by a restore, are `resendable`: only these are
// issued again by `callWithResend` (a -1 that the peer itself answered is its
// answer).
const toFailure = (error: Message.ErrorPayload) => {
  if (error === ErrorPayload.connectionClosed) return closedError()
  const remote = RemoteError.fromPayload(error)
  if (error !== ErrorPayload.callbackLost) return remote
  return new RemoteError.RemoteError({ code: remote.code, message: remote.message, info: remote.info, resendable: true })
}

/**
 * Internal: a request that could not be sent, as a `ConnectionError`
 * (`BufferFull` or `InvalidArgument`).
 *
 * @since 0.1.0
 */
export const invalidArgument = (cause: unknown): ConnectionError =>
  new ConnectionError({
    reason: cause instanceof BufferFullError ? "BufferFull" : "InvalidArgument",
    message: cause instanceof Error ? cause.message : String(cause),
    cause
  })

/**
 * Internal: what a connection handle is built on.
 *
 * @since 0.1.0
 */
export interface Parts {
  readonly engine: Engine
  readonly side: "client" | "server"
  readonly remoteAddress: string | undefined
  readonly application: { readonly name: string; readonly version: string }
  readonly closed: Deferred.Deferred<CloseReason>
  readonly lifecycle: PubSub.PubSub<Lifecycle>
  /** Listeners of the peer's events, by interface. */
  readonly listeners: Map<string, Set<(event: RemoteEvent) => void>>
}

/**
 * Internal: the engine options that feed a handle's event listeners and
 * `closed`.
 *
 * @since 0.1.0
 */
export const makeListeners = () => new Map<string, Set<(event: RemoteEvent) => void>>()

/**
 * Internal: delivers a peer's event to the listeners of its interface.
 *
 * @since 0.1.0
 */
export const deliver = (
  listeners: Map<string, Set<(event: RemoteEvent) => void>>,
  iface: string,
  event: string,
  args: ReadonlyArray<unknown>
): void => {
  const set = listeners.get(iface)
  if (set === undefined) return
  const remoteEvent = { iface, event, args }
  for (const listener of set) listener(remoteEvent)
}

/**
 * The request a fiber waits for: a fiber waits for one at a time. When the
 * fiber ends while waiting (interrupted: by a timeout, a race,
 * Fiber.interrupt), the request is forgotten, as a canceler would; one it
 * left unanswered and moved on from (a finalizer that calls again) is
 * forgotten when it sends the next. One observer per fiber, rather than an
 * interruption handler per request: that handler's frames live for the
 * whole round trip and cost the client more than the rest of the call (5-6
 * µs per pipelined call, most of it in the garbage collector). It holds the
 * engine only while waiting.
 */
class Waiter {
  engine: Engine | undefined = undefined
  id = 0

  constructor() {
    this.forget = this.forget.bind(this)
  }

  wait(engine: Engine, id: number): void {
    this.forget()
    this.engine = engine
    this.id = id
  }

  answered(engine: Engine, id: number): void {
    if (this.engine === engine && this.id === id) this.engine = undefined
  }

  forget(): void {
    this.engine?.cancel(this.id)
    this.engine = undefined
  }
}

const waiters = new WeakMap<Fiber.RuntimeFiber<unknown, unknown>, Waiter>()

const waiterOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Waiter => {
  let waiter = waiters.get(fiber)
  if (waiter === undefined) {
    waiter = new Waiter()
    waiters.set(fiber, waiter)
    fiber.addObserver(waiter.forget)
  }
  return waiter
}

// The fiber's current span: the parent of its calls' spans when they are observed.
const spanOf = (fiber: Option.Option<Fiber.RuntimeFiber<unknown, unknown>>): Tracer.AnySpan | undefined =>
  compiledIn && fiber._tag === "Some" ? fiber.value.currentSpan : undefined

const closeReasonOf = (parts: Parts): CloseReason =>
  Option.match(Effect.runSync(Deferred.poll(parts.closed)), {
    onNone: () => "Closed" as const,
    onSome: (reason) => Effect.runSync(reason)
  })

/**
 * What a call's answer makes: from its failure (undefined when it
 * succeeded) and its results, the outcome the caller gets.
 *
 * @since 0.1.0
 */
export type Answer<A, E> = (
  failure: RemoteError.RemoteError | ConnectionError | undefined,
  results: ReadonlyArray<unknown>
) => Effect.Effect<A, E>

/**
 * A call whose answer is turned into its outcome as it arrives, with no
 * step after it: `Contract`'s typed calls decode this way.
 *
 * @since 0.1.0
 */
export type AnsweredCall = <A, E>(
  iface: string,
  method: string,
  args: ReadonlyArray<unknown>,
  answer: Answer<A, E>
) => Effect.Effect<A, E>

const answeredCalls = new WeakMap<Connection, AnsweredCall>()

/**
 * The answered call of a handle made here; undefined for a `Connection`
 * made elsewhere (a test double), which then goes through `call`.
 *
 * @since 0.1.0
 */
export const answeredCallOf = (connection: Connection): AnsweredCall | undefined => answeredCalls.get(connection)

// The outcome of a plain request: its failure, or `onOk` of its results.
// Made once per kind of request, not per request (a call is the hot path).
const answerWith = <A>(onOk: (values: ReadonlyArray<unknown>) => A): Answer<A, RemoteError.RemoteError | ConnectionError> =>
(failure, values) => failure === undefined ? Exit.succeed(onOk(values)) : Exit.fail(failure)

const answerResults = answerWith(identity)
const answerMethodNames = answerWith((names) => names.filter((name): name is string => typeof name === "string"))
const answerVoid = answerWith((): void => undefined)

/**
 * Internal: gathers what is pushed in a tick and hands it to `deliver` as one
 * array, in a microtask (or at once with `flush`): how a subscription hands
 * a read's events to its mailbox.
 *
 * @since 0.1.0
 */
export const perTick = <A>(deliver: (items: Array<A>) => void): {
  readonly push: (item: A) => void
  readonly flush: () => void
} => {
  let batch: Array<A> | undefined
  const flush = () => {
    const items = batch
    batch = undefined
    if (items !== undefined) deliver(items)
  }
  const push = (item: A) => {
    if (batch !== undefined) return void batch.push(item)
    batch = [item]
    queueMicrotask(flush)
  }
  return { push, flush }
}

/**
 * Internal: a connection handle over an engine.
 *
 * @since 0.1.0
 */
export const fromParts = (parts: Parts): Connection => {
  const { engine, listeners } = parts

  // The fiber is read inside `Effect.async`'s register, which runs on it:
  // cheaper than a `withFiberRuntime` step per call. `answer` makes the
  // outcome (an Exit, at best) of the failure or the results.
  const requestWith = <A, E>(
    send: (reply: Reply, parent: Tracer.AnySpan | undefined) => number,
    answer: Answer<A, E>
  ): Effect.Effect<A, E> =>
    Effect.async<A, E>((resume) => {
      const fiber = Fiber.getCurrentFiber()
      const waiter = fiber._tag === "Some" ? waiterOf(fiber.value) : undefined
      let answered = false
      let id = 0
      try {
        const sent = send((error, values) => {
          answered = true
          waiter?.answered(engine, id)
          resume(answer(error === undefined ? undefined : toFailure(error), values))
        }, spanOf(fiber))
        // Answered at once (the connection is closed, say): nothing to forget.
        if (!answered) waiter?.wait(engine, id = sent)
      } catch (cause) {
        resume(answer(invalidArgument(cause), []))
      }
    })

  const call: Connection["call"] = (iface, method, args = [], options) => {
    const effect = requestWith((reply, parent) => engine.call(iface, method, args, reply, parent), answerResults)
    if (options?.timeout === undefined) return effect
    const timeout = options.timeout
    return Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () =>
        new ConnectionError({
          reason: "Timeout",
          message: `${iface}.${method} timed out after ${Duration.format(Duration.decode(timeout))}`
        })
    })
  }

  type CallAllError = RemoteError.RemoteError | ConnectionError
  // One implementation for both overloads of `CallAll` (they differ in what
  // `discard` makes of the result).
  const callAll = ((
    iface: string,
    method: string,
    argsList: Iterable<ReadonlyArray<unknown>>,
    options?: CallAllOptions
  ): Effect.Effect<Array<ReadonlyArray<unknown>> | void, CallAllError> =>
    Effect.async<Array<ReadonlyArray<unknown>> | void, CallAllError>((resume) => {
      const parent = spanOf(Fiber.getCurrentFiber())
      const concurrency = Math.max(1, options?.concurrency ?? 100)
      const keep = options?.discard !== true
      const iterator = argsList[Symbol.iterator]()
      const results: Array<ReadonlyArray<unknown>> = []
      const inFlight = new Set<number>()
      let issued = 0
      let done = false
      let exhausted = false
      const finish = (effect: Effect.Effect<Array<ReadonlyArray<unknown>> | void, CallAllError>) => {
        done = true
        for (const id of inFlight) engine.cancel(id)
        inFlight.clear()
        resume(effect)
      }
      const issue = () => {
        while (!done && !exhausted && inFlight.size < concurrency) {
          const next = iterator.next()
          if (next.done === true) {
            exhausted = true
            break
          }
          const index = issued++
          let id = 0
          try {
            id = engine.call(iface, method, next.value, (error, values) => {
              if (done) return
              inFlight.delete(id)
              if (error !== undefined) return finish(Effect.fail(toFailure(error)))
              if (keep) results[index] = values
              options?.onResult?.(index, values)
              issue()
            }, parent)
          } catch (cause) {
            return finish(Effect.fail(invalidArgument(cause)))
          }
          if (!done) inFlight.add(id)
        }
        if (!done && exhausted && inFlight.size === 0) finish(keep ? Effect.succeed(results) : Effect.void)
      }
      issue()
      return Effect.sync(() => {
        done = true
        for (const id of inFlight) engine.cancel(id)
      })
    })) as CallAll

  // Events go into a mailbox a tick's worth at a time (one chunk, which a
  // stream pays for once, not per event); it ends when the connection closes.
  const subscribe = (iface: string): Effect.Effect<Stream.Stream<RemoteEvent>, never, Scope.Scope> =>
    Effect.gen(function*() {
      const mailbox = yield* Effect.acquireRelease(Mailbox.make<RemoteEvent>(), (mailbox) => mailbox.shutdown)
      const { flush, push: listener } = perTick((events: Array<RemoteEvent>) => mailbox.unsafeOfferAll(events))
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          let set = listeners.get(iface)
          if (set === undefined) listeners.set(iface, set = new Set())
          set.add(listener)
        }),
        () => Effect.sync(() => listeners.get(iface)?.delete(listener))
      )
      yield* Deferred.await(parts.closed).pipe(
        Effect.andThen(Effect.sync(() => {
          flush()
          mailbox.unsafeDone(Exit.void)
        })),
        Effect.forkScoped
      )
      return Mailbox.toStream(mailbox)
    })

  const events = (iface: string): Stream.Stream<RemoteEvent> => Stream.unwrapScoped(subscribe(iface))

  const emit: Connection["emit"] = (iface, event, args = []) =>
    Effect.suspend(() => {
      if (engine.phase === "Closed") return Effect.fail(closedError())
      try {
        engine.emit(iface, event, args)
        return Effect.void
      } catch (cause) {
        return Effect.fail(invalidArgument(cause))
      }
    })

  const inspect = (iface: string) =>
    requestWith((reply) => engine.inspect(iface, reply), answerMethodNames)
      .pipe(Effect.map((methodNames): RemoteProxy => ({
        iface,
        methodNames,
        methods: Object.fromEntries(
          methodNames.map((method) => [method, (...args: ReadonlyArray<unknown>) => call(iface, method, args)])
        ),
        emit: (event, ...args) => emit(iface, event, args),
        events: events(iface)
      })))

  const ping = requestWith((reply) => engine.ping(reply), answerVoid).pipe(
    Effect.catchTag("RemoteError", (error) => Effect.fail(new ConnectionError({ reason: "ProtocolViolation", message: error.message })))
  )

  const callWithResend: Connection["callWithResend"] = (iface, method, args, options) =>
    Effect.retry(call(iface, method, args, options), {
      while: (error) => error._tag === "RemoteError" && error.resendable
    })

  const handle: Connection = {
    id: nextConnectionId++,
    side: parts.side,
    remoteAddress: parts.remoteAddress,
    application: parts.application,
    username: () => engine.session?.username ?? null,
    session: () => engine.session,
    call,
    callAll,
    emit,
    inspect,
    events,
    subscribe,
    ping,
    isOpen: () => engine.phase === "Open",
    stats: () => ({ pending: engine.pendingCount, droppedCallbacks: engine.droppedCallbacks }),
    close: Effect.sync(() => engine.close("Closed")),
    closed: Deferred.await(parts.closed),
    callWithResend,
    // Ends with Closed; once closed, it is Closed alone.
    lifecycle: Stream.unwrap(Effect.sync(() =>
      engine.phase === "Closed"
        ? Stream.make<Array<Lifecycle>>({ _tag: "Closed", reason: closeReasonOf(parts) })
        : Stream.fromPubSub(parts.lifecycle).pipe(Stream.takeUntil((event) => event._tag === "Closed"))
    ))
  }
  answeredCalls.set(
    handle,
    (iface, method, args, answer) => requestWith((reply, parent) => engine.call(iface, method, args, reply, parent), answer)
  )
  return handle
}

