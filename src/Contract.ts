/**
 * Typed contracts: an application's interfaces declared once with Effect
 * Schema, from which a server implements it (`implement`: handlers typed
 * and their arguments decoded) and a client calls it (`client`, `connect`,
 * `layer`: results, failures and events decoded). On the wire nothing
 * changes: untyped 2.x peers call a typed server and serve a typed client.
 *
 * - A method has positional parameters, as on the wire; a success (one
 *   value, `ok: [value]`), or `results` (2.x's several results,
 *   `ok: [a, b]`), or neither (`ok: []`); and its declared failures.
 * - A declared failure is a `Schema.TaggedError` with a code of the
 *   application's own (not one of protocol.md §7): it travels as
 *   `[code, message, encoded]`, which a 2.x peer reads as a RemoteError
 *   with that code and `info: [encoded]`, and an effect-jstp caller gets
 *   back as the same tagged error.
 * - A call whose arguments do not decode is answered 17
 *   (ERR_INVALID_SIGNATURE) with a message saying why; its handler does not
 *   run. A handler's undeclared failure is a defect: answered 16, logged.
 *
 * @since 0.1.0
 */
import { Cause, Channel, Chunk, type Context, Data, Effect, Either, Exit, Layer, type Scope, Schema, Stream } from "effect"
import * as Application from "./Application.js"
import * as Connection from "./Connection.js"
import * as ConnectionHandle from "./internal/ConnectionHandle.js"
import type { ConnectionError, HandshakeError } from "./ConnectionError.js"
import * as RemoteError from "./RemoteError.js"
import { defaultMessage, ERR_INVALID_SIGNATURE } from "./wire/ErrorCode.js"

type AnySchema = Schema.Schema.AnyNoContext

/** Schemas of positional values. @since 0.1.0 */
export type Schemas = ReadonlyArray<AnySchema>

/** The decoded types of `Schemas`, as a tuple. @since 0.1.0 */
export type TypesOf<S extends Schemas> = { readonly [K in keyof S]: Schema.Schema.Type<S[K]> }

/**
 * A declared failure: a schema of a tagged error (a `Schema.TaggedError`
 * class) and the code it travels with.
 *
 * @since 0.1.0
 */
export interface Failure<E extends { readonly _tag: string } = { readonly _tag: string }> {
  readonly code: number
  /** The error's schema, kept untyped so that failures compare covariantly. */
  readonly schema: Schema.Schema<unknown, unknown>
  /** Phantom. */
  readonly _E?: (_: never) => E
}

/**
 * A definition that cannot be used: a failure code that protocol.md §7
 * reserves or that is not an integer (`ReservedCode`); an implementation
 * without a handler for one of the contract's methods (`MissingHandler`).
 *
 * @since 0.1.0
 */
export class InvalidContractError extends Data.TaggedError("InvalidContractError")<{
  readonly reason: "ReservedCode" | "MissingHandler"
  readonly message: string
}> {}

/**
 * Declares a failure: `Contract.failure(OutOfStock, 409)`. Throws an
 * `InvalidContractError` for a code of protocol.md §7 (-2, -1, 10-17) or a
 * code that is not an integer.
 *
 * @since 0.1.0
 */
export const failure = <A extends { readonly _tag: string }, I>(schema: Schema.Schema<A, I>, code: number): Failure<A> => {
  if (!Number.isInteger(code) || defaultMessage(code) !== undefined) {
    throw new InvalidContractError({
      reason: "ReservedCode",
      message: `A failure needs a code of its own, not ${code} (the codes of protocol.md §7 are reserved)`
    })
  }
  return { code, schema: schema as unknown as Schema.Schema<unknown, unknown> }
}

type FailureType<F extends ReadonlyArray<Failure>> = F[number] extends infer One
  ? One extends { readonly _E?: (_: never) => infer E } ? E : never
  : never

// What a method answers: one value, several results, or nothing.
type Answer =
  | { readonly _tag: "One"; readonly schema: AnySchema }
  | { readonly _tag: "Several"; readonly schema: Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>> }
  | { readonly _tag: "None" }

/**
 * A method: parameters `Args`, success `Success`, failures `E`.
 *
 * @since 0.1.0
 */
