import { describe, expect, it } from "@effect/vitest"
import { deviceKeyOf, type Position } from "../../src/domain/Position.ts"
import { PositionBatch } from "../../src/domain/PositionBatch.ts"
import { makeRandom } from "../../src/simulator/random.ts"
import { sortOrder } from "../../src/writer/positionColumns.ts"

const position = (deviceId: string, tsMs: number, streamId: string): Position => ({
  streamId,
  deviceId,
  deviceKey: deviceKeyOf(deviceId),
  tsMs,
  lat: 0,
  lon: 0,
  altitude: 0,
  angle: 0,
  speed: 0,
  satellites: 0,
  priority: 0,
  eventId: 0,
  attributesJson: "{}",
  receivedAtMs: null,
})

/** The positions in the order sortOrder gives their batch's rows. */
const sortByKey = (positions: ReadonlyArray<Position>): Array<Position> =>
  sortOrder(PositionBatch.of(positions)).map((row) => positions[row] as Position)

const key = (p: Position) => `${p.deviceId}\u0000${p.tsMs}`

describe("sortOrder", () => {
  const random = makeRandom(11)
  const ids = [
    ...Array.from({ length: 40 }, () => `35209308${String(Math.floor(random.next() * 1e7)).padStart(7, "0")}`),
    "7",
    "07",
    "0",
    "123456789012345",
    "1234567890123456",
    "99999999999999999999",
    "truck-1",
    "truck-10",
    "Truck-2",
    "12a",
    " 12",
  ]
  const positions = Array.from({ length: 2_000 }, (_, i) =>
    position(ids[Math.floor(random.next() * ids.length)] as string, Math.floor(random.next() * 50), `1-${i}`),
  )

  it("orders by (digits value, length, time) for ids of up to 15 digits, first; then by (text, time)", () => {
    const sorted = sortByKey(positions)
    expect(sorted.map((p) => p.streamId).sort()).toEqual(positions.map((p) => p.streamId).sort())
    const rank = (p: Position): [number, number, string, number] =>
      /^[0-9]{1,15}$/.test(p.deviceId)
        ? [0, Number(p.deviceId), String(p.deviceId.length).padStart(2, "0"), p.tsMs]
        : [1, 0, p.deviceId, p.tsMs]
    for (let i = 1; i < sorted.length; i++) {
      const [a, b] = [rank(sorted[i - 1] as Position), rank(sorted[i] as Position)]
      const cmp = a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0) || a[3] - b[3]
      expect(cmp, `${key(sorted[i - 1] as Position)} before ${key(sorted[i] as Position)}`).toBeLessThanOrEqual(0)
    }
  })

  it("sorts IMEIs (one length) in text order, and any input order to the same key sequence", () => {
    const imeis = positions.filter((p) => p.deviceId.length === 15 && /^[0-9]+$/.test(p.deviceId))
    const text = imeis
      .slice()
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : a.tsMs - b.tsMs))
    expect(sortByKey(imeis).map(key)).toEqual(text.map(key))
    const reversed = positions.slice().reverse()
    expect(sortByKey(reversed).map(key)).toEqual(sortByKey(positions).map(key))
  })
})
