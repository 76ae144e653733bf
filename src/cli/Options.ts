/**
 * jstp-cli's command line: the options of 2.x's CLI, and an optional
 * `connect` to run at start.
 *
 * @since 0.1.0
 */
import { Data, Either } from "effect"

/**
 * @since 0.1.0
 */
export interface Options {
  /** 1: incoming and outgoing messages; 2: pings, pongs and heartbeats too. */
  readonly verbose: number
  readonly reconnect: boolean
  readonly heartbeatInterval: number | undefined
  /** Pretty-printing indent; none prints each value on one line. */
  readonly indent: string | undefined
  readonly help: boolean
  readonly version: boolean
  /** `connect`'s arguments, to run before the first prompt. */
  readonly connect: ReadonlyArray<string>
}

/**
 * A command line that cannot be read.
 *
 * @since 0.1.0
 */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/**
 * What `--help` prints.
 *
 * @since 0.1.0
 */
export const usage = (version: string) =>
  `Usage: jstp-cli [options] [[<scheme>://]<host>:<port> <application> [<interface> ...]]

An interactive JSTP client. Given a server, it connects at start as the
connect command does.

Commands (Tab completes them, and interfaces and methods):
  connect [<scheme>://]<host>:<port> <application>[@<version>] [<interface> ...]
      schemes: jstp (TCP), jstps (TLS, the default), ws, wss, ipc://<socket path>
  call <interface> <method> [<arg>, ...]     arguments in the object-literal
  event <interface> <event> [<arg>, ...]     format: 1, 'text', { key: [true] }
  disconnect
  exit                                       (or Ctrl-D; Ctrl-C cancels a call)

Options:
  -v, --verbose                  print incoming and outgoing messages and each
                                 call's round trip; twice: pings, pongs and
                                 heartbeats too
  -R, --no-reconnect             do not reconnect when the connection drops
  -i, --heartbeat-interval <ms>  ping the server this often
  -p, --pretty-print [<indent>]  print values over several lines, indented by
                                 <indent> spaces (default 2) or that string
  --version                      print the version and exit
  --help                         print this help and exit

Environment:
  JSTP_CLI_HISTORY       the history file (default ~/.jstp_cli_history;
                         empty: no history is kept)
  JSTP_CLI_HISTORY_SIZE  how many lines of history are kept (default 1000)
  NO_COLOR               no colours, even on a terminal

effect-jstp ${version}`

const fail = (message: string) => Either.left(new UsageError({ message: `${message} (jstp-cli --help shows the options)` }))

// The long options that take no value (`--verbose=3` is a mistake).
const FLAGS = new Set(["--verbose", "--no-reconnect", "--help", "--version"])

// An indent is a small count of spaces or a string of whitespace (`'\t'`).
const indentOf = (text: string): string | undefined => {
  if (/^\d+$/.test(text)) {
    const count = Number(text)
    return count <= 10 ? " ".repeat(count) : undefined
  }
  return text !== "" && text.trim() === "" ? text : undefined
}

/**
 * Reads the arguments after the program's name.
 *
 * @since 0.1.0
 */
export const parse = (argv: ReadonlyArray<string>): Either.Either<Options, UsageError> => {
  let verbose = 0
  let reconnect = true
  let heartbeatInterval: number | undefined
  let indent: string | undefined
  let help = false
  let version = false
  const connect: Array<string> = []
  const interval = (text: string | undefined) => {
    const ms = Number(text)
    return text !== undefined && /^\d+$/.test(text) && ms > 0 ? ms : undefined
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined]
    if (inline !== undefined && FLAGS.has(name)) {
      return fail(`${name} takes no value`)
    }
    switch (name) {
      case "--verbose":
        verbose++
        break
      case "-R":
      case "--no-reconnect":
        reconnect = false
        break
      case "-i":
      case "--heartbeat-interval": {
        const text = inline ?? argv[++i]
        heartbeatInterval = interval(text)
        if (heartbeatInterval === undefined) {
          return fail(`${name} needs a number of milliseconds greater than 0, not ${text === undefined ? "nothing" : `'${text}'`}`)
        }
        break
      }
      case "-p":
      case "--pretty-print": {
        // The indent is optional: the next argument is taken only if it is one.
        const text = inline ?? argv[i + 1]
        const given = text === undefined ? undefined : indentOf(text)
        if (inline !== undefined && given === undefined) {
          return fail(`${name} takes a number of spaces (0 to 10) or a whitespace string, not '${inline}'`)
        }
        if (inline === undefined && given !== undefined) i++
        indent = given ?? "  "
        break
      }
      case "--help":
      case "-h":
        help = true
        break
      case "--version":
        version = true
        break
      default:
        if (/^-v+$/.test(arg)) {
          verbose += arg.length - 1
          break
        }
        if (arg.startsWith("-")) return fail(`Unknown option '${arg}'`)
        connect.push(arg)
    }
  }
  if (connect.length === 1) return fail("A server to connect to needs an application too")
  return Either.right({ verbose, reconnect, heartbeatInterval, indent, help, version, connect })
}
