import { type DeviceKey, deviceKeyOf, type Position } from "../domain/Position.ts"
import type { DeviceState, LastFix } from "./DeviceState.ts"

// One row of numbers per device, at `slot * STRIDE`.
const TS = 0
const LAT = 1
const LON = 2
const ALTITUDE = 3
const ANGLE = 4
const SPEED = 5
const SATELLITES = 6
const LAST_SEEN = 7
const RECORDS = 8
const OUT_OF_ORDER = 9
const TOUCHED_IN_BATCH = 10
const STRIDE = 11

const NONE = -1
const INITIAL_CAPACITY = 1024

/**
 * The state of up to `maxDevices` devices in flat typed arrays, least recently used first out.
 * Objects per device (a Map entry, a state object, a fix object and their boxed numbers) cost
 * ~280 bytes of heap and churn on every update; a slot costs ~175 (the Map entry, the id string and
 * the typed-array row included; an IMEI's key is a number, without a string of its own) and an
 * update writes numbers in place. Recency is an intrusive doubly linked list over the slots, so a
 * touch is four index writes instead of a Map delete and re-insert.
 */
export class DeviceTable {
  /** By `deviceKeyOf` the id: see Position.deviceKey. */
  private readonly slots = new Map<DeviceKey, number>()
  /** Each slot's device as its key: a number needs no string of its own (`idOf`). */
  private keys: Array<DeviceKey> = []
  private values: Float64Array
  private prev: Int32Array
  private next: Int32Array
  /** Most and least recently used slots. */
  private newest = NONE
  private oldest = NONE
  private readonly free: Array<number> = []
  private used = 0
  evictions = 0
  readonly maxDevices: number

  constructor(maxDevices: number) {
    this.maxDevices = maxDevices
    const capacity = Math.min(maxDevices, INITIAL_CAPACITY)
    this.values = new Float64Array(capacity * STRIDE)
    this.prev = new Int32Array(capacity)
    this.next = new Int32Array(capacity)
  }

  get size(): number {
    return this.slots.size
  }

  has(deviceId: string): boolean {
    return this.slots.has(deviceKeyOf(deviceId))
  }

  /** The slot of the device with this key (a position's `deviceKey`) for `observeAt`, or -1 when
   * it is not in the table. */
  slotOf(deviceKey: DeviceKey): number {
    return this.slots.get(deviceKey) ?? NONE
  }

  /** A copy of the device's state, for callers outside the hot path. */
  get(deviceId: string): DeviceState | undefined {
    const slot = this.slots.get(deviceKeyOf(deviceId))
    if (slot === undefined) return undefined
    const v = this.values
    const at = slot * STRIDE
    return {
      lastPosition: {
        tsMs: v[at + TS] as number,
        lat: v[at + LAT] as number,
        lon: v[at + LON] as number,
        altitude: v[at + ALTITUDE] as number,
        angle: v[at + ANGLE] as number,
        speed: v[at + SPEED] as number,
        satellites: v[at + SATELLITES] as number,
      },
      lastSeenMs: v[at + LAST_SEEN] as number,
      sessionRecords: v[at + RECORDS] as number,
      sessionOutOfOrder: v[at + OUT_OF_ORDER] as number,
    }
  }

  delete(deviceId: string): void {
    const key = deviceKeyOf(deviceId)
    const slot = this.slots.get(key)
    if (slot === undefined) return
    this.slots.delete(key)
    this.unlink(slot)
    this.keys[slot] = ""
    this.free.push(slot)
  }

  /** Adds a device that is not in the table, starting from its stored last fix (or none), as the
   * most recently used; evicts the least recently used one when the table is full. */
  add(deviceId: string, stored: Readonly<LastFix> | undefined): number {
    const slot = this.allocate()
    const key = deviceKeyOf(deviceId)
    const owned = typeof key === "number" ? key : ownCopy(key)
    this.slots.set(owned, slot)
    this.keys[slot] = owned
    const v = this.values
    const at = slot * STRIDE
    if (stored === undefined) {
      v.fill(0, at, at + STRIDE)
      v[at + TS] = Number.NEGATIVE_INFINITY
      v[at + LAST_SEEN] = Number.NEGATIVE_INFINITY
    } else {
      writeFix(v, at, stored)
      v[at + LAST_SEEN] = stored.tsMs
      v[at + RECORDS] = 0
      v[at + OUT_OF_ORDER] = 0
    }
    v[at + TOUCHED_IN_BATCH] = NONE
    this.linkNewest(slot)
    return slot
  }

