/**
 * The JSTP messages (protocol.md §3) as a tagged union, decoded from parsed
 * objects and encoded back. The only module that knows the shapes on the wire.
 *
 * A message's first key is its kind, with the header array as its value; the
 * second key, if any, is its verb, with the payload as its value.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import { quote, stringifyValue } from "./internal/stringifier.js"
import * as Serde from "./Serde.js"
import { compiledIn } from "./internal/instrumentation.js"

// A payload as 2.3.0's serializer lays it out (a trailing undefined array
// element is lost, as 2.x peers lose it), failures named from `root`.
const payload = (value: unknown, root: string): string => stringifyValue(value, Serde.MAX_DEPTH, "mdsf", root)

/**
 * How a handshake request authenticates.
 *
 * @since 0.1.0
 */
export type HandshakeAuth =
  | { readonly _tag: "Anonymous" }
  | { readonly _tag: "Login"; readonly login: string; readonly password: string }
  | { readonly _tag: "Session"; readonly sessionId: string; readonly receivedCount: number }
  | { readonly _tag: "Custom"; readonly strategy: string; readonly credentials: unknown }

/**
 * An error as carried by a callback or a handshake reply:
 * `[code]` or `[code, message, ...info]` on the wire.
 *
 * @since 0.1.0
 */
export interface ErrorPayload {
  readonly code: number
  readonly message: string | undefined
  readonly info: ReadonlyArray<unknown>
}

/** `{handshake:[0,'app','1.x'],login:['user','pass']}` @since 0.1.0 */
export interface HandshakeRequest {
  readonly _tag: "HandshakeRequest"
  readonly id: number
  readonly app: string
  readonly version: string | undefined
  readonly auth: HandshakeAuth
}

/** `{handshake:[0],ok:'<session id>'}` or, on restore, `ok:<receivedCount>` @since 0.1.0 */
export interface HandshakeOk {
  readonly _tag: "HandshakeOk"
  readonly id: number
  readonly ok: string | number
}

/** `{handshake:[0],error:[11]}` @since 0.1.0 */
export interface HandshakeError {
  readonly _tag: "HandshakeError"
  readonly id: number
  readonly error: ErrorPayload
}

/**
 * `{call:[17,'auth'],newAccount:['Payload']}`, with the caller's trace
 * context as a third key when it has one:
 * `{call:[17,'auth'],newAccount:['Payload'],traceparent:'00-…-…-01'}` (a
 * 2.x peer reads only the first two keys).
 *
 * @since 0.1.0
 */
export interface Call {
  readonly _tag: "Call"
  readonly id: number
  readonly iface: string
  readonly method: string
  readonly args: ReadonlyArray<unknown>
  /** A W3C `traceparent` (55 characters), or undefined. */
  readonly trace?: string | undefined
}

/**
 * The key of a call's trace context (W3C Trace Context `traceparent`).
 *
 * @since 0.1.0
 */
export const TRACE_KEY = "traceparent"

// A traceparent is read and written only where it cannot be taken for the verb.
const traceToWrite = (message: Call): string | undefined =>
  compiledIn && message.method !== TRACE_KEY ? message.trace : undefined

const traceOf = (message: Record<string, unknown>, method: string): string | undefined => {
  if (method === TRACE_KEY || !hasOwn(message, TRACE_KEY)) return undefined
  const trace = message[TRACE_KEY]
  return typeof trace === "string" && trace.length === 55 ? trace : undefined
}

/** `{callback:[17],ok:[15703]}` @since 0.1.0 */
export interface CallbackOk {
  readonly _tag: "CallbackOk"
  readonly id: number
  readonly results: ReadonlyArray<unknown>
}

/** `{callback:[17],error:[12]}` @since 0.1.0 */
export interface CallbackError {
  readonly _tag: "CallbackError"
  readonly id: number
  readonly error: ErrorPayload
}

/** `{event:[-12,'chat'],message:['Marcus','Hi']}` @since 0.1.0 */
export interface Event {
  readonly _tag: "Event"
  readonly id: number
  readonly iface: string
  readonly event: string
  readonly args: ReadonlyArray<unknown>
}

/** `{inspect:[42,'iface']}` @since 0.1.0 */
export interface Inspect {
  readonly _tag: "Inspect"
  readonly id: number
  readonly iface: string
}

/** `{ping:[5]}` @since 0.1.0 */
export interface Ping {
  readonly _tag: "Ping"
  readonly id: number
}

/** `{pong:[5]}` @since 0.1.0 */
export interface Pong {
  readonly _tag: "Pong"
  readonly id: number
}

