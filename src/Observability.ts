/**
 * Metrics and spans of JSTP connections, for both sides and both APIs, as
 * Effect `Metric`s and `Tracer` spans (so `@effect/opentelemetry` exports
 * them). Off until asked for: provide `Observability.layer` (the Effect API)
 * or pass `Observability.make(...)` as the facade's `observability` option;
 * without either the engine does no work for it.
 *
 * Labels are bounded: a role, an interface and method the application has
 * (a server labels the names it does not have `(unknown)`), an outcome, a
 * direction; never a session id, an address or an argument.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type * as Probe from "./engine/Probe.js"
import { byteLength } from "./wire/Utf8.js"
import type { ErrorPayload } from "./wire/Message.js"

// ------------------------------------------------------------------ metrics

/** Connections open now (handshaken, link up), by `role`. @since 0.1.0 */
export const connections = Metric.gauge("jstp_connections", { description: "JSTP connections open now" })

/**
 * Handshakes that start a session, by `role` and `outcome`
 * (`accepted`, `rejected`, `lost`: cut off before an answer).
 *
 * @since 0.1.0
 */
export const handshakes = Metric.counter("jstp_handshakes_total", {
  description: "JSTP handshakes starting a session, by outcome",
  incremental: true
})

/**
 * Handshakes that restore a session, by `role` and `outcome`
 * (`restored`, `rejected`, `lost`).
 *
 * @since 0.1.0
 */
export const restores = Metric.counter("jstp_restores_total", {
  description: "JSTP session restores, by outcome",
  incremental: true
})

/**
 * Calls, by `role` (`client`: made, `server`: served), `interface`, `method`
 * and `outcome` (`ok`, `error`: answered with an error, `lost`: the
 * connection went first, `cancelled`: the caller gave up).
 *
 * @since 0.1.0
 */
export const calls = Metric.counter("jstp_calls_total", { description: "JSTP calls, by outcome", incremental: true })

/**
 * Call latency in seconds, by `role`, `interface` and `method`: from the
 * call's sending to its answer (client), from its arrival to its answer
 * (server).
 *
 * @since 0.1.0
 */
export const callDuration = Metric.histogram(
  "jstp_call_duration_seconds",
  MetricBoundaries.exponential({ start: 0.00005, factor: 2, count: 17 }),
  "JSTP call latency in seconds"
)

/** Events, by `role` and `direction` (`in`, `out`). @since 0.1.0 */
export const events = Metric.counter("jstp_events_total", { description: "JSTP events", incremental: true })

/**
 * Requests (calls, events, inspects, pings) sent and not yet acknowledged by
 * the peer, kept for a resend, by `role`.
 *
 * @since 0.1.0
 */
export const buffered = Metric.gauge("jstp_buffered_messages", {
  description: "JSTP requests awaiting the peer's acknowledgement"
})

/** Messages (frames), by `role` and `direction`. @since 0.1.0 */
export const messages = Metric.counter("jstp_messages_total", { description: "JSTP messages", incremental: true })

/** Bytes of messages (UTF-8, without framing), by `role` and `direction`. @since 0.1.0 */
export const bytes = Metric.counter("jstp_bytes_total", { description: "JSTP message bytes", incremental: true })

/**
 * Callbacks that came for no pending request (their caller gave up, or a
 * stray), by `role`.
 *
 * @since 0.1.0
 */
export const droppedCallbacks = Metric.counter("jstp_dropped_callbacks_total", {
  description: "JSTP callbacks for no pending request",
  incremental: true
})

/**
 * Every metric of this module.
 *
 * @since 0.1.0
 */
export const all = [
  connections,
  handshakes,
  restores,
  calls,
  callDuration,
  events,
  buffered,
  messages,
  bytes,
  droppedCallbacks
] as const

/** The label of names a server's application does not have. @since 0.1.0 */
export const UNKNOWN = "(unknown)"

// ------------------------------------------------------------------ settings

/**
 * What is observed: metrics, and spans made with `tracer` (none without one).
 *
 * @since 0.1.0
 */
export interface Settings {
  readonly metrics: boolean
  readonly tracer: Tracer.Tracer | undefined
}

/**
 * Settings for the facade's `observability` option (the Effect API takes
 * `layer`). `tracer`: an Effect `Tracer` (from `@effect/opentelemetry`, say);
 * absent, no spans.
 *
 * @since 0.1.0
 */
export const make = (options: { readonly metrics?: boolean | undefined; readonly tracer?: Tracer.Tracer | undefined } = {}): Settings => ({
  metrics: options.metrics ?? true,
  tracer: options.tracer
})

/**
 * The Effect API's switch: connections and servers made where this service
 * is provided record metrics and, with `spans` (the default), make spans
 * with the tracer of their context (`@effect/opentelemetry`'s, once its
 * layer is provided).
 *
 * @since 0.1.0
 */
