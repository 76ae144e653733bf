/**
 * jstp-cli's commands: a line of input read into a command, or a clear
 * error saying what is wrong with it.
 *
 * @since 0.1.0
 */
import { Data, Either } from "effect"
import { type Address, urlHost } from "../transport/Address.js"
import * as Serde from "../wire/Serde.js"

/**
 * Where `connect` dials, as typed and as an address.
 *
 * @since 0.1.0
 */
export interface Target {
  /** The target with its scheme, as prompts and messages show it. */
  readonly url: string
  readonly address: Address
  /** No scheme was written: jstps was taken. */
  readonly defaultScheme: boolean
}

/**
 * A command of the REPL.
 *
 * @since 0.1.0
 */
export type Command =
  | {
    readonly _tag: "Connect"
    readonly target: Target
    readonly application: string
    readonly interfaces: ReadonlyArray<string>
  }
  | { readonly _tag: "Call"; readonly iface: string; readonly method: string; readonly args: ReadonlyArray<unknown> }
  | { readonly _tag: "Event"; readonly iface: string; readonly event: string; readonly args: ReadonlyArray<unknown> }
  | { readonly _tag: "Disconnect" }
  | { readonly _tag: "Help" }
  | { readonly _tag: "Exit" }

/**
 * A line that is not a command.
 *
 * @since 0.1.0
 */
export class CommandError extends Data.TaggedError("CommandError")<{
  readonly reason: "UnknownCommand" | "MissingArgument" | "BadTarget" | "BadArguments"
  readonly message: string
}> {}

/**
 * The commands, as completion offers them.
 *
 * @since 0.1.0
 */
export const NAMES = ["call", "connect", "disconnect", "event", "exit", "help"] as const

/**
 * How each command is written.
 *
 * @since 0.1.0
 */
export const USAGE: Readonly<Record<(typeof NAMES)[number], string>> = {
  call: "call <interface> <method> [<arg>, ...]",
  connect: "connect [<scheme>://]<host>:<port> <application>[@<version>] [<interface> ...]",
  disconnect: "disconnect",
  event: "event <interface> <event> [<arg>, ...]",
  exit: "exit",
  help: "help"
}

/**
 * The schemes of `connect`: `jstps` (TLS) when none is given.
 *
 * @since 0.1.0
 */
export const SCHEMES = ["jstp", "jstps", "ws", "wss", "ipc"] as const

const DEFAULT_SCHEME = "jstps"

const namesStartingWith = (word: string) => NAMES.filter((name) => name.startsWith(word))

/**
 * The command a word names: the whole name or a prefix of exactly one
 * (`ca` is `call`), as 2.x's CLI allows.
 *
 * @since 0.1.0
 */
export const resolveName = (word: string): string | undefined => {
  const matches = namesStartingWith(word)
  return matches.includes(word as (typeof NAMES)[number]) ? word : matches.length === 1 ? matches[0] : undefined
}

const fail = (reason: CommandError["reason"], message: string) => Either.left(new CommandError({ reason, message }))

const missing = (what: string, command: keyof typeof USAGE) =>
  fail("MissingArgument", `${what} is missing. Usage: ${USAGE[command]}`)

// Splits off the first `count` words; the rest of the line stays as typed
// (arguments are a literal, whose spaces matter).
const words = (text: string, count: number): [Array<string>, string] => {
  const taken: Array<string> = []
  let rest = text.trimStart()
  while (taken.length < count && rest !== "") {
    const end = rest.search(/\s/)
    taken.push(end === -1 ? rest : rest.slice(0, end))
    rest = end === -1 ? "" : rest.slice(end).trimStart()
  }
  return [taken, rest]
}

const argumentsOf = (text: string): Either.Either<ReadonlyArray<unknown>, CommandError> => {
  if (text.trim() === "") return Either.right([])
  // The newline ends a `//` comment the arguments may end with.
  return Either.mapBoth(Serde.parseEither(`[${text}\n]`), {
    onLeft: (error) => {
      // Positions count from the start of what was typed, not of the "[" added.
      const problem = error.message
        .replace(/at position (\d+)/, (_, position: string) => `at position ${Math.max(0, Number(position) - 1)}`)
      return new CommandError({
        reason: "BadArguments",
        message:
          `The arguments are not a valid literal (${problem}): ${text}. Write them as in JavaScript: 1, 'text', { key: [true, null] }`
      })
    },
    onRight: (value) => value as ReadonlyArray<unknown>
  })
}

