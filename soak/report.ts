/**
 * The soak's summary: plain-text tables (Markdown pipes, so they paste
 * into an issue).
 */
import type { KindTotals } from "./check.js"
import { anomalyKinds, totalAnomalies } from "./ledger.js"
import type { MemorySample } from "./protocol.js"
import type { LaneStats } from "./proxy.js"
import { killModes } from "./proxy.js"

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>): string => {
  const cells = [header, ...rows.map((row) => row.map(String))]
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)))
  const line = (row: ReadonlyArray<string>) => `| ${row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w, i) => i === 0 ? ` ${"-".repeat(w)} ` : ` ${"-".repeat(w - 1)}: `).join("|")}|`, ...cells.slice(1).map(line)].join("\n")
}

const kindName = (kind: string) =>
  kind === "effect" ? "Effect API" : kind === "compat" ? "facade (compat)" : kind === "ref-naive" ? "2.3.0 naive" : "2.3.0 careful"

const sum = (totals: ReadonlyArray<KindTotals>, pick: (t: KindTotals) => number) => totals.reduce((n, t) => n + pick(t), 0)

export const trafficTable = (totals: ReadonlyArray<KindTotals>): string =>
  table(
    ["client", "conns", "calls ok/-1/closed/failed/pending", "resend runs 1/2/3+", "server calls ok/-1/closed/failed/pending", "events up sent/recv", "broadcasts exp/recv", "direct sent/recv", "restores", "drops"],
    totals.map((t) => [
      kindName(t.kind),
      t.connections,
      `${t.calls.ok}/${t.calls.lost}/${t.calls.closed}/${t.calls.failed}/${t.calls.pending}`,
      `${t.calls.resendRuns[1]}/${t.calls.resendRuns[2]}/${t.calls.resendRuns[3]}`,
      `${t.serverCalls.ok}/${t.serverCalls.lost}/${t.serverCalls.closed}/${t.serverCalls.failed}/${t.serverCalls.pending}`,
      `${t.upSent}/${t.upReceived}`,
      `${t.ticksExpected}/${t.ticksReceived}`,
      `${t.directSent}/${t.directReceived}`,
      t.restores,
      t.drops
    ])
  )

export const anomalyTable = (totals: ReadonlyArray<KindTotals>): string => {
  const used = anomalyKinds.filter((kind) => totals.some((t) => t.anomalies[kind] > 0))
  const shown = used.length > 0 ? used : (["lost", "duplicated", "reordered", "unanswered", "runTooOften"] as const)
  return table(
    ["client", ...shown, "total (ours)", "2.3.0's own"],
    [
      ...totals.map((t) => [
        kindName(t.kind),
        ...shown.map((kind) => t.anomalies[kind]),
        totalAnomalies(t.anomalies),
        t.kind.startsWith("ref") ? Object.values(t.reference).reduce((a, b) => a + b, 0) : "-"
      ]),
      ["all", ...shown.map((kind) => sum(totals, (t) => t.anomalies[kind])), sum(totals, (t) => totalAnomalies(t.anomalies)), sum(totals, (t) => Object.values(t.reference).reduce((a, b) => a + b, 0))]
    ]
  )
}

export const memoryTable = (samples: ReadonlyArray<MemorySample>): string =>
  table(
    ["server memory", "heapUsed MiB", "rss MiB", "external MiB", "live links", "clients", "after GC"],
    samples.map((s) => [s.label, mib(s.heapUsed), mib(s.rss), mib(s.external), s.live, s.registered, s.gc ? "yes" : "no"])
  )

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

export const proxyTable = (lanes: ReadonlyArray<LaneStats>): string =>
  table(
    ["proxy lane", "accepted", "refused", ...killModes, "cut", "open", "lingering", "discarded KiB", "held KiB"],
    lanes.map((lane) => [
      lane.name,
      lane.accepted,
      lane.refused,
      ...killModes.map((mode) => lane.kills[mode]),
      lane.cut,
      lane.open,
      lane.lingering,
      (lane.discardedBytes / 1024).toFixed(0),
      (lane.heldBytes / 1024).toFixed(0)
    ])
  )

export const referenceLines = (totals: ReadonlyArray<KindTotals>): Array<string> =>
  totals.flatMap((t) =>
    Object.entries(t.reference).map(([bug, n]) => `  ${kindName(t.kind)}: ${n} anomalies explained by 2.3.0's own bug: ${bug}`)
  )

export const failureLines = (totals: ReadonlyArray<KindTotals>): Array<string> =>
  totals.flatMap((t) => [
    ...Object.entries(t.calls.failures).map(([text, n]) => `  ${kindName(t.kind)} calls failed ${n}x: ${text}`),
    ...Object.entries(t.serverCalls.failures).map(([text, n]) => `  ${kindName(t.kind)} server's calls failed ${n}x: ${text}`)
  ])

export const exampleLines = (totals: ReadonlyArray<KindTotals>): Array<string> =>
  totals.flatMap((t) => t.examples.map((line) => `  [${kindName(t.kind)}] ${line}`))

export { kindName }
