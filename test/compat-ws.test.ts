// The facade's ws and wss modules: JSTP over WebSocket, against itself and
// against @metarhia/jstp 2.3.0, and the server's refusals.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as http from "node:http"
import * as https from "node:https"
import { createRequire } from "node:module"
import WebSocket from "ws"
import jstp from "effect-jstp/compat"
import { type Certificate, makeCertificate } from "./support/certificate.js"
import { quietly } from "./support/reference.js"

type Callback = (error: unknown, ...results: Array<unknown>) => void
interface Peer {
  callMethod(iface: string, method: string, args: Array<unknown>, callback: Callback): void
  on(event: string, listener: (...args: Array<unknown>) => void): void
  close(): void
  getTransport(): unknown
}
type Connect = (app: string, client: Record<string, unknown>, config: Record<string, unknown>, url: string, callback: (error: unknown, connection: Peer) => void) => void
interface Reference {
  Application: new (name: string, api: Record<string, Record<string, unknown>>) => unknown
  ws: { createServer(options: Record<string, unknown>): http.Server; connect: Connect }
}
const reference = quietly(() => createRequire(import.meta.url)("@metarhia/jstp") as Reference)

const api = { calc: { add: (_connection: unknown, a: number, b: number, callback: Callback) => callback(null, a + b) } }

let certificate: Certificate
const servers: Array<http.Server> = []
beforeAll(() => {
  certificate = makeCertificate()
})
afterAll(async () => {
  for (const server of servers) if (server.listening) await new Promise((resolve) => server.close(resolve))
})

const listen = (server: http.Server): Promise<number> => {
  servers.push(server)
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)))
}

const connect = (how: Connect, url: string, config: Record<string, unknown> = {}, client: Record<string, unknown> = {}): Promise<Peer> =>
  new Promise((resolve, reject) =>
    how("calc", { reconnector: () => {}, ...client }, config, url, (error, connection) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)))
      connection.on("error", () => {}) // 2.3.0 rethrows socket errors without a listener
      resolve(connection)
    }))

const add = (connection: Peer, a: number, b: number): Promise<Array<unknown>> =>
  new Promise((resolve, reject) =>
    connection.callMethod("calc", "add", [a, b], (error, ...results) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(results)))

const ours = jstp.ws.connect as unknown as Connect

describe("compat ws", () => {
  it("createServer returns a real http.Server serving JSTP over WebSocket", async () => {
    const server = jstp.ws.createServer([new jstp.Application("calc", api)])
    expect(server).toBeInstanceOf(http.Server)
    const port = await listen(server)
    const connection = await connect(ours, `ws://127.0.0.1:${port}`)
    expect(await add(connection, 2, 3)).toEqual([5])
    connection.close()
  })

  it("answers a plain HTTP request with 400", async () => {
    const port = await listen(jstp.ws.createServer([new jstp.Application("calc", api)]))
    const status = await new Promise<number | undefined>((resolve) =>
      http.get(`http://127.0.0.1:${port}/`, (response) => {
        response.resume()
        resolve(response.statusCode)
      }))
    expect(status).toBe(400)
  })

  it("refuses an upgrade without the metarhia-jstp subprotocol, and keeps serving", async () => {
    const server = jstp.ws.createServer([new jstp.Application("calc", api)])
    const port = await listen(server)
    const refused = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}`, "chat")
      socket.on("unexpected-response", (_request, response) => resolve(`status ${response.statusCode}`))
      socket.on("open", () => resolve("opened"))
      socket.on("error", () => {})
    })
    expect(refused).toBe("status 400")
    const connection = await connect(ours, `ws://127.0.0.1:${port}`)
    expect(await add(connection, 1, 1)).toEqual([2])
    connection.close()
  })

  it("originCheckStrategy refuses an origin; the client gets the error in its callback", async () => {
    const origins: Array<string | undefined> = []
    const server = jstp.ws.createServer([new jstp.Application("calc", api)], {
      originCheckStrategy: (origin) => {
        origins.push(origin)
        return origin === "https://good.example"
      }
    })
    const port = await listen(server)
    await expect(connect(ours, `ws://127.0.0.1:${port}`, { origin: "https://evil.example" })).rejects.toThrow(/403/)
    const connection = await connect(ours, `ws://127.0.0.1:${port}`, { origin: "https://good.example" })
    expect(await add(connection, 3, 4)).toEqual([7])
    connection.close()
    expect(origins).toEqual(["https://evil.example", "https://good.example"])
  })

  it("the reference client calls the facade's server over WebSocket", async () => {
    const port = await listen(jstp.ws.createServer([new jstp.Application("calc", api)]))
    const connection = await connect(reference.ws.connect, `ws://127.0.0.1:${port}`)
    expect(await add(connection, 20, 22)).toEqual([42])
    connection.close()
  })

  it("the facade's client calls the reference's server over WebSocket", async () => {
    const port = await listen(reference.ws.createServer({ applications: [new reference.Application("calc", api)] }))
    const connection = await connect(ours, `ws://127.0.0.1:${port}`)
    expect(await add(connection, 40, 2)).toEqual([42])
    connection.close()
  })

  it("wss: an https.Server serving JSTP over secure WebSocket", async () => {
    const server = jstp.wss.createServer({ applications: [new jstp.Application("calc", api)], ...certificate })
    expect(server).toBeInstanceOf(https.Server)
    const port = await listen(server)
    const connection = await connect(ours, `wss://127.0.0.1:${port}`, { ca: certificate.cert })
    expect(await add(connection, 5, 6)).toEqual([11])
    connection.close()
  })

  it("a dropped WebSocket is reconnected and the session restored", async () => {
    const server = jstp.ws.createServer([new jstp.Application("calc", api)])
    const port = await listen(server)
    let restored: (error: unknown) => void = () => {}
    const reconnected = new Promise<unknown>((resolve) => (restored = resolve))
    const client = {
      reconnector: (_connection: unknown, reconnect: (callback: (error: unknown) => void) => void) =>
        setTimeout(() => reconnect(restored), 10)
    }
    const connection = await connect(ours, `ws://127.0.0.1:${port}`, {}, client)
    const session = (connection as unknown as { session: { id: string } }).session.id
    ;(connection.getTransport() as WebSocket).terminate()
    expect(await reconnected).toBeNull()
    expect((connection as unknown as { session: { id: string } }).session.id).toBe(session)
    expect(await add(connection, 8, 8)).toEqual([16])
    connection.close()
  })
})
