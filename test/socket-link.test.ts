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
})
