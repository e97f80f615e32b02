import { createRequire } from "node:module"
import { describe, expect, inject, it } from "@effect/vitest"
import { Redis } from "ioredis"
import {
  IoredisDecoder,
  isDefaultMapping,
  TapeCommand,
  textRepliesInstalled,
} from "../../src/redis/installTextReplies.ts"
import { RespTape, type TapeScratch } from "../../src/redis/RespTape.ts"
import { TextReplyDecoder } from "../../src/redis/TextReplyDecoder.ts"
import { makeRandom, type Random } from "../../src/simulator/random.ts"

const require = createRequire(import.meta.url)
const { convertBufferToString } = require("ioredis/built/utils/index.js") as {
  convertBufferToString: (value: unknown, encoding: string) => unknown
}

/** ioredis's default type mapping (DataHandler's `legacyTypeMapping`). */
const defaultMapping = {
  36: Buffer,
  43: Buffer,
  61: Buffer,
  44: Buffer,
  40: String,
  35: Number,
  37: Array,
  126: Array,
} as const

type Event = readonly ["reply" | "error" | "push" | "tape", unknown]

/** Errors compared by class and message, wherever they sit. */
const normalize = (value: unknown): unknown => {
  if (value instanceof Error) return { error: value.constructor.name, message: value.message }
  if (Array.isArray(value)) return value.map(normalize)
  return value
}

/** What a command that asked for text gets from ioredis's own decoder: its values after ioredis's
 * utf8 conversion (pushes are converted here too, to compare them). */
const viaIoredis = (chunks: ReadonlyArray<Buffer>): Array<Event> => {
  const events: Array<Event> = []
  const decoder = new IoredisDecoder({
    getTypeMapping: () => defaultMapping,
    onReply: (reply) => events.push(["reply", normalize(convertBufferToString(reply, "utf8"))]),
    onErrorReply: (error) => events.push(["error", normalize(error)]),
    onPush: (reply) => events.push(["push", normalize(convertBufferToString(reply, "utf8"))]),
  })
  for (const chunk of chunks) decoder.write(chunk)
  return events
}

class SimpleError extends Error {}
class BlobError extends Error {}

const viaText = (chunks: ReadonlyArray<Buffer>): Array<Event> => {
  const events: Array<Event> = []
  const decoder = new TextReplyDecoder({
    onReply: (reply) => events.push(["reply", normalize(reply)]),
    onErrorReply: (error) => events.push(["error", normalize(error)]),
    onPush: (reply) => events.push(["push", normalize(reply)]),
    simpleError: (message) => new SimpleError(message),
    blobError: (message) => new BlobError(message),
  })
  for (const chunk of chunks) decoder.write(chunk)
  return events
}

const pick = <A>(random: Random, items: ReadonlyArray<A>): A => items[Math.floor(random.next() * items.length)] as A

/** Text with what trips decoders: CR, LF, multi-byte characters (split across chunks below). */
const randomText = (random: Random, maxLength: number): string => {
  const alphabet = ["a", "Z", "0", " ", ":", "-", "\r", "\n", "\r\n", "é", "€", "😀", '"', "{", "$", "*"]
  const length = Math.floor(random.next() * (maxLength + 1))
  let out = ""
  for (let i = 0; i < length; i++) out += pick(random, alphabet)
  return out
}

const randomLine = (random: Random): string => randomText(random, 12).replace(/[\r\n]/g, "_")

const bulk = (prefix: string, text: string) => `${prefix}${Buffer.byteLength(text)}\r\n${text}\r\n`