/** `{}`: an old-style heartbeat, ignored but for logging. @since 0.1.0 */
export interface Heartbeat {
  readonly _tag: "Heartbeat"
}

/**
 * Every JSTP message.
 *
 * @since 0.1.0
 */
export type Message =
  | HandshakeRequest
  | HandshakeOk
  | HandshakeError
  | Call
  | CallbackOk
  | CallbackError
  | Event
  | Inspect
  | Ping
  | Pong
  | Heartbeat

/**
 * Why a parsed value is not a JSTP message.
 *
 * @since 0.1.0
 */
export type MessageErrorReason =
  | "NotAnObject"
  | "UnknownKind"
  | "HeaderNotArray"
  | "BadId"
  | "BadName"
  | "MissingVerb"
  | "PayloadNotArray"
  | "BadPayload"

/**
 * A parsed value that is not a well-formed message. `kind` and `id` are set
 * when they could be read, so that an engine can still answer the message
 * (a call without an argument array gets error 17).
 *
 * @since 0.1.0
 */
export class MessageError extends Data.TaggedError("MessageError")<{
  readonly reason: MessageErrorReason
  readonly kind: string | undefined
  readonly id: number | undefined
  readonly message: string
}> {}

const fail = (reason: MessageErrorReason, kind: string | undefined, id: number | undefined, what: string): never => {
  throw new MessageError({
    reason,
    kind,
    id,
    message: kind === undefined || reason === "UnknownKind"
      ? what
      : `${what} in a ${kind} message${id === undefined ? "" : ` (id ${id})`}`
  })
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key)

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const headerOf = (message: Record<string, unknown>, kind: string): ReadonlyArray<unknown> => {
  const header = message[kind]
  return Array.isArray(header) ? header : fail("HeaderNotArray", kind, undefined, "Header is not an array")
}

const idOf = (header: ReadonlyArray<unknown>, kind: string): number => {
  const id = header[0]
  return Number.isSafeInteger(id) ? (id as number) : fail("BadId", kind, undefined, "Id is not an integer")
}

const nameOf = (header: ReadonlyArray<unknown>, kind: string, id: number): string => {
  const name = header[1]
  return typeof name === "string" ? name : fail("BadName", kind, id, "Interface name is not a string")
}

const verbOf = (verb: string | undefined, kind: string, id: number): string =>
  verb !== undefined ? verb : fail("MissingVerb", kind, id, "Verb is missing")

const argsOf = (
  message: Record<string, unknown>,
  verb: string,
  kind: string,
  id: number
): ReadonlyArray<unknown> => {
  const args = message[verb]
  return Array.isArray(args) ? args : fail("PayloadNotArray", kind, id, `Payload of '${verb}' is not an array`)
}

const errorOf = (value: unknown, kind: string, id: number): ErrorPayload => {
  if (!Array.isArray(value)) return fail("PayloadNotArray", kind, id, "Error is not an array")
  const [code, message, ...info] = value as Array<unknown>
  if (typeof code !== "number" || !Number.isFinite(code)) return fail("BadPayload", kind, id, "Error code is not a number")
  if (message !== undefined && message !== null && typeof message !== "string") {
    return fail("BadPayload", kind, id, "Error message is not a string")
  }
  return { code, message: message ?? undefined, info }
}

const decodeAuth = (message: Record<string, unknown>, verb: string | undefined, id: number): HandshakeAuth => {
  if (verb === undefined) return { _tag: "Anonymous" }
  const strategy = verb
  const credentials = message[strategy]
  if (strategy === "login") {
    if (Array.isArray(credentials) && typeof credentials[0] === "string" && typeof credentials[1] === "string") {
      return { _tag: "Login", login: credentials[0], password: credentials[1] }
    }
    return fail("BadPayload", "handshake", id, "Login credentials are not [login, password]")
  }
  if (strategy === "session") {
    if (
      Array.isArray(credentials) &&
      typeof credentials[0] === "string" &&
      Number.isSafeInteger(credentials[1]) &&
      (credentials[1] as number) >= 0
    ) {
      return { _tag: "Session", sessionId: credentials[0], receivedCount: credentials[1] as number }
    }
    return fail("BadPayload", "handshake", id, "Session credentials are not [sessionId, receivedCount]")
  }
  return { _tag: "Custom", strategy, credentials }
}

