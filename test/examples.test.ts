// The programs in examples/ run, and print what they promise.
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { root, run } from "./support/run.js"

const tsNode = (file: string) => run(process.execPath, ["--import", "tsx", file])

describe("examples", () => {
  it("wire-roundtrip round-trips every message kind", async () => {
    const { code, stderr, stdout } = await tsNode("examples/wire-roundtrip.ts")
    expect(stderr).toBe("")
    expect(code).toBe(0)
    for (const tag of ["HandshakeRequest", "HandshakeOk", "Call", "CallbackOk", "CallbackError", "Event", "Inspect", "Ping", "Pong", "Heartbeat"]) {
      expect(stdout).toContain(tag)
    }
    expect(stdout).toContain(`→ {"event":[-12,"chat"],"message":["Marcus","Hi, 'all' 👋"]}`)
    expect(stdout).toContain("10 messages (309 bytes in chunks of 7) round-tripped.")
  })

  it("hello shows calls, errors, inspect, events and a call back to the client", async () => {
    const { code, stderr, stdout } = await tsNode("examples/hello.ts")
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout.trim().split("\n")).toEqual([
      "[ 'Hello, Effect!' ]",
      "failed with RemoteError 400: Who are you?",
      "greeter offers hello, askClient, divide",
      "[ 3, 2 ]",
      "[ 'the client says it is hello.ts' ]",
      "event wavedBack: hi server",
      "done"
    ])
  })

  it("typed-shop calls a typed contract: results, a declared failure caught by tag, several results, a typed event", async () => {
    const { code, stderr, stdout } = await tsNode("examples/typed-shop.ts")
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout.trim().split("\n")).toEqual([
      "apples left: 1",
      "out of stock: 1 apple left",
      "total: 12.5 EUR",
      "restocked: [ 'pear', 10 ]"
    ])
  })

  it("npm start serves chat on PORT and WS_PORT, the chat client talks to it over both, Ctrl-C stops it cleanly", async () => {
    const server = spawn(process.execPath, ["--import", "tsx", "examples/chat-server.ts"], {
      cwd: root,
      env: { ...process.env, PORT: "0", WS_PORT: "0" }
    })
    let output = ""
    server.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    server.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)))
    try {
      const [port, wsPort] = await new Promise<[string, string]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 15_000)
        server.stdout.on("data", () => {
          const tcp = /\bPORT=(\d+)/.exec(output)
          const ws = /WS_PORT=(\d+)/.exec(output)
          if (tcp !== null && ws !== null) {
            clearTimeout(timer)
            resolve([tcp[1]!, ws[1]!])
          }
        })
      })
      expect(output).toContain(`listening on tcp://127.0.0.1:${port} and ws://127.0.0.1:${wsPort}`)
      const client = await run(process.execPath, ["--import", "tsx", "examples/chat-client.ts"], 20_000, { PORT: port })
      expect(client.stderr).toBe("")
      expect(client.code).toBe(0)
      expect(client.stdout).toContain(`connected to 127.0.0.1:${port}; chat offers join, say, users`)
      expect(client.stdout).toContain("joined; in the room: ada")
      expect(client.stdout).toContain("<server> ada joined")
      expect(client.stdout).toContain("<ada> Hello, JSTP!")
      const wsClient = await run(process.execPath, ["--import", "tsx", "examples/chat-client.ts"], 20_000, { WS_PORT: wsPort, NAME: "grace" })
      expect(wsClient.stderr).toBe("")
      expect(wsClient.code).toBe(0)
      expect(wsClient.stdout).toContain(`connected to ws://127.0.0.1:${wsPort}/; chat offers join, say, users`)
      expect(wsClient.stdout).toContain("<grace> Hello, JSTP!")
      // The jstp-cli command it prints reaches it.
      const cliCommand = /jstp-cli: (npm run cli -- .+)/.exec(output)?.[1]
      expect(cliCommand).toBe(`npm run cli -- jstp://127.0.0.1:${port} chat chat`)
      const cli = await run("sh", ["-c", cliCommand!], 30_000, {}, "call chat join 'linus'\ncall chat users\n")
      expect(cli.stderr).toBe("")
      expect(cli.code).toBe(0)
      expect(cli.stdout).toContain(`Connected to jstp://127.0.0.1:${port}, application chat\n  chat: join, say, users\n`)
      expect(cli.stdout).toContain("Event chat.message: 'server', 'linus joined'\n")
      // The example clients have left by now.
      expect(cli.stdout).toContain("Method chat.users returned: ['linus']\n")
    } finally {
      server.kill("SIGINT")
    }
    expect(await exited).toBe(0)
    expect(output).toContain("connected: connection")
    expect(output).toContain("Stopped: listener closed, connections closed.")
  })
})
