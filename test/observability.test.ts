// Observability (issue 17): every metric's name, labels and values after a
// scripted exchange, on both sides and through both APIs; spans per call
// with their parent links (the caller's span → the handler's span → what
// the handler does), handshake and restore spans; the trace context on the
// wire, which 2.3.0 ignores both ways; and nothing recorded without
// Observability.
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Metric, Schedule } from "effect"
import { Application, Connection, Message, Observability, RemoteError, Server } from "effect-jstp"
import * as Compat from "./support/compat.js"
import * as Proxy from "./support/proxy.js"
import { eventually as eventuallyOf, portOf, TCP, withStore } from "./support/servers.js"

type Labels = Readonly<Record<string, string>>

/** Waits until `holds()`. */
const eventually = (holds: () => boolean, what: string) => eventuallyOf(Effect.sync(holds), (ok) => ok, what)

const sameLabels = (tags: ReadonlyArray<{ readonly key: string; readonly value: string }>, labels: Labels): boolean =>
  tags.length === Object.keys(labels).length && tags.every((tag) => labels[tag.key] === tag.value)

/** A metric's state for exactly these labels, or undefined if it has none. */
const stateOf = (name: string, labels: Labels): unknown =>
  Metric.unsafeSnapshot().find((pair) => pair.metricKey.name === name && sameLabels(pair.metricKey.tags, labels))
    ?.metricState

/** A counter's or gauge's value (0 when never recorded), or a histogram's count. */
const value = (name: string, labels: Labels): number => {
  const state = stateOf(name, labels) as { count?: number; value?: number } | undefined
  if (state === undefined) return 0
  return state.value ?? state.count ?? 0
}

/** Every label set a metric has, for checking that no unbounded label appears. */
const labelSets = (name: string): Array<Labels> =>
  Metric.unsafeSnapshot()
    .filter((pair) => pair.metricKey.name === name)
    .map((pair) => Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value])))

const client = (labels: Labels = {}) => ({ role: "client", ...labels })
const server = (labels: Labels = {}) => ({ role: "server", ...labels })

const calc = (gate: Deferred.Deferred<void>) =>
  Application.make({
    name: "calc",
    api: {
      calc: {
        add: (_c: Connection.Connection, a: number, b: number) => Effect.succeed(a + b),
        fail: (_c: Connection.Connection) => Effect.fail(RemoteError.make(42, "no")),
        slow: (_c: Connection.Connection) => Effect.as(Deferred.await(gate), "late"),
        traced: (_c: Connection.Connection) => Effect.withSpan(Effect.succeed("done"), "handler work")
      }
    }
  })

