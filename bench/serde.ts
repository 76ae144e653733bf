// Serde benchmark: parse and stringify throughput of ours (effect-jstp's
// Serde), mdsf 1.1.1's JS implementation (the reference's serializer, here
// without its native addon) and JSON.parse / JSON.stringify, on the same
// values in the same run.
import { Serde } from "effect-jstp"
import {
  type BenchModule,
  formatBytes,
  formatRate,
  formatRatio,
  markdownTable,
  measure,
  type Measurement,
  requireReference,
  type RunOptions
} from "./harness.js"

interface Mdsf {
  readonly parse: (text: string) => unknown
  readonly stringify: (value: unknown) => string
}

const loadMdsf = (): { readonly mdsf: Mdsf; readonly fallback: boolean } => {
  const { mdsfFallback, value } = requireReference<Mdsf>("mdsf")
  return { mdsf: value, fallback: mdsfFallback }
}

// --- Inputs -----------------------------------------------------------------

// Deterministic pseudo-random numbers (mulberry32), so every run sees the same inputs.
const makeRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// (a) Typical small messages of a session.
const smallMessages: ReadonlyArray<unknown> = [
  { handshake: [0, "app"], login: ["user", "pass"] },
  { call: [17, "auth"], newAccount: ["Payload", { name: "x", age: 3 }] },
  { callback: [17], ok: [15703] },
  { event: [-12, "chat"], message: ["Marcus", "Hi there"] },
  { ping: [5] },
  { pong: [5] },
  { call: [18, "chat"], send: ["room-42", "See you at 10:30, don't be late"] },
  { callback: [18], error: [12, "Message not delivered"] }
]

// (b) A call carrying one 64 KiB string (65,536 UTF-16 code units) of prose
// with some double and single quotes and a few non-ASCII characters.
const makeLongString = (length: number): string => {
  const random = makeRandom(64)
  const words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "minim"]
  const rare = ["\"quoted\"", "it's", "don't", "\"a 'mixed' one\""]
  const nonAscii = ["café", "Grüße", "Привет", "日本語", "👋"]
  const parts: Array<string> = []
  let size = 0
  let n = 0
  while (size < length) {
    n++
    const word = n % 4096 === 0
      ? nonAscii[(n / 4096) % nonAscii.length]!
      : random() < 0.02
      ? rare[Math.floor(random() * rare.length)]!
      : words[Math.floor(random() * words.length)]!
    const part = word + (n % 17 === 0 ? ". " : " ")
    parts.push(part)
    size += part.length
  }
  let text = parts.join("").slice(0, length)
  // Do not end on half of a surrogate pair.
  const last = text.charCodeAt(text.length - 1)
  if (last >= 0xd800 && last <= 0xdbff) text = text.slice(0, -1) + "."
  return text
}

const longString = makeLongString(64 * 1024)
const bigCall: unknown = { call: [42, "storage"], upload: [longString] }

// (c) A nested object of about 10 KiB of text: objects and arrays several levels
// deep, with numbers, strings and booleans.
const makeNested = (): unknown => {
  const ITEMS = 32
  const random = makeRandom(10)
  const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
  const names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
  const tags = ["new", "sale", "eco", "bulk", "fragile", "imported", "local"]
  const items: Array<unknown> = []
  for (let i = 0; i < ITEMS; i++) {
    items.push({
      id: 1000 + i,
      sku: `${pick(names).toUpperCase()}-${Math.floor(random() * 1e5)}`,
      title: `${pick(names)} ${pick(names)} set`,
      price: Math.round(random() * 100000) / 100,
      active: random() < 0.8,
      tags: [pick(tags), pick(tags)],
      dimensions: { width: Math.round(random() * 500) / 10, height: Math.round(random() * 500) / 10, unit: "cm" },
      stock: [
        { warehouse: pick(names), quantity: Math.floor(random() * 400), reserved: random() < 0.3 },
        { warehouse: pick(names), quantity: Math.floor(random() * 400), reserved: random() < 0.3 }
      ],
      ratings: { count: Math.floor(random() * 5000), average: Math.round(random() * 50) / 10 }
    })
  }
  return {
    version: 3,
    generatedAt: "2024-05-01T12:00:00.000Z",
    source: { system: "catalog", region: "eu-west", replicas: [1, 2, 3], primary: true },
    page: { offset: 0, limit: ITEMS, total: ITEMS * 4, cursor: "b2Zmc2V0PTMy" },
    items,
    summary: { currencies: ["EUR", "USD"], totals: { items: ITEMS, active: true, value: 123456.78 } }
  }
}

