// What a side of the observability benchmark runs with: a build and what it
// observes. Shared by the client (bench/observability.ts) and the server
// process (bench/observability/server.ts).
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer } from "effect"
import type * as Lib from "effect-jstp"
import type { Build } from "./builds.js"
import { pathOf } from "./builds.js"

/**
 * off: no Observability; metrics: Observability.layer({ spans: false });
 * spans: metrics and spans with Effect's own tracer; otel: metrics and spans
 * through @effect/opentelemetry's tracer, batched to an exporter that drops
 * them (the SDK's work without a network).
 */
export type Mode = "off" | "metrics" | "spans" | "otel"

export interface Variant {
  readonly key: string
  readonly label: string
  readonly build: Build
  readonly mode: Mode
}

export const variants: ReadonlyArray<Variant> = [
  { key: "compiled-out", label: "instrumentation compiled out", build: "out", mode: "off" },
  { key: "off", label: "compiled in, not enabled (the default)", build: "in", mode: "off" },
  { key: "metrics", label: "metrics on", build: "in", mode: "metrics" },
  { key: "spans", label: "metrics + spans, Effect's tracer", build: "in", mode: "spans" },
  { key: "otel", label: "metrics + spans, OpenTelemetry SDK", build: "in", mode: "otel" }
]

export const load = (build: Build): Promise<typeof Lib> => import(pathOf(build)) as Promise<typeof Lib>

const dropping: SpanExporter = {
  export: (_spans: Array<ReadableSpan>, done) => done({ code: 0 }),
  shutdown: async () => {}
}

/** Runs `effect` with `mode` turned on, for `lib`. */
export const observing = (lib: typeof Lib, mode: Mode) => <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> => {
  if (mode === "off") return effect
  const switchOn = lib.Observability.layer({ spans: mode !== "metrics" })
  if (mode !== "otel") return Effect.provide(effect, switchOn)
  return Effect.provide(
    effect,
    Layer.merge(switchOn, NodeSdk.layer(() => ({ resource: { serviceName: "bench" }, spanProcessor: new BatchSpanProcessor(dropping) })))
  )
}
