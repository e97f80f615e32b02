import { describe, expect, it } from "@effect/vitest"
import { Result } from "effect"
import { EntryBlock } from "../../src/consumer/EntryBlock.ts"
import { decodeBlock, decodeEntry, decodeEntryFields } from "../../src/decoder/Decoder.ts"
import type { StreamEntry } from "../../src/domain/StreamEntry.ts"
import { entry, entryFields, validPayload } from "../support/entries.ts"

const ok = (payload: unknown) => {
  const result = decodeEntry(entry("1-0", payload))
  if (Result.isFailure(result)) throw new Error(`expected success, got ${result.failure.message}`)
  return result.success
}

const reasonOf = (fields: Array<string>) => {
  const result = decodeEntry({ id: "9-9", fields })
  if (Result.isSuccess(result)) throw new Error("expected a CodecError")
  expect(result.failure._tag).toBe("CodecError")
  expect(result.failure.entryId).toBe("9-9")
  return result.failure.reason
}

const payloadWithout = (key: string) => {
  const p: Record<string, unknown> = { ...validPayload("dev-1", 1_700_000_000_000) }
  delete p[key]
  return p
}

describe("decodeEntry", () => {
  it("decodes a SPEC §3.1 entry into a Position", () => {
    const p = ok(validPayload("352093081234567", 1_700_000_000_123))
    expect(p).toMatchObject({
      streamId: "1-0",
      deviceId: "352093081234567",
      tsMs: 1_700_000_000_123,
      lat: 54.687157,
      lon: 25.279652,
      altitude: 112,
      angle: 271,
      speed: 46,
      satellites: 11,
      priority: 1,
      eventId: 0,
      receivedAtMs: 1_700_000_000_500,
    })
  })

  it.each([
    ["ISO with Z", "2024-03-01T10:20:30.456Z", Date.UTC(2024, 2, 1, 10, 20, 30, 456)],
    ["ISO with offset", "2024-03-01T12:20:30+02:00", Date.UTC(2024, 2, 1, 10, 20, 30)],
    ["epoch ms", 1_709_288_430_000, 1_709_288_430_000],
  ])("accepts ts as %s", (_, ts, expected) => {
    expect(ok(validPayload("d", 0, { ts })).tsMs).toBe(expected)
  })

  it("keeps $bigint and $bytes attributes and turns Buffer JSON into $bytes", () => {
    const p = ok(
      validPayload("d", 1, {
        attributes: {
          "16": { $bigint: "18446744073709551615" },
          "385": { $bytes: "3q2+7w==" },
          "386": { type: "Buffer", data: [222, 173, 190, 239] },
          "1": true,
          "2": "text",
          generation_type: 2,
        },
      }),
    )
    expect(JSON.parse(p.attributesJson)).toEqual({
      "16": { $bigint: "18446744073709551615" },
      "385": { $bytes: "3q2+7w==" },
      "386": { $bytes: "3q2+7w==" },
      "1": true,
      "2": "text",
      generation_type: 2,
    })
    // The 64-bit value survives the JSON round trip the writer does, digit for digit.
    expect(JSON.parse(p.attributesJson)["16"]).toEqual({ $bigint: "18446744073709551615" })
  })

  it.each([
    ["no payload field", ["received_at", "1"], /missing field `payload`/],
    ["payload not JSON", ["payload", "{not json"], /not JSON/],
    ["payload a JSON array", ["payload", "[1,2]"], /Expected/],
    ["lat 999", ["payload", JSON.stringify(validPayload("d", 1, { lat: 999 }))], /lat/],
    ["lon -181", ["payload", JSON.stringify(validPayload("d", 1, { lon: -181 }))], /lon/],
    ["device_id empty", ["payload", JSON.stringify(validPayload("", 1))], /device_id/],
    ["device_id 65 chars", ["payload", JSON.stringify(validPayload("x".repeat(65), 1))], /device_id/],
    ["device_id a number", ["payload", JSON.stringify(validPayload("d", 1, { device_id: 123 }))], /device_id/],
    ["satellites fractional", ["payload", JSON.stringify(validPayload("d", 1, { satellites: 7.5 }))], /satellites/],
    ["speed a string", ["payload", JSON.stringify(validPayload("d", 1, { speed: "50" }))], /speed/],
    ["ts without zone", ["payload", JSON.stringify(validPayload("d", 1, { ts: "2024-03-01T10:20:30" }))], /ts/],
    ["ts impossible date", ["payload", JSON.stringify(validPayload("d", 1, { ts: "2024-13-45T10:20:30Z" }))], /ts/],
    ["ts boolean", ["payload", JSON.stringify(validPayload("d", 1, { ts: true }))], /ts/],
    ["attributes missing", ["payload", JSON.stringify(payloadWithout("attributes"))], /attributes/],
    ["event_id missing", ["payload", JSON.stringify(payloadWithout("event_id"))], /event_id/],
    ["attribute key upper-case", ["payload", JSON.stringify(validPayload("d", 1, { attributes: { Foo: 1 } }))], /Foo/],
    [
      "attribute $bigint not decimal",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { $bigint: "12a" } } }))],
      /attributes/,
    ],
    [
      "attribute $bytes not base64",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { $bytes: "!!" } } }))],
      /attributes/,
    ],
    [
      "attribute Buffer byte 256",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { type: "Buffer", data: [256] } } }))],
      /attributes/,
    ],
    [
      "attribute nested object",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": { a: 1 } } }))],
      /attributes/,
    ],
    ["huge payload", ["payload", JSON.stringify(validPayload("d", 1, { note: "x".repeat(70_000) }))], /more than/],
    [
      "huge attribute string",
      ["payload", JSON.stringify(validPayload("d", 1, { attributes: { "1": "y".repeat(5000) } }))],
      /attributes/,
    ],
    [
      "received_at not a number",
      ["payload", JSON.stringify(validPayload("d", 1)), "received_at", "soon"],
      /received_at/,
    ],
  ])("rejects %s with a CodecError naming the problem", (_, fields, reason) => {
    expect(reasonOf(fields as Array<string>)).toMatch(reason)
  })
})