export interface Method<Args extends ReadonlyArray<unknown>, Success, E> {
  readonly _tag: "Method"
  /** The parameters as one tuple schema. */
  readonly params: Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>>
  readonly arity: number
  readonly answer: Answer
  readonly failures: ReadonlyArray<Failure>
  /** Phantom types (the schemas above are kept untyped, so methods compare covariantly). */
  readonly _Args?: (_: never) => Args
  readonly _Success?: (_: never) => Success
  readonly _E?: (_: never) => E
}

/** Any method. @since 0.1.0 */
export type AnyMethod = Method<ReadonlyArray<unknown>, unknown, unknown>

/**
 * Declares a method:
 * - `method({ params: [Schema.String], success: Schema.Number, failures: [Contract.failure(OutOfStock, 409)] })`
 *   answers one value;
 * - `method({ params: [], results: [Schema.Number, Schema.String] })`
 *   answers several (`ok: [n, s]`, as 2.x's `callback(null, n, s)`);
 * - `method({ params: [Schema.String] })` answers nothing (`ok: []`).
 *
 * @since 0.1.0
 */
export const method: {
  <
    const P extends Schemas,
    const Rs extends Schemas,
    const F extends ReadonlyArray<Failure<{ readonly _tag: string }>> = readonly []
  >(spec: { readonly params: P; readonly results: Rs; readonly failures?: F }): Method<TypesOf<P>, TypesOf<Rs>, FailureType<F>>
  <
    const P extends Schemas,
    S extends AnySchema,
    const F extends ReadonlyArray<Failure<{ readonly _tag: string }>> = readonly []
  >(spec: { readonly params: P; readonly success: S; readonly failures?: F }): Method<TypesOf<P>, Schema.Schema.Type<S>, FailureType<F>>
  <
    const P extends Schemas,
    const F extends ReadonlyArray<Failure<{ readonly _tag: string }>> = readonly []
  >(spec: { readonly params: P; readonly failures?: F }): Method<TypesOf<P>, void, FailureType<F>>
} = (spec: {
  readonly params: Schemas
  readonly success?: AnySchema
  readonly results?: Schemas
  readonly failures?: ReadonlyArray<Failure>
}): Method<never, never, never> => ({
  _tag: "Method",
  params: Schema.Tuple(...spec.params) as unknown as Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>>,
  arity: spec.params.length,
  answer: spec.results !== undefined
    ? {
      _tag: "Several",
      schema: Schema.Tuple(...spec.results) as unknown as Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>>
    }
    : spec.success !== undefined
    ? { _tag: "One", schema: spec.success }
    : { _tag: "None" },
  failures: spec.failures ?? []
})

/**
 * An event and its arguments.
 *
 * @since 0.1.0
 */
export interface Event<Args extends ReadonlyArray<unknown>> {
  readonly _tag: "Event"
  /** The arguments as one tuple schema. */
  readonly args: Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>>
  /** Phantom. */
  readonly _Args?: (_: never) => Args
}

/** Any event. @since 0.1.0 */
export type AnyEvent = Event<ReadonlyArray<unknown>>

/**
 * Declares an event by the schemas of its arguments: `event(Schema.String, Schema.Number)`.
 *
 * @since 0.1.0
 */
export const event = <const P extends Schemas>(...args: P): Event<TypesOf<P>> => ({
  _tag: "Event",
  args: Schema.Tuple(...args) as unknown as Schema.Schema<ReadonlyArray<unknown>, ReadonlyArray<unknown>>
})

/**
 * An interface: its methods and its events.
 *
 * @since 0.1.0
 */
export interface Interface {
  readonly methods?: { readonly [name: string]: AnyMethod } | undefined
  readonly events?: { readonly [name: string]: AnyEvent } | undefined
}

/**
 * A contract: the application's name, its semver version, its interfaces.
 *
 * @since 0.1.0
 */
export interface Contract<I extends { readonly [name: string]: Interface } = { readonly [name: string]: Interface }> {
  readonly _tag: "Contract"
  readonly name: string
  readonly version: string
  readonly interfaces: I
}

/**
 * Declares a contract. Throws an `InvalidApplicationError` for a missing
 * name or a version that is not semver, as `Application.make` does.
 *
 * @since 0.1.0
 */
export const make = <const I extends { readonly [name: string]: Interface }>(options: {
  readonly name: string
  readonly version: string
  readonly interfaces: I
}): Contract<I> => {
  // Application.make checks the name and version.
  const { name, version } = Application.make({ name: options.name, version: options.version, api: {} })
  return { _tag: "Contract", name, version, interfaces: options.interfaces }
}

