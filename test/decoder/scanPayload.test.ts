import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { generate } from "../../bench/data.ts"
import { decodeEntry, decodePayloadText } from "../../src/decoder/Decoder.ts"
import { scanPayload } from "../../src/decoder/scanPayload.ts"
import type { Position } from "../../src/domain/Position.ts"
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

/** Scans `raw`; if the scanner accepts it, the full path must give the same Position. */
const check = (raw: string): boolean => {
  const scanned = scanPayload("1-0", raw, 7)
  if (scanned !== undefined) expectSamePosition(scanned, fullPath(raw), raw)
  return scanned !== undefined
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
      expect(scanPayload("1-0", raw, null), raw).toBeUndefined()
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

  it("through decodeEntry: a bad received_at is reported after the payload's own faults, as before", () => {
    const bad = (payload: string, receivedAt: string) =>
      decodeEntry({ id: "1-0", fields: ["payload", payload, "received_at", receivedAt] })
    const badTime = bad(compact(), "soon")
    expect(Result.isFailure(badTime) && badTime.failure.reason).toBe('received_at "soon" is not epoch milliseconds')
    const both = bad(compact({ lat: 91 }), "soon")
    expect(Result.isFailure(both) && both.failure.reason).toContain("lat")
    const fine = bad(compact(), "1700000000500")
    expect(Result.isSuccess(fine) && fine.success.receivedAtMs).toBe(1_700_000_000_500)
  })
})
