/**
 * The default session storage of 2.x servers: `SimpleSessionStorageProvider(
 * [inactiveSessionLifetime = 24 h], [purgeInterval = 1 h])`; its timer does
 * not keep the process alive.
 *
 * @since 0.1.0
 */
import { MemorySessions } from "../engine/MemorySessions.js"
import type { Session } from "./Session.js"

/**
 * @since 0.1.0
 */
export class SimpleSessionStorageProvider extends MemorySessions<Session> {
  /** It answers `get` at once. */
  isAsync(): boolean {
    return false
  }
}