export class Observability extends Context.Tag("effect-jstp/Observability")<
  Observability,
  { readonly metrics: boolean; readonly spans: boolean }
>() {}

/**
 * Turns observation on (both default to true).
 *
 * @since 0.1.0
 */
export const layer = (options: { readonly metrics?: boolean | undefined; readonly spans?: boolean | undefined } = {}): Layer.Layer<
  Observability
> => Layer.succeed(Observability, { metrics: options.metrics ?? true, spans: options.spans ?? true })

/**
 * The settings in the current context: undefined without `layer`.
 *
 * @since 0.1.0
 */
export const current: Effect.Effect<Settings | undefined> = Effect.flatMap(
  Effect.serviceOption(Observability),
  (option) =>
    Option.match(option, {
      onNone: () => Effect.succeed(undefined),
      onSome: ({ metrics, spans }) =>
        spans ? Effect.map(Effect.tracer, (tracer): Settings => ({ metrics, tracer })) : Effect.succeed({ metrics, tracer: undefined })
    })
)

// ------------------------------------------------------------------- probes

/**
 * The W3C `traceparent` of a span.
 *
 * @since 0.1.0
 */
export const traceparentOf = (span: Tracer.AnySpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/**
 * The span a `traceparent` names, or undefined for one that is malformed
 * (or names no trace: all-zero ids).
 *
 * @since 0.1.0
 */
export const parseTraceparent = (text: string): Tracer.ExternalSpan | undefined => {
  const match = TRACEPARENT.exec(text)
  if (match === null || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return undefined
  return Tracer.externalSpan({ traceId: match[1]!, spanId: match[2]!, sampled: (parseInt(match[3]!, 16) & 1) === 1 })
}

// Span times in nanoseconds since the epoch (performance works in browsers too).
const nowNanos = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6))

const label = MetricLabel.make
type Labels = ReadonlyArray<MetricLabel.MetricLabel>
type Role = "client" | "server"

// Label arrays are made once and kept: Effect finds a metric's hook by the
// identity of its label array, so a kept array costs a WeakMap lookup.
const roleLabels = (role: Role) => {
  const withRole = (key: string, value: string): Labels => [label("role", role), label(key, value)]
  const outcomes = (values: ReadonlyArray<Probe.HandshakeEnd>) =>
    Object.fromEntries(values.map((value) => [value, withRole("outcome", value)])) as Record<Probe.HandshakeEnd, Labels>
  return {
    role: [label("role", role)] as Labels,
    in: withRole("direction", "in"),
    out: withRole("direction", "out"),
    outcome: outcomes(["accepted", "restored", "rejected", "lost"])
  }
}
const ROLE_LABELS = { client: roleLabels("client"), server: roleLabels("server") }

// The label sets of one method, found without building a key (two lookups
// of strings the call already has).
interface MethodLabels {
  readonly duration: Labels
  readonly outcomes: Record<Probe.Outcome, Labels>
}
const methodCache = { client: new Map<string, Map<string, MethodLabels>>(), server: new Map<string, Map<string, MethodLabels>>() }
const methodLabels = (role: Role, iface: string, method: string): MethodLabels => {
  let methods = methodCache[role].get(iface)
  if (methods === undefined) methodCache[role].set(iface, methods = new Map())
  let entry = methods.get(method)
  if (entry === undefined) {
    const base = [label("role", role), label("interface", iface), label("method", method)]
    const outcome = (value: Probe.Outcome) => [...base, label("outcome", value)]
    entry = { duration: base, outcomes: { ok: outcome("ok"), error: outcome("error"), lost: outcome("lost"), cancelled: outcome("cancelled") } }
    methods.set(method, entry)
  }
  return entry
}

const exitOf = (outcome: Probe.Outcome | Probe.HandshakeEnd, error: ErrorPayload | undefined): Exit.Exit<unknown, unknown> =>
  outcome === "cancelled"
    ? Exit.interrupt(FiberId.none)
    : outcome === "ok" || outcome === "accepted" || outcome === "restored"
    ? Exit.void
    : Exit.fail(error === undefined ? { code: -1, message: outcome } : { code: error.code, message: error.message })

const noSpan = Option.none<Tracer.AnySpan>()

const endSpan = (span: Tracer.Span, outcome: Probe.Outcome | Probe.HandshakeEnd, error: ErrorPayload | undefined): void => {
  span.attribute("jstp.outcome", outcome)
  if (error !== undefined) span.attribute("jstp.error.code", error.code)
  span.end(nowNanos(), exitOf(outcome, error))
}

/**
 * The probe of one connection's engine (see `engine/Probe.ts`), or none when
 * nothing is observed (no settings, or neither metrics nor a tracer).
 *
 * @since 0.1.0
 */