describe("metrics after a scripted exchange (Effect API, both sides)", () => {
  it.scopedLive("counts connections, handshakes, calls, latency, events, messages, bytes, buffered, dropped callbacks", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const srv = yield* Server.make({ applications: [calc(gate)], listen: [TCP] }).pipe(withStore)
      const connection = yield* Connection.connect({ address: { ...TCP, port: portOf(srv.addresses[0]) }, application: "calc" })
      yield* eventually(() => srv.connections().length === 1, "the server to register the client")
      expect(value("jstp_connections", client())).toBe(1)
      expect(value("jstp_connections", server())).toBe(1)
      expect(value("jstp_handshakes_total", client({ outcome: "accepted" }))).toBe(1)
      expect(value("jstp_handshakes_total", server({ outcome: "accepted" }))).toBe(1)

      for (const [a, b] of [[1, 2], [3, 4], [5, 6]] as const) expect(yield* connection.call("calc", "add", [a, b])).toEqual([a + b])
      yield* Effect.flip(connection.call("calc", "fail", []))
      const unknown = yield* Effect.flip(connection.call("calc", "nope", []))
      expect(unknown._tag === "RemoteError" && unknown.code).toBe(14)
      yield* connection.emit("calc", "hello", [1])
      yield* connection.emit("calc", "hello", [2])
      yield* srv.connections()[0]!.emit("calc", "tick", [3])
      expect(yield* connection.call("calc", "add", [7, 8])).toEqual([15])

      const calls = (role: typeof client, method: string, outcome: string, iface = "calc") =>
        value("jstp_calls_total", role({ interface: iface, method, outcome }))
      expect(calls(client, "add", "ok")).toBe(4)
      expect(calls(server, "add", "ok")).toBe(4)
      expect(calls(client, "fail", "error")).toBe(1)
      expect(calls(server, "fail", "error")).toBe(1)
      // The caller's names are its own; a server labels names it lacks (unknown).
      expect(calls(client, "nope", "error")).toBe(1)
      expect(calls(server, Observability.UNKNOWN, "error", Observability.UNKNOWN)).toBe(1)
      expect(labelSets("jstp_calls_total").some((labels) => labels.role === "server" && labels.method === "nope")).toBe(false)

      const latency = stateOf("jstp_call_duration_seconds", client({ interface: "calc", method: "add" })) as {
        count: number
        sum: number
        min: number
        max: number
      }
      expect(latency.count).toBe(4)
      expect(latency.min).toBeGreaterThan(0)
      expect(latency.max).toBeLessThan(5)
      expect(value("jstp_call_duration_seconds", server({ interface: "calc", method: "add" }))).toBe(4)

      expect(value("jstp_events_total", client({ direction: "out" }))).toBe(2)
      expect(value("jstp_events_total", server({ direction: "in" }))).toBe(2)
      expect(value("jstp_events_total", server({ direction: "out" }))).toBe(1)
      expect(value("jstp_events_total", client({ direction: "in" }))).toBe(1)

      // Client: the handshake, 6 calls, 2 events. Server: its reply, 6 callbacks, 1 event.
      expect(value("jstp_messages_total", client({ direction: "out" }))).toBe(9)
      expect(value("jstp_messages_total", server({ direction: "in" }))).toBe(9)
      expect(value("jstp_messages_total", server({ direction: "out" }))).toBe(8)
      expect(value("jstp_messages_total", client({ direction: "in" }))).toBe(8)
      // The bytes of exactly what the client sent (no traceparent: spans are off).
      const call = (id: number, method: string, args: ReadonlyArray<unknown>): Message.Message =>
        ({ _tag: "Call", id, iface: "calc", method, args })
      const sentByClient: ReadonlyArray<Message.Message> = [
        { _tag: "HandshakeRequest", id: 0, app: "calc", version: undefined, auth: { _tag: "Anonymous" } },
        call(1, "add", [1, 2]),
        call(2, "add", [3, 4]),
        call(3, "add", [5, 6]),
        call(4, "fail", []),
        call(5, "nope", []),
        { _tag: "Event", id: 6, iface: "calc", event: "hello", args: [1] },
        { _tag: "Event", id: 7, iface: "calc", event: "hello", args: [2] },
        call(8, "add", [7, 8])
      ]
      const clientOut = value("jstp_bytes_total", client({ direction: "out" }))
      expect(clientOut).toBe(sentByClient.reduce((sum, message) => sum + Buffer.byteLength(Message.serialize(message)), 0))
      expect(value("jstp_bytes_total", server({ direction: "in" }))).toBe(clientOut)
      expect(value("jstp_bytes_total", client({ direction: "in" }))).toBe(value("jstp_bytes_total", server({ direction: "out" })))

      // The client's events were acknowledged by the last callback; the
      // server's event is never answered, so it stays buffered.
      expect(value("jstp_buffered_messages", client())).toBe(0)
      expect(value("jstp_buffered_messages", server())).toBe(1)

      // A call its caller gives up on; its late answer is a dropped callback.
      const timedOut = yield* Effect.flip(connection.call("calc", "slow", [], { timeout: "50 millis" }))
      expect(timedOut._tag).toBe("ConnectionError")
      expect(calls(client, "slow", "cancelled")).toBe(1)
      expect(value("jstp_call_duration_seconds", client({ interface: "calc", method: "slow" }))).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      yield* eventually(() => value("jstp_dropped_callbacks_total", client()) === 1, "the late callback to be dropped")
      expect(calls(server, "slow", "ok")).toBe(1)

      yield* connection.close
      yield* eventually(() => value("jstp_connections", server()) === 0, "the server to see the close")
      expect(value("jstp_connections", client())).toBe(0)
      // Nothing but bounded labels anywhere.
      for (const labels of Metric.unsafeSnapshot().filter((pair) => pair.metricKey.name.startsWith("jstp_"))) {
        for (const tag of labels.metricKey.tags) expect(["role", "interface", "method", "outcome", "direction"]).toContain(tag.key)
      }
    }).pipe(Effect.provide(Observability.layer({ spans: false }))))
})