/** One random RESP2/RESP3 value, as wire text. */
const randomValue = (random: Random, depth: number): string => {
  const kinds = depth < 3 ? 16 : 12
  switch (Math.floor(random.next() * kinds)) {
    case 0:
      return `+${randomLine(random)}\r\n`
    case 1:
      return `-ERR ${randomLine(random)}\r\n`
    case 2:
      return `:${pick(random, ["0", "-1", "+7", "42", "-9007199254740993", "18446744073709551615", String(Math.floor(random.next() * 1e9))])}\r\n`
    case 3:
      return bulk("$", randomText(random, 40))
    case 4:
      return pick(random, ["$-1\r\n", "*-1\r\n", "_\r\n", "$0\r\n\r\n", "*0\r\n", "%0\r\n", "~0\r\n"])
    case 5:
      return pick(random, ["#t\r\n", "#f\r\n"])
    case 6:
      return `,${pick(random, ["3.14", "-0.5", "inf", "-inf", "nan", "1e10", "10", "-2.5E-3"])}\r\n`
    case 7:
      return `(${pick(random, ["3492890328409238509324850943850943825024385", "-12", "0"])}\r\n`
    case 8:
      return bulk("=", `${pick(random, ["txt", "mkd"])}:${randomText(random, 20)}`)
    case 9:
      return bulk("!", `SYNTAX ${randomText(random, 20)}`)
    case 10:
      return bulk("$", randomText(random, 400))
    case 11:
      return `$${Buffer.byteLength("ok")}\r\nok\r\n`
    default: {
      const type = pick(random, ["*", "*", "~", "%"])
      const count = 1 + Math.floor(random.next() * 5)
      const items = Array.from({ length: type === "%" ? count * 2 : count }, () => randomValue(random, depth + 1))
      return `${type}${count}\r\n${items.join("")}`
    }
  }
}

/** A reply stream as ioredis's socket could deliver it: cut at random points, any byte. */
const cut = (random: Random, bytes: Buffer, maxChunk: number): Array<Buffer> => {
  const chunks: Array<Buffer> = []
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random.next() * maxChunk)
    chunks.push(bytes.subarray(at, at + size))
    at += size
  }
  return chunks
}

const expectSame = (wire: string | Buffer, chunks: ReadonlyArray<Buffer>) => {
  const expected = viaIoredis(chunks)
  expect(viaText(chunks), JSON.stringify(String(wire).slice(0, 300))).toEqual(expected)
  return expected
}

describe("TextReplyDecoder gives what ioredis gives a command that asked for text", () => {
  it("decodes each RESP type, at the top level and nested", () => {
    const cases = [
      "+OK\r\n",
      "-ERR unknown command\r\n",
      ":0\r\n:-12\r\n:+5\r\n",
      "$5\r\nhello\r\n",
      "$0\r\n\r\n",
      "$-1\r\n",
      "*-1\r\n",
      "_\r\n",
      "#t\r\n#f\r\n",
      ",3.25\r\n,inf\r\n,nan\r\n",
      "(12345678901234567890\r\n",
      "=15\r\ntxt:Some string\r\n",
      "!21\r\nSYNTAX invalid syntax\r\n",
      "*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
      "*3\r\n+OK\r\n-ERR in a transaction\r\n!3\r\nbad\r\n",
      "%2\r\n$4\r\nname\r\n$1\r\ng\r\n$7\r\nentries\r\n*0\r\n",
      "~2\r\n$1\r\nx\r\n$1\r\ny\r\n",
      ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
      ">0\r\n",
      `$${Buffer.byteLength("é€😀")}\r\né€😀\r\n`,
    ]
    for (const wire of cases) {
      const bytes = Buffer.from(wire)
      expect(expectSame(wire, [bytes]).length).toBeGreaterThan(0)
      // One byte at a time: every element split at every point.
      expectSame(
        wire,
        Array.from(bytes, (byte) => Buffer.from([byte])),
      )
    }
  })

  it("agrees on 3,000 random reply streams cut into random chunks", () => {
    const random = makeRandom(20261122)
    let replies = 0
    for (let i = 0; i < 3_000; i++) {
      const values = Array.from({ length: 1 + Math.floor(random.next() * 4) }, () => randomValue(random, 0))
      if (random.next() < 0.1) values.push(`>2\r\n$7\r\nmessage\r\n${randomValue(random, 1)}`)
      const wire = values.join("")
      const bytes = Buffer.from(wire)
      replies += expectSame(wire, cut(random, bytes, pick(random, [1, 3, 16, 64, 4096]))).length
    }
    expect(replies).toBeGreaterThan(6_000)
  })

  it("joins a long string that arrives in many chunks, and reads on after it", () => {
    const long = "x".repeat(3_000_000)
    const wire = `*3\r\n${bulk("$", long)}:1\r\n${bulk("$", "after")}+NEXT\r\n`
    const chunks = cut(makeRandom(7), Buffer.from(wire), 65_536)
    expect(viaText(chunks)).toEqual([
      ["reply", [long, 1, "after"]],
      ["reply", "NEXT"],
    ])
  })

  it("fails loudly on a type byte it does not know, as ioredis does, and on a length that is not a number", () => {
    expect(() => viaText([Buffer.from("?5\r\n")])).toThrow(/Unknown RESP type/)
    expect(() => viaIoredis([Buffer.from("?5\r\n")])).toThrow(/Unknown RESP type/)
    for (const wire of ["$5x\r\nhello\r\n", "*\r\n", "*1 \r\n:1\r\n", ":1.5\r\n"]) {
      expect(() => viaText([Buffer.from(wire)]), JSON.stringify(wire)).toThrow(/RESP protocol error/)
    }
  })

  it("serves only ioredis's default mapping; other mappings keep ioredis's decoder", () => {
    expect(isDefaultMapping(defaultMapping)).toBe(true)
    expect(isDefaultMapping({ ...defaultMapping, 37: undefined, 44: undefined })).toBe(false) // replyMapping: "resp3"
    expect(isDefaultMapping({ ...defaultMapping, 58: String, 44: String })).toBe(false) // stringNumbers
  })
})

