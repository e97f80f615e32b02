import type { Position } from "../domain/Position.ts"

/** What the processor keeps per device between records. */
export interface DeviceState {
  /** The position with the latest fix time seen so far. */
  lastPosition: Position
  /** Max fix time seen (epoch ms): a late, out-of-order record never moves it back. */
  lastSeenMs: number
  /** Records seen from this device since this process loaded it. */
  sessionRecords: number
  /** Records that arrived with a fix time older than lastSeenMs. */
  sessionOutOfOrder: number
}

/** The pure transition: state (or none) + position → next state. Mutates in place: the hot path
 * runs it for every record, and the state object is owned by the store. */
export const observe = (state: DeviceState | undefined, position: Position): DeviceState => {
  if (state === undefined) {
    return { lastPosition: position, lastSeenMs: position.tsMs, sessionRecords: 1, sessionOutOfOrder: 0 }
  }
  state.sessionRecords++
  if (position.tsMs >= state.lastSeenMs) {
    state.lastSeenMs = position.tsMs
    state.lastPosition = position
  } else {
    state.sessionOutOfOrder++
  }
  return state
}

/** State rebuilt from the latest stored position of a device (rehydration). */
export const fromStored = (position: Position): DeviceState => ({
  lastPosition: position,
  lastSeenMs: position.tsMs,
  sessionRecords: 0,
  sessionOutOfOrder: 0,
})
