/**
 * The chaos proxy: TCP on 127.0.0.1, in front of a server, with lanes (a
 * listening port each, one per kind of client, so that each kind gets the
 * treatment it can survive) and per-link faults.
 *
 * While chaos is on, every link (a pair of sockets: the client's, and ours
 * to the server) lives for a random time (exponential, mean `meanLifeMs`),
 * then is killed in one of these ways, at random:
 *
 * - `destroy`: both sockets destroyed at once (a reset, both ends see it);
 * - `end`: both sockets ended (a clean close, both ends see it);
 * - `silent`: both directions blackholed and the sockets left open (a dead
 *   peer): nothing passes, not even a close;
 * - `deafClient`: the direction to the client blackholed (with its close),
 *   the other still passing;
 * - `deafServer`: the direction to the server blackholed (with its close),
 *   the other still passing.
 *
 * A half-open link (the last three) lingers until an end notices: a client
 * with a heartbeat timeout drops it (the Effect API), a restore makes the
 * server close its end. A lane with `cutHalfOpen` also destroys such links
 * after that long (the network giving up, as TCP's retransmission timeout
 * would): for clients that cannot detect a dead peer (the facade's and
 * 2.3.0's heartbeats only ping). Chaos also refuses new connections now and
 * then for a short while, so that some reconnection attempts fail.
 *
 * A lane can be stalled (the slow-consumer phase): `hold` keeps what the
 * server sends to its clients in the proxy (the client reads nothing, and
 * the server's socket drains into us), `backpressure` stops reading from
 * the server (its socket's buffers fill). `unstall` delivers what was held.
 */
import * as Net from "node:net"

const HOST = "127.0.0.1"

export type KillMode = "destroy" | "end" | "silent" | "deafClient" | "deafServer"
export const killModes: ReadonlyArray<KillMode> = ["destroy", "end", "silent", "deafClient", "deafServer"]

export type Stall = "hold" | "backpressure"

export interface LaneOptions {
  readonly name: string
  readonly target: number
  /** Destroy half-open links after a random time in [min, max] ms. */
  readonly cutHalfOpen?: readonly [number, number] | undefined
}

export interface ChaosOptions {
  /** Mean life of a link, ms. */
  readonly meanLifeMs: number
  /** Relative weights of the kill modes. */
  readonly weights: Readonly<Record<KillMode, number>>
  /** Mean time between refusal windows, ms (0: never). */
  readonly refuseEveryMs: number
  /** How long a refusal window lasts, ms. */
  readonly refuseForMs: number
}

export interface LaneStats {
  readonly name: string
  readonly accepted: number
  readonly refused: number
  readonly open: number
  /** Pairs with one socket closed and the other still open (half-open, lingering). */
  readonly lingering: number
  readonly kills: Readonly<Record<KillMode, number>>
  /** Half-open links the lane destroyed after `cutHalfOpen`. */
  readonly cut: number
  readonly discardedBytes: number
  readonly heldBytes: number
}

interface Pair {
  readonly lane: Lane
  readonly client: Net.Socket
  readonly upstream: Net.Socket
  /** Blackholed directions. */
  deafClient: boolean
  deafServer: boolean
  upstreamConnected: boolean
  readonly early: Array<Buffer>
  /** What `hold` kept for the client, and whether the server's end came meanwhile. */
  readonly held: Array<Buffer>
  heldEnd: boolean
  clientEnded: boolean
  upstreamEnded: boolean
  clientClosed: boolean
  upstreamClosed: boolean
  killTimer: ReturnType<typeof setTimeout> | undefined
  cutTimer: ReturnType<typeof setTimeout> | undefined
}

class Lane {
  readonly pairs = new Set<Pair>()
  accepted = 0
  refused = 0
  cut = 0
  discardedBytes = 0
  heldBytes = 0
  readonly kills: Record<KillMode, number> = { destroy: 0, end: 0, silent: 0, deafClient: 0, deafServer: 0 }
  stall: Stall | undefined = undefined
  server!: Net.Server
  port = 0

  constructor(readonly options: LaneOptions) {}