type MethodsOf<C extends Contract, K extends keyof C["interfaces"]> = NonNullable<C["interfaces"][K]["methods"]>
type EventsOf<C extends Contract, K extends keyof C["interfaces"]> = NonNullable<C["interfaces"][K]["events"]>
type ArgsOf<M> = M extends { readonly _Args?: (_: never) => infer Args extends ReadonlyArray<unknown> } ? Args : never
type SuccessOf<M> = M extends { readonly _Success?: (_: never) => infer S } ? S : never
type ErrorOf<M> = M extends { readonly _E?: (_: never) => infer E } ? E : never
type EventArgsOf<E> = E extends { readonly _Args?: (_: never) => infer Args extends ReadonlyArray<unknown> } ? Args : never

/**
 * The handlers that implement a contract's methods: per method
 * `(connection, ...args) => Effect<Success, DeclaredFailures, R>`.
 *
 * @since 0.1.0
 */
export type Handlers<C extends Contract> = {
  readonly [K in keyof C["interfaces"]]: {
    readonly [M in keyof MethodsOf<C, K>]: (
      connection: Connection.Connection,
      ...args: ArgsOf<MethodsOf<C, K>[M]>
    ) => Effect.Effect<SuccessOf<MethodsOf<C, K>[M]>, ErrorOf<MethodsOf<C, K>[M]>, unknown>
  }
}

/**
 * The services the handlers `H` require.
 *
 * @since 0.1.0
 */
export type HandlersRequirements<H> = {
  [K in keyof H]: {
    [M in keyof H[K]]: H[K][M] extends (...args: Array<never>) => Effect.Effect<unknown, unknown, infer R> ? R : never
  }[keyof H[K]]
}[keyof H]

const parseMessage = (error: unknown): string => error instanceof Error ? error.message : String(error)

// The message of a declared failure on the wire: its own `message` field if
// its schema has one, else its tag (a TaggedError's default message is its
// fields, which travel in `info` already).
const describeFailure = (error: { readonly _tag: string; readonly message?: unknown }): string =>
  Object.hasOwn(error, "message") && typeof error.message === "string" && error.message !== "" ? error.message : error._tag

// A method's declared failures, for a server: which one a value is, and its
// wire array, [code, message, encoded]; undefined for a value none declares.
// The schemas' guards and encoders are made once per method.
const failureEncoder = (failures: ReadonlyArray<Failure>) => {
  const encoders = failures.map((declared) => ({
    code: declared.code,
    is: Schema.is(declared.schema),
    encode: Schema.encodeUnknownEither(declared.schema)
  }))
  return (error: unknown): Either.Either<ReadonlyArray<unknown>, unknown> | undefined => {
    const declared = encoders.find((encoder) => encoder.is(error))
    return declared === undefined
      ? undefined
      : Either.map(declared.encode(error), (encoded) => [declared.code, describeFailure(error as { readonly _tag: string }), encoded])
  }
}

// A method's answer on the wire: the value encoded, as one result or as
// several (`Application.results`), or no result; the encoder made once.
const answerEncoder = (answer: Answer): (value: unknown) => Either.Either<unknown, unknown> => {
  if (answer._tag === "None") return () => Either.right(Application.results())
  if (answer._tag === "One") return Schema.encodeUnknownEither(answer.schema)
  const encode = Schema.encodeUnknownEither(answer.schema)
  return (value) => Either.map(encode(value), (encoded) => Application.results(...encoded))
}