const decodeHandshake = (
  message: Record<string, unknown>,
  verb: string | undefined,
  header: ReadonlyArray<unknown>,
  id: number
): HandshakeRequest | HandshakeOk | HandshakeError => {
  // A request names an application; a reply has only the id (as 2.x decides).
  if (header[1]) {
    const app = header[1]
    if (typeof app !== "string") return fail("BadName", "handshake", id, "Application name is not a string")
    const version = header[2]
    if (version !== undefined && version !== null && typeof version !== "string") {
      return fail("BadPayload", "handshake", id, "Application version is not a string")
    }
    return { _tag: "HandshakeRequest", id, app, version: version ?? undefined, auth: decodeAuth(message, verb, id) }
  }
  if (hasOwn(message, "ok")) {
    const ok = message.ok
    if (typeof ok === "string" || (Number.isSafeInteger(ok) && (ok as number) >= 0)) {
      return { _tag: "HandshakeOk", id, ok: ok as string | number }
    }
    return fail("BadPayload", "handshake", id, "Handshake result is neither a session id nor a count")
  }
  if (hasOwn(message, "error")) return { _tag: "HandshakeError", id, error: errorOf(message.error, "handshake", id) }
  return fail("MissingVerb", "handshake", id, "Neither 'ok' nor 'error' is present")
}

// The kind and verb are a message's first two own keys, in the order
// Object.keys gives; read without making the array (decode is synchronous and
// runs no other code, so two module slots are enough).
let firstKey: string | undefined
let secondKey: string | undefined
const readKeys = (value: object): void => {
  firstKey = undefined
  secondKey = undefined
  for (const key in value) {
    if (!hasOwn(value, key)) continue
    if (firstKey === undefined) {
      firstKey = key
    } else {
      secondKey = key
      return
    }
  }
}

/**
 * Decodes a parsed value into a message; throws a `MessageError`.
 *
 * @since 0.1.0
 */
export const decode = (value: unknown): Message => {
  if (!isRecord(value)) return fail("NotAnObject", undefined, undefined, "Message is not an object")
  readKeys(value)
  const kind = firstKey
  const verb = secondKey
  if (kind === undefined) return { _tag: "Heartbeat" }
  switch (kind) {
    case "call": {
      const header = headerOf(value, kind)
      const id = idOf(header, kind)
      const iface = nameOf(header, kind, id)
      const method = verbOf(verb, kind, id)
      return { _tag: "Call", id, iface, method, args: argsOf(value, method, kind, id), trace: compiledIn ? traceOf(value, method) : undefined }
    }
    case "callback": {
      const id = idOf(headerOf(value, kind), kind)
      if (hasOwn(value, "ok")) return { _tag: "CallbackOk", id, results: argsOf(value, "ok", kind, id) }
      if (hasOwn(value, "error")) return { _tag: "CallbackError", id, error: errorOf(value.error, kind, id) }
      return fail("MissingVerb", kind, id, "Neither 'ok' nor 'error' is present")
    }
    case "event": {
      const header = headerOf(value, kind)
      const id = idOf(header, kind)
      const iface = nameOf(header, kind, id)
      const event = verbOf(verb, kind, id)
      return { _tag: "Event", id, iface, event, args: argsOf(value, event, kind, id) }
    }
    case "inspect": {
      const header = headerOf(value, kind)
      const id = idOf(header, kind)
      return { _tag: "Inspect", id, iface: nameOf(header, kind, id) }
    }
    case "ping":
      return { _tag: "Ping", id: idOf(headerOf(value, kind), kind) }
    case "pong":
      return { _tag: "Pong", id: idOf(headerOf(value, kind), kind) }
    case "handshake": {
      const header = headerOf(value, kind)
      return decodeHandshake(value, verb, header, idOf(header, kind))
    }
    default:
      return fail("UnknownKind", kind, undefined, `Unknown message kind '${kind}'`)
  }
}

/**
 * The wire array of an error payload: `[code]` or `[code, message, ...info]`.
 *
 * @since 0.1.0
 */
export const encodeError = (error: ErrorPayload): ReadonlyArray<unknown> =>
  error.message === undefined && error.info.length === 0 ? [error.code] : [error.code, error.message, ...error.info]

const encodeAuth = (auth: HandshakeAuth): Record<string, unknown> | undefined => {
  switch (auth._tag) {
    case "Anonymous":
      return undefined
    case "Login":
      return { login: [auth.login, auth.password] }
    case "Session":
      return { session: [auth.sessionId, auth.receivedCount] }
    case "Custom":
      return { [checkVerb("handshake", auth.strategy, 0)]: auth.credentials }
  }
}

// The kind is read as the first key, so a verb may neither repeat the kind
// (it would overwrite the header) nor look like an array index (JavaScript
// orders such keys first).
const checkVerb = (kind: string, verb: string, id: number): string => {
  const first = verb.charCodeAt(0)
  if (verb === kind || (first >= 48 && first <= 57 && /^(?:0|[1-9]\d{0,9})$/.test(verb) && Number(verb) < 4294967295)) {
    fail("BadName", kind, id, `'${verb}' cannot be a verb: the message would not decode`)
  }
  return verb
}

