/**
 * Request and response over a forked child's IPC channel (advanced
 * serialization), typed by a table of methods: `serve` in the child,
 * `Child.request` in the parent.
 */
import { type ChildProcess, fork } from "node:child_process"

/** Methods by name: what each takes and gives. */
export type Methods = Record<string, { readonly input: unknown; readonly output: unknown }>

export type Handlers<M extends Methods> = {
  readonly [K in keyof M]: (input: M[K]["input"]) => M[K]["output"] | Promise<M[K]["output"]>
}

interface Request {
  readonly id: number
  readonly method: string
  readonly input: unknown
}

interface Response {
  readonly id: number
  readonly ok: boolean
  readonly value?: unknown
  readonly error?: string
}

/** In a child: answers the parent's requests with `handlers`; exits when the parent goes. */
export const serve = <M extends Methods>(handlers: Handlers<M>): void => {
  const send = process.send?.bind(process)
  if (send === undefined) throw new Error("Not a forked child: no IPC channel")
  process.on("disconnect", () => process.exit(0))
  process.on("message", (message: Request) => {
    const handler = (handlers as Record<string, (input: unknown) => unknown>)[message.method]
    const reply = (response: Response) => {
      if (process.connected) send(response)
    }
    if (handler === undefined) return reply({ id: message.id, ok: false, error: `No method ${message.method}` })
    Promise.resolve()
      .then(() => handler(message.input))
      .then(
        (value) => reply({ id: message.id, ok: true, value }),
        (error: unknown) => reply({ id: message.id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) })
      )
  })
}

/** A forked child process that serves `M`. */
export class Child<M extends Methods> {
  private readonly process: ChildProcess
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  readonly exited: Promise<number | null>

  constructor(readonly name: string, file: string, execArgv: ReadonlyArray<string>) {
    this.process = fork(file, [], { execArgv: [...execArgv], serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] })
    this.process.on("message", (message: Response) => {
      const waiter = this.waiting.get(message.id)
      if (waiter === undefined) return
      this.waiting.delete(message.id)
      if (message.ok) waiter.resolve(message.value)
      else waiter.reject(new Error(`${name}: ${message.error}`))
    })
    this.exited = new Promise((resolve) => {
      this.process.on("exit", (code) => {
        for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} exited (code ${code})`))
        this.waiting.clear()
        resolve(code)
      })
    })
  }

  get pid(): number | undefined {
    return this.process.pid
  }

  request<K extends keyof M & string>(method: K, input: M[K]["input"]): Promise<M[K]["output"]> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.process.send({ id, method, input } satisfies Request, (error) => {
        if (error !== null && error !== undefined) {
          this.waiting.delete(id)
          reject(error)
        }
      })
    })
  }

  /** Ends the child (by its own pid) and waits for it. */
  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.disconnect()
      const timer = setTimeout(() => this.process.kill("SIGKILL"), 5000)
      await this.exited
      clearTimeout(timer)
    }
  }
}
