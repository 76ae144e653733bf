// jstp-cli through the real binary (bin/jstp-cli.js on dist/, which `npm
// test` builds first), against real servers of ours on 127.0.0.1: piped
// stdin for commands and output, a pseudo-terminal (util-linux `script`) for
// the prompt, colours, completion, history and Ctrl-C.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { Application, Connection, RemoteError, Server } from "effect-jstp"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeCertificate } from "./support/certificate.js"
import { Cli, plain, runCli } from "./support/cli.js"
import * as Proxy from "./support/proxy.js"
import * as Servers from "./support/servers.js"
import { root } from "./support/run.js"
import { findTool, withTool } from "./support/external.js"
import { withStore } from "./support/servers.js"

// The terminal tests run the CLI on a pseudo-terminal made by util-linux `script`.
const script = findTool({ name: "script", pkg: "bsdutils" })

const HOST = "127.0.0.1"
type Conn = Connection.Connection

/** What the server saw of its clients. */
const seen: Array<string> = []

const calc = Application.make({
  name: "calc@1.2.0",
  api: {
    calc: {
      add: (_c: Conn, a: number, b: number) => Effect.succeed(a + b),
      echo: (_c: Conn, value: unknown) => Effect.succeed(value),
      divide: Application.callback((_c: Conn, a: number, b: number, callback: (error: unknown, ...results: Array<unknown>) => void) =>
        callback(null, Math.floor(a / b), a % b)),
      fail: (_c: Conn) => RemoteError.make(400, "Nope", ["why"]),
      hang: (_c: Conn) => Effect.never,
      poke: (connection: Conn) => Effect.as(connection.emit("calc", "poked", ["hi", { n: 1 }]), "poked")
    },
    admin: {
      version: (_c: Conn) => Effect.succeed("1.2.0"),
      // Terminal control sequences in what a server says.
      evil: (_c: Conn) => RemoteError.make(400, "bad \x1b[2J\x1b[H cleared")
    }
  },
  events: {
    calc: {
      note: (_c: Conn, ...args: Array<unknown>) => {
        seen.push(`calc.note ${JSON.stringify(args)}`)
      }
    }
  }
})

const dir = mkdtempSync(join(tmpdir(), "jstp-cli-test-"))
const certificate = makeCertificate()
const caFile = join(dir, "ca.pem")
writeFileSync(caFile, certificate.cert)
const socketPath = join(dir, "jstp.sock")

interface Running {
  readonly server: Server.Server
  readonly close: () => Promise<void>
}