/** Errors by message alone: a tape's errors are plain Errors. */
const messagesOnly = (value: unknown): unknown => {
  if (value instanceof Error) return { message: value.message }
  if (Array.isArray(value)) return value.map(messagesOnly)
  return value
}

/**
 * The decoder as ioredis drives it, with the replies `tapes` marks asked for as tapes: the command
 * at the head of the queue is the next reply's, and the queue moves on each reply and error reply
 * (a push is not a reply). A tape is recorded as ["tape", its value].
 */
const viaTapes = (chunks: ReadonlyArray<Buffer>, tapes: (reply: number) => boolean): Array<Event> => {
  const events: Array<Event> = []
  let replies = 0
  const decoder = new TextReplyDecoder({
    onReply: (reply) => {
      replies++
      events.push(reply instanceof RespTape ? ["tape", messagesOnly(reply.value(0))] : ["reply", messagesOnly(reply)])
    },
    onErrorReply: (error) => {
      replies++
      events.push(["error", messagesOnly(error)])
    },
    onPush: (reply) => events.push(["push", messagesOnly(reply)]),
    simpleError: (message) => new SimpleError(message),
    blobError: (message) => new BlobError(message),
    tapeWanted: () => tapes(replies),
  })
  for (const chunk of chunks) decoder.write(chunk)
  return events
}