const nested = makeNested()

// --- Cases ------------------------------------------------------------------

type Impl = "ours" | "mdsf" | "JSON"

interface Input {
  readonly label: string
  /** Messages parsed or written per call: the batch size for (a), else 1. */
  readonly itemsPerCall: number
  readonly values: ReadonlyArray<unknown>
}

const inputs: ReadonlyArray<Input> = [
  { label: `(a) ${smallMessages.length} small messages`, itemsPerCall: smallMessages.length, values: smallMessages },
  { label: "(b) call with a 64 KiB string", itemsPerCall: 1, values: [bigCall] },
  { label: "(c) nested object", itemsPerCall: 1, values: [nested] }
]

const utf8Bytes = (texts: ReadonlyArray<string>): number => texts.reduce((n, t) => n + Buffer.byteLength(t), 0)

// What a caller does first with a parsed message: reads its keys and its
// arguments (the strings in its top-level arrays). Reading a character of a
// string makes V8 flatten it if it is a rope of slices, so a parser that
// defers that copy is charged for it here, not at some later first use.
const consumeParsed = (value: unknown): number => {
  if (typeof value !== "object" || value === null) return 0
  const record = value as Record<string, unknown>
  let n = 0
  for (const key in record) {
    n++
    const member = record[key]
    if (!Array.isArray(member)) continue
    for (let i = 0; i < member.length; i++) {
      const item: unknown = member[i]
      if (typeof item === "string" && item.length > 0) n += item.charCodeAt(item.length >> 1)
    }
  }
  return n
}

const parseAll = (parse: (text: string) => unknown, texts: ReadonlyArray<string>): () => number => {
  const count = texts.length
  return () => {
    let n = 0
    for (let i = 0; i < count; i++) n += consumeParsed(parse(texts[i]!))
    return n
  }
}

const stringifyAll = (stringify: (value: unknown) => string, values: ReadonlyArray<unknown>): () => number => {
  const count = values.length
  return () => {
    let n = 0
    for (let i = 0; i < count; i++) n += stringify(values[i]).length
    return n
  }
}

interface Cell {
  readonly measurement: Measurement
  /** Items (messages) per second. */
  readonly rate: number
  /** UTF-8 megabytes (10^6 bytes) of text read or written per second. */
  readonly mbps: number
}

const cell = (measurement: Measurement, itemsPerCall: number, bytesPerCall: number): Cell => ({
  measurement,
  rate: measurement.opsPerSecond * itemsPerCall,
  mbps: (measurement.opsPerSecond * bytesPerCall) / 1e6
})

const showCell = (c: Cell | undefined): string => (c === undefined ? "–" : `${formatRate(c.rate)} (${c.mbps.toFixed(1)} MB/s)`)

const ratio = (a: Cell | undefined, b: Cell | undefined): number =>
  a === undefined || b === undefined ? Number.NaN : a.rate / b.rate

// Checks that the three implementations agree on the inputs, so that each
// does the same work; compared through JSON.stringify (no undefined, -0 or
// NaN in the inputs).
const checkAgreement = (mdsf: Mdsf): void => {
  for (const input of inputs) {
    for (const value of input.values) {
      const expected = JSON.stringify(value)
      const reference = mdsf.stringify(value)
      const results: Record<string, unknown> = {
        "ours(reference text)": Serde.parse(reference),
        "mdsf(reference text)": mdsf.parse(reference),
        "ours(JSON text)": Serde.parse(expected),
        "mdsf(JSON text)": mdsf.parse(expected),
        "ours(own text)": Serde.parse(Serde.stringify(value))
      }
      for (const [name, result] of Object.entries(results)) {
        if (JSON.stringify(result) !== expected) throw new Error(`serde bench: ${name} disagrees on ${input.label}`)
      }
    }
  }
}