export const probe = (settings: Settings | undefined, role: Role, remoteAddress: string | undefined): Probe.Probe | undefined =>
  settings === undefined || (!settings.metrics && settings.tracer === undefined)
    ? undefined
    : new ConnectionProbe(settings, role, remoteAddress)

class ConnectionProbe implements Probe.Probe {
  private readonly metrics: boolean
  private readonly tracer: Tracer.Tracer | undefined
  private readonly labels: (typeof ROLE_LABELS)[Role]
  private isOpen = false
  private lastBuffered = 0

  constructor(settings: Settings, private readonly role: Role, private readonly peer: string | undefined) {
    this.metrics = settings.metrics
    this.tracer = settings.tracer
    this.labels = ROLE_LABELS[role]
  }

  received(text: string): void {
    if (!this.metrics) return
    messages.unsafeUpdate(1, this.labels.in)
    bytes.unsafeUpdate(byteLength(text), this.labels.in)
  }

  sent(text: string): void {
    if (!this.metrics) return
    messages.unsafeUpdate(1, this.labels.out)
    bytes.unsafeUpdate(byteLength(text), this.labels.out)
  }

  open(isOpen: boolean): void {
    if (isOpen === this.isOpen) return
    this.isOpen = isOpen
    if (this.metrics) connections.unsafeModify(isOpen ? 1 : -1, this.labels.role)
  }

  event(direction: "in" | "out"): void {
    if (this.metrics) events.unsafeUpdate(1, direction === "in" ? this.labels.in : this.labels.out)
  }

  buffered(count: number): void {
    const delta = count - this.lastBuffered
    if (delta === 0) return
    this.lastBuffered = count
    if (this.metrics) buffered.unsafeModify(delta, this.labels.role)
  }

  droppedCallback(): void {
    if (this.metrics) droppedCallbacks.unsafeUpdate(1, this.labels.role)
  }

  calling(iface: string, method: string, id: number, parent: Tracer.AnySpan | undefined): Probe.CallProbe {
    const span = this.startSpan(`${iface}/${method}`, parent === undefined ? noSpan : Option.some(parent), "client", iface, method, id)
    const labels = this.metrics ? methodLabels(this.role, iface, method) : undefined
    return new ObservedCall(labels, span, span === undefined ? undefined : traceparentOf(span))
  }

  serving(iface: string, method: string, id: number, traceparent: string | undefined, known: boolean): Probe.CallProbe {
    const name = known ? iface : UNKNOWN
    const methodName = known ? method : UNKNOWN
    let parent = noSpan
    if (this.tracer !== undefined && traceparent !== undefined) {
      const remote = parseTraceparent(traceparent)
      if (remote !== undefined) parent = Option.some(remote)
    }
    const span = this.startSpan(`${name}/${methodName}`, parent, "server", name, methodName, id)
    return new ObservedCall(this.metrics ? methodLabels(this.role, name, methodName) : undefined, span, undefined)
  }

  handshaking(restore: boolean, parent?: Tracer.AnySpan): Probe.HandshakeProbe {
    const span = this.startSpan(restore ? "jstp.restore" : "jstp.handshake", parent === undefined ? noSpan : Option.some(parent), this.role)
    const counter = this.metrics ? (restore ? restores : handshakes) : undefined
    const outcomes = this.labels.outcome
    let ended = false
    return {
      end: (outcome, error) => {
        if (ended) return
        ended = true
        counter?.unsafeUpdate(1, outcomes[outcome])
        if (span !== undefined) endSpan(span, outcome, error)
      }
    }
  }

  private startSpan(
    name: string,
    parent: Option.Option<Tracer.AnySpan>,
    kind: Tracer.SpanKind,
    iface?: string,
    method?: string,
    id?: number
  ): Tracer.Span | undefined {
    const tracer = this.tracer
    if (tracer === undefined) return undefined
    const span = tracer.span(name, parent, Context.empty(), [], nowNanos(), kind)
    span.attribute("rpc.system", "jstp")
    if (iface !== undefined) {
      span.attribute("rpc.service", iface)
      span.attribute("rpc.method", method)
      span.attribute("jstp.message.id", id)
    }
    if (this.peer !== undefined) span.attribute("network.peer.address", this.peer)
    return span
  }
}

class ObservedCall implements Probe.CallProbe {
  private readonly started = performance.now()
  private ended = false

  constructor(
    private readonly labels: MethodLabels | undefined,
    readonly span: Tracer.Span | undefined,
    readonly traceparent: string | undefined
  ) {}

  end(outcome: Probe.Outcome, error: ErrorPayload | undefined): void {
    if (this.ended) return
    this.ended = true
    const labels = this.labels
    if (labels !== undefined) {
      calls.unsafeUpdate(1, labels.outcomes[outcome])
      if (outcome !== "cancelled") callDuration.unsafeUpdate((performance.now() - this.started) / 1000, labels.duration)
    }
    if (this.span !== undefined) endSpan(this.span, outcome, error)
  }
}
