/**
 * Local failures of a connection: the link, the handshake, the protocol.
 *
 * @since 0.1.0
 */
import { Data } from "effect"

/**
 * Why a connection failed.
 * - `Closed`: it was closed (by either side) before the request completed.
 * - `Timeout`: a call or the handshake took longer than allowed.
 * - `Transport`: the link could not be opened, or failed.
 * - `ProtocolViolation`: the peer sent something the protocol forbids.
 * - `InvalidArgument`: the request itself cannot be sent (it cannot be
 *   serialized, or is larger than the message size limit).
 * - `BufferFull`: too many requests wait for the peer (while disconnected,
 *   or unacknowledged); see `maxBuffered`.
 *
 * @since 0.1.0
 */
export type ConnectionErrorReason =
  | "Closed"
  | "Timeout"
  | "Transport"
  | "ProtocolViolation"
  | "InvalidArgument"
  | "BufferFull"

/**
 * @since 0.1.0
 */
export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  readonly reason: ConnectionErrorReason
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * Why a handshake failed. `Rejected` carries the server's error code
 * (10: application not found, 11: authentication failed).
 * `InvalidApplication` and `InvalidVersion` fail before anything is dialled.
 *
 * @since 0.1.0
 */
export type HandshakeErrorReason = "Rejected" | "Timeout" | "Closed" | "Transport" | "InvalidApplication" | "InvalidVersion"

/**
 * @since 0.1.0
 */
export class HandshakeError extends Data.TaggedError("HandshakeError")<{
  readonly reason: HandshakeErrorReason
  readonly message: string
  readonly code?: number | undefined
  readonly cause?: unknown
}> {}
