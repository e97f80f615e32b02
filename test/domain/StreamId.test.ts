import { describe, expect, it } from "@effect/vitest"
import { compareStreamIds, previousStreamId, streamIdTimeMs } from "../../src/domain/StreamId.ts"

describe("stream ids", () => {
  it.each([
    ["5-3", "5-2"],
    ["5-0", "4-18446744073709551615"],
    ["0-1", "0-0"],
    ["0-0", "0-0"],
    ["1700000000000-0", "1699999999999-18446744073709551615"],
  ])("the id before %s is %s", (id, previous) => {
    expect(previousStreamId(id)).toBe(previous)
  })

  it("compares ids numerically, not as text", () => {
    expect(compareStreamIds("10-0", "9-5")).toBe(1)
    expect(compareStreamIds("9-10", "9-9")).toBe(1)
    expect(compareStreamIds("9-9", "9-9")).toBe(0)
    expect(compareStreamIds("1-18446744073709551615", "2-0")).toBe(-1)
  })

  it("reads the time part", () => {
    expect(streamIdTimeMs("1700000000123-7")).toBe(1_700_000_000_123)
    // Whatever the input, the answer of Number() on the part before the first dash.
    const before = (id: string) => {
      const dash = id.indexOf("-")
      return Number(dash === -1 ? id : id.slice(0, dash))
    }
    for (const id of [
      "0-0",
      "5",
      "123456789012345-1",
      "1234567890123456-1",
      "99999999999999999999-0",
      "",
      "-",
      "-3",
      "1-",
      "1x-2",
      "12 -1",
      " 1-0",
      "1e3-0",
      "0x10-0",
    ]) {
      expect(Object.is(streamIdTimeMs(id), before(id)), id).toBe(true)
    }
  })
})
