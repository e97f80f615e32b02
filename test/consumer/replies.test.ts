import { describe, expect, it } from "@effect/vitest"
import { parseAutoClaim, parseReadGroup, UnexpectedReply } from "../../src/consumer/replies.ts"
import { respOf, tapeOf } from "../support/resp.ts"

describe("parseReadGroup", () => {
  const fields = ["payload", "{}", "received_at", "1700000000000", "source", "teltonika-tcp", "extra", "x"]
  const entries = [
    ["1-0", [...fields]],
    ["2-0", null],
  ]

  it("reads RESP3's flat and RESP2's nested shape, with every field kept in order", () => {
    const expected = [
      { id: "1-0", fields },
      { id: "2-0", fields: null },
    ]
    for (const protocol of [2, 3] as const) {
      expect(parseReadGroup(tapeOf(respOf(["s", entries], protocol))).entries()).toEqual(expected)
      expect(parseReadGroup(tapeOf(respOf([["s", entries]], protocol))).entries()).toEqual(expected)
      expect(parseReadGroup(tapeOf(respOf(null, protocol))).length).toBe(0)
    }
  })

  it("points at each entry's first payload and received_at value, in the reply's bytes", () => {
    const block = parseReadGroup(
      tapeOf(respOf(["s", [["1-0", ["source", "x", "payload", "p1", "payload", "p2", "received_at", "17"]]]])),
    )
    const text = (start: number, end: number) => block.bytes.toString("utf8", start, end)
    expect(text(block.payloadStart[0] as number, block.payloadEnd[0] as number)).toBe("p1")
    expect(text(block.receivedAtStart[0] as number, block.receivedAtEnd[0] as number)).toBe("17")
    const without = parseReadGroup(
      tapeOf(
        respOf([
          "s",
          [
            ["1-0", ["source", "x"]],
            ["2-0", null],
          ],
        ]),
      ),
    )
    expect([without.payloadStart[0], without.receivedAtStart[0]]).toEqual([-1, -1])
    expect([without.isDeleted(0), without.isDeleted(1)]).toEqual([false, true])
  })

  it("rejects an entry whose fields are not all strings, or that has no id", () => {
    const bad = [
      ["s", [["1-0", ["payload", 5]]]],
      ["s", [["1-0", [5, "payload"]]]],
      ["s", [["1-0", ["payload"]]]],
      ["s", [["1-0", "payload"]]],
      ["s", [[1, []]]],
      ["s", [["1-0"]]],
      ["s", "entries"],
      "s",
      ["s", [], "extra"],
    ]
    for (const reply of bad) {
      expect(() => parseReadGroup(tapeOf(respOf(reply))), JSON.stringify(reply)).toThrow(UnexpectedReply)
    }
  })
})

describe("parseAutoClaim", () => {
  it("reads the next cursor, the entries and the ids deleted from the stream", () => {
    const reply = parseAutoClaim(tapeOf(respOf(["5-0", [["3-0", ["payload", "{}"]]], ["1-0", "2-0"]])))
    expect(reply.next).toBe("5-0")
    expect(reply.entries.entries()).toEqual([{ id: "3-0", fields: ["payload", "{}"] }])
    expect(reply.deleted).toEqual(["1-0", "2-0"])
    // Before Redis 7 there is no list of deleted ids.
    expect(parseAutoClaim(tapeOf(respOf(["0-0", []]))).deleted).toEqual([])
  })

  it("rejects other shapes", () => {
    for (const reply of [["0-0"], [0, []], ["0-0", [], [1]], ["0-0", [], "x"], null]) {
      expect(() => parseAutoClaim(tapeOf(respOf(reply))), JSON.stringify(reply)).toThrow(UnexpectedReply)
    }
  })
})
