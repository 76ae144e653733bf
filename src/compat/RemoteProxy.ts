/**
 * The documented `RemoteProxy` of 2.x: one function per remote method,
 * `proxy.method(...args, [callback], [resend])`; `emit` sends an event to the
 * peer and emits it locally; `on` receives the peer's events.
 *
 * @since 0.1.0
 */
import { EventEmitter } from "node:events"

/**
 * What a proxy needs of its connection.
 *
 * @since 0.1.0
 */
export interface ProxyConnection {
  callMethod(iface: string, method: string, args: Array<unknown>, callback: ((...results: Array<unknown>) => void) | null): void
  callMethodWithResend(iface: string, method: string, args: Array<unknown>, callback: ((...results: Array<unknown>) => void) | null): void
  emitRemoteEvent(iface: string, event: string, args: Array<unknown>): void
}

/**
 * @since 0.1.0
 */
export class RemoteProxy extends EventEmitter {
  [method: string]: unknown

  constructor(connection: ProxyConnection, interfaceName: string, methods: ReadonlyArray<string> = []) {
    super()
    Object.defineProperty(this, "_connection", { value: connection })
    Object.defineProperty(this, "_interfaceName", { value: interfaceName })
    for (const method of methods) {
      // Names the proxy already has (emit, on, ...) stay the proxy's own.
      if (typeof method !== "string" || (this as Record<string, unknown>)[method] !== undefined) continue
      ;(this as Record<string, unknown>)[method] = (...args: Array<unknown>) => {
        let resend = args[args.length - 1]
        let callback = args[args.length - 2]
        if (typeof callback === "function" && typeof resend === "boolean") {
          args = args.slice(0, -2)
        } else if (typeof resend === "function") {
          callback = resend
          resend = false
          args = args.slice(0, -1)
        } else {
          callback = null
          resend = false
        }
        const call = resend === true ? connection.callMethodWithResend : connection.callMethod
        call.call(connection, interfaceName, method, args, callback as ((...results: Array<unknown>) => void) | null)
      }
    }
  }

  /** Sends the event to the peer and emits it locally. */
  override emit(eventName: string | symbol, ...args: Array<unknown>): boolean {
    const connection = (this as unknown as { _connection: ProxyConnection })._connection
    const iface = (this as unknown as { _interfaceName: string })._interfaceName
    if (typeof eventName === "string") connection.emitRemoteEvent(iface, eventName, args)
    return this.emitLocal(eventName, args)
  }

  /** Internal: a peer's event, emitted to local listeners only. */
  emitLocal(eventName: string | symbol, args: ReadonlyArray<unknown> = []): boolean {
    return super.emit(eventName, ...args)
  }
}