  /**
   * Applies one record to its device (added with no stored fix if it is not in the table): the
   * latest fix wins, a late, out-of-order record never moves last-seen back. The device becomes the
   * most recently used, once per `batch` (moving it again within a batch changes nothing).
   */
  observe(position: Position, batch: number): void {
    const p = position
    const slot = this.slots.get(p.deviceKey) ?? this.add(p.deviceId, undefined)
    this.observeAt(slot, p.tsMs, p.lat, p.lon, p.altitude, p.angle, p.speed, p.satellites, batch)
  }

  /** `observe` of a record's fix at a slot from `slotOf`, looked up with no add or delete in
   * between (an add may evict, and a freed slot is handed to another device). */
  observeAt(
    slot: number,
    tsMs: number,
    lat: number,
    lon: number,
    altitude: number,
    angle: number,
    speed: number,
    satellites: number,
    batch: number,
  ): void {
    const v = this.values
    const at = slot * STRIDE
    v[at + RECORDS] = (v[at + RECORDS] as number) + 1
    if (tsMs >= (v[at + LAST_SEEN] as number)) {
      v[at + LAST_SEEN] = tsMs
      v[at + TS] = tsMs
      v[at + LAT] = lat
      v[at + LON] = lon
      v[at + ALTITUDE] = altitude
      v[at + ANGLE] = angle
      v[at + SPEED] = speed
      v[at + SATELLITES] = satellites
    } else {
      v[at + OUT_OF_ORDER] = (v[at + OUT_OF_ORDER] as number) + 1
    }
    if (v[at + TOUCHED_IN_BATCH] !== batch) {
      v[at + TOUCHED_IN_BATCH] = batch
      if (this.newest !== slot) {
        this.unlink(slot)
        this.linkNewest(slot)
      }
    }
  }

  /** Device ids from least to most recently used (for tests and diagnostics). */
  idsByRecency(): Array<string> {
    const out: Array<string> = []
    for (let slot = this.oldest; slot !== NONE; slot = this.prev[slot] as number)
      out.push(idOf(this.keys[slot] as DeviceKey))
    return out
  }

  private allocate(): number {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    if (this.used < this.prev.length) return this.used++
    if (this.used < this.maxDevices) {
      this.grow(Math.min(this.maxDevices, this.prev.length * 2))
      return this.used++
    }
    const victim = this.oldest
    this.slots.delete(this.keys[victim] as DeviceKey)
    this.unlink(victim)
    this.evictions++
    return victim
  }

  private grow(capacity: number): void {
    const values = new Float64Array(capacity * STRIDE)
    values.set(this.values)
    this.values = values
    const prev = new Int32Array(capacity)
    prev.set(this.prev)
    this.prev = prev
    const next = new Int32Array(capacity)
    next.set(this.next)
    this.next = next
  }

  /** `prev` points towards the newest end, `next` towards the oldest. */
  private linkNewest(slot: number): void {
    this.prev[slot] = NONE
    this.next[slot] = this.newest
    if (this.newest !== NONE) this.prev[this.newest] = slot
    this.newest = slot
    if (this.oldest === NONE) this.oldest = slot
  }

  private unlink(slot: number): void {
    const before = this.prev[slot] as number
    const after = this.next[slot] as number
    if (before === NONE) this.newest = after
    else this.next[before] = after
    if (after === NONE) this.oldest = before
    else this.prev[after] = before
  }
}

/** The id a key stands for: a number key is the canonical decimal of its id (deviceKeyOf). */
const idOf = (key: DeviceKey): string => (typeof key === "number" ? String(key) : key)

/** The id as a string of its own. V8 represents a cut of 13 characters or more from a string as a
 * view of the whole: a key cut from a larger text (a payload, a reply) would keep that text alive
 * for as long as the device stays in the table. Paid once per device added. */
const ownCopy = (id: string): string => JSON.parse(JSON.stringify(id)) as string

const writeFix = (v: Float64Array, at: number, fix: Readonly<LastFix>): void => {
  v[at + TS] = fix.tsMs
  v[at + LAT] = fix.lat
  v[at + LON] = fix.lon
  v[at + ALTITUDE] = fix.altitude
  v[at + ANGLE] = fix.angle
  v[at + SPEED] = fix.speed
  v[at + SATELLITES] = fix.satellites
}
