/**
 * A TCP proxy on 127.0.0.1 (an ephemeral port) in front of a target port,
 * for tests of links that drop while both processes stay up:
 *
 * - `drop()` destroys both sockets of every pair it forwards right now (the
 *   client's and the target's), as a broken link would: "kill the socket,
 *   not the process". It keeps listening, so a client can reconnect.
 * - `refuse(true)` makes it close every new connection at once, so
 *   reconnection attempts fail until `refuse(false)`.
 * - `pause()` holds the bytes of every pair (existing and new) until
 *   `resume()` delivers them; `blackhole()` discards them instead, as a dead
 *   peer that stays connected. Closes still go through in every mode.
 * - `retarget(port)` sends the pairs opened from then on to another port.
 *
 * `make` is scoped: closing the scope destroys every socket and stops the
 * listener. The controls are plain synchronous functions.
 */
import { Effect, Schedule, type Scope } from "effect"
import * as Net from "node:net"

/** What the proxy does with the bytes it reads. */
export type Mode = "forward" | "hold" | "blackhole"

export interface Proxy {
  /** The port it listens on. */
  readonly port: number
  /** Its address, as `Connection.connect` takes it. */
  readonly address: { readonly _tag: "Tcp"; readonly host: "127.0.0.1"; readonly port: number }
  /** Connections accepted so far (refused ones included). */
  readonly accepted: () => number
  /** Pairs whose client socket is still open. */
  readonly open: () => number
  /** Destroys both sockets of every current pair; returns how many pairs. */
  readonly drop: () => number
  /** While true, every new connection is closed as soon as it is accepted. */
  readonly refuse: (refusing: boolean) => void
  /** Holds every byte (both ways) until `resume`. */
  readonly pause: () => void
  /** Discards every byte (both ways) until `resume`. */
  readonly blackhole: () => void
  /** Forwards again, first delivering what `pause` held. */
  readonly resume: () => void
  readonly mode: () => Mode
  /** Bytes `blackhole` has discarded so far. */
  readonly discarded: () => number
  /** Where pairs opened from now on connect. */
  readonly retarget: (port: number) => void
  /** Waits until `accepted()` reaches `count` (at most `timeout` ms). */
  readonly awaitAccepted: (count: number, timeout?: number) => Effect.Effect<void, Error>
}

const HOST = "127.0.0.1"

interface Pair {
  readonly client: Net.Socket
  readonly upstream: Net.Socket
  /** Bytes held by `pause`, per direction, in order. */
  readonly held: { toUpstream: Array<Buffer>; toClient: Array<Buffer> }
  upstreamConnected: boolean
  /** Client bytes read before the upstream socket connected. */
  readonly early: Array<Buffer>
}

/** Starts a proxy to `targetPort` on 127.0.0.1; stopped with the scope. */
export const make = (targetPort: number): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    let target = targetPort
    let mode: Mode = "forward"
    let refusing = false
    let accepted = 0
    let discarded = 0
    const pairs = new Set<Pair>()

    const destroyPair = (pair: Pair) => {
      pairs.delete(pair)
      pair.client.destroy()
      pair.upstream.destroy()
    }

    const relay = (pair: Pair, direction: "toUpstream" | "toClient", chunk: Buffer) => {
      if (mode === "blackhole") {
        discarded += chunk.length
        return
      }
      if (mode === "hold") {
        pair.held[direction].push(chunk)
        return
      }
      if (direction === "toClient") {
        if (!pair.client.destroyed) pair.client.write(chunk)
      } else if (!pair.upstreamConnected) {
        pair.early.push(chunk)
      } else if (!pair.upstream.destroyed) {
        pair.upstream.write(chunk)
      }
    }

    const server = Net.createServer((client) => {
      accepted++
      if (refusing) {
        client.on("error", () => {})
        client.destroy()
        return
      }
      const upstream = Net.connect({ host: HOST, port: target })
      const pair: Pair = { client, upstream, held: { toUpstream: [], toClient: [] }, upstreamConnected: false, early: [] }
      pairs.add(pair)
      client.on("error", () => destroyPair(pair))
      upstream.on("error", () => destroyPair(pair))
      upstream.on("connect", () => {
        pair.upstreamConnected = true
        for (const chunk of pair.early.splice(0)) upstream.write(chunk)
      })
      client.on("data", (chunk: Buffer) => relay(pair, "toUpstream", chunk))
      upstream.on("data", (chunk: Buffer) => relay(pair, "toClient", chunk))
      // A clean end is passed on; the other side then ends too.
      client.on("end", () => {
        if (!upstream.destroyed) upstream.end()
      })
      upstream.on("end", () => {
        if (!client.destroyed) client.end()
      })
      client.on("close", () => {
        pairs.delete(pair)
        if (!upstream.destroyed) upstream.end()
      })
      upstream.on("close", () => {
        pairs.delete(pair)
        if (!client.destroyed) client.end()
      })
    })

    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, HOST, () => resume(Effect.succeed((server.address() as Net.AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const pair of [...pairs]) destroyPair(pair)
          server.close(() => resume(Effect.void))
        })
    )

    const resume = () => {
      mode = "forward"
      for (const pair of pairs) {
        for (const chunk of pair.held.toUpstream.splice(0)) relay(pair, "toUpstream", chunk)
        for (const chunk of pair.held.toClient.splice(0)) relay(pair, "toClient", chunk)
      }
    }

    return {
      port,
      address: { _tag: "Tcp", host: HOST, port },
      accepted: () => accepted,
      open: () => pairs.size,
      drop: () => {
        const count = pairs.size
        for (const pair of [...pairs]) destroyPair(pair)
        return count
      },
      refuse: (value) => {
        refusing = value
      },
      pause: () => {
        mode = "hold"
      },
      blackhole: () => {
        mode = "blackhole"
      },
      resume,
      mode: () => mode,
      discarded: () => discarded,
      retarget: (port) => {
        target = port
      },
      awaitAccepted: (count, timeout = 3000) =>
        Effect.suspend(() =>
          accepted >= count ? Effect.void : Effect.fail(new Error(`the proxy accepted ${accepted} of ${count} connections`))
        ).pipe(
          Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo(timeout)))
        )
    } satisfies Proxy
  })
