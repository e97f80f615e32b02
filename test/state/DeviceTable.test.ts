import * as ChildProcess from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { deviceKeyOf, type Position } from "../../src/domain/Position.ts"
import type { DeviceState, LastFix } from "../../src/state/DeviceState.ts"
import { DeviceTable } from "../../src/state/DeviceTable.ts"
import { random } from "../support/entries.ts"

const fixAt = (deviceId: string, tsMs: number, lat = tsMs / 1000): Position => ({
  streamId: `${tsMs}-0`,
  deviceId,
  deviceKey: deviceKeyOf(deviceId),
  tsMs,
  lat,
  lon: -lat,
  altitude: 3.5,
  angle: 90,
  speed: 12.25,
  satellites: 7,
  priority: 0,
  eventId: 0,
  attributesJson: "{}",
  receivedAtMs: null,
})

const fixOf = (p: Position): LastFix => ({
  tsMs: p.tsMs,
  lat: p.lat,
  lon: p.lon,
  altitude: p.altitude,
  angle: p.angle,
  speed: p.speed,
  satellites: p.satellites,
})

/** The obvious implementation: a Map in recency order, re-inserted on use. */
class ModelStore {
  readonly states = new Map<string, DeviceState & { touched: number }>()
  evictions = 0
  readonly max: number
  constructor(max: number) {
    this.max = max
  }
  private makeRoom() {
    if (this.states.size < this.max) return
    const oldest = this.states.keys().next().value as string
    this.states.delete(oldest)
    this.evictions++
  }
  add(id: string, stored: LastFix | undefined) {
    this.makeRoom()
    this.states.set(id, {
      lastPosition: stored ?? fixOf(fixAt(id, Number.NEGATIVE_INFINITY, 0)),
      lastSeenMs: stored?.tsMs ?? Number.NEGATIVE_INFINITY,
      sessionRecords: 0,
      sessionOutOfOrder: 0,
      touched: -1,
    })
  }
  observe(id: string, p: Position, batch: number) {
    if (!this.states.has(id)) this.add(id, undefined)
    const s = this.states.get(id) as DeviceState & { touched: number }
    const late = p.tsMs < s.lastSeenMs
    const next = {
      lastPosition: late ? s.lastPosition : fixOf(p),
      lastSeenMs: late ? s.lastSeenMs : p.tsMs,
      sessionRecords: s.sessionRecords + 1,
      sessionOutOfOrder: s.sessionOutOfOrder + (late ? 1 : 0),
      touched: batch,
    }
    if (s.touched !== batch) this.states.delete(id)
    this.states.set(id, next)
  }
  get(id: string): DeviceState | undefined {
    const s = this.states.get(id)
    if (s === undefined) return undefined
    const { touched: _, ...state } = s
    return state
  }
}

describe("deviceKeyOf", () => {
  it("is a number for a canonical decimal of up to 15 digits, the id itself otherwise", () => {
    expect(deviceKeyOf("352093081230001")).toBe(352093081230001)
    expect(deviceKeyOf("7")).toBe(7)
    expect(deviceKeyOf("0")).toBe(0)
    for (const id of ["07", "007", "", "1234567890123456", "12a", " 12", "-1", "1.5", "truck-7"]) {
      expect(deviceKeyOf(id)).toBe(id)
    }
  })
})

