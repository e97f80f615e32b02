import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { generate } from "../../bench/data.ts"
import { decodePayloadText } from "../../src/decoder/Decoder.ts"
import { scanPayload } from "../../src/decoder/scanPayload.ts"
import type { Position } from "../../src/domain/Position.ts"
import { digitsValue, PositionBatch, RECEIVED_AT } from "../../src/domain/PositionBatch.ts"
import { random, validPayload } from "../support/entries.ts"

/** The full path's verdict on a payload text: its Position, or undefined when it rejects it. */
const fullPath = (raw: string): Position | undefined => {
  const decoded = decodePayloadText("1-0", raw, 7)
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/** Field by field with Object.is, so that -0 against 0 or a last-bit difference in a double fails. */
const expectSamePosition = (scanned: Position, full: Position | undefined, raw: string) => {
  expect(full, `the full path rejects what the scanner accepted: ${raw}`).toBeDefined()
  for (const key of Object.keys(scanned) as Array<keyof Position>) {
    expect(
      Object.is(scanned[key], full?.[key]),
      `${key} of ${raw}: ${String(scanned[key])} vs ${String(full?.[key])}`,
    ).toBe(true)
  }
  expect(Object.keys(scanned)).toEqual(Object.keys(full ?? {}))
}

/** Bytes a stream reply has around a payload: a scanner that reads outside [start, end) sees a
 * different payload (`\r` and ` ` are JSON whitespace, `}` and `,` JSON tokens). */
const BEFORE = "*2\r\n$300\r\n"
const AFTER = " \r\n} ,\r\n"

/** The payloads' texts back to back in one Buffer, between reply-like bytes; their byte ranges. */
const inReply = (raws: ReadonlyArray<string>): { bytes: Buffer; ranges: Array<[number, number]> } => {
  let text = ""
  const ranges: Array<[number, number]> = []
  for (const raw of raws) {
    text += BEFORE
    const start = Buffer.byteLength(text)
    text += raw
    ranges.push([start, Buffer.byteLength(text)])
    text += AFTER
  }
  return { bytes: Buffer.from(text), ranges }
}

/** Row `row` of a batch the scanner filled and the caller completed, checked against the full path
 * (and the batch's own device key and digits against the id's). */
const expectSameRow = (batch: PositionBatch, row: number, raw: string) => {
  batch.numbers[RECEIVED_AT * batch.capacity + row] = 7
  batch.commit("1-0")
  expect(batch.inExtra[row]).toBe(0)
  const scanned = batch.position(row)
  const full = fullPath(raw)
  expectSamePosition(scanned, full, raw)
  expect(Object.is(batch.deviceKey(row), full?.deviceKey), `deviceKey of ${raw}`).toBe(true)
  expect(
    Object.is(
      batch.deviceDigits[row],
      digitsValue(batch.textsOf(row), batch.deviceStart[row] as number, batch.deviceEnd[row] as number),
    ),
    `deviceDigits of ${raw}`,
  ).toBe(true)
}

/** Scans `raw` (as the reply's bytes hold it); if the scanner accepts it, the full path must give the
 * same Position. */
const check = (raw: string): boolean => {
  const { bytes, ranges } = inReply([raw])
  const [start, end] = ranges[0] as [number, number]
  const batch = new PositionBatch({ bytes: bytes }, 1)
  const accepted = scanPayload(bytes, start, end, batch)
  if (accepted) expectSameRow(batch, 0, raw)
  return accepted
}

/** Whether the scanner takes `raw` (in reply-like bytes), without checking what it decodes. */
const scans = (raw: string): boolean => {
  const { bytes, ranges } = inReply([raw])
  const [start, end] = ranges[0] as [number, number]
  return scanPayload(bytes, start, end, new PositionBatch({ bytes: bytes }, 1))
}

const compact = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify(validPayload("352093080000000", 1_735_689_619_481, overrides))

/** JSON text pieces that sit on the edges of the grammar and of the schema. */
const oddValues: ReadonlyArray<string> = [
  "0",
  "-0",
  "0.0",
  "-0.0",
  "01",
  "1.",
  ".5",
  "-",
  "1e3",
  "1E-3",
  "1e400",
  "-1e400",
  "90",
  "90.0000001",
  "-90",
  "180.00000000000001",
  "0.1",
  "0.30000000000000004",
  "123456789012345",
  "1234567890123456",
  "12345678901234567890",
  "9007199254740993",
  "1.7976931348623157",
  "55.53406380000000000001",
  "0.000000000000000000000001",
  "1.5",
  "true",
  "false",
  "null",
  '""',
  '"x"',
  '"\\u0041"',
  '"a\\"b"',
  '"a\tb"',
  '"a\u007fb"',
  `"${"y".repeat(64)}"`,
  `"${"y".repeat(65)}"`,
  `"${"z".repeat(4097)}"`,
  '"2024-01-01T00:00:00Z"',
  "[]",
  "{}",
  '{"$bigint":"18446744073709551615"}',
  '{"$bigint":"-1"}',
  '{"$bigint":"123456789012345678901"}',
  '{"$bigint":1}',
  '{"$bigint":"1","x":1}',
  '{ "$bytes" : "AQID" }',
  '{"$bytes":"A"}',
  '{"$bytes":""}',
  '{"type":"Buffer","data":[1,2]}',
  '{"1":1}',
  '{"123456":1}',
  '{"a_b":1,"A":2}',
  '{"abc":1,"abc":"x"}',
  '{"\\u0031":1}',
  '{"x":null}',
  '{"x":[1]}',
  '{"x":1e5}',
]

describe("scanPayload", () => {
  it("accepts the bench's and the gateway's payloads and decodes each exactly as the full path does", () => {
    const data = generate({ entries: 20_000, devices: 500, resendRate: 0.01, seed: 7 })
    for (const raw of data.payloads) expect(check(raw), raw).toBe(true)
    expect(check(compact())).toBe(true)
  })

  it("takes keys in any order and JSON whitespace anywhere between tokens", () => {
    const payload = validPayload("dev-1", 1_700_000_000_000)
    const reversed = Object.fromEntries(Object.entries(payload).reverse())
    expect(check(JSON.stringify(reversed))).toBe(true)
    expect(check(JSON.stringify(payload, null, 2))).toBe(true)
    expect(check(` \n\t${JSON.stringify(payload, null, "\t")}\r\n `)).toBe(true)
  })

  it("leaves to the full path what it does not take: string ts, Buffer JSON, escapes, extra or repeated keys", () => {
    const leaves = (raw: string) => {
      expect(scans(raw), raw).toBe(false)
    }
    leaves(compact({ ts: "2024-01-01T00:00:00Z" }))
    leaves(compact({ attributes: { "1": { type: "Buffer", data: [1, 2] } } }))
    leaves(compact({ device_id: 'a"b' }))
    leaves(compact({ extra: 1 }))
    leaves(compact().replace('"lat":', '"lat":1,"lat":'))
    leaves(compact().replace('"device_id"', '"device\\u005fid"'))
    leaves(`${compact()}x`)
    leaves(compact().slice(0, -1))
    leaves("")
    leaves("[]")
    // ...and the full path still decodes the valid ones among them.
    expect(fullPath(compact({ ts: "2024-01-01T00:00:00Z" }))?.tsMs).toBe(Date.parse("2024-01-01T00:00:00Z"))
    expect(fullPath(compact({ attributes: { "1": { type: "Buffer", data: [1, 2] } } }))?.attributesJson).toBe(
      '{"1":{"$bytes":"AQI="}}',
    )
  })

  it("never accepts what the full path rejects, nor decodes differently, over odd values in every field", () => {
    const base = validPayload("352093080000000", 1_735_689_619_481)
    const keys = Object.keys(base)
    let accepted = 0
    for (const key of keys) {
      for (const value of oddValues) {
        const parts = keys.map((k) => `"${k}":${k === key ? value : JSON.stringify(base[k as keyof typeof base])}`)
        if (check(`{${parts.join(",")}}`)) accepted++
        // The same value as an attribute.
        const attributes = `{"16":1,"x1":${value}}`
        const withAttribute = keys.map(
          (k) => `"${k}":${k === "attributes" ? attributes : JSON.stringify(base[k as keyof typeof base])}`,
        )
        if (check(`{${withAttribute.join(",")}}`)) accepted++
      }
    }
    // Both verdicts occur: the check above is not vacuous.
    expect(accepted).toBeGreaterThan(50)
    expect(accepted).toBeLessThan(keys.length * oddValues.length * 2)
  })

  it("never accepts what the full path rejects, nor decodes differently, over randomly mutated text", () => {
    const next = random(11)
    const alphabet = `{}[]":,.-+eE0123456789 \\\t\nulrfasx$_`
    const seeds = [compact(), JSON.stringify(validPayload("d", -1.5, { lat: -0, lon: 180, attributes: {} }), null, 1)]
    let accepted = 0
    for (let i = 0; i < 30_000; i++) {
      let raw = seeds[i % seeds.length] as string
      const edits = 1 + Math.floor(next() * 3)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * raw.length)
        const c = alphabet[Math.floor(next() * alphabet.length)] as string
        const kind = next()
        raw =
          kind < 0.4
            ? raw.slice(0, at) + c + raw.slice(at + 1)
            : kind < 0.7
              ? raw.slice(0, at) + c + raw.slice(at)
              : raw.slice(0, at) + raw.slice(at + 1)
      }
      if (check(raw)) accepted++
    }
    expect(accepted).toBeGreaterThan(1000)
  })

  it("leaves a payload with any byte that is not ASCII to the full path, which decodes it", () => {
    const withDeviceId = (deviceId: string) =>
      JSON.stringify(validPayload(deviceId, 1_735_689_619_481, { attributes: { "16": 1 } }))
    const withAttribute = (text: string) =>
      JSON.stringify(validPayload("352093080000000", 1_735_689_619_481, { attributes: { "16": 1, note: text } }))
    for (const raw of [withDeviceId("dév-1"), withDeviceId("truck-🚚"), withAttribute("é"), withAttribute("🛰️")]) {
      expect(scans(raw), raw).toBe(false)
      expect(fullPath(raw), raw).toBeDefined()
    }
    expect(fullPath(withDeviceId("dév-1"))?.deviceId).toBe("dév-1")
    expect(fullPath(withAttribute("é"))?.attributesJson).toBe('{"16":1,"note":"é"}')
    // The ASCII twins are the scanner's.
    expect(check(withDeviceId("dev-1"))).toBe(true)
    expect(check(withAttribute("e"))).toBe(true)
    // Anywhere in the text, in whatever token: never the scanner's.
    const next = random(5)
    const base = JSON.stringify(validPayload("dev-1", 1_700_000_000_000), null, 1)
    for (let n = 0; n < 500; n++) {
      const at = Math.floor(next() * (base.length + 1))
      const raw = `${base.slice(0, at)}${["é", "\u00a0", "\u2028", "😀"][n % 4]}${base.slice(at)}`
      expect(scans(raw), raw).toBe(false)
    }
  })

  it("reads only [start, end): payloads back to back in one buffer, at any offset, into their own rows", () => {
    const first = compact()
    // JSON.stringify writes -0 as 0: the text says -0 itself.
    const second = JSON.stringify(
      validPayload("dev-2", 1_700_000_000_123, { lat: 0, lon: -179.5, satellites: 3, attributes: { x: "y" } }),
      null,
      2,
    ).replace('"lat": 0', '"lat": -0')
    const { bytes, ranges } = inReply([first, second])
    const batch = new PositionBatch({ bytes: bytes }, 2)
    const [firstStart, firstEnd] = ranges[0] as [number, number]
    const [secondStart, secondEnd] = ranges[1] as [number, number]
    expect(scanPayload(bytes, firstStart, firstEnd, batch)).toBe(true)
    expectSameRow(batch, 0, first)
    expect(scanPayload(bytes, secondStart, secondEnd, batch)).toBe(true)
    expectSameRow(batch, 1, second)
    expect(batch.position(0)).toEqual(fullPath(first))
    expect(batch.position(1).deviceId).toBe("dev-2")
    expect(Object.is(batch.position(1).lat, -0)).toBe(true)

    // The same payload after 0 to 16 bytes of anything, the last one ending the buffer.
    for (let offset = 0; offset <= 16; offset++) {
      const padded = Buffer.from(`${'\r\n{}$9 ,\t"'.repeat(2).slice(0, offset)}${second}`)
      const one = new PositionBatch({ bytes: padded }, 1)
      expect(scanPayload(padded, offset, padded.length, one), `at ${offset}`).toBe(true)
      expectSameRow(one, 0, second)
    }

    // A row the scanner wrote part of and refused is overwritten by the next payload, whole.
    const reused = inReply([compact({ satellites: 1.5 }), second])
    const again = new PositionBatch({ bytes: reused.bytes }, 1)
    const [badStart, badEnd] = reused.ranges[0] as [number, number]
    const [goodStart, goodEnd] = reused.ranges[1] as [number, number]
    expect(scanPayload(reused.bytes, badStart, badEnd, again)).toBe(false)
    expect(again.length).toBe(0)
    expect(scanPayload(reused.bytes, goodStart, goodEnd, again)).toBe(true)
    expectSameRow(again, 0, second)
  })

  it("takes whitespace up to end and not past it, and refuses a payload that end cuts short", () => {
    const raw = compact()
    // The reply's \r\n after the payload is outside [start, end); the payload's own is inside.
    const followed = Buffer.from(`${raw}\r\n$11\r\nreceived_at\r\n`)
    const batch = new PositionBatch({ bytes: followed }, 1)
    expect(scanPayload(followed, 0, raw.length, batch)).toBe(true)
    expectSameRow(batch, 0, raw)
    const own = new PositionBatch({ bytes: followed }, 1)
    expect(scanPayload(followed, 0, raw.length + 2, own)).toBe(true)
    expectSameRow(own, 0, `${raw}\r\n`)
    // ...but not what follows it: `$` is not whitespace.
    expect(scanPayload(followed, 0, raw.length + 3, new PositionBatch({ bytes: followed }, 1))).toBe(false)

    // One byte before the closing brace, with that brace right after end; and every shorter cut,
    // whose next bytes are the rest of the payload.
    const whole = Buffer.from(raw)
    expect(whole[raw.length - 1]).toBe(0x7d)
    for (let end = raw.length - 1; end >= 0; end--) {
      expect(scanPayload(whole, 0, end, new PositionBatch({ bytes: whole }, 1)), `cut at ${end}`).toBe(false)
    }
    // An empty range, and one that starts past the payload's opening brace.
    expect(scanPayload(whole, 5, 5, new PositionBatch({ bytes: whole }, 1))).toBe(false)
    expect(scanPayload(whole, 1, raw.length, new PositionBatch({ bytes: whole }, 1))).toBe(false)
  })
})
