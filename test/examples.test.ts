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

  it("observability: a call from one process to another, its spans linked parent to child and its metrics, through OpenTelemetry", async () => {
    const { code, stderr, stdout } = await tsNode("examples/observability.ts")
    expect(stderr).toBe("")
    expect(code).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines[0]).toBe("[ 'Hello, OpenTelemetry!' ]")
    interface Span {
      readonly process: string
      readonly name: string
      readonly kind: number
      readonly trace: string
      readonly span: string
      readonly parent: string
    }
    const spans: Array<Span> = lines.flatMap((line) => {
      const match = /^span (client|server) (.+) kind=(\d) trace=(\w+) span=(\w+) parent=(\w+|-)$/.exec(line)
      return match === null ? [] : [{ process: match[1]!, name: match[2]!, kind: Number(match[3]), trace: match[4]!, span: match[5]!, parent: match[6]! }]
    })
    const one = (process: string, name: string, kind: number): Span => {
      const found = spans.filter((span) => span.process === process && span.name === name && span.kind === kind)
      expect(found, `${process} ${name}`).toHaveLength(1)
      return found[0]!
    }
    // OpenTelemetry's SpanKind: INTERNAL 0, SERVER 1, CLIENT 2.
    const request = one("client", "GET /hello", 0)
    const caller = one("client", "greeter/hello", 2)
    const handler = one("server", "greeter/hello", 1)
    const work = one("server", "compose greeting", 0)
    expect(request.parent).toBe("-")
    expect(caller.parent).toBe(request.span)
    expect(handler.parent).toBe(caller.span)
    expect(work.parent).toBe(handler.span)
    expect(new Set([request, caller, handler, work].map((span) => span.trace)).size).toBe(1)
    one("client", "jstp.handshake", 2)
    one("server", "jstp.handshake", 1)

    const metrics = new Map(lines.flatMap((line) => {
      const match = /^metric (client|server) (\S+) (\d+)$/.exec(line)
      return match === null ? [] : [[`${match[1]} ${match[2]}`, Number(match[3])] as const]
    }))
    for (const role of ["client", "server"]) {
      expect(metrics.get(`${role} jstp_calls_total{role=${role},interface=greeter,method=hello,outcome=ok}`)).toBe(1)
      expect(metrics.get(`${role} jstp_call_duration_seconds{role=${role},interface=greeter,method=hello}`)).toBe(1)
      expect(metrics.get(`${role} jstp_handshakes_total{role=${role},outcome=accepted}`)).toBe(1)
    }
    expect(metrics.get("client jstp_messages_total{role=client,direction=out}")).toBe(2)
    expect(metrics.get("server jstp_messages_total{role=server,direction=in}")).toBe(2)
    expect(metrics.get("client jstp_bytes_total{role=client,direction=out}"))
      .toBe(metrics.get("server jstp_bytes_total{role=server,direction=in}"))
    expect(metrics.get("client jstp_connections{role=client}")).toBe(0)
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