describe("DeviceTable", () => {
  it("keeps the latest fix, never moves last-seen back, counts late records", () => {
    const table = new DeviceTable(10)
    table.observe(fixAt("a", 3000), 1)
    table.observe(fixAt("a", 1000), 1)
    table.observe(fixAt("a", 2000), 2)
    expect(table.get("a")).toEqual({
      lastPosition: fixOf(fixAt("a", 3000)),
      lastSeenMs: 3000,
      sessionRecords: 3,
      sessionOutOfOrder: 2,
    })
  })

  it("starts a rehydrated device from its stored fix", () => {
    const table = new DeviceTable(10)
    table.add("r", fixOf(fixAt("r", 9000)))
    table.observe(fixAt("r", 6000), 1)
    expect(table.get("r")).toMatchObject({ lastSeenMs: 9000, sessionRecords: 1, sessionOutOfOrder: 1 })
    expect(table.get("r")?.lastPosition.tsMs).toBe(9000)
  })

  it("evicts the least recently used device, with recency updated once per batch", () => {
    const table = new DeviceTable(3)
    for (const id of ["a", "b", "c"]) table.observe(fixAt(id, 1), 1)
    table.observe(fixAt("a", 2), 2)
    expect(table.idsByRecency()).toEqual(["b", "c", "a"])
    table.observe(fixAt("d", 1), 3)
    expect(table.idsByRecency()).toEqual(["c", "a", "d"])
    expect(table.get("b")).toBeUndefined()
    expect(table.evictions).toBe(1)
    expect(table.size).toBe(3)
  })

  it("reuses a forgotten device's slot without evicting anyone", () => {
    const table = new DeviceTable(2)
    table.observe(fixAt("a", 1), 1)
    table.observe(fixAt("b", 1), 1)
    table.delete("a")
    table.observe(fixAt("c", 5), 2)
    expect(table.idsByRecency()).toEqual(["b", "c"])
    expect(table.evictions).toBe(0)
    expect(table.get("c")?.lastSeenMs).toBe(5)
  })

  it("grows past its first allocation up to the limit and agrees with a plain Map model throughout", () => {
    for (const max of [1, 2, 7, 1500]) {
      const next = random(max)
      const table = new DeviceTable(max)
      const model = new ModelStore(max)
      // Ids of every kind of key (Position.deviceKey): IMEI-like numbers, names, and digit strings
      // that a number would confuse ("7", "07", "007").
      const ids = Array.from({ length: Math.max(3, Math.floor(max * 1.6)) }, (_, i) =>
        i % 3 === 0 ? `dev-${i}` : i % 3 === 1 ? String(352093081230000 + i) : "0".repeat(i % 4) + String(i % 11),
      )
      let batch = 0
      for (let step = 0; step < 20_000; step++) {
        if (next() < 0.05) batch++
        const id = ids[Math.floor(next() * ids.length)] as string
        const roll = next()
        if (roll < 0.02) {
          table.delete(id)
          model.states.delete(id)
        } else if (roll < 0.06 && !table.has(id)) {
          const stored = fixOf(fixAt(id, Math.floor(next() * 1e6)))
          table.add(id, stored)
          model.add(id, stored)
        } else {
          const p = fixAt(id, Math.floor(next() * 1e6), next() * 90)
          table.observe(p, batch)
          model.observe(id, p, batch)
        }
        if (step % 997 === 0 || step === 19_999) {
          expect(table.idsByRecency()).toEqual([...model.states.keys()])
          for (const other of ids) expect(table.get(other), `${max}/${other}`).toEqual(model.get(other))
        }
      }
      expect(table.evictions).toBe(model.evictions)
      expect(table.size).toBe(model.states.size)
    }
  })
})

describe("DeviceTable memory", () => {
  it("keeps its own copy of each id: an id cut from a large text does not keep the text alive", () => {
    // A fresh node with an explicit full collection, so the heap size is exact rather than timed.
    const script = `
      const { DeviceTable } = await import(${JSON.stringify(import.meta.resolve("../../src/state/DeviceTable.ts"))})
      const table = new DeviceTable(10_000)
      globalThis.gc()
      const before = process.memoryUsage().heapUsed
      for (let i = 0; i < 500; i++) {
        const text = String(i).padStart(15, "0") + "x".repeat(100_000) + i
        table.add(text.slice(0, 15), undefined)
      }
      globalThis.gc()
      console.log(process.memoryUsage().heapUsed - before)
    `
    const grown = Number(
      ChildProcess.execFileSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
        encoding: "utf8",
      }).trim(),
    )
    // 500 texts of 100 KB would be 50 MB; 500 ids and their slots are a few KB.
    expect(grown).toBeLessThan(5_000_000)
  })
})
