/**
 * The soak's parameters: flags (`--connections 50`, `--seconds=10`), else
 * environment variables (`SOAK_CONNECTIONS`), else the defaults.
 */

export interface Config {
  /** Client connections in the chaos phase, split among the kinds of client. */
  readonly connections: number
  /** How long the proxy kills links, s. */
  readonly seconds: number
  /** Operations (a call or an event) per client per second. */
  readonly rate: number
  /** Mean life of a link under chaos, ms. */
  readonly meanLifeMs: number
  /** Client connections in the slow-consumer phase (0: no such phase). */
  readonly slowConnections: number
  /** The server's `maxBuffered` in the slow-consumer phase. */
  readonly slowBound: number
  /** How long the drain may take at most, s. */
  readonly drainTimeout: number
}

const options = {
  connections: { env: "SOAK_CONNECTIONS", fallback: 1000, help: "client connections in the chaos phase" },
  seconds: { env: "SOAK_SECONDS", fallback: 60, help: "length of the chaos phase, s" },
  rate: { env: "SOAK_RATE", fallback: 1, help: "calls and events per client per second" },
  "mean-life": { env: "SOAK_MEAN_LIFE_MS", fallback: 5000, help: "mean life of a link under chaos, ms" },
  "slow-connections": { env: "SOAK_SLOW_CONNECTIONS", fallback: -1, help: "clients in the slow-consumer phase (default: max(8, connections / 20); 0: skip it)" },
  "slow-bound": { env: "SOAK_SLOW_BOUND", fallback: 64, help: "the server's maxBuffered in the slow-consumer phase" },
  "drain-timeout": { env: "SOAK_DRAIN_TIMEOUT", fallback: 300, help: "the most the drain may take, s" }
} as const

type Name = keyof typeof options

export const usage = (): string =>
  [
    "npm run soak -- [--connections N] [--seconds S] [--rate R] [--mean-life MS] [--slow-connections N] [--slow-bound N] [--drain-timeout S]",
    "",
    ...Object.entries(options).map(([name, o]) => `  --${name.padEnd(17)} ${o.help} (env ${o.env}, default ${o.fallback})`)
  ].join("\n")

export const parse = (argv: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Config => {
  const given = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") {
      console.log(usage())
      process.exit(0)
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg)
    if (match === null || !(match[1]! in options)) throw new Error(`Unknown argument ${arg}\n${usage()}`)
    const value = match[2] ?? argv[++i]
    if (value === undefined) throw new Error(`--${match[1]} needs a value`)
    given.set(match[1]!, value)
  }
  const read = (name: Name): number => {
    const text = given.get(name) ?? env[options[name].env]
    if (text === undefined || text === "") return options[name].fallback
    const value = Number(text)
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number >= 0, not ${text}`)
    return value
  }
  const connections = Math.max(4, Math.round(read("connections")))
  const slow = read("slow-connections")
  return {
    connections,
    seconds: read("seconds"),
    rate: read("rate"),
    meanLifeMs: read("mean-life"),
    slowConnections: slow < 0 ? Math.max(8, Math.round(connections / 20)) : Math.round(slow),
    slowBound: Math.max(4, Math.round(read("slow-bound"))),
    drainTimeout: read("drain-timeout")
  }
}