const traced = () => {
  const exporter = new InMemorySpanExporter()
  const layer = Layer.merge(
    Observability.layer(),
    NodeSdk.layer(() => ({ resource: { serviceName: "observability-test" }, spanProcessor: new SimpleSpanProcessor(exporter) }))
  )
  return { exporter, layer }
}

const parentOf = (span: ReadableSpan): string | undefined =>
  (span as unknown as { parentSpanContext?: { spanId: string } }).parentSpanContext?.spanId ??
    (span as unknown as { parentSpanId?: string }).parentSpanId

const named = (spans: ReadonlyArray<ReadableSpan>, name: string, kind?: number): ReadableSpan => {
  const found = spans.filter((span) => span.name === name && (kind === undefined || span.kind === kind))
  expect(found, `one span named ${name}`).toHaveLength(1)
  return found[0]!
}

// OpenTelemetry's SpanKind: SERVER 1, CLIENT 2; SpanStatusCode ERROR 2.
const SERVER = 1
const CLIENT = 2

describe("restores", () => {
  it.scopedLive("counts a restore on both sides, with a span each, and the connections come back", () => {
    const { exporter, layer } = traced()
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const srv = yield* Server.make({ applications: [calc(gate)], listen: [TCP] }).pipe(withStore)
      const proxy = yield* Proxy.make(portOf(srv.addresses[0]))
      const before = {
        client: value("jstp_restores_total", client({ outcome: "restored" })),
        server: value("jstp_restores_total", server({ outcome: "restored" })),
        open: value("jstp_connections", client())
      }
      const connection = yield* Connection.connect({
        address: proxy.address,
        application: "calc",
        reconnect: { schedule: Schedule.spaced("30 millis") }
      })
      expect(yield* connection.call("calc", "add", [1, 1])).toEqual([2])
      expect(value("jstp_connections", client())).toBe(before.open + 1)
      proxy.drop()
      yield* eventually(() => value("jstp_restores_total", client({ outcome: "restored" })) === before.client + 1, "the client to restore")
      expect(value("jstp_restores_total", server({ outcome: "restored" }))).toBe(before.server + 1)
      expect(value("jstp_connections", client())).toBe(before.open + 1)
      expect(yield* connection.call("calc", "add", [2, 2])).toEqual([4])
      const spans = exporter.getFinishedSpans()
      expect(named(spans, "jstp.restore", CLIENT).attributes["jstp.outcome"]).toBe("restored")
      expect(named(spans, "jstp.restore", SERVER).attributes["jstp.outcome"]).toBe("restored")
    }).pipe(Effect.provide(layer))
  })
})