describe("decodeBlock", () => {
  const compact = (deviceId: string, overrides: Record<string, unknown> = {}) =>
    JSON.stringify(validPayload(deviceId, 1_735_689_619_481, overrides))
  const entries: Array<StreamEntry> = [
    { id: "1-0", fields: entryFields(compact("352093080000001")) }, // in place
    { id: "2-0", fields: entryFields(compact("é-2")) }, // UTF-8: the full path
    { id: "3-0", fields: entryFields(compact("d-3", { ts: "2024-01-01T00:00:00Z" })) }, // string ts: the full path
    { id: "4-0", fields: entryFields("{not json") }, // a failure
    { id: "5-0", fields: ["payload", compact("d-5")] }, // no received_at
    { id: "6-0", fields: ["payload", compact("d-6"), "received_at", " 12"] }, // not plain: Number's reading
    { id: "7-0", fields: ["source", "x"] }, // no payload
  ]

  it("decodes each entry as the full path does, in place or not, and fails the bad ones by id", () => {
    const { positions, failures } = decodeBlock(EntryBlock.of(entries))
    const expected = entries.map((e) => decodeEntryFields(e))
    expect(positions.positions()).toEqual(expected.filter(Result.isSuccess).map((r) => r.success))
    expect(failures).toEqual(expected.filter(Result.isFailure).map((r) => r.failure))
    expect(positions.streamIds).toEqual(["1-0", "2-0", "3-0", "5-0", "6-0"])
    expect(failures.map((f) => f.entryId)).toEqual(["4-0", "7-0"])
    // Only the first was read from the reply's bytes; the others' texts are the batch's own.
    expect(Array.from(positions.inExtra.subarray(0, positions.length))).toEqual([0, 1, 1, 0, 1])
    expect(positions.position(3).receivedAtMs).toBeNull()
    expect(positions.position(4).receivedAtMs).toBe(12)
  })

  it("reads nothing of a block once it is released: its entries and its rows' texts throw", () => {
    const block = EntryBlock.of(entries)
    const { positions } = decodeBlock(block)
    block.release()
    expect(() => block.entry(0)).toThrow(/read after release/)
    expect(() => positions.deviceId(0)).toThrow(/read after release/)
    expect(() => decodeBlock(block)).toThrow(/read after release/)
    // Also rows decoded by the full path, whose texts are the batch's own: its columns are not.
    expect(() => positions.deviceId(1)).toThrow(/read after release/)
    expect(() => positions.position(3)).toThrow(/read after release/)
  })

  it("decodes only the rows given, in their order", () => {
    const { positions, failures } = decodeBlock(EntryBlock.of(entries), [4, 0, 3])
    expect(positions.streamIds).toEqual(["5-0", "1-0"])
    expect(failures.map((f) => f.entryId)).toEqual(["4-0"])
  })

  it("reports a bad received_at after the payload's own faults, as the full path does", () => {
    const bad = (payload: string, receivedAt: string) =>
      decodeEntry({ id: "1-0", fields: ["payload", payload, "received_at", receivedAt] })
    const badTime = bad(compact("d"), "soon")
    expect(Result.isFailure(badTime) && badTime.failure.reason).toBe('received_at "soon" is not epoch milliseconds')
    const both = bad(compact("d", { lat: 91 }), "soon")
    expect(Result.isFailure(both) && both.failure.reason).toContain("lat")
    const fine = bad(compact("d"), "1700000000500")
    expect(Result.isSuccess(fine) && fine.success.receivedAtMs).toBe(1_700_000_000_500)
  })
})
