// Messages between bench/rpc.ts and its server processes (bench/rpc/server.ts),
// over the IPC channel of child_process.fork.

/** Which implementation a server process runs ("floor": the bare Node echo of bench/rpc/floor.ts). */
export type Impl = "ours" | "reference" | "floor"

/** Parent to server: report CPU time used so far, or close and exit. */
export type ParentMessage = { readonly _tag: "Usage" } | { readonly _tag: "Close" }

/**
 * Server to parent. CPU times are process.cpuUsage() values, in microseconds;
 * `mdsfFallback` is null for our server and the floor's (they do not load mdsf).
 */
export type ServerMessage =
  | { readonly _tag: "Ready"; readonly port: number; readonly mdsfFallback: boolean | null }
  | { readonly _tag: "Usage"; readonly user: number; readonly system: number }
  | { readonly _tag: "Failed"; readonly message: string }

export const isImpl = (value: unknown): value is Impl => value === "ours" || value === "reference" || value === "floor"

const hasTag = (value: unknown): value is { readonly _tag: unknown } =>
  typeof value === "object" && value !== null && "_tag" in value

export const isParentMessage = (value: unknown): value is ParentMessage =>
  hasTag(value) && (value._tag === "Usage" || value._tag === "Close")

export const isServerMessage = (value: unknown): value is ServerMessage =>
  hasTag(value) && (value._tag === "Ready" || value._tag === "Usage" || value._tag === "Failed")