// One method of `implement`: a returning handler of arity `1 + params`, so
// the engine's arity check answers 17 before anything else.
const serve = (
  where: string,
  spec: AnyMethod,
  handler: (connection: Connection.Connection, ...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown, unknown>
) => {
  const decodeArgs = Schema.decodeUnknownEither(spec.params)
  const encodeAnswer = answerEncoder(spec.answer)
  const encodeFailure = failureEncoder(spec.failures)
  const fn = (connection: Connection.Connection, ...args: ReadonlyArray<unknown>) => {
    const decoded = decodeArgs(args)
    if (Either.isLeft(decoded)) {
      return Effect.fail([ERR_INVALID_SIGNATURE, `Invalid arguments for ${where}: ${parseMessage(decoded.left)}`])
    }
    return Effect.matchCauseEffect(handler(connection, ...decoded.right), {
      onSuccess: (value) =>
        Either.match(encodeAnswer(value), {
          onLeft: (error) => Effect.die(new Error(`${where} answered a value its contract cannot encode: ${parseMessage(error)}`)),
          onRight: Effect.succeed
        }),
      onFailure: (cause) => {
        const failed = Cause.failureOption(cause)
        if (failed._tag === "None") return Effect.failCause(cause)
        const encoded = encodeFailure(failed.value)
        // Undeclared: a defect, answered 16 and logged with the failure itself.
        if (encoded === undefined) return Effect.die(failed.value)
        return Either.match(encoded, {
          onLeft: (error) =>
            Effect.die(new Error(`${where} failed with a value its contract cannot encode: ${parseMessage(error)}`)),
          onRight: Effect.fail
        })
      }
    })
  }
  Object.defineProperty(fn, "length", { value: spec.arity + 1 })
  return fn
}

const ownEntries = <A>(record: { readonly [key: string]: A } | undefined): ReadonlyArray<readonly [string, A]> =>
  record === undefined ? [] : Object.entries(record)

/**
 * Implements a contract: an `Application` (for `Server.make`, or as a
 * client's application) whose handlers are typed from it. Every method of
 * the contract needs its handler.
 *
 * @since 0.1.0
 */
export const implement = <C extends Contract, const H extends Handlers<C>>(
  contract: C,
  handlers: H
): Application.Application<HandlersRequirements<H>> => {
  const api: Record<string, Record<string, Application.Handler>> = {}
  for (const [iface, spec] of ownEntries<Interface>(contract.interfaces)) {
    const implemented = (handlers as Record<string, Record<string, unknown> | undefined>)[iface]
    const table: Record<string, Application.Handler> = {}
    for (const [name, methodSpec] of ownEntries(spec.methods)) {
      const handler = implemented?.[name]
      if (typeof handler !== "function") {
        throw new InvalidContractError({ reason: "MissingHandler", message: `No handler for ${iface}.${name}` })
      }
      table[name] = serve(
        `${iface}.${name}`,
        methodSpec,
        handler as (connection: Connection.Connection, ...args: ReadonlyArray<unknown>) => Effect.Effect<unknown>
      ) as unknown as Application.Handler
    }
    api[iface] = table
  }
  return Application.make({ name: contract.name, version: contract.version, api }) as Application.Application<
    HandlersRequirements<H>
  >
}

/**
 * What an effect-jstp side received that its contract does not allow, or
 * could not send: results (`InvalidResults`), a declared failure's data
 * (`InvalidFailure`), an event's arguments (`InvalidEvent`), or arguments
 * this side could not encode (`InvalidArguments`).
 *
 * @since 0.1.0
 */
export class ContractError extends Data.TaggedError("ContractError")<{
  readonly reason: "InvalidResults" | "InvalidFailure" | "InvalidEvent" | "InvalidArguments"
  readonly message: string
  readonly cause: unknown
}> {}

/**
 * A typed method of a client.
 *
 * @since 0.1.0
 */
export type ClientMethod<M> = (
  ...args: ArgsOf<M>
) => Effect.Effect<SuccessOf<M>, ErrorOf<M> | RemoteError.RemoteError | ConnectionError | ContractError>

/**
 * A typed client of a contract over one connection.
 *
 * @since 0.1.0
 */
export interface Client<C extends Contract> {
  /** The connection, for what the contract does not say (`call`, `lifecycle`, ...). */
  readonly connection: Connection.Connection
  /** Per interface, per method: a call that encodes, and decodes its answer. */
  readonly methods: {
    readonly [K in keyof C["interfaces"]]: {
      readonly [M in keyof MethodsOf<C, K>]: ClientMethod<MethodsOf<C, K>[M]>
    }
  }
  /**
   * Per interface, per event: the peer's events, decoded, from when the
   * stream runs. An event that does not decode fails the stream with a
   * `ContractError` (`InvalidEvent`).
   */
  readonly events: {
    readonly [K in keyof C["interfaces"]]: {
      readonly [E in keyof EventsOf<C, K>]: Stream.Stream<EventArgsOf<EventsOf<C, K>[E]>, ContractError>
    }
  }
}

const contractError = (reason: ContractError["reason"], where: string, cause: unknown) =>
  new ContractError({ reason, message: `${where}: ${parseMessage(cause)}`, cause })

// A RemoteError whose code a declared failure has, as that failure.
// A RemoteError whose code a declared failure has, as that failure (or a
// ContractError when its data does not decode); any other stays itself.
const toDeclared = (where: string, failures: ReadonlyArray<Failure>) => {
  const decoders = failures.map((declared) => ({ code: declared.code, decode: Schema.decodeUnknownEither(declared.schema) }))
  return (error: RemoteError.RemoteError): unknown => {
    let last: unknown = undefined
    let declared = false
    for (const candidate of decoders) {
      if (candidate.code !== error.code) continue
      declared = true
      const decoded = candidate.decode(error.info[0])
      if (Either.isRight(decoded)) return decoded.right
      last = decoded.left
    }
    return declared ? contractError("InvalidFailure", `${where} failed with code ${error.code}`, last) : error
  }
}

const callMethod = (connection: Connection.Connection, iface: string, name: string, spec: AnyMethod) => {
  const where = `${iface}.${name}`
  const encodeArgs = Schema.encodeUnknownEither(spec.params)
  const answer = spec.answer
  const decodeOne = answer._tag === "One" ? Schema.decodeUnknownEither(answer.schema) : undefined
  const decodeSeveral = answer._tag === "Several" ? Schema.decodeUnknownEither(answer.schema) : undefined
  const decodeResults = (results: ReadonlyArray<unknown>): Either.Either<unknown, unknown> =>
    decodeOne !== undefined ? decodeOne(results[0]) : decodeSeveral !== undefined ? decodeSeveral(results) : Either.right(undefined)
  const failed = toDeclared(where, spec.failures)
  // The answer becomes the outcome as it arrives (an Exit, no step after it).
  const outcome: ConnectionHandle.Answer<unknown, unknown> = (failure, results) => {
    if (failure !== undefined) return Exit.fail(failure._tag === "RemoteError" ? failed(failure) : failure)
    const decoded = decodeResults(results)
    return Either.isRight(decoded)
      ? Exit.succeed(decoded.right)
      : Exit.fail(contractError("InvalidResults", `Results of ${where}`, decoded.left))
  }
  const answered = ConnectionHandle.answeredCallOf(connection)
  const send = (args: ReadonlyArray<unknown>): Effect.Effect<unknown, unknown> =>
    answered !== undefined
      ? answered(iface, name, args, outcome)
      : Effect.flatMap(
        Effect.either(connection.call(iface, name, args)),
        (either) => Either.isRight(either) ? outcome(undefined, either.right) : outcome(either.left, [])
      )
  return (...args: ReadonlyArray<unknown>) =>
    Effect.suspend(() => {
      const encoded = encodeArgs(args)
      return Either.isRight(encoded)
        ? send(encoded.right)
        : Effect.fail(contractError("InvalidArguments", `Arguments for ${where}`, encoded.left))
    })
}

// Decodes each chunk of one event's arguments; the events before one that
// does not decode are still delivered, then the stream fails.
const decodeEvents = (
  decode: (args: ReadonlyArray<unknown>) => Either.Either<unknown, unknown>,
  where: string
) => {
  const loop: Channel.Channel<Chunk.Chunk<unknown>, Chunk.Chunk<Connection.RemoteEvent>, ContractError, never> = Channel
    .readWithCause({
      onInput: (chunk: Chunk.Chunk<Connection.RemoteEvent>) => {
        const out: Array<unknown> = []
        for (const received of chunk) {
          const decoded = decode(received.args)
          if (Either.isLeft(decoded)) {
            return Channel.write(Chunk.unsafeFromArray(out)).pipe(
              Channel.zipRight(Channel.fail(contractError("InvalidEvent", `Event ${where}`, decoded.left)))
            )
          }
          out.push(decoded.right)
        }
        return Channel.zipRight(Channel.write(Chunk.unsafeFromArray(out)), loop)
      },
      onFailure: (cause: Cause.Cause<never>) => Channel.failCause(cause),
      onDone: () => Channel.void
    })
  return loop
}

const eventStream = (connection: Connection.Connection, iface: string, name: string, spec: AnyEvent) =>
  connection.events(iface).pipe(
    Stream.filter((received) => received.event === name),
    Stream.pipeThroughChannel(decodeEvents(Schema.decodeUnknownEither(spec.args), `${iface}.${name}`))
  )

/**
 * The typed client of `contract` over a connection to a server of it.
 *
 * @since 0.1.0
 */
export const client = <C extends Contract>(contract: C, connection: Connection.Connection): Client<C> => {
  const methods: Record<string, Record<string, unknown>> = {}
  const events: Record<string, Record<string, unknown>> = {}
  for (const [iface, spec] of ownEntries<Interface>(contract.interfaces)) {
    methods[iface] = Object.fromEntries(
      ownEntries(spec.methods).map(([name, methodSpec]) => [name, callMethod(connection, iface, name, methodSpec)])
    )
    events[iface] = Object.fromEntries(
      ownEntries(spec.events).map(([name, eventSpec]) => [name, eventStream(connection, iface, name, eventSpec)])
    )
  }
  return { connection, methods, events } as unknown as Client<C>
}

/**
 * The options of `connect` and `layer`: `Connection.ConnectOptions`
 * without `application`, which the contract gives.
 *
 * @since 0.1.0
 */
export type ConnectOptions<R = never> = Omit<Connection.ConnectOptions<R>, "application">

// A client asks for the contract's major version, at least its own: a
// server that only added to the contract serves it.
const target = (contract: Contract) => ({ name: contract.name, version: `^${contract.version}` })

/**
 * Connects to a server of `contract` (asking for `name@^version`) and gives
 * its typed client, for the scope.
 *
 * @since 0.1.0
 */
export const connect = <C extends Contract, R = never>(
  contract: C,
  options: ConnectOptions<R>
): Effect.Effect<Client<C>, HandshakeError, Scope.Scope | R> =>
  Effect.map(Connection.connect({ ...options, application: target(contract) }), (connection) => client(contract, connection))

/**
 * A typed client as a layer, under a tag of your own, so that one program
 * holds several backends:
 * `class Shop extends Context.Tag("Shop")<Shop, Contract.Client<typeof ShopContract>>() {}`,
 * then `Contract.layer(Shop, ShopContract, options)`. As `Connection.layer`,
 * it renews its session when reconnecting finds it gone.
 *
 * @since 0.1.0
 */
export const layer = <Id, C extends Contract, R = never>(
  tag: Context.Tag<Id, Client<C>>,
  contract: C,
  options: ConnectOptions<R>
): Layer.Layer<Id, HandshakeError, R> =>
  Layer.effect(
    tag,
    Effect.map(Connection.ClientConnection, (connection) => client(contract, connection))
  ).pipe(Layer.provide(Connection.layer({ ...options, application: target(contract) })))

/**
 * Typed senders of a contract's events, over `send`: a connection's `emit`
 * or a server's `broadcast` (`Contract.emitter(Shop, server.broadcast)`).
 * Arguments are encoded first; ones that do not encode fail with a
 * `ContractError` (`InvalidArguments`) and nothing is sent.
 *
 * @since 0.1.0
 */
export const emitter = <C extends Contract>(
  contract: C,
  send: (iface: string, event: string, args: ReadonlyArray<unknown>) => Effect.Effect<void, ConnectionError>
): {
  readonly [K in keyof C["interfaces"]]: {
    readonly [E in keyof EventsOf<C, K>]: (
      ...args: EventArgsOf<EventsOf<C, K>[E]>
    ) => Effect.Effect<void, ConnectionError | ContractError>
  }
} => {
  const emitters: Record<string, Record<string, unknown>> = {}
  for (const [iface, spec] of ownEntries<Interface>(contract.interfaces)) {
    emitters[iface] = Object.fromEntries(ownEntries(spec.events).map(([name, eventSpec]) => {
      const encode = Schema.encodeUnknownEither(eventSpec.args)
      const emit = (...args: ReadonlyArray<unknown>) =>
        Effect.suspend((): Effect.Effect<void, ConnectionError | ContractError> =>
          Either.match(encode(args), {
            onLeft: (error) => Effect.fail(contractError("InvalidArguments", `Event ${iface}.${name}`, error)),
            onRight: (encoded) => send(iface, name, encoded)
          })
        )
      return [name, emit]
    }))
  }
  return emitters as never
}