  stats(): LaneStats {
    let lingering = 0
    for (const pair of this.pairs) if (pair.clientClosed !== pair.upstreamClosed) lingering++
    return {
      name: this.options.name,
      accepted: this.accepted,
      refused: this.refused,
      open: this.pairs.size,
      lingering,
      kills: { ...this.kills },
      cut: this.cut,
      discardedBytes: this.discardedBytes,
      heldBytes: this.heldBytes
    }
  }
}

export class ChaosProxy {
  private readonly lanes = new Map<string, Lane>()
  private chaos: ChaosOptions | undefined
  private refusing = false
  private refuseTimer: ReturnType<typeof setTimeout> | undefined

  /** Opens a lane; resolves with its port. */
  addLane(options: LaneOptions): Promise<number> {
    const lane = new Lane(options)
    this.lanes.set(options.name, lane)
    lane.server = Net.createServer({ noDelay: true }, (client) => this.accept(lane, client))
    return new Promise((resolve, reject) => {
      lane.server.once("error", reject)
      lane.server.listen(0, HOST, 4096, () => {
        lane.port = (lane.server.address() as Net.AddressInfo).port
        resolve(lane.port)
      })
    })
  }

  /** Starts (options) or stops (undefined) killing links. Stopping cancels kills to come, not cuts. */
  setChaos(options: ChaosOptions | undefined): void {
    this.chaos = options
    clearTimeout(this.refuseTimer)
    this.refusing = false
    for (const lane of this.lanes.values()) {
      for (const pair of lane.pairs) {
        clearTimeout(pair.killTimer)
        pair.killTimer = undefined
        if (options !== undefined && !pair.deafClient && !pair.deafServer) this.scheduleKill(pair)
      }
    }
    if (options !== undefined && options.refuseEveryMs > 0) this.scheduleRefusal(options)
  }

  stall(name: string, stall: Stall): void {
    const lane = this.lane(name)
    lane.stall = stall
    if (stall === "backpressure") for (const pair of lane.pairs) pair.upstream.pause()
  }

  unstall(name: string): void {
    const lane = this.lane(name)
    const was = lane.stall
    lane.stall = undefined
    for (const pair of lane.pairs) {
      if (was === "backpressure") pair.upstream.resume()
      for (const chunk of pair.held.splice(0)) this.toClient(pair, chunk)
      if (pair.heldEnd) {
        pair.heldEnd = false
        this.endClient(pair)
      }
    }
  }

  stats(): Array<LaneStats> {
    return [...this.lanes.values()].map((lane) => lane.stats())
  }

  /** Destroys every pair of every lane and stops listening. */
  close(): Promise<void> {
    this.setChaos(undefined)
    const closing: Array<Promise<void>> = []
    for (const lane of this.lanes.values()) {
      for (const pair of lane.pairs) this.destroyPair(pair)
      closing.push(new Promise((resolve) => lane.server.close(() => resolve())))
    }
    return Promise.all(closing).then(() => undefined)
  }

  private lane(name: string): Lane {
    const lane = this.lanes.get(name)
    if (lane === undefined) throw new Error(`No lane ${name}`)
    return lane
  }

  private scheduleRefusal(options: ChaosOptions): void {
    this.refuseTimer = setTimeout(() => {
      this.refusing = true
      this.refuseTimer = setTimeout(() => {
        this.refusing = false
        this.scheduleRefusal(options)
      }, options.refuseForMs)
    }, exponential(options.refuseEveryMs))
  }

