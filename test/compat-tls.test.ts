// The facade's tls module: a real tls.Server serving JSTP, its client, and
// both against @metarhia/jstp 2.3.0 over TLS.
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { createRequire } from "node:module"
import * as tls from "node:tls"
import jstp from "effect-jstp/compat"
import { type Certificate, makeCertificate } from "./support/certificate.js"
import { quietly } from "./support/reference.js"

interface RefConnection {
  callMethod(iface: string, method: string, args: Array<unknown>, callback: (error: unknown, ...results: Array<unknown>) => void): void
  on(event: "error", listener: (error: unknown) => void): void
  close(): void
}
interface Reference {
  Application: new (name: string, api: Record<string, Record<string, unknown>>) => unknown
  tls: {
    createServer(options: Record<string, unknown>): tls.Server
    connect(app: string, client: Record<string, unknown> | null, options: tls.ConnectionOptions, callback: (error: unknown, connection: RefConnection) => void): void
  }
}
const reference = quietly(() => createRequire(import.meta.url)("@metarhia/jstp") as Reference)

type Callback = (error: unknown, ...results: Array<unknown>) => void
const api = { calc: { add: (_connection: unknown, a: number, b: number, callback: Callback) => callback(null, a + b) } }

let certificate: Certificate
beforeAll(() => {
  certificate = makeCertificate()
})

const listen = (server: tls.Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)))

const closeServer = (server: tls.Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()))

const clientOptions = (port: number): tls.ConnectionOptions => ({ host: "127.0.0.1", port, ca: certificate.cert })

const connectWith = (
  connect: Reference["tls"]["connect"],
  port: number
): Promise<RefConnection> =>
  new Promise((resolve, reject) =>
    connect("calc", { reconnector: () => {} }, clientOptions(port), (error, connection) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)))
      // 2.3.0 rethrows a socket error when its connection has no 'error' listener.
      connection.on("error", () => {})
      resolve(connection)
    }))

const add = (connection: RefConnection, a: number, b: number): Promise<Array<unknown>> =>
  new Promise((resolve, reject) =>
    connection.callMethod("calc", "add", [a, b], (error, ...results) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(results)))

const servers: Array<tls.Server> = []
afterAll(async () => {
  for (const server of servers) if (server.listening) await closeServer(server)
})

describe("compat tls", () => {
  it("createServer returns a real tls.Server serving JSTP; the facade's client calls it over TLS", async () => {
    const server = jstp.tls.createServer({ applications: [new jstp.Application("calc", api)], ...certificate })
    servers.push(server)
    expect(server).toBeInstanceOf(tls.Server)
    const port = await listen(server)
    const connection = await connectWith(jstp.tls.connect as Reference["tls"]["connect"], port)
    expect(await add(connection, 2, 3)).toEqual([5])
    connection.close()
    await closeServer(server)
  })

  it("a client that does not trust the certificate gets the TLS error in its callback, once", async () => {
    const server = jstp.tls.createServer({ applications: [new jstp.Application("calc", api)], ...certificate })
    servers.push(server)
    const port = await listen(server)
    const calls: Array<unknown> = []
    await new Promise<void>((resolve) => {
      jstp.tls.connect("calc", { reconnector: () => {} }, { host: "127.0.0.1", port }, (error: unknown) => {
        calls.push(error)
        setTimeout(resolve, 50)
      })
    })
    expect(calls).toHaveLength(1)
    expect(String(calls[0])).toMatch(/self[- ]signed|certificate/i)
    await closeServer(server)
  })

  it("the reference client calls the facade's TLS server", async () => {
    const server = jstp.tls.createServer({ applications: [new jstp.Application("calc", api)], ...certificate })
    servers.push(server)
    const port = await listen(server)
    const connection = await connectWith(reference.tls.connect, port)
    expect(await add(connection, 20, 22)).toEqual([42])
    connection.close()
    await closeServer(server)
  })

  it("the facade's client calls the reference's TLS server", async () => {
    const server = reference.tls.createServer({ applications: [new reference.Application("calc", api)], ...certificate })
    servers.push(server)
    const port = await listen(server)
    const connection = await connectWith(jstp.tls.connect as Reference["tls"]["connect"], port)
    expect(await add(connection, 40, 2)).toEqual([42])
    connection.close()
    await closeServer(server)
  })
})
