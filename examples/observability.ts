// Metrics and spans exported to OpenTelemetry with @effect/opentelemetry,
// across two processes: this one is the client, and it forks the server.
// Each keeps what it exports in memory (nothing reaches the network) and
// prints it at the end: one line per span, one per JSTP metric.
//
// The client handles an "incoming request" (a span of its own) by calling
// greeter.hello on the server; the call's span travels with it (the
// traceparent key), so the server's span for the call, and the span of the
// handler's own work, are in the same trace:
//
//   GET /hello (client) → greeter/hello (client) → greeter/hello (server) → compose greeting (server)
//
//   node --import tsx examples/observability.ts
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { MetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Layer } from "effect"
import { Application, Connection, Observability, Server, SessionStore } from "effect-jstp"
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"

const role = process.env["OBSERVABILITY_ROLE"] === "server" ? "server" : "client"

// A reader that collects when asked (a real one would export periodically).
class OnDemandReader extends MetricReader {
  protected override onForceFlush = async () => {}
  protected override onShutdown = async () => {}
}

const spans = new InMemorySpanExporter()
const reader = new OnDemandReader()
const Telemetry = Layer.merge(
  NodeSdk.layer(() => ({
    resource: { serviceName: `greeter-${role}` },
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader
  })),
  Observability.layer()
)

// What this process exported, one line each.
const report = Effect.promise(async () => {
  const lines: Array<string> = []
  for (const span of spans.getFinishedSpans()) {
    const parent = span.parentSpanContext?.spanId ?? "-"
    const { traceId, spanId } = span.spanContext()
    lines.push(`span ${role} ${span.name} kind=${span.kind} trace=${traceId} span=${spanId} parent=${parent}`)
  }
  const { resourceMetrics } = await reader.collect()
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (!metric.descriptor.name.startsWith("jstp_")) continue
      for (const point of metric.dataPoints) {
        const labels = Object.entries(point.attributes).map(([key, value]) => `${key}=${String(value)}`).join(",")
        const value = typeof point.value === "number" ? point.value : (point.value as { count: number }).count
        lines.push(`metric ${role} ${metric.descriptor.name}{${labels}} ${value}`)
      }
    }
  }
  return lines.join("\n")
})

const greeter = Application.make({
  name: "greeter",
  api: {
    greeter: {
      hello: (_connection: Connection.Connection, name: string) =>
        Effect.succeed(`Hello, ${name}!`).pipe(Effect.withSpan("compose greeting"))
    }
  }
})

// The server: listens on a port the system picks, tells the parent, and
// prints its report when the parent asks (then exits).
const server = Effect.gen(function*() {
  const listening = yield* Server.make({ applications: [greeter], listen: [{ _tag: "Tcp", host: "127.0.0.1", port: 0 }] })
  process.send!({ address: listening.addresses[0] })
  yield* Effect.async<void>((resume) => void process.once("message", () => resume(Effect.void)))
  yield* Console.log(yield* report)
}).pipe(Effect.scoped, Effect.provide(SessionStore.layerMemory()))

const client = Effect.gen(function*() {
  const child = fork(fileURLToPath(import.meta.url), { env: { ...process.env, OBSERVABILITY_ROLE: "server" }, stdio: "inherit" })
  yield* Effect.addFinalizer(() => Effect.sync(() => child.kill()))
  const address = yield* Effect.async<Server.Server["addresses"][number]>((resume) =>
    void child.once("message", (message: { readonly address: Server.Server["addresses"][number] }) =>
      resume(Effect.succeed(message.address)))
  )
  const connection = yield* Connection.connect({ address, application: "greeter" })
  const [greeting] = yield* connection.call("greeter", "hello", ["OpenTelemetry"]).pipe(Effect.withSpan("GET /hello"))
  yield* Console.log([greeting])
  yield* connection.close
  yield* Console.log(yield* report)
  // The server reports, then ends.
  const exited = Effect.async<void>((resume) => void child.once("exit", () => resume(Effect.void)))
  child.send("report")
  yield* exited
}).pipe(Effect.scoped)

const main: Effect.Effect<void, unknown> = role === "server" ? server : client
Effect.runPromise(main.pipe(Effect.provide(Telemetry)))
  .then(() => process.exit(0), (error: unknown) => {
    console.error(error)
    process.exit(1)
  })