/**
 * The wire object of a message, keys in protocol order. Verbs are written as
 * computed keys, so a verb named `__proto__` stays an own property. Throws a
 * `MessageError` (BadName) for a verb that would make the message undecodable:
 * the kind's own name, or an array-index-like name such as `"0"`.
 *
 * @since 0.1.0
 */
export const encode = (message: Message): Record<string, unknown> => {
  switch (message._tag) {
    case "HandshakeRequest": {
      const header = message.version === undefined ? [message.id, message.app] : [message.id, message.app, message.version]
      return { handshake: header, ...encodeAuth(message.auth) }
    }
    case "HandshakeOk":
      return { handshake: [message.id], ok: message.ok }
    case "HandshakeError":
      return { handshake: [message.id], error: encodeError(message.error) }
    case "Call": {
      const call = { call: [message.id, message.iface], [checkVerb("call", message.method, message.id)]: message.args }
      const trace = traceToWrite(message)
      return trace === undefined ? call : { ...call, [TRACE_KEY]: trace }
    }
    case "CallbackOk":
      return { callback: [message.id], ok: message.results }
    case "CallbackError":
      return { callback: [message.id], error: encodeError(message.error) }
    case "Event":
      return { event: [message.id, message.iface], [checkVerb("event", message.event, message.id)]: message.args }
    case "Inspect":
      return { inspect: [message.id, message.iface] }
    case "Ping":
      return { ping: [message.id] }
    case "Pong":
      return { pong: [message.id] }
    case "Heartbeat":
      return {}
  }
}

/**
 * A message's text, ready for framing. Throws a `SerdeError` (a `TypeError`)
 * if its payload cannot be serialized, naming where the value is
 * (`args[1].user.id`, `results[0]`, `message.login[1]`).
 *
 * Written as `Serde.stringify` writes, but arrays as 2.3.0 writes them: an
 * array whose last element has no representation (undefined, a function, a
 * symbol) ends `[1,]`, which reads back as `[1]`, so a peer sees the same
 * arguments as from a 2.x client (its handler's arity is checked against
 * them).
 *
 * @since 0.1.0
 */
export const serialize = (message: Message): string => {
  // The messages of every call are written directly: no wire object first.
  switch (message._tag) {
    case "Call": {
      const trace = traceToWrite(message)
      return "{\"call\":[" + message.id + "," + quote(message.iface) + "]," +
        quote(checkVerb("call", message.method, message.id)) + ":" + payload(message.args, "args") +
        (trace === undefined ? "}" : ",\"" + TRACE_KEY + "\":" + quote(trace) + "}")
    }
    case "CallbackOk":
      return "{\"callback\":[" + message.id + "],\"ok\":" + payload(message.results, "results") + "}"
    case "Event":
      return eventText(prepareEvent(message.iface, message.event, message.args, message.id), message.id)
    default:
      return payload(encode(message), "message")
  }
}

/**
 * An event serialized once, for every connection it goes to (a broadcast):
 * only its id differs, stamped in by `eventText`.
 *
 * @since 0.1.0
 */
export interface PreparedEvent {
  readonly iface: string
  readonly event: string
  readonly args: ReadonlyArray<unknown>
  /** The text after the id. */
  readonly tail: string
}

/**
 * Serializes an event but for its id. Throws as `serialize` does (`id` only
 * names the message in a `MessageError`).
 *
 * @since 0.1.0
 */
export const prepareEvent = (iface: string, event: string, args: ReadonlyArray<unknown>, id = 0): PreparedEvent => ({
  iface,
  event,
  args,
  tail: "," + quote(iface) + "]," + quote(checkVerb("event", event, id)) + ":" + payload(args, "args") + "}"
})

/**
 * The text of a prepared event with id `id`.
 *
 * @since 0.1.0
 */
export const eventText = (prepared: PreparedEvent, id: number): string => "{\"event\":[" + id + prepared.tail

/**
 * Parses and decodes one frame; throws a `SerdeError` or a `MessageError`.
 *
 * @since 0.1.0
 */
export const deserialize = (text: string): Message => decode(Serde.parse(text))

/**
 * `deserialize` with the failure as a value.
 *
 * @since 0.1.0
 */
export const deserializeEither = (text: string): Either.Either<Message, Serde.SerdeError | MessageError> => {
  try {
    return Either.right(deserialize(text))
  } catch (error) {
    if (error instanceof Serde.SerdeError || error instanceof MessageError) return Either.left(error)
    throw error
  }
}
