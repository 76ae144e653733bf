/**
 * Whether the instrumentation (metrics, spans, the trace context on the
 * wire) is in this build: false only in a build made with `JSTP_PROBES`
 * defined as `false` (the benchmark's baseline, bench/observability/builds.ts),
 * where every site that tests it is dead code. Here, in the lowest layer,
 * because the wire format's trace key is one of those sites.
 *
 * @since 0.1.0
 */
export const compiledIn: boolean = typeof JSTP_PROBES === "undefined" || JSTP_PROBES

declare const JSTP_PROBES: boolean | undefined
