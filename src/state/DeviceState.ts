import type { Position } from "../domain/Position.ts"

/** The last fix of a device, without its attributes: the state of 100k devices has to fit in
 * memory next to everything else, and a full Position (attributes, stream id) is ten times this. */
export interface LastFix {
  tsMs: number
  lat: number
  lon: number
  altitude: number
  angle: number
  speed: number
  satellites: number
}

/** What the processor keeps per device between records. */
export interface DeviceState {
  /** The fix with the latest time seen so far. */
  lastPosition: LastFix
  /** Max fix time seen (epoch ms): a late, out-of-order record never moves it back. */
  lastSeenMs: number
  /** Records seen from this device since this process loaded it. */
  sessionRecords: number
  /** Records that arrived with a fix time older than lastSeenMs. */
  sessionOutOfOrder: number
  /** The batch that last moved this device to the young end of the LRU (once per batch is enough). */
  touchedInBatch: number
}

export const lastFixOf = (p: Readonly<LastFix>): LastFix => ({
  tsMs: p.tsMs,
  lat: p.lat,
  lon: p.lon,
  altitude: p.altitude,
  angle: p.angle,
  speed: p.speed,
  satellites: p.satellites,
})

/** The pure transition: state (or none) + position → next state. Mutates in place: the hot path
 * runs it for every record, and the state object is owned by the store. */
export const observe = (state: DeviceState | undefined, position: Position): DeviceState => {
  if (state === undefined) {
    return {
      lastPosition: lastFixOf(position),
      lastSeenMs: position.tsMs,
      sessionRecords: 1,
      sessionOutOfOrder: 0,
      touchedInBatch: -1,
    }
  }
  state.sessionRecords++
  if (position.tsMs >= state.lastSeenMs) {
    state.lastSeenMs = position.tsMs
    // Copied in place: no allocation per record.
    const fix = state.lastPosition
    fix.tsMs = position.tsMs
    fix.lat = position.lat
    fix.lon = position.lon
    fix.altitude = position.altitude
    fix.angle = position.angle
    fix.speed = position.speed
    fix.satellites = position.satellites
  } else {
    state.sessionOutOfOrder++
  }
  return state
}

/** State rebuilt from the latest stored fix of a device (rehydration). */
export const fromStored = (fix: Readonly<LastFix>): DeviceState => ({
  lastPosition: lastFixOf(fix),
  lastSeenMs: fix.tsMs,
  sessionRecords: 0,
  sessionOutOfOrder: 0,
  touchedInBatch: -1,
})
