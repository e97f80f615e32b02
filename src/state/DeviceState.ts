import type { Position } from "../domain/Position.ts"

/** The last fix of a device, without its attributes: the state of 100k devices has to fit in
 * memory next to everything else, and a full Position (attributes, stream id) is ten times this. */
export interface LastFix {
  readonly tsMs: number
  readonly lat: number
  readonly lon: number
  readonly altitude: number
  readonly angle: number
  readonly speed: number
  readonly satellites: number
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
}

export const lastFixOf = (p: LastFix): LastFix => ({
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
    return { lastPosition: lastFixOf(position), lastSeenMs: position.tsMs, sessionRecords: 1, sessionOutOfOrder: 0 }
  }
  state.sessionRecords++
  if (position.tsMs >= state.lastSeenMs) {
    state.lastSeenMs = position.tsMs
    state.lastPosition = lastFixOf(position)
  } else {
    state.sessionOutOfOrder++
  }
  return state
}

/** State rebuilt from the latest stored fix of a device (rehydration). */
export const fromStored = (fix: LastFix): DeviceState => ({
  lastPosition: fix,
  lastSeenMs: fix.tsMs,
  sessionRecords: 0,
  sessionOutOfOrder: 0,
})