describe("TextReplyDecoder gives a RespTape to a reply whose command asks for one", () => {
  it("holds the same value as the text reply, over 3,000 random reply streams cut into random chunks", () => {
    const random = makeRandom(20261207)
    let tapes = 0
    for (let i = 0; i < 3_000; i++) {
      const values = Array.from({ length: 1 + Math.floor(random.next() * 4) }, () => randomValue(random, 0))
      if (random.next() < 0.1) values.splice(1, 0, `>2\r\n$7\r\nmessage\r\n${randomValue(random, 1)}`)
      const wire = values.join("")
      const chunks = cut(random, Buffer.from(wire), pick(random, [1, 3, 16, 64, 4096]))
      const plan = values.map(() => random.next() < 0.5)
      const asTapes = viaTapes(chunks, (reply) => plan[reply] === true)
      const asText = viaTapes(chunks, () => false)
      expect(asTapes.length, JSON.stringify(wire.slice(0, 300))).toBe(asText.length)
      asTapes.forEach(([kind, value], e) => {
        const [textKind, textValue] = asText[e] as Event
        // A tape where one was asked for, with the same value; errors and pushes as they were.
        expect(kind === "tape" ? textKind === "reply" : kind === textKind, JSON.stringify(wire.slice(0, 300))).toBe(
          true,
        )
        expect(value, JSON.stringify(wire.slice(0, 300))).toEqual(textValue)
        if (kind === "tape") tapes++
      })
    }
    expect(tapes).toBeGreaterThan(2_000)
  })

  it("keeps a reply that arrives in many chunks in one buffer, and reads on after it", () => {
    const entries: Array<[string, [string, string]]> = Array.from({ length: 2_000 }, (_, i) => [
      `${i}-0`,
      ["payload", `{"n":${i},"t":"${"é".repeat(i % 7)}"}`],
    ])
    const reply = `*2\r\n${bulk("$", "s")}*${entries.length}\r\n${entries
      .map(([id, [name, value]]) => `*2\r\n${bulk("$", id)}*2\r\n${bulk("$", name)}${bulk("$", value)}`)
      .join("")}`
    const wire = `+FIRST\r\n${reply}${reply}:7\r\n`
    const chunks = cut(makeRandom(3), Buffer.from(wire), 65_536)
    const events = viaTapes(chunks, (n) => n === 1 || n === 2)
    expect(events.map(([kind]) => kind)).toEqual(["reply", "tape", "tape", "reply"])
    expect(events[1]?.[1]).toEqual(["s", entries])
    expect(events[2]?.[1]).toEqual(["s", entries])
    expect(events[3]).toEqual(["reply", 7])
  })
})

describe("RespTape.release", () => {
  const bigReply = (n: number) =>
    `*${n}\r\n${Array.from({ length: n }, (_, i) => bulk("$", `entry ${i} ${"x".repeat(300)}`)).join("")}`
  /** The tapes of `wires`, one reply each, fed in 4 KB chunks; `between` runs after each reply. */
  const tapesOf = (wires: ReadonlyArray<string>, between: (tape: RespTape) => void) => {
    const tapes: Array<RespTape> = []
    const decoder = new TextReplyDecoder({
      onReply: (reply) => {
        if (!(reply instanceof RespTape)) throw new Error("expected a tape")
        tapes.push(reply)
        between(reply)
      },
      onErrorReply: () => {},
      onPush: () => {},
      simpleError: (message) => new SimpleError(message),
      blobError: (message) => new BlobError(message),
      tapeWanted: () => true,
    })
    for (const wire of wires) for (const chunk of cut(makeRandom(1), Buffer.from(wire), 4096)) decoder.write(chunk)
    return tapes
  }

  it("gives a reply's buffers to the connection's next reply, which reads as its own", () => {
    const values: Array<unknown> = []
    const [first, second] = tapesOf([bigReply(1_000), bigReply(900)], (tape) => {
      values.push(tape.value(0))
      tape.release()
    })
    expect(first?.length).toBe(1_001)
    // The second reply was read into the first's buffer.
    expect(values[1]).toEqual(Array.from({ length: 900 }, (_, i) => `entry ${i} ${"x".repeat(300)}`))
    expect(() => first?.bytes).toThrow(/read after release/)
    expect(() => second?.text(1)).toThrow(/read after release/)
  })

  it("hands a released reply's scratch to the next reply, sized for what the last one needed", () => {
    const scratches: Array<TapeScratch> = []
    tapesOf([bigReply(10), bigReply(10), bigReply(10)], (tape) => {
      const scratch = tape.scratch
      scratches.push(scratch)
      // More than a first scratch holds: the overflow is allocated on its own, and counted.
      const arrays = [scratch.int32(1_000), scratch.float64(1_000), scratch.uint8(3)]
      arrays.forEach((array) => {
        array.fill(7)
      })
      expect(arrays.map((array) => array.length)).toEqual([1_000, 1_000, 3])
      tape.release()
    })
    const [first, second, third] = scratches
    expect(first?.needed).toBe(12_003)
    // The second was made for 12,003 bytes; the third reuses it.
    expect(second?.buffer).not.toBe(first?.buffer)
    expect(second?.buffer?.byteLength).toBeGreaterThanOrEqual(12_003)
    expect(third?.buffer).toBe(second?.buffer)
  })

  it("reads each reply into a buffer of its own while the last is not released", () => {
    const buffers: Array<ArrayBufferLike> = []
    tapesOf([bigReply(1_000), bigReply(1_000)], (tape) => buffers.push(tape.bytes.buffer))
    expect(buffers[0]).not.toBe(buffers[1])
    const reused: Array<ArrayBufferLike> = []
    tapesOf([bigReply(1_000), bigReply(1_000)], (tape) => {
      reused.push(tape.bytes.buffer)
      tape.release()
    })
    expect(reused[0]).toBe(reused[1])
  })
})

