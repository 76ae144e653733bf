// The text frames WebSocketLink writes itself (src/transport/WebSocketFrames.ts):
// decoded by `ws`'s own Receiver as a server reads a client's frames (masked)
// and as a client reads a server's (unmasked), every length form of RFC 6455
// §5.2, UTF-8 beyond ASCII, several frames in one buffer.
import { describe, expect, it } from "@effect/vitest"
import { createRequire } from "node:module"
import { encode } from "../src/transport/WebSocketFrames.js"

interface Receiver {
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void
  on(event: "error", listener: (error: Error) => void): void
  write(chunk: Buffer, encoding: string, callback: (error?: Error | null) => void): void
}
const ReceiverOf = (createRequire(import.meta.url)("ws") as {
  Receiver: new (options: { isServer: boolean; maxPayload?: number }) => Receiver
}).Receiver

/** What a `ws` receiver on the other side reads from `buffer`. */
const decode = (buffer: Buffer, masked: boolean): Promise<Array<string>> =>
  new Promise((resolve, reject) => {
    const receiver = new ReceiverOf({ isServer: masked, maxPayload: 0 })
    const texts: Array<string> = []
    receiver.on("message", (data, isBinary) => {
      if (isBinary) reject(new Error("a binary frame"))
      texts.push(data.toString("utf8"))
    })
    receiver.on("error", reject)
    receiver.write(buffer, "buffer", (error) => error ? reject(error) : resolve(texts))
  })

const encoded = (texts: ReadonlyArray<string>, masked: boolean): Buffer =>
  encode(texts, texts.map((text) => Buffer.byteLength(text)), masked)

const texts = [
  "",
  "a",
  "abc",
  "x".repeat(125),
  "x".repeat(126),
  "x".repeat(127),
  "y".repeat(65535),
  "z".repeat(65536),
  "w".repeat(70001),
  "{call:[1,'calc','add'],add:[2,3]}",
  "ключ — 値 — 🙂"
]

describe("WebSocket text frames", () => {
  for (const masked of [true, false]) {
    it(`${masked ? "masked (a client's)" : "unmasked (a server's)"}: one buffer of ${texts.length} frames reads back as the texts, in order`, async () => {
      expect(await decode(encoded(texts, masked), masked)).toEqual(texts)
    })
  }

  it("a server's frame is the text behind its 2-byte header", () => {
    expect([...encoded(["hi"], false)]).toEqual([0x81, 2, 0x68, 0x69])
    expect([...encoded(["x".repeat(300)], false).subarray(0, 4)]).toEqual([0x81, 126, 1, 44])
    expect([...encoded(["x".repeat(70001)], false).subarray(0, 10)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x71])
  })

  it("a client's frames are masked, each with a key of its own, and the payload is not sent in the clear", () => {
    const text = "p".repeat(64)
    const buffer = encoded([text, text], true)
    const frame = 2 + 4 + 64
    expect(buffer.length).toBe(2 * frame)
    expect(buffer[1]).toBe(0x80 | 64)
    const first = buffer.subarray(2, 6)
    const second = buffer.subarray(frame + 2, frame + 6)
    expect(first.equals(second)).toBe(false)
    expect(buffer.subarray(6, frame).toString("latin1")).not.toBe(text)
  })

  it("a server reading a client's frame refuses it unmasked (the test's receiver is strict)", async () => {
    await expect(decode(encoded(["hi"], false), true)).rejects.toThrow(/MASK/)
  })
})
