/**
 * `net.connect`'s arguments as one options object, to add options to them.
 *
 * @since 0.1.0
 */
import type * as net from "node:net"

// Whether net.connect takes a string as a pipe path rather than a port.
const isPipeName = (value: unknown): boolean => typeof value === "string" && !(Number(value) >= 0)

/**
 * `net.connect`'s argument forms (`options`, `port[, host]`, `path`, and a
 * connect listener last) read as `net.connect` reads them, into one options
 * object, with `onread` set.
 *
 * @since 0.1.0
 */
export const connectOptions = (
  args: ReadonlyArray<unknown>,
  onread: net.OnReadOpts
): net.NetConnectOpts => {
  const [first, second] = args
  const options: Record<string, unknown> = typeof first === "object" && first !== null
    ? { ...first }
    : isPipeName(first)
    ? { path: first }
    : typeof second === "string"
    ? { port: first, host: second }
    : { port: first }
  return { ...options, onread } as net.NetConnectOpts
}
