import { describe, expect, it } from "@effect/vitest"
import { parseReadGroup, UnexpectedReply } from "../../src/consumer/replies.ts"

describe("parseReadGroup", () => {
  const fields = ["payload", "{}", "received_at", "1700000000000", "source", "teltonika-tcp", "extra", "x"]

  it("reads RESP3's flat and RESP2's nested shape, with every field kept in order", () => {
    const entries = [
      ["1-0", [...fields]],
      ["2-0", null],
    ]
    const expected = [
      { id: "1-0", fields },
      { id: "2-0", fields: null },
    ]
    expect(parseReadGroup(["s", entries])).toEqual(expected)
    expect(parseReadGroup([["s", entries]])).toEqual(expected)
    expect(parseReadGroup(null)).toEqual([])
  })

  it("rejects an entry whose fields are not all strings, or that has no id", () => {
    expect(() => parseReadGroup(["s", [["1-0", ["payload", 5]]]])).toThrow(UnexpectedReply)
    expect(() => parseReadGroup(["s", [["1-0", [5, "payload"]]]])).toThrow(UnexpectedReply)
    expect(() => parseReadGroup(["s", [["1-0", "payload"]]])).toThrow(UnexpectedReply)
    expect(() => parseReadGroup(["s", [[1, []]]])).toThrow(UnexpectedReply)
    expect(() => parseReadGroup(["s", "entries"])).toThrow(UnexpectedReply)
  })
})
