/**
 * `net.connect`'s arguments as one options object, to add options to them.
 *
 * @since 0.1.0
 */
import type * as net from "node:net"

// Whether net.connect takes a string as a pipe path rather than a port.
const isPipeName = (value: unknown): boolean => typeof value === "string" && !(Number(value) >= 0)

/**
 * `net.connect`'s argument forms (`options`, `port[, host]`, `path`; a
 * connect listener after them is not read here) read as `net.connect` reads
 * them, into one options object, with `onread` set (over any given). A given
 * options object is not changed: the result inherits from it, so its
 * inherited properties and getters still count, and has its own properties
 * copied, as net.Socket copies only those.
 *
 * @since 0.1.0
 */
export const connectOptions = (
  args: ReadonlyArray<unknown>,
  onread: net.OnReadOpts
): net.NetConnectOpts => {
  const [first, second] = args
  if (typeof first === "object" && first !== null) return Object.assign(Object.create(first), first, { onread })
  if (isPipeName(first)) return { path: first as string, onread }
  return (typeof second === "string" ? { port: first, host: second, onread } : { port: first, onread }) as net.NetConnectOpts
}