describe("spans (Effect API, OpenTelemetry in memory)", () => {
  const { exporter, layer } = traced()

  it.scopedLive("the caller's span is the parent of the handler's, which is the parent of the handler's own", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const srv = yield* Server.make({ applications: [calc(gate)], listen: [TCP] }).pipe(withStore)
      const connection = yield* Connection.connect({ address: { ...TCP, port: portOf(srv.addresses[0]) }, application: "calc" })
      expect(yield* connection.call("calc", "traced", []).pipe(Effect.withSpan("incoming request"))).toEqual(["done"])
      yield* Effect.flip(connection.call("calc", "fail", []))
      yield* connection.close
      yield* eventually(() => exporter.getFinishedSpans().some((span) => span.name === "jstp.handshake" && span.kind === SERVER), "spans")

      const spans = exporter.getFinishedSpans()
      const request = named(spans, "incoming request")
      const caller = named(spans, "calc/traced", CLIENT)
      const handler = named(spans, "calc/traced", SERVER)
      const work = named(spans, "handler work")
      expect(parentOf(caller)).toBe(request.spanContext().spanId)
      expect(parentOf(handler)).toBe(caller.spanContext().spanId)
      expect(parentOf(work)).toBe(handler.spanContext().spanId)
      for (const span of [caller, handler, work]) expect(span.spanContext().traceId).toBe(request.spanContext().traceId)

      expect(caller.attributes).toMatchObject({
        "rpc.system": "jstp",
        "rpc.service": "calc",
        "rpc.method": "traced",
        "jstp.message.id": 1,
        "jstp.outcome": "ok",
        "network.peer.address": `127.0.0.1:${portOf(srv.addresses[0])}`
      })
      expect(handler.attributes).toMatchObject({ "rpc.service": "calc", "rpc.method": "traced", "jstp.message.id": 1, "jstp.outcome": "ok" })
      expect(typeof handler.attributes["network.peer.address"]).toBe("string")

      const failedCaller = named(spans, "calc/fail", CLIENT)
      expect(failedCaller.status.code).toBe(2)
      expect(failedCaller.attributes).toMatchObject({ "jstp.outcome": "error", "jstp.error.code": 42 })
      expect(named(spans, "calc/fail", SERVER).status.code).toBe(2)

      const handshake = named(spans, "jstp.handshake", CLIENT)
      expect(handshake.attributes["jstp.outcome"]).toBe("accepted")
      expect(parentOf(handshake)).toBe(named(spans, "effect-jstp/Connection.connect").spanContext().spanId)
      expect(named(spans, "jstp.handshake", SERVER).attributes["jstp.outcome"]).toBe("accepted")
    }).pipe(Effect.provide(layer)))
})

afterEach(Compat.release)

const calcOf = (jstp: Compat.Jstp) =>
  new jstp.Application("calc", {
    calc: {
      add: (_c: unknown, a: number, b: number, callback: Compat.Callback) => callback(null, a + b)
    }
  })

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/

describe("the trace context on the wire, and 2.3.0", () => {
  it.scopedLive("a 2.3.0 server answers a traced call; the traceparent it ignored is the caller span's", () => {
    const { exporter, layer } = traced()
    return Effect.gen(function*() {
      const { server, port } = yield* Effect.promise(() => Compat.serve(Compat.reference, [calcOf(Compat.reference)]))
      const incoming: Array<Record<string, unknown>> = []
      server.on("log", (_connection: unknown, event: string, message: Record<string, unknown>) => {
        if (event === "incomingMessage") incoming.push(message)
      })
      const connection = yield* Connection.connect({ address: { ...TCP, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [2, 3])).toEqual([5])
      const call = incoming.find((message) => "call" in message)!
      expect(Object.keys(call)).toEqual(["call", "add", "traceparent"])
      expect(call.traceparent).toMatch(TRACEPARENT)
      const caller = named(exporter.getFinishedSpans(), "calc/add", CLIENT)
      expect(call.traceparent).toBe(`00-${caller.spanContext().traceId}-${caller.spanContext().spanId}-01`)
    }).pipe(Effect.provide(layer))
  })

  it.scopedLive("a 2.3.0 client calls our traced server: the handler's span is a root", () => {
    const { exporter, layer } = traced()
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const srv = yield* Server.make({ applications: [calc(gate)], listen: [TCP] }).pipe(withStore)
      const { connection } = yield* Effect.promise(() =>
        Compat.connect(Compat.reference, "calc", Compat.noReconnect(), portOf(srv.addresses[0]))
      )
      expect(yield* Effect.promise(() => Compat.call(connection, "calc", "add", [4, 5]))).toEqual([9])
      const handler = named(exporter.getFinishedSpans(), "calc/add", SERVER)
      expect(parentOf(handler)).toBeUndefined()
      expect(handler.attributes["jstp.outcome"]).toBe("ok")
    }).pipe(Effect.provide(layer))
  })
})

