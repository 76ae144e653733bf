import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Framing, Serde } from "effect-jstp"

const bytes = (text: string): Buffer => Buffer.from(text, "utf8")

/** Pushes every chunk into one decoder and returns the frames, in order. */
const decodeAll = (
  chunks: ReadonlyArray<Uint8Array>,
  options?: { readonly maxMessageSize?: number }
): Array<string> => {
  const decoder = Framing.makeDecoder(options)
  const frames: Array<string> = []
  for (const chunk of chunks) decoder.push(chunk, (text) => frames.push(text))
  expect(decoder.pending()).toBe(0)
  return frames
}

/** Cuts `data` at the given (sorted, in-range) byte offsets. */
const cutAt = (data: Uint8Array, offsets: ReadonlyArray<number>): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const offset of offsets) {
    chunks.push(data.subarray(start, offset))
    start = offset
  }
  chunks.push(data.subarray(start))
  return chunks
}

/** Cuts `data` into chunks of `size` bytes (the last may be shorter). */
const cutEvery = (data: Uint8Array, size: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let start = 0; start < data.length; start += size) chunks.push(data.subarray(start, start + size))
  return chunks
}

/** Runs `f` and returns what it threw (failing the test if it did not throw). */
const thrown = (f: () => void): unknown => {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error("expected a throw")
}

const expectTooLarge = (error: unknown, size: number, limit: number): void => {
  expect(error).toBeInstanceOf(Framing.FramingError)
  const framingError = error as Framing.FramingError
  expect(framingError._tag).toBe("FramingError")
  expect(framingError.reason).toBe("MessageTooLarge")
  expect(framingError.size).toBe(size)
  expect(framingError.limit).toBe(limit)
  expect(framingError.message).toContain(String(limit))
}

// Realistic messages, as a 2.x peer writes them and as we write them: non-ASCII
// text of every UTF-8 length, and NUL characters *escaped* inside strings (a
// serialized message never holds a raw NUL byte).
const SAMPLE: ReadonlyArray<string> = [
  "{handshake:[0,'chat','^1.0.0'],login:['Марк','pa\\u0000ss']}",
  "{handshake:[0],ok:'9b71d224-bd62-4f0c-8a8b-0a0c6e5d3f15'}",
  "{}",
  "{call:[1,'auth'],newAccount:['Café','€ 100','😀',{nested:['\\u0000','\\0']}]}",
  "{\"callback\":[1],\"ok\":[15703,\"naïve\",\"\\u0000\"]}",
  "{event:[-1,'chat'],message:['Marcus','Привет, 世界 😀']}",
  "{ping:[2]}",
  "{}",
  "{pong:[2]}",
  "{callback:[3],error:[16,'boom',1,2]}"
]
const SAMPLE_STREAM: Buffer = Buffer.concat(SAMPLE.map((text) => Framing.encode(text)))

describe("Framing.encode", () => {
  it("writes the UTF-8 bytes of the text followed by one NUL", () => {
    expect([...Framing.encode("{}")]).toEqual([0x7b, 0x7d, 0])
    expect([...Framing.encode("é€😀")]).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0])
    expect([...Framing.encode("")]).toEqual([0])
    expect(Framing.TERMINATOR).toBe("\0")
  })

  it("is undone by the decoder", () => {
    for (const text of SAMPLE) expect(decodeAll([Framing.encode(text)])).toEqual([text])
  })

  it("the sample stream is valid: one NUL per message, none inside, every frame parses", () => {
    expect(SAMPLE_STREAM.filter((byte) => byte === 0).length).toBe(SAMPLE.length)
    expect(SAMPLE_STREAM[SAMPLE_STREAM.length - 1]).toBe(0)
    // The escapes are real: the parsed strings do hold NUL characters.
    expect(Serde.parse(SAMPLE[0]!)).toEqual({ handshake: [0, "chat", "^1.0.0"], login: ["Марк", "pa\0ss"] })
    for (const text of SAMPLE) expect(() => Serde.parse(text)).not.toThrow()
  })
})

