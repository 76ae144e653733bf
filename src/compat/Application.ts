/**
 * The documented `Application` of 2.x and `createAppsIndex`.
 *
 * `new Application(name, api, [eventHandlers], [version], [sessionStorageProvider])`:
 * `name` may carry `@version` (preferred over `version`); the version
 * defaults to `1.0.0`; an invalid one throws a TypeError. Methods are
 * `(connection, ...args, callback)` or `async (connection, ...args)`.
 *
 * @since 0.1.0
 */
import semver from "semver"
import * as Dispatch from "../engine/Dispatch.js"
import type { Dispatcher } from "../engine/Engine.js"
import { splitName } from "../engine/Versions.js"
import { RemoteError } from "./RemoteError.js"

/**
 * Interfaces of methods (or of event handlers) by name.
 *
 * @since 0.1.0
 */
export type Api = Dispatch.Table

/**
 * What a session storage provider offers (sync or async `get`).
 *
 * @since 0.1.0
 */
export interface SessionStorageProvider {
  get(sessionId: string, callback?: (session: unknown) => void): unknown
  set(sessionId: string, session: unknown): unknown
  setInactive?(sessionId: string): void
  isAsync(): boolean
}

// Logged through Effect's logger, as the Effect API logs them; loaded only
// when a handler fails, so that the facade starts without it.
const logDefect = (cause: unknown, where: string) =>
  void import("effect").then(({ Cause, Effect }) =>
    Effect.runFork(Effect.logError(`Handler ${where} failed; answered 16`, Cause.die(cause))))

/**
 * How 2.x calls handlers: every plain function is callback-style.
 *
 * @since 0.1.0
 */
export const hooks: Dispatch.Hooks = {
  isEffect: () => false,
  runEffect: () => {},
  onDefect: logDefect,
  plainStyle: "callback"
}

/**
 * @since 0.1.0
 */
export class Application {
  readonly name: string
  readonly version: string
  api: Api
  eventHandlers: Api
  sessionsStorage: SessionStorageProvider | undefined

  constructor(
    name: string,
    api: Api,
    eventHandlers: Api = {},
    version?: string | SessionStorageProvider | null,
    sessionStorageProvider?: SessionStorageProvider
  ) {
    if (sessionStorageProvider === undefined && typeof version === "object" && version !== null) {
      sessionStorageProvider = version
      version = null
    }
    const [bareName, fromName] = splitName(name)
    const provided = fromName ?? (typeof version === "string" ? version : undefined)
    if (provided !== undefined && provided !== "" && semver.valid(provided) === null) {
      throw new TypeError("Invalid semver version")
    }
    this.name = bareName
    this.version = provided || "1.0.0"
    this.api = api
    this.eventHandlers = eventHandlers
    this.sessionsStorage = sessionStorageProvider
  }

  /** Internal: the engine's view of this application for one connection. */
  dispatcher(connection: unknown): Dispatcher {
    return Dispatch.makeDispatcher(this.api, this.eventHandlers, connection, hooks)
  }

  /** Calls a method; `callback(error, ...results)`. */
  callMethod(
    connection: unknown,
    interfaceName: string,
    methodName: string,
    args: ReadonlyArray<unknown>,
    callback: (error: RemoteError | null, ...results: Array<unknown>) => void
  ): void {
    this.dispatcher(connection).call(interfaceName, methodName, args, (error, results) =>
      error === undefined ? callback(null, ...results) : callback(RemoteError.fromPayload(error)))
  }

  /** The method names of an interface, or undefined. */
  getMethods(interfaceName: string): Array<string> | undefined {
    const methods = this.dispatcher(null).methods(interfaceName)
    return methods === undefined ? undefined : [...methods]
  }

  /** Runs the handler of an event, if there is one. */
  handleEvent(connection: unknown, interfaceName: string, eventName: string, args: ReadonlyArray<unknown>): void {
    this.dispatcher(connection).event(interfaceName, eventName, args)
  }
}

/**
 * Applications by name, then by version and `latest`. Throws on a duplicate
 * name and version.
 *
 * @since 0.1.0
 */
export const createAppsIndex = (applications: ReadonlyArray<Application>): Map<string, Map<string, Application>> => {
  const index = new Map<string, Map<string, Application>>()
  for (const application of applications) {
    let versions = index.get(application.name)
    if (versions === undefined) index.set(application.name, versions = new Map())
    if (versions.has(application.version)) {
      throw new Error(`Multiple instances of application: ${application.name} with version: ${application.version}`)
    }
    versions.set(application.version, application)
    const latest = versions.get("latest")
    if (latest === undefined || semver.gt(application.version, latest.version)) versions.set("latest", application)
  }
  return index
}
