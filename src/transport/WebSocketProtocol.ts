/**
 * What every WebSocket link shares (protocol.md §2): the subprotocol, the
 * close codes, which closes are orderly, and how a message's data is read as
 * text. Free of Node built-ins, for the browser build.
 *
 * @since 0.1.0
 */

/**
 * The subprotocol JSTP peers agree on.
 *
 * @since 0.1.0
 */
export const PROTOCOL = "metarhia-jstp"

/**
 * The close codes this transport sends (RFC 6455 §7.4.1).
 *
 * @since 0.1.0
 */
export const CloseCode = {
  /** The connection was closed on purpose. */
  Normal: 1000,
  /** The server is shutting down. */
  GoingAway: 1001,
  /** The peer broke the protocol (a message that is not text, say). */
  ProtocolError: 1002,
  /** A message over the size limit. */
  MessageTooBig: 1009,
  /** A message could not be handled. */
  InternalError: 1011
} as const

/**
 * Whether a close ends the link in good order: asked for by either side
 * (1000, or 1005 with no code), or a server going away (1001).
 *
 * @since 0.1.0
 */
export const isOrderly = (code: number): boolean =>
  code === CloseCode.Normal || code === CloseCode.GoingAway || code === 1005

/**
 * What a close that is not orderly is reported as.
 *
 * @since 0.1.0
 */
export const abnormalClose = (code: number, reason: string): Error =>
  Object.assign(new Error(`WebSocket closed with code ${code}${reason === "" ? "" : `: ${reason}`}`), { closeCode: code })

const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true })

/**
 * A message's data as text: a string as it is, binary data decoded as UTF-8
 * (as 2.3.0 reads it); undefined for anything else.
 *
 * @since 0.1.0
 */
export const textOf = (data: unknown): string | undefined => {
  if (typeof data === "string") return data
  if (data instanceof ArrayBuffer) return textDecoder.decode(data)
  if (ArrayBuffer.isView(data)) return textDecoder.decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  return undefined
}
