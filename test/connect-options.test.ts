// The facade's net client opens its sockets with one options object (to set
// `onread`): every argument form of net.connect must mean what it means to
// net.connect itself.
import { describe, expect, it } from "@effect/vitest"
import * as Net from "node:net"
import { connectOptions } from "../src/compat/connectOptions.js"

const onread = { buffer: Buffer.alloc(64), callback: () => true }

// What opening a socket with `open` comes to: a synchronous throw, an error,
// or a connection (then closed).
const outcome = (open: () => Net.Socket): Promise<string> =>
  new Promise((resolve) => {
    let socket: Net.Socket
    try {
      socket = open()
    } catch (error) {
      return resolve(`throws ${(error as { code?: string }).code}`)
    }
    socket.on("error", (error: Error & { code?: string; port?: number }) => resolve(`error ${error.code} ${error.port ?? ""}`))
    socket.on("connect", () => {
      const to = socket.remotePort ?? "a path"
      socket.destroy()
      resolve(`connects to ${to}`)
    })
  })

describe("connectOptions: net.connect's arguments as one options object", () => {
  it("every argument form opens what net.connect opens, or fails as it fails", async () => {
    const server = Net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as Net.AddressInfo).port
    try {
      const forms: ReadonlyArray<ReadonlyArray<unknown>> = [
        [port, "127.0.0.1"],
        [String(port), "127.0.0.1"],
        [{ port, host: "127.0.0.1" }],
        [{ port: String(port), host: "127.0.0.1", noDelay: true }],
        ["/nonexistent/jstp.sock"],
        [{ path: "/nonexistent/jstp.sock" }],
        [{ path: "/nonexistent/jstp.sock", port, host: "127.0.0.1" }],
        // Inherited options and getters count, as they do for net.connect.
        [Object.create({ port, host: "127.0.0.1" })],
        [new (class {
          get port() {
            return port
          }
          get host() {
            return "127.0.0.1"
          }
        })()],
        [port, () => {}],
        ["-1"],
        [],
        [{}],
        [null],
        [-1],
        [70000, "127.0.0.1"],
        [true],
        [1.5],
        ["", "127.0.0.1"],
        [" "]
      ]
      for (const args of forms) {
        const expected = await outcome(() => (Net.connect as (...args: Array<unknown>) => Net.Socket)(...args))
        const actual = await outcome(() => Net.connect(connectOptions(args, onread)))
        expect(actual, JSON.stringify(args)).toBe(expected)
        const first = args[0] as { port?: unknown; path?: unknown } | undefined
        if (first === port || (first?.port === port && first.path === undefined)) {
          expect(actual, JSON.stringify(args)).toBe(`connects to ${port}`)
        }
      }
    } finally {
      server.close()
    }
  })

  it("sets onread (over one given), with the given options as own properties, and leaves the caller's object as it was", () => {
    const given = { port: 1, host: "127.0.0.1", onread: { buffer: Buffer.alloc(1), callback: () => true } }
    const options = connectOptions([given], onread)
    expect({ ...options }).toEqual({ port: 1, host: "127.0.0.1", onread })
    expect(given.onread).not.toBe(onread)
    expect(Object.keys(given)).toEqual(["port", "host", "onread"])
  })
})