/** Starts a server of `calc` on `listen` until `close`. */
const serve = async (listen: Server.Options["listen"], options: Partial<Server.Options> = {}): Promise<Running> => {
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    Server.make({ applications: [calc], listen, ...options }).pipe(withStore, Scope.extend(scope))
  )
  return { server, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** A TCP port nothing listens on. */
const freePort = () => Effect.runPromise(Servers.freePort)

const portOf = (address: Server.Options["listen"][number] | undefined) => {
  if (address === undefined || address._tag === "Unix") throw new Error("no port")
  return address.port
}

let main: Running
let tcp: string, ws: string, tls: string, wss: string

beforeAll(async () => {
  main = await serve([
    { _tag: "Tcp", host: HOST, port: 0 },
    { _tag: "WebSocket", host: HOST, port: 0 },
    { _tag: "Tls", host: HOST, port: 0, tls: certificate },
    { _tag: "WebSocket", host: HOST, port: 0, tls: certificate },
    { _tag: "Unix", path: socketPath }
  ])
  const ports = main.server.addresses.slice(0, 4).map(portOf)
  tcp = `jstp://${HOST}:${ports[0]}`
  ws = `ws://${HOST}:${ports[1]}`
  tls = `${HOST}:${ports[2]}`
  wss = `wss://${HOST}:${ports[3]}`
})

afterAll(async () => {
  await main?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Trusts the test certificate, as a user would their server's. */
const trusting = { env: { NODE_EXTRA_CA_CERTS: caFile } }

describe("jstp-cli: the command line", () => {
  it("--help shows the commands, options and environment; --version the package's version", async () => {
    const help = await runCli(["--help"], "")
    expect(help.code).toBe(0)
    for (const text of ["connect [<scheme>://]<host>:<port>", "call <interface> <method>", "event <interface> <event>", "disconnect", "exit", "-v, --verbose", "-R, --no-reconnect", "-i, --heartbeat-interval <ms>", "-p, --pretty-print [<indent>]", "JSTP_CLI_HISTORY", "JSTP_CLI_HISTORY_SIZE"]) {
      expect(help.stdout).toContain(text)
    }
    const version = await runCli(["--version"], "")
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }
    expect([version.code, version.stdout]).toEqual([0, `${pkg.version}\n`])
  })

  it("a bad option or option value: a clear message on stderr and exit code 2", async () => {
    for (const [args, message] of [
      [["--frobnicate"], "Unknown option '--frobnicate'"],
      [["-i", "soon"], "-i needs a number of milliseconds greater than 0, not 'soon'"],
      [["-i"], "not nothing"],
      [["jstp://127.0.0.1:1"], "A server to connect to needs an application too"]
    ] as const) {
      const result = await runCli(args, "")
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(message)
      expect(result.stdout).toBe("")
    }
  })
})

describe("jstp-cli: commands, piped", () => {
  it("connect over TCP with interfaces; call (one result, several, none of interest), event both ways; plain output, exit code 0", async () => {
    const before = seen.length
    const { code, stdout, stderr } = await runCli([], [
      `connect ${tcp} calc calc admin`,
      "call calc add 2, 3",
      "call calc divide 7, 2",
      `call calc echo { name: 'Ada', 'key-with-dash': [1, , 'it\\'s'], nested: { deep: null } }`,
      "call calc poke",
      "event calc note 'hello', 42",
      "call admin version",
      "exit",
      "call calc add 1, 1"
    ].join("\n") + "\n")
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout.split("\n")).toEqual([
      `Connected to ${tcp}, application calc`,
      "  calc: add, echo, divide, fail, hang, poke",
      "  admin: version, evil",
      "Method calc.add returned: 5",
      "Method calc.divide returned: 3, 1",
      // The hole crossed the wire as an undefined element.
      "Method calc.echo returned: { name: 'Ada', 'key-with-dash': [1, undefined, 'it\\'s'], nested: { deep: null } }",
      "Event calc.poked: 'hi', { n: 1 }",
      "Method calc.poke returned: 'poked'",
      "Event calc.note sent",
      "Method admin.version returned: '1.2.0'",
      ""
    ])
    expect(stdout).not.toContain("\x1b[")
    expect(seen.slice(before)).toEqual([`calc.note ["hello",42]`])
  })

  it("errors are clear, on stderr, and the session goes on; exit code 1 when a piped command failed", async () => {
    const { code, stdout, stderr } = await runCli([], [
      "call calc add 1, 2",
      "frobnicate",
      `connect ${tcp}`,
      `connect ftp://${HOST}:21 calc`,
      `connect jstp://${HOST}:99999 calc`,
      `connect jstp://${HOST} calc`,
      `connect ${tcp.slice("jstp://".length)} calc`,
      `connect ${tcp} calc calc nosuch`,
      "call admin evil",
      "call calc fail",
      "call calc nosuch",
      "call calc add 1,, {",
      "call calc",
      "event calc",
      "disconnect now",
      "call calc add 2, 2",
      "disconnect",
      "call calc add 1, 2",
      "event calc note 1",
      "disconnect"
    ].join("\n") + "\n")
    expect(code).toBe(1)
    expect(stdout.split("\n")).toEqual([
      `Connected to ${tcp}, application calc`,
      "  calc: add, echo, divide, fail, hang, poke",
      "Method calc.add returned: 4",
      `Disconnected from ${tcp}`,
      ""
    ])
    const notConnected = "Not connected: connect to a server first (connect [<scheme>://]<host>:<port> <application>[@<version>] [<interface> ...])"
    expect(stderr.split("\n")).toEqual([
      notConnected,
      "Unknown command 'frobnicate'. Commands: call, connect, disconnect, event, exit, help (help shows how to write them)",
      "The application is missing. Usage: connect [<scheme>://]<host>:<port> <application>[@<version>] [<interface> ...]",
      "Unknown scheme 'ftp': use jstp, jstps, ws, wss, ipc",
      "The port must be a number from 1 to 65535: 99999",
      `The port is missing: jstp://${HOST} (write jstp://${HOST}:<port>)`,
      expect.stringMatching(new RegExp(`^Cannot connect to jstps://${tcp.slice("jstp://".length)}: .* \\(with no scheme, jstp-cli speaks TLS: write jstp:// for plain TCP\\)$`)),
      "No interface 'nosuch' here: RemoteError ERR_INTERFACE_NOT_FOUND (12): Interface not found",
      "admin.evil failed: RemoteError 400: bad \\u001b[2J\\u001b[H cleared",
      "calc.fail failed: RemoteError 400: Nope ['why']",
      "calc.nosuch failed: RemoteError ERR_METHOD_NOT_FOUND (14): Method not found",
      expect.stringMatching(/^The arguments are not a valid literal \(.+\): 1,, \{\. Write them as in JavaScript: 1, 'text', \{ key: \[true, null\] \}$/),
      "The method is missing. Usage: call <interface> <method> [<arg>, ...]",
      "The event is missing. Usage: event <interface> <event> [<arg>, ...]",
      "disconnect takes no arguments. Usage: disconnect",
      notConnected,
      notConnected,
      notConnected,
      ""
    ])
  })

  it("an unreachable server, a handshake refused (no such application, version out of range) and a server that never answers", async () => {
    const nobody = await freePort()
    const silent = Net.createServer((socket) => socket.on("error", () => {}))
    await new Promise<void>((resolve) => silent.listen(0, HOST, resolve))
    const silentPort = (silent.address() as Net.AddressInfo).port
    try {
      const { code, stdout, stderr } = await runCli([], [
        `connect jstp://${HOST}:${nobody} calc`,
        `connect ${tcp} nosuchapp`,
        `connect ${tcp} calc@^2.0.0`,
        `connect ${tcp} calc@not-a-range`,
        `connect jstp://${HOST}:${silentPort} calc`,
        `connect ${tcp} calc@^1.0.0`
      ].join("\n") + "\n")
      expect(code).toBe(1)
      expect(stderr.split("\n")).toEqual([
        `Cannot connect to jstp://${HOST}:${nobody}: Could not reach the server: connect ECONNREFUSED ${HOST}:${nobody}`,
        `Handshake with ${tcp} failed: ERR_APP_NOT_FOUND (10): Application not found`,
        `Handshake with ${tcp} failed: ERR_APP_NOT_FOUND (10): Application not found`,
        "Invalid semver range: not-a-range",
        `Handshake with jstp://${HOST}:${silentPort} failed: No handshake reply within 3s`,
        ""
      ])
      expect(stdout).toBe(`Connected to ${tcp}, application calc@^1.0.0\n`)
    } finally {
      silent.close()
    }
  })

  it("every scheme: ws, wss, jstps (the default without one, and by name), ipc", async () => {
    const run = (target: string) =>
      runCli([target, "calc", "calc"], "call calc add 20, 22\n", trusting)
    for (const [target, shown] of [
      [ws, `${ws}`],
      [wss, `${wss}`],
      [tls, `jstps://${tls}`],
      [`jstps://${tls}`, `jstps://${tls}`],
      [`ipc://${socketPath}`, `ipc://${socketPath}`]
    ] as const) {
      const { code, stdout, stderr } = await run(target)
      expect(stderr, target).toBe("")
      expect(code).toBe(0)
      expect(stdout).toBe(`Connected to ${shown}, application calc\n  calc: add, echo, divide, fail, hang, poke\nMethod calc.add returned: 42\n`)
    }
    // Without trusting the certificate, TLS is refused, saying why.
    const untrusted = await runCli([`jstps://${tls}`, "calc"], "")
    expect(untrusted.code).toBe(1)
    expect(untrusted.stderr).toMatch(new RegExp(`^Cannot connect to jstps://${tls}: .*self[- ]signed certificate`))
  })

  it("-v prints the messages both ways in the object-literal format and each call's round trip; -vv adds pings and pongs (-i sends them)", async () => {
    const once = await runCli(["-v", tcp, "calc"], "call calc add 1, 2\n")
    expect(once.code).toBe(0)
    expect(once.stdout).toContain("Outgoing message: { handshake: [0, 'calc'] }\nIncoming message: { handshake: [0], ok: '")
    expect(once.stdout).toContain("Outgoing message: { call: [1, 'calc'], add: [1, 2] }\nIncoming message: { callback: [1], ok: [3] }\nMethod calc.add returned: 3")
    expect(once.stdout).toMatch(/Method calc\.add returned: 3\nRound trip of calc\.add: \d+(\.\d+)? ms\n/)
    // A call that fails is timed too; without -v, nothing is.
    const failed = await runCli(["-v", tcp, "calc"], "call calc nope\n")
    expect(failed.stdout).toMatch(/Round trip of calc\.nope: \d+(\.\d+)? ms/)
    expect((await runCli([tcp, "calc"], "call calc add 1, 2\n")).stdout).not.toContain("Round trip")
    expect(once.stdout).not.toContain("ping")

    const cli = new Cli(["-vv", "-i", "50", tcp, "calc"])
    await cli.expect(/Outgoing message: \{ ping: \[\d+\] \}/)
    await cli.expect(/Incoming message: \{ pong: \[\d+\] \}/)
    expect(await cli.end()).toBe(0)
  })

  it("-p pretty-prints results and events, indented by two spaces or as asked", async () => {
    const two = await runCli(["-p", tcp, "calc"], "call calc echo { a: [1, 'x'] }\n")
    expect(two.stdout).toContain("Method calc.echo returned: \n{\n  a: [\n    1,\n    'x'\n  ]\n}\n")
    const four = await runCli(["-p", "4", tcp, "calc"], "call calc divide 9, 4\n")
    expect(four.stdout).toContain("Method calc.divide returned: \n2,\n1\n")
    const tab = await runCli(["--pretty-print=\t", tcp, "calc"], "call calc echo [true]\n")
    expect(tab.stdout).toContain("Method calc.echo returned: \n[\n\ttrue\n]\n")
  })
})

describe("jstp-cli: drops and restarts", () => {
  it("a dropped link is restored with its session: a call made while down is answered after the restore", async () => {
    const scope = Effect.runSync(Scope.make())
    const proxy = await Effect.runPromise(Proxy.make(Number(tcp.split(":")[2])).pipe(Scope.extend(scope)))
    try {
      const cli = new Cli([`jstp://${HOST}:${proxy.port}`, "calc", "calc"])
      await cli.expect(`Connected to jstp://${HOST}:${proxy.port}, application calc`)
      cli.line("call calc add 1, 1")
      await cli.expect("Method calc.add returned: 2")
      proxy.refuse(true)
      proxy.drop()
      await cli.expect(/Connection lost \((closed by the server|transport failure)\); reconnecting/)
      await cli.expect(/Reconnecting to jstp:\/\/127\.0\.0\.1:\d+ \(attempt 1\)/)
      cli.line("call calc add 2, 2")
      await cli.expect("The connection is down: the call is sent once it is restored (Ctrl-C cancels it)")
      proxy.refuse(false)
      await cli.expect("Reconnected: the session is restored", 15_000)
      await cli.expect("Method calc.add returned: 4")
      expect(await cli.end()).toBe(0)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  for (const scheme of ["jstp", "ws"] as const) {
    it(`the server restarts (${scheme}): the session cannot be restored, so the client connects anew and goes on`, async () => {
      const port = await freePort()
      const listen: Server.Options["listen"] = [scheme === "jstp" ? { _tag: "Tcp", host: HOST, port } : { _tag: "WebSocket", host: HOST, port }]
      let server = await serve(listen)
      const cli = new Cli([`${scheme}://${HOST}:${port}`, "calc", "calc"])
      try {
        cli.line("call calc add 1, 2")
        await cli.expect("Method calc.add returned: 3")
        await server.close()
        await cli.expect(/Connection lost \((closed by the server|transport failure)\); reconnecting/)
        server = await serve(listen)
        await cli.expect("The server does not know this session any more (has it restarted?)", 15_000)
        await cli.expect(`Connecting anew to ${scheme}://${HOST}:${port} (a new session)`)
        await cli.expect(`Connected anew to ${scheme}://${HOST}:${port} (a new session)`)
        cli.line("call calc add 3, 4")
        await cli.expect("Method calc.add returned: 7")
        expect(await cli.end()).toBe(0)
      } finally {
        cli.kill()
        await server.close()
      }
    })
  }

  it("a server that breaks the protocol after the handshake: reported once, not reconnected to in a loop", async () => {
    let accepted = 0
    const rogue = Net.createServer((socket) => {
      accepted++
      socket.on("error", () => {})
      socket.once("data", () => socket.write("{handshake:[0],ok:'a-session'}\0}}garbage\0"))
    })
    await new Promise<void>((resolve) => rogue.listen(0, HOST, resolve))
    const port = (rogue.address() as Net.AddressInfo).port
    try {
      const cli = new Cli([`jstp://${HOST}:${port}`, "calc"])
      await cli.expect("The connection closed: the server sent something that is not JSTP")
      // Time for a reconnection loop to show itself, had there been one.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(accepted).toBe(1)
      expect(cli.rest()).not.toContain("anew")
      cli.line("call calc add 1, 2")
      await cli.expect("Not connected")
      expect(await cli.end()).toBe(1)
    } finally {
      rogue.close()
    }
  })

  it("output into a pipe that closes (jstp-cli | head -1) ends it quietly", async () => {
    const cli = new Cli([tcp, "calc"])
    await cli.expect("Connected to")
    cli.child.stdout.destroy()
    for (let i = 0; i < 50; i++) cli.line(`call calc add ${i}, 1`)
    const code = await cli.exited
    expect(cli.stderr).toBe("")
    expect(code).toBe(0)
  })

  it("-R: no reconnection; the drop is reported and later calls say there is no connection", async () => {
    const port = await freePort()
    const server = await serve([{ _tag: "Tcp", host: HOST, port }])
    const cli = new Cli(["-R", `jstp://${HOST}:${port}`, "calc"])
    try {
      cli.line("call calc add 1, 2")
      await cli.expect("Method calc.add returned: 3")
      await server.close()
      await cli.expect(/The server closed the connection|The connection closed/)
      cli.line("call calc add 1, 2")
      await cli.expect("Not connected: connect to a server first")
      expect(cli.rest()).not.toContain("Reconnecting")
      expect(await cli.end()).toBe(1)
    } finally {
      cli.kill()
    }
  })
})

describe("jstp-cli: on a terminal", () => {
  withTool(script, "a prompt that shows the connection and its reconnects, colours, Tab completion of commands, interfaces and methods", (name) =>
  it(name, async () => {
    const scope = Effect.runSync(Scope.make())
    const proxy = await Effect.runPromise(Proxy.make(Number(tcp.split(":")[2])).pipe(Scope.extend(scope)))
    const cli = new Cli([], { tty: true })
    try {
      await cli.expect("jstp> ")
      cli.type("con\t")
      await cli.expect("connect ")
      cli.type(`jstp://${HOST}:${proxy.port} calc calc admin\r`)
      await cli.expect(`Connected to jstp://${HOST}:${proxy.port}, application calc`)
      await cli.expect(`jstp://${HOST}:${proxy.port} calc> `)
      cli.type("call ca\t")
      await cli.expect("call calc ")
      // Keys are typed apart: readline takes a Tab within pasted text as text.
      cli.type("a")
      await cli.expect("a")
      cli.type("\t")
      await cli.expect("dd ")
      cli.type("20, 22\r")
      await cli.expect("Method calc.add returned: 42")
      // Several candidates: listed.
      cli.type("call calc ")
      await cli.expect("call calc ")
      // As in a shell, the second Tab lists them.
      cli.type("\t")
      await new Promise((resolve) => setTimeout(resolve, 100))
      cli.type("\t")
      await cli.expect(/add\s+divide\s+echo\s+fail\s+hang\s+poke/)
      cli.type("\x15") // Ctrl-U: clear the line
      // Coloured: the result's number, and the info line.
      expect(cli.output).toContain("\x1b[33m42\x1b[39m")
      expect(cli.output).toContain("\x1b[36mConnected to")
      proxy.refuse(true)
      proxy.drop()
      await cli.expect(`jstp://${HOST}:${proxy.port} calc (reconnecting)> `)
      proxy.refuse(false)
      await cli.expect("Reconnected: the session is restored", 15_000)
      await cli.expect(`jstp://${HOST}:${proxy.port} calc> `)
      cli.line("exit")
      expect(await cli.exited).toBe(0)
    } finally {
      cli.kill()
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }))

  withTool(script, "Ctrl-C cancels a call that hangs and the session goes on; on a typed line it drops the line; at an empty prompt it leaves", (name) =>
  it(name, async () => {
    const cli = new Cli([tcp, "calc"], { tty: true })
    try {
      await cli.expect(`${tcp} calc> `)
      cli.line("call calc hang")
      await cli.expect("call calc hang")
      await new Promise((resolve) => setTimeout(resolve, 200))
      cli.type("\x03")
      await cli.expect("Cancelled")
      cli.line("call calc add 1, 1")
      await cli.expect("Method calc.add returned: 2")
      await cli.expect(`${tcp} calc> `)
      // On a line being typed, Ctrl-C drops the line and stays.
      cli.type("call calc add 5,")
      await cli.expect("call calc add 5,")
      cli.type("\x03")
      await cli.expect("^C")
      await cli.expect(`${tcp} calc> `)
      cli.line("call calc add 2, 2")
      await cli.expect("Method calc.add returned: 4")
      await cli.expect(`${tcp} calc> `)
      cli.type("\x03")
      expect(await cli.exited).toBe(0)
    } finally {
      cli.kill()
    }
  }))

  withTool(script, "history persists in JSTP_CLI_HISTORY (newest first, at most JSTP_CLI_HISTORY_SIZE lines); Up recalls it next time; empty keeps none", (name) =>
  it(name, async () => {
    const file = join(dir, "history")
    const env = { JSTP_CLI_HISTORY: file, JSTP_CLI_HISTORY_SIZE: "3" }
    const first = new Cli([tcp, "calc"], { tty: true, env })
    try {
      await first.expect(`${tcp} calc> `)
      for (const [line, result] of [["call calc add 1, 1", "2"], ["call calc add 2, 2", "4"], ["call calc add 3, 3", "6"], ["call calc add 4, 4", "8"]]) {
        first.line(line!)
        await first.expect(`returned: ${result}`)
      }
      first.line("exit")
      expect(await first.exited).toBe(0)
    } finally {
      first.kill()
    }
    expect(readFileSync(file, "utf8").split("\n")).toEqual(["exit", "call calc add 4, 4", "call calc add 3, 3"])

    const second = new Cli([tcp, "calc"], { tty: true, env })
    try {
      await second.expect(`${tcp} calc> `)
      second.type("\x1b[A\x1b[A\r") // Up twice: the call before `exit`
      await second.expect("Method calc.add returned: 8")
      second.line("exit")
      expect(await second.exited).toBe(0)
    } finally {
      second.kill()
    }

    const none = join(dir, "none")
    const third = new Cli([], { tty: true, env: { JSTP_CLI_HISTORY: "", HOME: none } })
    try {
      await third.expect("jstp> ")
      third.line("help")
      await third.expect("call <interface> <method>")
      third.line("exit")
      expect(await third.exited).toBe(0)
    } finally {
      third.kill()
    }
    expect(existsSync(none)).toBe(false)
    expect(plain(third.output)).not.toContain("History is not kept")
  }))
})