const run = (options: RunOptions): void => {
  const { mdsf, fallback } = loadMdsf()
  checkAgreement(mdsf)
  const impls: Record<Impl, { parse: (text: string) => unknown; stringify: (value: unknown) => string }> = {
    ours: { parse: Serde.parse, stringify: Serde.stringify },
    mdsf: { parse: mdsf.parse, stringify: mdsf.stringify },
    JSON: { parse: JSON.parse, stringify: JSON.stringify }
  }
  const spreads: Array<number> = []
  const time = (what: string, fn: () => number): Measurement => {
    options.progress(`serde: ${what}`)
    const m = measure(fn, options)
    spreads.push(m.spread)
    return m
  }

  // Parse: each input as the reference writes it (mdsf.stringify) and as JSON
  // text (JSON.stringify, which is also what our stringify emits for these).
  const parseRows: Array<Array<string>> = []
  const parseRatios: Array<{ label: string; reference: boolean; ours: Cell; mdsf: Cell; json: Cell }> = []
  for (const input of inputs) {
    const referenceTexts = input.values.map((v) => mdsf.stringify(v))
    const jsonTexts = input.values.map((v) => JSON.stringify(v))
    const refBytes = utf8Bytes(referenceTexts)
    const jsonBytes = utf8Bytes(jsonTexts)
    const at = (impl: Impl, texts: ReadonlyArray<string>, bytes: number, textName: string): Cell =>
      cell(time(`parse ${input.label}, ${textName}: ${impl}`, parseAll(impls[impl].parse, texts)), input.itemsPerCall, bytes)
    const oursRef = at("ours", referenceTexts, refBytes, "reference text")
    const mdsfRef = at("mdsf", referenceTexts, refBytes, "reference text")
    const json = at("JSON", jsonTexts, jsonBytes, "JSON text")
    const oursJson = at("ours", jsonTexts, jsonBytes, "JSON text")
    const mdsfJson = at("mdsf", jsonTexts, jsonBytes, "JSON text")
    parseRows.push(
      [`${input.label}, reference text`, formatBytes(refBytes), showCell(oursRef), showCell(mdsfRef), showCell(json) + " ¹",
        formatRatio(ratio(oursRef, mdsfRef)), formatRatio(ratio(oursRef, json))],
      [`${input.label}, JSON text`, formatBytes(jsonBytes), showCell(oursJson), showCell(mdsfJson), showCell(json),
        formatRatio(ratio(oursJson, mdsfJson)), formatRatio(ratio(oursJson, json))]
    )
    parseRatios.push({ label: input.label, reference: true, ours: oursRef, mdsf: mdsfRef, json })
    parseRatios.push({ label: input.label, reference: false, ours: oursJson, mdsf: mdsfJson, json })
  }

  const stringifyRows: Array<Array<string>> = []
  const stringifyRatios: Array<{ ours: Cell; json: Cell }> = []
  for (const input of inputs) {
    const at = (impl: Impl): { cell: Cell; bytes: number } => {
      const bytes = utf8Bytes(input.values.map((v) => impls[impl].stringify(v)))
      const m = time(`stringify ${input.label}: ${impl}`, stringifyAll(impls[impl].stringify, input.values))
      return { cell: cell(m, input.itemsPerCall, bytes), bytes }
    }
    const ours = at("ours")
    const ref = at("mdsf")
    const json = at("JSON")
    stringifyRows.push([
      input.label,
      `${formatBytes(ours.bytes)} / ${formatBytes(ref.bytes)} / ${formatBytes(json.bytes)}`,
      showCell(ours.cell), showCell(ref.cell), showCell(json.cell),
      formatRatio(ratio(ours.cell, ref.cell)), formatRatio(ratio(ours.cell, json.cell))
    ])
    stringifyRatios.push({ ours: ours.cell, json: json.cell })
  }

  const percent = (values: ReadonlyArray<number>, q: number): string => {
    const sorted = [...values].sort((x, y) => x - y)
    return `${((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 100).toFixed(1)}%`
  }
  const unit = "ops/s (MB/s)"
  const out: Array<string> = []
  out.push(`## Serde: parse (${unit}, higher is better)`, "")
  out.push(markdownTable(["Input", "Text size", "ours", "mdsf (JS)", "JSON.parse", "ours/mdsf", "ours/JSON"], parseRows))
  out.push(
    "",
    "¹ JSON.parse cannot read the reference format; its figure (repeated in both rows) is for the JSON.stringify text of the same values, so ours/JSON on that row compares different texts of the same values.",
    "Reference text = mdsf.stringify output, as a 2.x peer writes it (bare keys, single-quoted strings). JSON text = JSON.stringify output, which is also what our stringify emits for these values.",
    `(a): an op is one message; each call parses the batch of ${smallMessages.length}. (b), (c): an op is one call. MB/s counts the UTF-8 bytes of the text each column read.`,
    "Each parse is followed by reading the result's keys and one character of each string in its top-level arrays, which makes V8 flatten a string that a parser returned as a rope of slices of the input.",
    "",
    `## Serde: stringify (${unit}, higher is better)`,
    ""
  )
  out.push(markdownTable(
    ["Input", "Output size (ours / mdsf / JSON)", "ours", "mdsf (JS)", "JSON.stringify", "ours/mdsf", "ours/JSON"],
    stringifyRows
  ))
  out.push(
    "",
    "MB/s counts the UTF-8 bytes each implementation wrote; the ratios compare ops/s on the same values.",
    "",
    `mdsf: ${fallback ? "JS fallback parser (native addon not built)" : "native addon"}; Node ${process.version}; ${options.budgetMs} ms per case after ${options.warmupMs} ms warm-up; median of ~25 ms samples (p10–p90 spread: median ${percent(spreads, 0.5)}, worst ${percent(spreads, 1)}).`
  )

  // Verdict.
  const find = (prefix: string, reference: boolean) =>
    parseRatios.find((r) => r.label.startsWith(prefix) && r.reference === reference)!
  const a = find("(a)", true)
  const b = find("(b)", true)
  const ra = ratio(a.ours, a.mdsf)
  const rb = ratio(b.ours, b.mdsf)
  const range = (values: ReadonlyArray<number>): string => {
    const lo = Math.min(...values)
    const hi = Math.max(...values)
    return lo.toFixed(2) === hi.toFixed(2) ? formatRatio(lo) : `${formatRatio(lo)}–${formatRatio(hi)}`
  }
  const vsJsonRef = parseRatios.filter((r) => r.reference).map((r) => ratio(r.ours, r.json))
  const vsJsonJson = parseRatios.filter((r) => !r.reference).map((r) => ratio(r.ours, r.json))
  const vsJsonStringify = stringifyRatios.map((r) => ratio(r.ours, r.json))
  out.push(
    "",
    `Verdict: parse (a) ours ${formatRatio(ra)} mdsf (target ≥ 3×: ${ra >= 3 ? "met" : "MISSED"}); ` +
      `parse (b) ours ${formatRatio(rb)} mdsf (target ≥ 10×: ${rb >= 10 ? "met" : "MISSED"}); ` +
      `vs JSON: ours parses reference text at ${range(vsJsonRef)} JSON.parse's rate on JSON text, ` +
      `JSON text at ${range(vsJsonJson)} JSON.parse, and stringifies at ${range(vsJsonStringify)} JSON.stringify.`
  )
  console.log(out.join("\n"))
}

const serde: BenchModule = { name: "serde", run }
export default serde