describe("the facade", () => {
  it.live("records both sides with the observability option, spans with its tracer", () => {
    const exporter = new InMemorySpanExporter()
    const sdk = NodeSdk.layer(() => ({ resource: { serviceName: "facade" }, spanProcessor: new SimpleSpanProcessor(exporter) }))
    return Effect.gen(function*() {
      // The facade takes a tracer; here, OpenTelemetry's, as Effect sees it.
      const tracer = yield* Effect.tracer
      const observability = Observability.make({ tracer })
      const before = {
        client: value("jstp_calls_total", client({ interface: "calc", method: "add", outcome: "ok" })),
        server: value("jstp_calls_total", server({ interface: "calc", method: "add", outcome: "ok" })),
        unknown: value("jstp_calls_total", server({ interface: Observability.UNKNOWN, method: Observability.UNKNOWN, outcome: "error" }))
      }
      const { port } = yield* Effect.promise(() =>
        Compat.serve(Compat.facade, { applications: [calcOf(Compat.facade)], observability })
      )
      const { connection } = yield* Effect.promise(() =>
        Compat.connect(Compat.facade, "calc", Compat.noReconnect({ observability }), port)
      )
      expect(yield* Effect.promise(() => Compat.call(connection, "calc", "add", [1, 2]))).toEqual([3])
      const failed = yield* Effect.promise(() => Compat.callResult(connection, "calc", "sub", [1, 2]))
      expect(Compat.codeOf(failed.error)).toBe(14)
      expect(value("jstp_calls_total", client({ interface: "calc", method: "add", outcome: "ok" }))).toBe(before.client + 1)
      expect(value("jstp_calls_total", server({ interface: "calc", method: "add", outcome: "ok" }))).toBe(before.server + 1)
      expect(value("jstp_calls_total", server({ interface: Observability.UNKNOWN, method: Observability.UNKNOWN, outcome: "error" })))
        .toBe(before.unknown + 1)
      const spans = exporter.getFinishedSpans()
      const caller = named(spans, "calc/add", CLIENT)
      expect(parentOf(named(spans, "calc/add", SERVER))).toBe(caller.spanContext().spanId)
    }).pipe(Effect.provide(sdk))
  })
})

describe("without Observability", () => {
  it.scopedLive("nothing is recorded and no traceparent is sent", () =>
    Effect.gen(function*() {
      const total = () =>
        Metric.unsafeSnapshot()
          .filter((pair) => pair.metricKey.name.startsWith("jstp_"))
          .map((pair) => JSON.stringify(pair.metricState))
          .join()
      const before = total()
      const { server, port } = yield* Effect.promise(() => Compat.serve(Compat.reference, [calcOf(Compat.reference)]))
      const incoming: Array<Record<string, unknown>> = []
      server.on("log", (_connection: unknown, event: string, message: Record<string, unknown>) => {
        if (event === "incomingMessage") incoming.push(message)
      })
      const connection = yield* Connection.connect({ address: { ...TCP, port }, application: "calc" })
      expect(yield* connection.call("calc", "add", [2, 3]).pipe(Effect.withSpan("a span of the caller's"))).toEqual([5])
      expect(Object.keys(incoming.find((message) => "call" in message)!)).toEqual(["call", "add"])
      expect(total()).toBe(before)
    }))
})