const PORT = /^\d{1,5}$/

/**
 * Reads `[scheme://]host:port[/path]`, or `ipc://path`.
 *
 * @since 0.1.0
 */
export const parseTarget = (text: string): Either.Either<Target, CommandError> => {
  const separator = text.indexOf("://")
  const scheme = separator === -1 ? DEFAULT_SCHEME : text.slice(0, separator).toLowerCase()
  const rest = separator === -1 ? text : text.slice(separator + 3)
  if (!(SCHEMES as ReadonlyArray<string>).includes(scheme)) {
    return fail("BadTarget", `Unknown scheme '${scheme}': use ${SCHEMES.join(", ")}`)
  }
  if (scheme === "ipc") {
    if (rest === "") return fail("BadTarget", "The socket path is missing: ipc://<path>")
    return Either.right({ url: `ipc://${rest}`, address: { _tag: "Unix", path: rest }, defaultScheme: false })
  }
  const slash = rest.indexOf("/")
  const authority = slash === -1 ? rest : rest.slice(0, slash)
  const path = slash === -1 ? undefined : rest.slice(slash)
  if (path !== undefined && scheme !== "ws" && scheme !== "wss") {
    return fail("BadTarget", `A ${scheme} target has no path: ${text}`)
  }
  // `[::1]:3000` for IPv6.
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(authority)
  const colon = authority.lastIndexOf(":")
  const host = bracketed !== null ? bracketed[1]! : colon === -1 ? authority : authority.slice(0, colon)
  const portText = bracketed !== null ? bracketed[2] : colon === -1 ? undefined : authority.slice(colon + 1)
  if (host === "") return fail("BadTarget", `The host is missing: ${text}`)
  if (/[[\]]/.test(host)) return fail("BadTarget", `The host is not valid: ${text} (an IPv6 host is written [::1]:<port>)`)
  if (portText === undefined || portText === "") {
    return fail("BadTarget", `The port is missing: ${text} (write ${scheme}://${host}:<port>)`)
  }
  const port = Number(portText)
  if (!PORT.test(portText) || port < 1 || port > 65535) {
    return fail("BadTarget", `The port must be a number from 1 to 65535: ${portText}`)
  }
  const url = `${scheme}://${urlHost(host)}:${port}${path ?? ""}`
  const defaultScheme = separator === -1
  switch (scheme) {
    case "jstp":
      return Either.right({ url, address: { _tag: "Tcp", host, port }, defaultScheme })
    case "jstps":
      return Either.right({ url, address: { _tag: "Tls", host, port }, defaultScheme })
    default:
      return Either.right({ url, address: { _tag: "WebSocket", host, port, path, secure: scheme === "wss" }, defaultScheme })
  }
}

/**
 * Reads a line; `undefined` for a blank one.
 *
 * @since 0.1.0
 */
export const parse = (line: string): Either.Either<Command, CommandError> | undefined => {
  const [[word], rest] = words(line, 1)
  if (word === undefined) return undefined
  const name = resolveName(word)
  switch (name) {
    case "connect": {
      const [[target, application, ...interfaces]] = words(rest, Number.MAX_SAFE_INTEGER)
      if (target === undefined) return missing("The server", "connect")
      if (application === undefined) return missing("The application", "connect")
      return Either.map(parseTarget(target), (parsed) => ({ _tag: "Connect", target: parsed, application, interfaces }))
    }
    case "call":
    case "event": {
      const [[iface, member], text] = words(rest, 2)
      if (iface === undefined) return missing("The interface", name)
      if (member === undefined) return missing(name === "call" ? "The method" : "The event", name)
      return Either.map(argumentsOf(text), (args) =>
        name === "call"
          ? { _tag: "Call", iface, method: member, args }
          : { _tag: "Event", iface, event: member, args })
    }
    case "disconnect":
    case "exit":
    case "help":
      if (rest !== "") return fail("BadArguments", `${name} takes no arguments. Usage: ${USAGE[name]}`)
      return Either.right({ _tag: name === "disconnect" ? "Disconnect" : name === "exit" ? "Exit" : "Help" })
    default: {
      const candidates = namesStartingWith(word)
      return candidates.length > 1
        ? fail("UnknownCommand", `Ambiguous command '${word}': ${candidates.join(", ")}`)
        : fail("UnknownCommand", `Unknown command '${word}'. Commands: ${NAMES.join(", ")} (help shows how to write them)`)
    }
  }
}
