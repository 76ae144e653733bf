/**
 * An error that crosses the wire: a JSTP error code, a message and extra info
 * (protocol.md §6-§7). A handler fails with one to answer a call with that
 * code; a call fails with one when the peer answered with an error.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ErrorPayload from "./engine/ErrorPayload.js"
import { defaultMessage } from "./wire/ErrorCode.js"
import * as Message from "./wire/Message.js"

export {
  defaultMessages,
  ERR_APP_NOT_FOUND,
  ERR_AUTH_FAILED,
  ERR_CALLBACK_LOST,
  ERR_INTERFACE_INCOMPATIBLE,
  ERR_INTERFACE_NOT_FOUND,
  ERR_INTERNAL_API_ERROR,
  ERR_INVALID_SIGNATURE,
  ERR_METHOD_NOT_FOUND,
  ERR_NO_HANDSHAKE_RESPONSE,
  ERR_NOT_A_SERVER
} from "./wire/ErrorCode.js"

/**
 * What a RemoteError's code means: one of the codes of protocol.md §7, or
 * `Application`, a code of the application's own.
 *
 * @since 0.1.0
 */
export type Reason =
  | "CallbackLost"
  | "NoHandshakeResponse"
  | "AppNotFound"
  | "AuthFailed"
  | "InterfaceNotFound"
  | "InterfaceIncompatible"
  | "MethodNotFound"
  | "NotAServer"
  | "InternalApiError"
  | "InvalidSignature"
  | "Application"

const reasons: Readonly<Record<number, Reason>> = {
  [-1]: "CallbackLost",
  [-2]: "NoHandshakeResponse",
  10: "AppNotFound",
  11: "AuthFailed",
  12: "InterfaceNotFound",
  13: "InterfaceIncompatible",
  14: "MethodNotFound",
  15: "NotAServer",
  16: "InternalApiError",
  17: "InvalidSignature"
}

/**
 * @since 0.1.0
 */
export class RemoteError extends Schema.TaggedError<RemoteError>()("RemoteError", {
  code: Schema.Number,
  message: Schema.String,
  info: Schema.Array(Schema.Unknown),
  /**
   * Whether this side may issue the call again: it failed with
   * ERR_CALLBACK_LOST (-1) here, when a restore found that the peer got the
   * call and its answer was lost with a link (`callWithResend` retries only
   * these). A -1 the peer answered itself is its answer, not resendable.
   */
  resendable: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {
  /** What `code` means (protocol.md §7), `Application` for a code of the application's own. */
  get reason(): Reason {
    return Object.hasOwn(reasons, this.code) ? reasons[this.code]! : "Application"
  }

  /** The wire array: `[code]`, or `[code, message, ...info]` when they say more. */
  toJSTP(): Array<unknown> {
    return [...Message.encodeError(ErrorPayload.make(this.code, this.message, this.info))]
  }
}

/**
 * A RemoteError for `code`, with the code's default message unless one is given.
 *
 * @since 0.1.0
 */
export const make = (code: number, message?: string, info: ReadonlyArray<unknown> = []): RemoteError =>
  new RemoteError({ code, message: message ?? defaultMessage(code) ?? String(code), info })

/**
 * The RemoteError of a received error payload.
 *
 * @since 0.1.0
 */
export const fromPayload = (payload: Message.ErrorPayload): RemoteError =>
  make(payload.code, payload.message, payload.info)

/**
 * The RemoteError for any value a handler failed with (protocol.md §6).
 *
 * @since 0.1.0
 */
export const fromValue = (value: unknown): RemoteError =>
  value instanceof RemoteError ? value : fromPayload(ErrorPayload.fromValue(value))
