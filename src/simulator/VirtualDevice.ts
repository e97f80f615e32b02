import { type AvlCodecId, type AvlRecord, CODEC_8, CODEC_8E, CODEC_16, type IoElement } from "../gateway/codec/index.ts"
import { chance, intBetween, type Random, uniform } from "./random.ts"

/**
 * One simulated tracker's physical state: a vehicle wandering along a random route (speed and
 * heading drift, occasional stops), and the AVL records it logs. Pure apart from its PRNG; the
 * network side lives in Fleet.ts.
 */

const METRES_PER_DEGREE = 111_320
// Synthetic ICCIDs are 19-digit numbers, above 2^53: they exercise the `$bigint` path as real SIMs do.
const ICCID_BASE = 8_937_204_016_200_000_000n

export interface DeviceProfile {
  readonly imei: string
  readonly codecId: AvlCodecId
}

export class VirtualDevice {
  readonly imei: string
  readonly codecId: AvlCodecId
  private readonly random: Random
  private readonly iccid: bigint
  private lat: number
  private lon: number
  private altitude: number
  /** Degrees clockwise from north. */
  private heading: number
  /** km/h */
  private speed: number
  private cruise: number
  private ignition: boolean
  private odometerM = 0
  private stopUntilMs = 0
  private lastSampleMs: number | undefined
  /** Strictly increasing per device: the processor keys positions by (device, ts). */
  private lastTsMs = 0

  constructor(profile: DeviceProfile, random: Random) {
    this.imei = profile.imei
    this.codecId = profile.codecId
    this.random = random
    this.iccid = ICCID_BASE + BigInt(intBetween(random, 0, 99_999_999))
    // Somewhere in Europe, on land or near enough.
    this.lat = uniform(random, 38, 58)
    this.lon = uniform(random, -8, 28)
    this.altitude = intBetween(random, 0, 600)
    this.heading = uniform(random, 0, 360)
    this.cruise = uniform(random, 30, 110)
    this.speed = chance(random, 0.2) ? 0 : this.cruise
    this.ignition = this.speed > 0 || chance(random, 0.5)
  }

  /** A timestamp for a fix taken at `atMs`: never equal to or before the previous one. */
  private nextTs(atMs: number): number {
    const ts = Math.max(this.lastTsMs + 1, Math.floor(atMs))
    this.lastTsMs = ts
    return ts
  }

  /** Advances the vehicle to `atMs` and returns the record it logs there. */
  sample(atMs: number): AvlRecord {
    const r = this.random
    const dtS = this.lastSampleMs === undefined ? 0 : Math.max(0, (atMs - this.lastSampleMs) / 1000)
    this.lastSampleMs = atMs
    const wasIgnition = this.ignition

    if (atMs < this.stopUntilMs) {
      this.speed = 0
    } else if (this.speed > 0 && chance(r, 0.01)) {
      // Traffic light, delivery, parking.
      this.stopUntilMs = atMs + uniform(r, 5_000, 120_000)
      this.speed = 0
    } else {
      if (chance(r, 0.02)) this.cruise = uniform(r, 20, 120)
      this.speed = Math.max(0, Math.min(140, this.speed + (this.cruise - this.speed) * 0.3 + uniform(r, -5, 5)))
      this.heading = (this.heading + uniform(r, -15, 15) + 360) % 360
    }
    this.ignition = this.speed > 0 ? true : wasIgnition && !chance(r, 0.05)

    const distanceM = (this.speed / 3.6) * dtS
    this.odometerM += distanceM
    const rad = (this.heading * Math.PI) / 180
    this.lat += (distanceM * Math.cos(rad)) / METRES_PER_DEGREE
    this.lon += (distanceM * Math.sin(rad)) / (METRES_PER_DEGREE * Math.max(0.1, Math.cos((this.lat * Math.PI) / 180)))
    // Turn back at the edges of the region rather than leave valid coordinates.
    if (this.lat > 70 || this.lat < 30) this.heading = (540 - this.heading) % 360
    if (this.lon > 40 || this.lon < -20) this.heading = (360 - this.heading) % 360
    this.lat = Math.max(-89.9, Math.min(89.9, this.lat))
    this.lon = Math.max(-179.9, Math.min(179.9, this.lon))
    this.altitude = Math.max(-50, Math.min(3000, this.altitude + intBetween(r, -3, 3)))

    const ignitionChanged = wasIgnition !== this.ignition
    const speed = Math.round(this.speed)
    const io: Array<IoElement> = [
      { id: 239, width: 1, value: this.ignition ? 1 : 0 },
      { id: 240, width: 1, value: speed > 0 ? 1 : 0 },
      { id: 21, width: 1, value: intBetween(r, 2, 5) },
      { id: 69, width: 1, value: 1 },
      { id: 181, width: 2, value: intBetween(r, 5, 30) },
      { id: 182, width: 2, value: intBetween(r, 5, 20) },
      { id: 66, width: 2, value: this.ignition ? intBetween(r, 13_600, 14_400) : intBetween(r, 12_100, 12_700) },
      { id: 24, width: 2, value: speed },
      { id: 16, width: 4, value: Math.round(this.odometerM) % 0x1_0000_0000 },
      { id: 11, width: 8, value: this.iccid },
    ]
    if (this.codecId === CODEC_8E && chance(r, 0.1)) {
      // A variable-length element (e.g. a BLE beacon list), only Codec 8 Extended can carry it.
      const bytes = new Uint8Array(intBetween(r, 4, 24))
      for (let i = 0; i < bytes.length; i++) bytes[i] = intBetween(r, 0, 255)
      io.push({ id: 385, width: "x", bytes })
    }
    if (this.codecId !== CODEC_8) io.push({ id: 10_800, width: 2, value: intBetween(r, 0, 1000) })

    const record = {
      timestampMs: this.nextTs(atMs),
      priority: ignitionChanged ? 1 : 0,
      longitude: Math.round(this.lon * 1e7),
      latitude: Math.round(this.lat * 1e7),
      altitude: Math.round(this.altitude),
      angle: Math.round(this.heading) % 360,
      satellites: intBetween(r, 6, 16),
      speed,
      eventIoId: ignitionChanged ? 239 : 0,
      io,
    }
    // Codec 16's generation type: 0 on exit/entry events, 5 periodic (on change otherwise).
    return this.codecId === CODEC_16 ? { ...record, generationType: ignitionChanged ? 0 : 5 } : record
  }
}

/** Picks a codec with the fleet's weights: mostly 8 Extended, as current FMB firmware sends. */
export const pickCodec = (
  random: Random,
  weights: { readonly codec8E: number; readonly codec8: number; readonly codec16: number },
): AvlCodecId => {
  const total = weights.codec8E + weights.codec8 + weights.codec16
  const x = random.next() * total
  if (x < weights.codec8E) return CODEC_8E
  if (x < weights.codec8E + weights.codec8) return CODEC_8
  return CODEC_16
}
