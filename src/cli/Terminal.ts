/**
 * Where jstp-cli reads lines and writes what happens: a readline interface
 * over stdin and stdout. On a terminal it shows a prompt, completes with
 * Tab, keeps a persistent history and colours its output; piped, it reads
 * lines and prints plain text (errors on stderr), with no prompt.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Queue, type Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"

/**
 * What a line of output is: colour on a terminal, and stderr for errors
 * when piped.
 *
 * @since 0.1.0
 */
export type Kind = "result" | "info" | "error" | "trace"

/**
 * @since 0.1.0
 */
export interface Terminal {
  /** On a terminal (prompt, colours, completion, history); else piped. */
  readonly interactive: boolean
  readonly colors: boolean
  /** Prints a line (or lines), keeping the prompt and what is being typed below it. */
  readonly print: (text: string, kind?: Kind) => void
  /** The prompt shown when idle. */
  readonly setPrompt: (prompt: string) => void
  /** Whether a command runs: the prompt is shown again only when none does. */
  readonly setBusy: (busy: boolean) => void
  readonly setCompleter: (complete: (line: string) => [Array<string>, string]) => void
  /** The next line typed; None at the end of input (Ctrl-D, or the end of a pipe). */
  readonly nextLine: Effect.Effect<Option.Option<string>>
  /**
   * Ctrl-C on a terminal: `cancel` says whether it cancelled something; if
   * not, a line being typed is dropped, and at an empty prompt input ends
   * (as with Ctrl-D).
   */
  readonly onInterrupt: (cancel: () => boolean) => void
}

/**
 * @since 0.1.0
 */
export class TerminalService extends Context.Tag("effect-jstp/cli/Terminal")<TerminalService, Terminal>() {}

const DEFAULT_HISTORY_SIZE = 1000
const HISTORY_FILE = ".jstp_cli_history"

/**
 * Where history is kept, and how much: `JSTP_CLI_HISTORY` (empty: none),
 * `JSTP_CLI_HISTORY_SIZE`.
 *
 * @since 0.1.0
 */
export const historySettings = (env: NodeJS.ProcessEnv): { readonly path: string | undefined; readonly size: number } => {
  const size = Number(env.JSTP_CLI_HISTORY_SIZE)
  const path = env.JSTP_CLI_HISTORY
  return {
    path: path === "" ? undefined : path ?? Path.join(Os.homedir(), HISTORY_FILE),
    size: Number.isInteger(size) && size > 0 ? size : DEFAULT_HISTORY_SIZE
  }
}

const COLOR: Readonly<Record<Kind, string>> = { result: "", info: "\x1b[36m", error: "\x1b[31m", trace: "\x1b[90m" }

/**
 * A terminal over `input` and `output`; the readline interface closes with
 * the scope.
 *
 * @since 0.1.0
 */
export const make = (streams: {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean }
  readonly output: NodeJS.WritableStream & { readonly isTTY?: boolean }
  readonly errorOutput: NodeJS.WritableStream
  readonly env: NodeJS.ProcessEnv
}): Effect.Effect<Terminal, never, Scope.Scope> =>
  Effect.gen(function*() {
    const interactive = streams.input.isTTY === true && streams.output.isTTY === true
    const colors = interactive && streams.env.NO_COLOR === undefined
    const history = historySettings(streams.env)
    const historyPath = interactive ? history.path : undefined
    const loaded = historyPath === undefined ? [] : readHistory(historyPath, history.size)
    let complete: (line: string) => [Array<string>, string] = (line) => [[], line]
    const rl = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Readline.createInterface({
          input: streams.input,
          output: streams.output,
          terminal: interactive,
          completer: (line: string) => complete(line),
          history: loaded,
          historySize: historyPath === undefined ? 0 : history.size,
          removeHistoryDuplicates: false
        })
      ),
      // Input read no further must not keep the process alive.
      (rl) => Effect.sync(() => {
        rl.close()
        streams.input.pause()
      })
    )
    const lines = yield* Queue.unbounded<Option.Option<string>>()
    rl.on("line", (line) => Queue.unsafeOffer(lines, Option.some(line)))
    rl.on("close", () => Queue.unsafeOffer(lines, Option.none()))
    let historyFailed = false
    let busy = false

    // Output that can no longer be written (a closed pipe: `jstp-cli | head`)
    // ends the session quietly instead of crashing it.
    let outputGone = false
    const onOutputError = () => {
      outputGone = true
      rl.close()
    }
    streams.output.on("error", onOutputError)
    streams.errorOutput.on("error", onOutputError)

    const print = (text: string, kind: Kind = "result") => {
      if (outputGone) return
      if (!interactive) {
        ;(kind === "error" ? streams.errorOutput : streams.output).write(text + "\n")
        return
      }
      const painted = colors && COLOR[kind] !== "" ? `${COLOR[kind]}${text}\x1b[39m` : text
      Readline.clearLine(streams.output, 0)
      Readline.cursorTo(streams.output, 0)
      streams.output.write(painted + "\n")
      // What is being typed stays in view: after the prompt, or alone while a command runs.
      if (!busy) rl.prompt(true)
      else if (rl.line !== "") streams.output.write(rl.line)
    }

    if (historyPath !== undefined) {
      rl.on("history", (entries: ReadonlyArray<string>) => {
        try {
          Fs.writeFileSync(historyPath, entries.join("\n"), { mode: 0o600 })
        } catch (error) {
          if (historyFailed) return
          historyFailed = true
          print(`History is not kept: cannot write ${historyPath} (${(error as Error).message})`, "error")
        }
      })
    }

    return {
      interactive,
      colors,
      print,
      setPrompt: (prompt) => {
        rl.setPrompt(prompt)
        if (interactive && !busy) rl.prompt(true)
      },
      setBusy: (value) => {
        busy = value
        if (interactive && !busy) rl.prompt()
      },
      setCompleter: (fn) => void (complete = fn),
      nextLine: Queue.take(lines),
      onInterrupt: (cancel) =>
        void rl.on("SIGINT", () => {
          if (cancel()) return
          if (rl.line === "") return rl.close()
          // Ctrl-C on a line being typed drops the line, as a shell does.
          rl.write(null, { ctrl: true, name: "e" })
          rl.write(null, { ctrl: true, name: "u" })
          streams.output.write("^C\n")
          rl.prompt()
        })
    }
  })

// The file holds the newest line first, one per line, as 2.x's CLI writes it.
const readHistory = (path: string, size: number): Array<string> => {
  try {
    return Fs.readFileSync(path, "utf8").split(/\r?\n/).filter((line) => line !== "").slice(0, size)
  } catch {
    return []
  }
}

/**
 * The process's terminal.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<TerminalService> = Layer.scoped(
  TerminalService,
  make({ input: process.stdin, output: process.stdout, errorOutput: process.stderr, env: process.env })
)
