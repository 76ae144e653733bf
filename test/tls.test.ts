// The Effect API over TLS: our server and client, and both against
// @metarhia/jstp 2.3.0 over TLS.
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createRequire } from "node:module"
import type * as tls from "node:tls"
import { Application, Connection, Server } from "effect-jstp"
import { type Certificate, makeCertificate } from "./support/certificate.js"
import { quietly } from "./support/reference.js"
import { withStore } from "./support/servers.js"

type Callback = (error: unknown, ...results: Array<unknown>) => void
interface RefConnection {
  callMethod(iface: string, method: string, args: Array<unknown>, callback: Callback): void
  on(event: "error", listener: (error: unknown) => void): void
  close(): void
}
interface Reference {
  Application: new (name: string, api: Record<string, Record<string, unknown>>) => unknown
  tls: {
    createServer(options: Record<string, unknown>): tls.Server
    connect(app: string, client: Record<string, unknown>, options: tls.ConnectionOptions, callback: (error: unknown, connection: RefConnection) => void): void
  }
}
const reference = quietly(() => createRequire(import.meta.url)("@metarhia/jstp") as Reference)

let certificate: Certificate
beforeAll(() => {
  certificate = makeCertificate()
})

const calc = Application.make({
  name: "calc",
  api: { calc: { add: (_connection: Connection.Connection, a: number, b: number) => Effect.succeed(a + b) } }
})

const ourServer = Effect.suspend(() =>
  Server.make({ applications: [calc], listen: [{ _tag: "Tls", host: "127.0.0.1", port: 0, tls: certificate }] }).pipe(withStore))

const portOf = (server: Server.Server): number => {
  const address = server.addresses[0]!
  if (address._tag !== "Tls") throw new Error(`expected a TLS address, got ${address._tag}`)
  return address.port
}

describe("TLS (Effect API)", () => {
  it.scopedLive("our client calls our server over TLS", () =>
    Effect.gen(function*() {
      const server = yield* ourServer
      const address = server.addresses[0]!
      expect(address).toEqual({ _tag: "Tls", host: "127.0.0.1", port: portOf(server) })
      const connection = yield* Connection.connect({
        address: { _tag: "Tls", host: "127.0.0.1", port: portOf(server), tls: { ca: certificate.cert } },
        application: "calc"
      })
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      expect(connection.remoteAddress).toBe(`127.0.0.1:${portOf(server)}`)
      expect(server.connections().map((c) => c.remoteAddress)).toEqual(["127.0.0.1"])
    }))

  it.scopedLive("a client that does not trust the certificate fails with a Transport HandshakeError", () =>
    Effect.gen(function*() {
      const server = yield* ourServer
      const error = yield* Effect.flip(Connection.connect({
        address: { _tag: "Tls", host: "127.0.0.1", port: portOf(server) },
        application: "calc"
      }))
      expect(error._tag).toBe("HandshakeError")
      expect(error.reason).toBe("Transport")
      expect(error.message).toMatch(/certificate/i)
    }))

  it.scopedLive("the reference client calls our TLS server", () =>
    Effect.gen(function*() {
      const server = yield* ourServer
      const results = yield* Effect.async<Array<unknown>, Error>((resume) => {
        reference.tls.connect("calc", { reconnector: () => {} }, { host: "127.0.0.1", port: portOf(server), ca: certificate.cert }, (error, connection) => {
          if (error) return resume(Effect.fail(new Error(String(error))))
          // 2.3.0 rethrows a socket error (a reset as our server shuts down)
          // when its connection has no 'error' listener.
          connection.on("error", () => {})
          connection.callMethod("calc", "add", [20, 22], (failure, ...values) => {
            connection.close()
            resume(failure ? Effect.fail(new Error(String(failure))) : Effect.succeed(values))
          })
        })
      })
      expect(results).toEqual([42])
    }))

  it.scopedLive("our client calls the reference's TLS server", () =>
    Effect.gen(function*() {
      const api = { calc: { add: (_connection: unknown, a: number, b: number, callback: Callback) => callback(null, a + b) } }
      const server = reference.tls.createServer({ applications: [new reference.Application("calc", api)], ...certificate })
      const port = yield* Effect.acquireRelease(
        Effect.async<number>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
        }),
        () => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const connection = yield* Connection.connect({
        address: { _tag: "Tls", host: "127.0.0.1", port, tls: { ca: certificate.cert } },
        application: "calc"
      })
      expect(yield* connection.call("calc", "add", [40, 2])).toEqual([42])
      yield* connection.close
    }))
})
