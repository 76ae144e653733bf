import { describe, expect, it } from "@effect/vitest"
import { PassThrough } from "node:stream"
import * as SocketLink from "../src/transport/SocketLink.js"

const recordingLink = () => {
  const stream = new PassThrough()
  const frames: Array<string> = []
  const closes: Array<Error | undefined> = []
  const link = SocketLink.make(stream, {
    onFrame: (text) => frames.push(text),
    onClose: (error) => closes.push(error)
  })
  return { stream, link, frames, closes }
}

describe("the facade's socket link", () => {
  it("reports frames, then the close with the error the socket failed with", () => {
    const { stream, frames, closes } = recordingLink()
    stream.emit("data", Buffer.from("{a:1}\0{b:"))
    stream.emit("data", Buffer.from("2}\0"))
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })
    stream.emit("error", reset)
    stream.emit("close")
    expect(frames).toEqual(["{a:1}", "{b:2}"])
    expect(closes).toEqual([reset])
  })

  it("a detached socket reports nothing more, and a later reset is not an unhandled 'error' event", () => {
    const { stream, link, frames, closes } = recordingLink()
    link.detach()
    stream.emit("data", Buffer.from("{a:1}\0"))
    // With no 'error' listener, emit would throw (in a real socket: crash the process).
    expect(() => stream.emit("error", new Error("read ECONNRESET"))).not.toThrow()
    stream.emit("close")
    expect(frames).toEqual([])
    expect(closes).toEqual([])
  })

  it("writes the first message of a tick at once, and the rest of that tick together in one write, in order", async () => {
    const { stream, link } = recordingLink()
    const writes: Array<string> = []
    const write = stream.write.bind(stream)
    stream.write = ((chunk: string) => {
      writes.push(String(chunk))
      return write(chunk)
    }) as typeof stream.write
    link.send("{a:1}")
    expect(writes).toEqual(["{a:1}\0"])
    link.send("{b:2}")
    link.send("{c:3}")
    expect(writes).toEqual(["{a:1}\0"])
    await new Promise((resolve) => process.nextTick(resolve))
    expect(writes).toEqual(["{a:1}\0", "{b:2}\0{c:3}\0"])
    link.send("{d:4}")
    link.send("{e:5}")
    link.close()
    expect(writes).toEqual(["{a:1}\0", "{b:2}\0{c:3}\0", "{d:4}\0", "{e:5}\0"])
    link.send("{f:6}")
    await new Promise((resolve) => process.nextTick(resolve))
    expect(writes).toHaveLength(4)
  })

  describe("read through onread (DirectReads)", () => {
    // Delivers `text` as one read into the reads' buffer, shared by every
    // socket read this way: what a read leaves there is overwritten by the next.
    const read = (reads: SocketLink.DirectReads, text: string) => {
      const bytes = Buffer.from(text)
      const buffer = reads.onread.buffer as Buffer
      bytes.copy(buffer)
      buffer.fill(0x78, bytes.length, bytes.length + 16)
      ;(reads.onread.callback as (length: number, buffer: Uint8Array) => boolean)(bytes.length, buffer)
    }

    const readLink = (reads: SocketLink.DirectReads) => {
      const stream = new PassThrough()
      const frames: Array<string> = []
      const link = SocketLink.make(stream, { onFrame: (text) => frames.push(text), onClose: () => {} }, { reads })
      return { stream, link, frames }
    }

    it("frames split across reads of two sockets, in one shared buffer, arrive whole", () => {
      const first = new SocketLink.DirectReads()
      const second = new SocketLink.DirectReads()
      expect(first.onread.buffer).toBe(second.onread.buffer)
      const a = readLink(first)
      const b = readLink(second)
      read(first, "{a:'жж")
      read(second, "{b:1}\0{c:'€")
      read(first, "ж'}\0{d:")
      read(second, "€'}\0")
      read(first, "2}\0")
      expect(a.frames).toEqual(["{a:'жжж'}", "{d:2}"])
      expect(b.frames).toEqual(["{b:1}", "{c:'€€'}"])
      // The socket's own 'data' events are not read.
      a.stream.emit("data", Buffer.from("{e:3}\0"))
      expect(a.frames).toEqual(["{a:'жжж'}", "{d:2}"])
    })

    it("hands what is read before the link listens to it on the next tick, before later reads; drops what comes after it detached", async () => {
      const reads = new SocketLink.DirectReads()
      read(reads, "{a:1}\0{b:")
      read(reads, "2}\0")
      const frames: Array<string> = []
      // The handler uses the link: it must not run before make returns.
      const link: SocketLink.SocketLink = SocketLink.make(new PassThrough(), {
        onFrame: (text) => frames.push(`${text} ${link.remoteAddress ?? "-"}`),
        onClose: () => {}
      }, { reads })
      read(reads, "{c:3}\0")
      expect(frames).toEqual([])
      await new Promise((resolve) => process.nextTick(resolve))
      expect(frames).toEqual(["{a:1} -", "{b:2} -", "{c:3} -"])
      read(reads, "{d:4}\0")
      expect(frames).toHaveLength(4)
      link.detach()
      read(reads, "{e:5}\0")
      await new Promise((resolve) => process.nextTick(resolve))
      expect(frames).toEqual(["{a:1} -", "{b:2} -", "{c:3} -", "{d:4} -"])
    })

    it("reads nothing for a link that detached before its early reads were handed over", async () => {
      const reads = new SocketLink.DirectReads()
      read(reads, "{a:1}\0")
      const { link, frames } = readLink(reads)
      link.detach()
      await new Promise((resolve) => process.nextTick(resolve))
      read(reads, "{b:2}\0")
      expect(frames).toEqual([])
    })
  })
})
