// Messages between bench/rpc.ts and its server processes (bench/rpc/server.ts),
// over the IPC channel of child_process.fork.

/**
 * Which implementation a server process runs: "ours", our Server with the
 * callback-style handler (Application.callback); "ours-effect", our Server
 * with an Effect handler; "compat", the facade's server (effect-jstp/compat);
 * "reference", @metarhia/jstp 2.3.0; "floor", the bare Node echo of
 * bench/rpc/floor.ts.
 */
export type Impl = "ours" | "ours-effect" | "compat" | "reference" | "floor"

export const impls: ReadonlyArray<Impl> = ["ours", "ours-effect", "compat", "reference", "floor"]

/**
 * Parent to server: report CPU time used so far; broadcast `bench.tick(i,
 * payload)` for i in 0..count-1 to every connected client, `burst` events
 * at a time with a setImmediate between bursts (then answer Broadcasted);
 * or close and exit.
 */
export type ParentMessage =
  | { readonly _tag: "Usage" }
  | { readonly _tag: "Broadcast"; readonly count: number; readonly payload: string; readonly burst: number }
  | { readonly _tag: "Close" }

/**
 * Server to parent. CPU times are process.cpuUsage() values, in microseconds;
 * `mdsfFallback` is null for the servers that do not load mdsf (ours, the
 * facade's and the floor's); `wsPort` is the port of the server's WebSocket
 * listener (ours and the reference have one), null if it has none.
 * Broadcasted: the broadcast asked for is issued, to `connections` clients.
 */
export type ServerMessage =
  | { readonly _tag: "Ready"; readonly port: number; readonly wsPort: number | null; readonly mdsfFallback: boolean | null }
  | { readonly _tag: "Usage"; readonly user: number; readonly system: number }
  | { readonly _tag: "Broadcasted"; readonly connections: number }
  | { readonly _tag: "Failed"; readonly message: string }

export const isImpl = (value: unknown): value is Impl => impls.includes(value as Impl)

const hasTag = (value: unknown): value is { readonly _tag: unknown } =>
  typeof value === "object" && value !== null && "_tag" in value

export const isParentMessage = (value: unknown): value is ParentMessage =>
  hasTag(value) && (value._tag === "Usage" || value._tag === "Broadcast" || value._tag === "Close")

export const isServerMessage = (value: unknown): value is ServerMessage =>
  hasTag(value) &&
  (value._tag === "Ready" || value._tag === "Usage" || value._tag === "Broadcasted" || value._tag === "Failed")