  private accept(lane: Lane, client: Net.Socket): void {
    lane.accepted++
    client.on("error", () => {})
    if (this.refusing) {
      lane.refused++
      client.destroy()
      return
    }
    const upstream = Net.connect({ host: HOST, port: lane.options.target, noDelay: true })
    upstream.on("error", () => {})
    const pair: Pair = {
      lane,
      client,
      upstream,
      deafClient: false,
      deafServer: false,
      upstreamConnected: false,
      early: [],
      held: [],
      heldEnd: false,
      clientEnded: false,
      upstreamEnded: false,
      clientClosed: false,
      upstreamClosed: false,
      killTimer: undefined,
      cutTimer: undefined
    }
    lane.pairs.add(pair)
    if (lane.stall === "backpressure") upstream.pause()
    upstream.on("connect", () => {
      pair.upstreamConnected = true
      for (const chunk of pair.early.splice(0)) upstream.write(chunk)
    })
    client.on("data", (chunk: Buffer) => this.toServer(pair, chunk))
    upstream.on("data", (chunk: Buffer) => {
      if (pair.lane.stall === "hold" && !pair.deafClient) {
        pair.held.push(chunk)
        pair.lane.heldBytes += chunk.length
        return
      }
      this.toClient(pair, chunk)
    })
    // A close passes on only where its direction is not blackholed: a clean
    // end as an end (after what was written), a reset as a reset.
    client.on("end", () => {
      pair.clientEnded = true
      if (!pair.deafServer) upstream.end()
    })
    upstream.on("end", () => {
      pair.upstreamEnded = true
      if (pair.deafClient) return
      if (pair.lane.stall === "hold" && pair.held.length > 0) pair.heldEnd = true
      else this.endClient(pair)
    })
    client.on("close", () => {
      pair.clientClosed = true
      if (!pair.deafServer && !pair.clientEnded) upstream.destroy()
      this.forgetIfClosed(pair)
    })
    upstream.on("close", () => {
      pair.upstreamClosed = true
      if (!pair.deafClient) {
        if (pair.lane.stall === "hold" && pair.held.length > 0) pair.heldEnd = true
        else if (!pair.upstreamEnded) client.destroy()
      }
      this.forgetIfClosed(pair)
    })
    if (this.chaos !== undefined) this.scheduleKill(pair)
  }

  private toServer(pair: Pair, chunk: Buffer): void {
    if (pair.deafServer) {
      pair.lane.discardedBytes += chunk.length
      return
    }
    if (!pair.upstreamConnected) pair.early.push(chunk)
    else if (!pair.upstream.destroyed) pair.upstream.write(chunk)
  }

  private toClient(pair: Pair, chunk: Buffer): void {
    if (pair.deafClient) {
      pair.lane.discardedBytes += chunk.length
      return
    }
    if (!pair.client.destroyed) pair.client.write(chunk)
  }

  private endClient(pair: Pair): void {
    if (!pair.client.destroyed) pair.client.end()
  }

  private forgetIfClosed(pair: Pair): void {
    if (!pair.clientClosed || !pair.upstreamClosed) return
    clearTimeout(pair.killTimer)
    clearTimeout(pair.cutTimer)
    pair.lane.pairs.delete(pair)
  }

  private destroyPair(pair: Pair): void {
    clearTimeout(pair.killTimer)
    clearTimeout(pair.cutTimer)
    pair.deafClient = false
    pair.deafServer = false
    pair.client.destroy()
    pair.upstream.destroy()
    pair.lane.pairs.delete(pair)
  }

  private scheduleKill(pair: Pair): void {
    const chaos = this.chaos
    if (chaos === undefined) return
    pair.killTimer = setTimeout(() => {
      pair.killTimer = undefined
      if (this.chaos !== undefined && pair.lane.pairs.has(pair)) this.kill(pair, pick(this.chaos.weights))
    }, exponential(chaos.meanLifeMs))
  }

  private kill(pair: Pair, mode: KillMode): void {
    pair.lane.kills[mode]++
    switch (mode) {
      case "destroy":
        return this.destroyPair(pair)
      case "end":
        pair.client.end()
        pair.upstream.end()
        return
      case "silent":
        pair.deafClient = true
        pair.deafServer = true
        break
      case "deafClient":
        pair.deafClient = true
        break
      case "deafServer":
        pair.deafServer = true
        break
    }
    const cut = pair.lane.options.cutHalfOpen
    if (cut !== undefined) {
      pair.cutTimer = setTimeout(() => {
        if (!pair.lane.pairs.has(pair)) return
        pair.lane.cut++
        this.destroyPair(pair)
      }, cut[0] + Math.random() * (cut[1] - cut[0]))
    }
  }
}

const exponential = (mean: number): number => Math.min(mean * 20, -Math.log(1 - Math.random()) * mean)

const pick = (weights: Readonly<Record<KillMode, number>>): KillMode => {
  const total = killModes.reduce((sum, mode) => sum + weights[mode], 0)
  let r = Math.random() * total
  for (const mode of killModes) {
    r -= weights[mode]
    if (r < 0) return mode
  }
  return "destroy"
}
