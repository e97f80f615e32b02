import type { Position } from "../domain/Position.ts"

/** The last fix of a device, without its attributes: the state of 100k devices has to fit in
 * memory next to everything else. */
export type LastFix = Pick<Position, "tsMs" | "lat" | "lon" | "altitude" | "angle" | "speed" | "satellites">

/** What the processor keeps per device between records (a copy; the store keeps it in a
 * DeviceTable). */
export interface DeviceState {
  /** The fix with the latest time seen so far. */
  readonly lastPosition: LastFix
  /** Max fix time seen (epoch ms): a late, out-of-order record never moves it back. */
  readonly lastSeenMs: number
  /** Records seen from this device since this process loaded it. */
  readonly sessionRecords: number
  /** Records that arrived with a fix time older than lastSeenMs. */
  readonly sessionOutOfOrder: number
}