describe("Framing.makeDecoder", () => {
  it("delivers many frames from one chunk, in order", () => {
    const chunk = bytes("{ping:[1]}\0{pong:[1]}\0{call:[2,'i'],m:[]}\0")
    expect(decodeAll([chunk])).toEqual(["{ping:[1]}", "{pong:[1]}", "{call:[2,'i'],m:[]}"])
  })

  it("puts one frame together from many chunks", () => {
    const decoder = Framing.makeDecoder()
    const frames: Array<string> = []
    const onFrame = (text: string) => frames.push(text)
    decoder.push(bytes("{call:[1,"), onFrame)
    expect(frames).toEqual([])
    expect(decoder.pending()).toBe(9)
    decoder.push(bytes("'auth'],"), onFrame)
    expect(frames).toEqual([])
    expect(decoder.pending()).toBe(17)
    decoder.push(bytes("signIn:['a','b']}"), onFrame)
    expect(frames).toEqual([])
    decoder.push(bytes("\0"), onFrame)
    expect(frames).toEqual(["{call:[1,'auth'],signIn:['a','b']}"])
    expect(decoder.pending()).toBe(0)
  })

  it("puts one frame together from single-byte chunks", () => {
    const text = "{event:[-5,'chat'],message:['Marcus','Hi']}"
    expect(decodeAll(cutEvery(Framing.encode(text), 1))).toEqual([text])
  })

  describe("a multi-byte UTF-8 character split across chunks", () => {
    const characters: ReadonlyArray<readonly [string, number]> = [
      ["é", 2],
      ["€", 3],
      ["😀", 4]
    ]
    for (const [character, width] of characters) {
      it(`${character} (${width} bytes), cut inside it at every offset`, () => {
        const text = `{ok:['a${character}b']}`
        const encoded = Framing.encode(text)
        const at = encoded.indexOf(bytes(character))
        expect(Buffer.byteLength(character)).toBe(width)
        for (let inside = 1; inside < width; inside++) {
          const frames = decodeAll(cutAt(encoded, [at + inside]))
          expect(frames).toEqual([text])
          expect(frames[0]).not.toContain("\ufffd")
        }
        // Every byte of the character in its own chunk.
        const split = Array.from({ length: width + 1 }, (_, i) => at + i)
        expect(decodeAll(cutAt(encoded, split))).toEqual([text])
      })
    }

    it("all three in one frame, one byte per chunk", () => {
      const text = "{message:['é€😀','😀€é']}"
      const frames = decodeAll(cutEvery(Framing.encode(text), 1))
      expect(frames).toEqual([text])
    })
  })

  it("delivers `{}` heartbeats among other frames", () => {
    const chunk = bytes("{}\0{ping:[1]}\0{}\0{}\0{pong:[1]}\0{}\0")
    expect(decodeAll([chunk])).toEqual(["{}", "{ping:[1]}", "{}", "{}", "{pong:[1]}", "{}"])
  })

  it("consecutive terminators give empty frames", () => {
    // Pinned: the decoder does not skip empty frames; it is up to the caller
    // (an empty text does not parse, so the connection fails).
    expect(decodeAll([bytes("\0")])).toEqual([""])
    expect(decodeAll([bytes("\0\0")])).toEqual(["", ""])
    expect(decodeAll([bytes("{}\0\0{ping:[1]}\0")])).toEqual(["{}", "", "{ping:[1]}"])
    // Also when the second terminator starts the next chunk, or the previous
    // frame ended a chunk.
    expect(decodeAll([bytes("{}\0"), bytes("\0{}\0")])).toEqual(["{}", "", "{}"])
    expect(decodeAll([bytes("{}"), bytes("\0\0")])).toEqual(["{}", ""])
  })

  describe("the sample stream", () => {
    it("cut at every byte offset into two chunks gives the original frames", () => {
      for (let offset = 0; offset <= SAMPLE_STREAM.length; offset++) {
        expect(decodeAll(cutAt(SAMPLE_STREAM, [offset]))).toEqual(SAMPLE)
      }
    })

    it("cut into chunks of every size 1..N gives the original frames", () => {
      for (let size = 1; size <= SAMPLE_STREAM.length; size++) {
        expect(decodeAll(cutEvery(SAMPLE_STREAM, size))).toEqual(SAMPLE)
      }
    })

    it.prop(
      "cut at random offsets gives the original frames",
      [fc.uniqueArray(fc.integer({ min: 0, max: SAMPLE_STREAM.length }), { maxLength: 40 })],
      ([offsets]) => {
        const sorted = [...offsets].sort((a, b) => a - b)
        expect(decodeAll(cutAt(SAMPLE_STREAM, sorted))).toEqual(SAMPLE)
      },
      { fastCheck: { numRuns: 500 } }
    )

    it("given as plain Uint8Array views at an offset into a larger buffer gives the original frames", () => {
      // Not Buffers: the decoder must honour byteOffset/byteLength of the view.
      const backing = new Uint8Array(SAMPLE_STREAM.length + 20).fill(0x21)
      backing.set(SAMPLE_STREAM, 7)
      const view = new Uint8Array(backing.buffer, 7, SAMPLE_STREAM.length)
      expect(Buffer.isBuffer(view)).toBe(false)
      for (let size = 1; size <= 13; size++) {
        expect(decodeAll(cutEvery(view, size))).toEqual(SAMPLE)
      }
    })
  })

  describe("pending()", () => {
    it("reports the bytes received but not yet terminated", () => {
      const decoder = Framing.makeDecoder()
      const frames: Array<string> = []
      const onFrame = (text: string) => frames.push(text)
      expect(decoder.pending()).toBe(0)
      decoder.push(bytes("abc"), onFrame)
      expect(decoder.pending()).toBe(3)
      decoder.push(bytes("é"), onFrame)
      expect(decoder.pending()).toBe(5)
      decoder.push(bytes("\0gh"), onFrame)
      expect(frames).toEqual(["abcé"])
      expect(decoder.pending()).toBe(2)
      decoder.push(bytes("i\0j\0"), onFrame)
      expect(frames).toEqual(["abcé", "ghi", "j"])
      expect(decoder.pending()).toBe(0)
      decoder.push(new Uint8Array(0), onFrame)
      expect(decoder.pending()).toBe(0)
      expect(frames).toEqual(["abcé", "ghi", "j"])
    })
  })

  describe("copies the unterminated tail", () => {
    it("mutating a pushed Buffer afterwards does not corrupt a later frame", () => {
      const decoder = Framing.makeDecoder()
      const frames: Array<string> = []
      const first = bytes("{}\0{ping:[")
      decoder.push(first, (text) => frames.push(text))
      first.fill(0x58) // "X"
      decoder.push(bytes("7]}\0"), (text) => frames.push(text))
      expect(frames).toEqual(["{}", "{ping:[7]}"])
    })

    it("mutating a pushed Uint8Array view afterwards does not corrupt a later frame", () => {
      const decoder = Framing.makeDecoder()
      const frames: Array<string> = []
      const memory = new Uint8Array(32)
      // The transport reuses the same memory for every read.
      const read = (text: string): Uint8Array => {
        const encoded = bytes(text)
        memory.fill(0)
        memory.set(encoded)
        return memory.subarray(0, encoded.length)
      }
      decoder.push(read("{call:[1,'i"), (text) => frames.push(text))
      decoder.push(read("face'],m:["), (text) => frames.push(text))
      decoder.push(read("'é']}\0"), (text) => frames.push(text))
      expect(frames).toEqual(["{call:[1,'iface'],m:['é']}"])
    })
  })

  describe("size limit (small maxMessageSize)", () => {
    const limit = 16
    const exact = "x".repeat(limit)
    const over = "x".repeat(limit + 1)

    it("accepts a frame of exactly the limit in one chunk", () => {
      expect(decodeAll([bytes(exact + "\0")], { maxMessageSize: limit })).toEqual([exact])
    })

    it("rejects a terminated frame one byte over the limit", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      const frames: Array<string> = []
      expectTooLarge(
        thrown(() => decoder.push(bytes(over + "\0"), (text) => frames.push(text))),
        limit + 1,
        limit
      )
      expect(frames).toEqual([])
    })

    it("counts bytes, not characters", () => {
      // 8 characters, 16 bytes: fits; 9 characters, 18 bytes: does not.
      expect(decodeAll([bytes("é".repeat(8) + "\0")], { maxMessageSize: limit })).toEqual(["é".repeat(8)])
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      expectTooLarge(
        thrown(() => decoder.push(bytes("é".repeat(9) + "\0"), () => {})),
        18,
        limit
      )
    })

    it("accepts a frame of exactly the limit over several chunks", () => {
      const chunks = [bytes(exact.slice(0, 5)), bytes(exact.slice(5, 11)), bytes(exact.slice(11) + "\0")]
      expect(decodeAll(chunks, { maxMessageSize: limit })).toEqual([exact])
      // Tail of exactly the limit, terminator alone in the next chunk.
      expect(decodeAll([bytes(exact), bytes("\0")], { maxMessageSize: limit })).toEqual([exact])
    })

    it("rejects a frame one byte over the limit whose terminator comes in a later chunk", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      decoder.push(bytes(over.slice(0, 10)), () => {})
      expect(decoder.pending()).toBe(10)
      // The tail (10) plus the 7 bytes before the NUL make 17.
      expectTooLarge(
        thrown(() => decoder.push(bytes(over.slice(10) + "\0{}\0"), () => {})),
        limit + 1,
        limit
      )
    })

    it("accepts an unterminated remainder of exactly the limit, rejects one byte more", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      decoder.push(bytes(exact), () => {})
      expect(decoder.pending()).toBe(limit)
      expectTooLarge(
        thrown(() => decoder.push(bytes("x"), () => {})),
        limit + 1,
        limit
      )
    })

    it("rejects an unterminated remainder over the limit in one chunk", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      expectTooLarge(
        thrown(() => decoder.push(bytes(over), () => {})),
        limit + 1,
        limit
      )
    })

    it("rejects an unterminated remainder growing over the limit across chunks", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      decoder.push(bytes("x".repeat(6)), () => {})
      decoder.push(bytes("x".repeat(6)), () => {})
      expect(decoder.pending()).toBe(12)
      expectTooLarge(
        thrown(() => decoder.push(bytes("x".repeat(6)), () => {})),
        18,
        limit
      )
    })

    it("delivers the frames before an oversize frame in the same chunk, then throws", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      const frames: Array<string> = []
      const error = thrown(() => decoder.push(bytes("{}\0{ping:[1]}\0" + over + "\0{pong:[1]}\0"), (text) => frames.push(text)))
      expectTooLarge(error, limit + 1, limit)
      expect(frames).toEqual(["{}", "{ping:[1]}"])
    })

    it("delivers the frames before an oversize unterminated remainder in the same chunk, then throws", () => {
      const decoder = Framing.makeDecoder({ maxMessageSize: limit })
      const frames: Array<string> = []
      decoder.push(bytes("{pi"), (text) => frames.push(text))
      const error = thrown(() => decoder.push(bytes("ng:[1]}\0{}\0" + over), (text) => frames.push(text)))
      expectTooLarge(error, limit + 1, limit)
      expect(frames).toEqual(["{ping:[1]}", "{}"])
    })

    it("the limit is per frame, not per chunk", () => {
      const frames = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(limit, "x"))
      const chunk = bytes(frames.map((text) => text + "\0").join(""))
      expect(chunk.length).toBeGreaterThan(limit * 10)
      expect(decodeAll([chunk], { maxMessageSize: limit })).toEqual(frames)
    })
  })

  describe("size limit (the real 8 MiB default)", () => {
    const MAX = Framing.MAX_MESSAGE_SIZE

    it("is 8 MiB", () => {
      expect(MAX).toBe(8 * 1024 * 1024)
    })

    it("accepts a frame of exactly 8 MiB", () => {
      const chunk = Buffer.alloc(MAX + 1, 0x61)
      chunk[MAX] = 0
      const decoder = Framing.makeDecoder()
      const lengths: Array<number> = []
      decoder.push(chunk, (text) => lengths.push(text.length))
      expect(lengths).toEqual([MAX])
      expect(decoder.pending()).toBe(0)
    })

    it("accepts a frame of exactly 8 MiB over two chunks", () => {
      const decoder = Framing.makeDecoder()
      const lengths: Array<number> = []
      decoder.push(Buffer.alloc(MAX, 0x61), (text) => lengths.push(text.length))
      expect(decoder.pending()).toBe(MAX)
      decoder.push(Buffer.from([0]), (text) => lengths.push(text.length))
      expect(lengths).toEqual([MAX])
    })

    it("rejects a frame one byte over 8 MiB", () => {
      const chunk = Buffer.alloc(MAX + 2, 0x61)
      chunk[MAX + 1] = 0
      const decoder = Framing.makeDecoder()
      const frames: Array<string> = []
      expectTooLarge(
        thrown(() => decoder.push(chunk, (text) => frames.push(text))),
        MAX + 1,
        MAX
      )
      expect(frames).toEqual([])
    })

    it("rejects an unterminated remainder over 8 MiB, after delivering the frames before it", () => {
      const head = bytes("{ping:[1]}\0{}\0")
      const chunk = Buffer.concat([head, Buffer.alloc(MAX + 1, 0x61)])
      const decoder = Framing.makeDecoder()
      const frames: Array<string> = []
      expectTooLarge(
        thrown(() => decoder.push(chunk, (text) => frames.push(text))),
        MAX + 1,
        MAX
      )
      expect(frames).toEqual(["{ping:[1]}", "{}"])
    })

    it("rejects an unterminated remainder growing over 8 MiB across chunks", () => {
      const decoder = Framing.makeDecoder()
      const half = Buffer.alloc(MAX / 2, 0x61)
      decoder.push(half, () => {})
      decoder.push(half, () => {})
      expect(decoder.pending()).toBe(MAX)
      expectTooLarge(
        thrown(() => decoder.push(Buffer.from("a"), () => {})),
        MAX + 1,
        MAX
      )
    })
  })
})
