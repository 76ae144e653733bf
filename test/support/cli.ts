/**
 * Drives the real jstp-cli binary (bin/jstp-cli.js, on the built dist/):
 * with piped stdin, or on a pseudo-terminal made by util-linux `script`.
 * Output is matched in order: each `expect` looks after the previous match.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { join } from "node:path"
import { type Output, root, run } from "./run.js"

export const BIN = join(root, "bin", "jstp-cli.js")

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g

/** Text without ANSI escape sequences (and a terminal's carriage returns). */
export const plain = (text: string): string => text.replace(ANSI, "").replace(/\r/g, "")

const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`

export interface CliOptions {
  readonly env?: Readonly<Record<string, string>>
  /** Run on a pseudo-terminal (prompt, colours, completion, history). */
  readonly tty?: boolean
}

// No history file unless a test asks for one.
const envOf = (options: CliOptions): Record<string, string> => ({ JSTP_CLI_HISTORY: "", ...options.env })

export class Cli {
  readonly child: ChildProcessWithoutNullStreams
  /** stdout and stderr as they arrived (on a terminal there is only one). */
  output = ""
  stdout = ""
  stderr = ""
  readonly exited: Promise<number | null>
  private cursor = 0
  private readonly waiters = new Set<() => void>()

  constructor(args: ReadonlyArray<string>, private readonly options: CliOptions = {}) {
    const env = { ...process.env, ...envOf(options) }
    this.child = options.tty === true
      ? spawn("script", ["-qfec", [process.execPath, BIN, ...args].map(shellQuote).join(" "), "/dev/null"], {
        cwd: root,
        env: { ...env, TERM: "xterm" }
      })
      : spawn(process.execPath, [BIN, ...args], { cwd: root, env })
    const take = (which: "stdout" | "stderr") => (chunk: Buffer) => {
      const text = chunk.toString()
      this[which] += text
      this.output += text
      for (const waiter of this.waiters) waiter()
    }
    this.child.stdout.on("data", take("stdout"))
    this.child.stderr.on("data", take("stderr"))
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)))
  }

  /** Types a line (Enter included). */
  line(text: string): void {
    this.type(text + (this.options.tty === true ? "\r" : "\n"))
  }

  /** Types keys as they are (a Tab, Ctrl-C...). */
  type(keys: string): void {
    this.child.stdin.write(keys)
  }

  /** Waits for `pattern` in the output after the previous match; returns the text up to and including it. */
  expect(pattern: string | RegExp, timeout = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const text = plain(this.output).slice(this.cursor)
        const index = typeof pattern === "string" ? text.indexOf(pattern) : text.search(pattern)
        if (index === -1) return false
        const length = typeof pattern === "string" ? pattern.length : text.slice(index).match(pattern)![0].length
        this.cursor += index + length
        resolve(text.slice(0, index + length))
        return true
      }
      if (check()) return
      const waiter = () => {
        if (!check()) return
        clearTimeout(timer)
        this.waiters.delete(waiter)
      }
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`jstp-cli did not print ${String(pattern)} within ${timeout} ms; after the last match it printed:\n${plain(this.output).slice(this.cursor)}`))
      }, timeout)
      this.waiters.add(waiter)
    })
  }

  /** The output not yet matched. */
  rest(): string {
    return plain(this.output).slice(this.cursor)
  }

  /** Ends input (piped) and waits for the exit code. */
  async end(): Promise<number | null> {
    this.child.stdin.end()
    return this.exited
  }

  kill(): void {
    this.child.kill("SIGKILL")
  }
}

/** Runs jstp-cli with `input` piped in, to the end. */
export const runCli = (args: ReadonlyArray<string>, input: string, options: Pick<CliOptions, "env"> = {}): Promise<Output> =>
  run(process.execPath, [BIN, ...args], 30_000, envOf(options), input)
