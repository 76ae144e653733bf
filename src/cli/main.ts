/**
 * jstp-cli: an interactive JSTP client (the `jstp-cli` bin). Reads
 * commands line by line and runs each in turn; Ctrl-C cancels the one
 * running, or leaves when none is.
 *
 * @since 0.1.0
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Either, Fiber, Layer, Option, Runtime } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { ClientService } from "./Client.js"
import * as Client from "./Client.js"
import * as Command from "./Command.js"
import * as Completion from "./Completion.js"
import * as Options from "./Options.js"
import * as Terminal from "./Terminal.js"

// The package's version, from the package.json above this module (in src/ or dist/).
const packageVersion = (): string => {
  for (let dir = Path.dirname(fileURLToPath(import.meta.url)); dir !== Path.dirname(dir); dir = Path.dirname(dir)) {
    try {
      const json = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string }
      if (json.name === "effect-jstp") return json.version ?? "unknown"
    } catch {
      // No package.json here: look further up.
    }
  }
  return "unknown"
}

// Runs the lines typed until `exit` or the end of input; the exit code is 1
// if, with input from a pipe, a command failed.
const repl = (initial: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const terminal = yield* Terminal.TerminalService
    const client = yield* ClientService
    const runtime = yield* Effect.runtime<never>()
    terminal.setCompleter((line) => Completion.complete(line, client.api()))
    let running: Fiber.RuntimeFiber<void, Client.CommandFailed> | undefined
    let failures = 0
    terminal.onInterrupt(() => {
      if (running === undefined) return false
      Runtime.runFork(runtime)(Fiber.interrupt(running))
      return true
    })

    // Runs one line; false once it says exit.
    const runLine = (line: string) =>
      Effect.gen(function*() {
        const parsed = Command.parse(line)
        if (parsed === undefined) return true
        if (Either.isLeft(parsed)) {
          failures++
          terminal.print(parsed.left.message, "error")
          return true
        }
        const command = parsed.right
        if (command._tag === "Exit") return false
        terminal.setBusy(true)
        running = yield* Effect.fork(client.run(command))
        const exit = yield* Fiber.await(running)
        running = undefined
        terminal.setBusy(false)
        if (exit._tag === "Failure") {
          failures++
          const failure = Cause.failureOption(exit.cause)
          terminal.print(
            failure._tag === "Some"
              ? failure.value.message
              : Cause.isInterruptedOnly(exit.cause)
              ? "Cancelled"
              : `jstp-cli failed: ${Cause.pretty(exit.cause)}`,
            "error"
          )
        }
        return true
      })

    if (initial.length > 0 && !(yield* runLine(`connect ${initial.join(" ")}`))) return 0
    for (;;) {
      const line = yield* terminal.nextLine
      if (Option.isNone(line) || !(yield* runLine(line.value))) break
    }
    return !terminal.interactive && failures > 0 ? 1 : 0
  })

const main = Effect.gen(function*() {
  const version = packageVersion()
  const options = Options.parse(process.argv.slice(2))
  if (Either.isLeft(options)) {
    process.stderr.write(options.left.message + "\n")
    return 2
  }
  if (options.right.help) {
    process.stdout.write(Options.usage(version) + "\n")
    return 0
  }
  if (options.right.version) {
    process.stdout.write(version + "\n")
    return 0
  }
  const { connect, ...settings } = options.right
  return yield* repl(connect).pipe(
    Effect.provide(Client.layer(settings).pipe(Layer.provideMerge(Terminal.layer)))
  )
})

// The process ends by itself once the connection and the terminal are
// closed, after stdout is flushed (process.exit could cut off piped output).
NodeRuntime.runMain(Effect.flatMap(main, (code) => Effect.sync(() => void (process.exitCode = code))))
