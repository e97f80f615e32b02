import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { isValidPayload } from "../../src/decoder/fastPayload.ts"
import { PayloadSchema } from "../../src/decoder/PayloadSchema.ts"
import { random, validPayload } from "../support/entries.ts"

const schemaAccepts = (value: unknown) => Result.isSuccess(Schema.decodeUnknownResult(PayloadSchema)(value))

/** Values that sit on the edges of what the schema accepts. */
const oddities: ReadonlyArray<unknown> = [
  undefined,
  null,
  true,
  0,
  -0,
  1.5,
  90,
  90.0000001,
  -180,
  180.5,
  1e300,
  "",
  "x".repeat(64),
  "x".repeat(65),
  "2024-01-01T00:00:00Z",
  "2024-01-01T00:00Z",
  "2024-01-01 00:00:00Z",
  "2024-01-01T00:00:00+0200",
  [],
  {},
  { $bigint: "1" },
  { $bigint: "1", extra: 1 },
  { $bigint: 1 },
  { $bytes: "AA==" },
  { $bytes: "A" },
  { type: "Buffer", data: [1, 2] },
  { type: "Buffer", data: [1.5] },
  { type: "Buffer", data: [-1] },
  { type: "Buffer" },
  { "1": 1 },
  { "123456": 1 },
  { a_b: 1 },
  { A: 1 },
  { "1": [1] },
]

describe("isValidPayload (the decoder's fast path)", () => {
  it("never accepts what PayloadSchema rejects, over mutated payloads", () => {
    const next = random(42)
    const keys = Object.keys(validPayload("d", 1))
    let accepted = 0
    let rejected = 0
    for (let i = 0; i < 20_000; i++) {
      const p: Record<string, unknown> = { ...validPayload("dev", 1_700_000_000_000) }
      const mutations = 1 + Math.floor(next() * 3)
      for (let m = 0; m < mutations; m++) {
        const key = keys[Math.floor(next() * keys.length)] as string
        const value = oddities[Math.floor(next() * oddities.length)]
        if (key === "attributes" && next() < 0.5) {
          p.attributes = { ...(p.attributes as object), [String(Math.floor(next() * 400))]: value }
        } else if (value === undefined) delete p[key]
        else p[key] = value
      }
      const fast = isValidPayload(p)
      if (fast) {
        accepted++
        expect(schemaAccepts(p), JSON.stringify(p)).toBe(true)
      } else rejected++
    }
    // Both verdicts occur, so the comparison above was not vacuous.
    expect(accepted).toBeGreaterThan(100)
    expect(rejected).toBeGreaterThan(100)
  })

  it("accepts the ordinary payload the gateway writes (the fast path is actually taken)", () => {
    expect(isValidPayload(validPayload("352093081234567", 1_700_000_000_000))).toBe(true)
  })
})