describe("ioredis connections decode with TextReplyDecoder", () => {
  it("gives a TapeCommand's reply as a RespTape, between replies of other commands and after an error", async () => {
    const redis = new Redis(inject("redisUrl"))
    try {
      const stream = `tape-replies-${Date.now()}`
      await redis.xgroup("CREATE", stream, "g", "0", "MKSTREAM")
      const payload = JSON.stringify({ device_id: "é-1", text: "a\r\nb" })
      const id = await redis.xadd(stream, "*", "payload", payload, "received_at", "1700000000000")
      const read = new TapeCommand("XREADGROUP", ["GROUP", "g", "c", "COUNT", 10, "STREAMS", stream, ">"])
      const missing = new TapeCommand("XREADGROUP", ["GROUP", "nogroup", "c", "STREAMS", stream, ">"])
      const before = redis.call("XLEN", stream)
      redis.sendCommand(read)
      redis.sendCommand(missing)
      const after = redis.call("XLEN", stream)
      expect(await before).toBe(1)
      const tape = await read.promise
      expect(tape).toBeInstanceOf(RespTape)
      expect((tape as RespTape).value(0)).toEqual([
        stream,
        [[id, ["payload", payload, "received_at", "1700000000000"]]],
      ])
      await expect(missing.promise).rejects.toThrow(/NOGROUP/)
      expect(await after).toBe(1)
      await redis.del(stream)
    } finally {
      redis.disconnect()
    }
  })

  it("is installed, and real replies of the commands the processor uses come out as text", async () => {
    expect(textRepliesInstalled()).toBe(true)
    const redis = new Redis(inject("redisUrl"))
    try {
      const stream = `text-replies-${Date.now()}`
      await redis.xgroup("CREATE", stream, "g", "0", "MKSTREAM")
      const payload = JSON.stringify({ device_id: "é-1", text: "a\r\nb" })
      const id = await redis.xadd(stream, "*", "payload", payload, "received_at", "1700000000000")
      const read = await redis.call("XREADGROUP", "GROUP", "g", "c", "COUNT", 10, "STREAMS", stream, ">")
      // RESP3 (ioredis 6's default protocol) sends the stream → entries map flat.
      expect(read).toEqual([stream, [[id, ["payload", payload, "received_at", "1700000000000"]]]])
      const info = (await redis.call("XINFO", "STREAM", stream)) as Array<unknown>
      expect(info[info.indexOf("length") + 1]).toBe(1)
      // Errors: at the top level a rejected promise, inside EXEC a value per command.
      await expect(redis.call("EVALSHA", "0".repeat(40), 0)).rejects.toThrow(/NOSCRIPT/)
      const exec = await redis.multi().call("XACK", stream, "g", String(id)).call("INCR", stream).exec()
      expect(exec?.[0]).toEqual([null, 1])
      expect(String(exec?.[1]?.[0])).toMatch(/WRONGTYPE/)
      const long = "€".repeat(400_000)
      await redis.set(`${stream}:long`, long)
      expect(await redis.get(`${stream}:long`)).toBe(long)
      // The trade (installTextReplies.ts): the Buffer flavour of a command gets text as well.
      expect(await redis.getBuffer(`${stream}:long`)).toBe(long)
      await redis.del(stream, `${stream}:long`)
    } finally {
      redis.disconnect()
    }
  })
})
