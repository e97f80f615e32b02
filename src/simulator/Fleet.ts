import { Clock, Deferred, Duration, Effect, Option } from "effect"
import { type AvlRecord, encodeImei, encodeTcpAvl } from "../gateway/codec/index.ts"
import { DeviceSocket } from "./DeviceSocket.ts"
import { simulatedImei } from "./imei.ts"
import { chance, deriveSeed, intBetween, makeRandom, type Random } from "./random.ts"
import { pickCodec, VirtualDevice } from "./VirtualDevice.ts"

export interface FleetOptions {
  readonly host: string
  readonly port: number
  /** Default 1000. */
  readonly devices?: number
  /** Records per second, summed over the fleet. Default 1000. */
  readonly recordsPerSecond?: number
  /** Stop logging new records after this long (then drain). Default: until `maxRecords` or `monitor.stop()`. */
  readonly durationMs?: number
  /** Stop logging new records once the fleet has logged this many (then drain). */
  readonly maxRecords?: number
  /** A packet whose ACK has not arrived by then is resent on a new connection. Default 5000. */
  readonly ackTimeoutMs?: number
  /** Chance, after each ACK, that the device drops its connection and reconnects. Default 0.002. */
  readonly reconnectProbability?: number
  /** Chance that a packet's connection drops right after sending it, before the ACK (forces a resend). Default 0. */
  readonly dropBeforeAckProbability?: number
  /** Upper bound of records in one packet (a device catching up after an outage sends full packets). Default 8. */
  readonly maxRecordsPerPacket?: number
  /** Relative weights of the codecs devices speak. Default 8E 0.8, 8 0.1, 16 0.1. */
  readonly codecMix?: { readonly codec8E: number; readonly codec8: number; readonly codec16: number }
  /** Initial connections are spread over this long. Default min(devices × 2 ms, 5000). */
  readonly rampUpMs?: number
  /** After generation stops, the longest to wait for outstanding ACKs. Default 30000. */
  readonly drainTimeoutMs?: number
  readonly seed?: number
  /** Live progress and a graceful stop; see {@link makeFleetMonitor}. */
  readonly monitor?: FleetMonitor
}

export interface FleetStats {
  /** Devices currently logged in. */
  readonly connected: number
  /** Records the devices logged (each with a unique per-device timestamp). */
  readonly recordsGenerated: number
  /** Records written to the socket, resends included. */
  readonly recordsSent: number
  readonly packetsSent: number
  readonly recordsAcked: number
  readonly packetsAcked: number
  /** Packets sent again because their ACK did not arrive. */
  readonly resends: number
  readonly ackTimeouts: number
  /** Connections opened after a device's first. */
  readonly reconnects: number
  readonly connectFailures: number
  /** Logins the gateway answered 00; such a device stops. */
  readonly loginsRejected: number
}

export interface FleetReport extends FleetStats {
  readonly devices: ReadonlyArray<{ readonly imei: string; readonly codecId: number }>
  /** Every ACKed record: IMEI → its timestamps (epoch ms), ascending. */
  readonly ledger: ReadonlyMap<string, ReadonlyArray<number>>
  /** Records logged but never ACKed (drain timed out, or the device was rejected). */
  readonly unacked: number
  readonly elapsedMs: number
}

type MutableStats = { -readonly [K in keyof FleetStats]: FleetStats[K] }

const zeroStats = (): MutableStats => ({
  connected: 0,
  recordsGenerated: 0,
  recordsSent: 0,
  packetsSent: 0,
  recordsAcked: 0,
  packetsAcked: 0,
  resends: 0,
  ackTimeouts: 0,
  reconnects: 0,
  connectFailures: 0,
  loginsRejected: 0,
})

/** Read live counters while a fleet runs (progress printing) and ask it to stop gracefully. */
export interface FleetMonitor {
  readonly stats: () => FleetStats
  /** Stop logging new records; devices send what they hold, await ACKs, then disconnect. */
  readonly stop: () => void
}

interface MonitorInternals extends FleetMonitor {
  readonly counters: MutableStats
  readonly onStop: (listener: () => void) => void
}

export const makeFleetMonitor = (): FleetMonitor => {
  const counters = zeroStats()
  let stopped = false
  const listeners: Array<() => void> = []
  const monitor: MonitorInternals = {
    counters,
    stats: () => ({ ...counters }),
    stop: () => {
      if (stopped) return
      stopped = true
      for (const listener of listeners.splice(0)) listener()
    },
    onStop: (listener) => {
      if (stopped) listener()
      else listeners.push(listener)
    },
  }
  return monitor
}

const internals = (monitor: FleetMonitor): MonitorInternals => monitor as MonitorInternals

/**
 * The IMEIs a fleet with this seed and size uses, e.g. to configure GATEWAY_IMEI_ALLOWLIST for a
 * demo. Different seeds shift the serial range, so two fleets rarely share a device.
 */
export const fleetImeis = (seed: number, devices: number): Array<string> => {
  const offset = intBetween(makeRandom(seed), 0, 999_999)
  return Array.from({ length: devices }, (_, i) => simulatedImei(i, offset))
}

interface Pending {
  readonly records: ReadonlyArray<AvlRecord>
  readonly bytes: Uint8Array
  attempts: number
}

/** A device's memory: records logged but not yet ACKed, the packet in flight, its ledger. */
interface DeviceState {
  readonly device: VirtualDevice
  readonly random: Random
  readonly buffer: Array<AvlRecord>
  pending: Pending | undefined
  /** Records the device waits for before sending, drawn anew per packet (devices batch). */
  batchTarget: number
  nextSampleMs: number
  sessions: number
  readonly acked: Array<number>
}

type SessionEnd = "reconnect" | "done" | "rejected"

/**
 * A fleet of simulated Teltonika trackers speaking real TCP to a gateway: IMEI login, AVL packets
 * (Codec 8 Extended mostly, some 8 and 16) carrying one or several records, the 4-byte ACK. Like
 * real devices they keep logging while disconnected, resend a packet whose ACK does not arrive in
 * time (on a new connection), and only forget records once ACKed: the report's ledger holds
 * exactly those, so a test can demand every one of them in the database.
 */
export const runFleet = Effect.fn("runFleet")(function* (options: FleetOptions) {
  const deviceCount = options.devices ?? 1000
  const rate = options.recordsPerSecond ?? 1000
  if (!(deviceCount >= 1) || !(rate > 0)) {
    return yield* Effect.die(new RangeError("a fleet needs at least one device and a positive rate"))
  }
  const ackTimeoutMs = options.ackTimeoutMs ?? 5_000
  const reconnectP = options.reconnectProbability ?? 0.002
  const dropP = options.dropBeforeAckProbability ?? 0
  const maxPerPacket = Math.max(1, Math.min(255, options.maxRecordsPerPacket ?? 8))
  const mix = options.codecMix ?? { codec8E: 0.8, codec8: 0.1, codec16: 0.1 }
  const rampUpMs = options.rampUpMs ?? Math.min(deviceCount * 2, 5_000)
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000
  const seed = options.seed ?? 1
  const monitor = internals(options.monitor ?? makeFleetMonitor())
  const stats = monitor.counters
  const intervalMs = (deviceCount * 1000) / rate

  const stopped = yield* Deferred.make<void>()
  monitor.onStop(() => Deferred.doneUnsafe(stopped, Effect.void))
  const isStopping = () => Deferred.isDoneUnsafe(stopped)
  const stop = Effect.sync(() => monitor.stop())

  const startedAt = yield* Clock.currentTimeMillis
  const imeis = fleetImeis(seed, deviceCount)
  const states: Array<DeviceState> = []
  for (let i = 0; i < deviceCount; i++) {
    const random = makeRandom(deriveSeed(seed, i))
    const device = new VirtualDevice({ imei: imeis[i] as string, codecId: pickCodec(random, mix) }, random)
    states.push({
      device,
      random,
      buffer: [],
      pending: undefined,
      batchTarget: 1,
      // Phases spread so the fleet's records arrive evenly rather than in lockstep.
      nextSampleMs: startedAt + random.next() * intervalMs,
      sessions: 0,
      acked: [],
    })
  }

  const drawBatchTarget = (random: Random): number =>
    chance(random, 0.6) ? 1 : intBetween(random, 2, Math.min(4, maxPerPacket))

  /** Logs every record that fell due by `now` (also while disconnected, as a device's flash does). */
  const sampleDue = (s: DeviceState, now: number): void => {
    while (s.nextSampleMs <= now && !isStopping()) {
      if (options.maxRecords !== undefined && stats.recordsGenerated >= options.maxRecords) {
        monitor.stop()
        return
      }
      s.buffer.push(s.device.sample(s.nextSampleMs))
      stats.recordsGenerated++
      s.nextSampleMs += intervalMs
    }
  }

  const nextPacket = (s: DeviceState): void => {
    if (s.pending !== undefined || s.buffer.length === 0) return
    if (s.buffer.length < s.batchTarget && !isStopping()) return
    const records = s.buffer.splice(0, maxPerPacket)
    s.pending = { records, bytes: encodeTcpAvl(s.device.codecId, records), attempts: 0 }
    s.batchTarget = drawBatchTarget(s.random)
  }

  // Sleeping devices wake on their next sample time or on stop. Not a race with
  // `Deferred.await(stopped)`: a thousand devices parked on one Deferred make every wake-up pay
  // an O(waiters) unregistration; a Set makes it O(1).
  const sleepers = new Set<() => void>()
  monitor.onStop(() => {
    for (const wake of [...sleepers]) wake()
  })
  const untilNextSample = (s: DeviceState, now: number) =>
    Effect.callback<void>((resume) => {
      if (isStopping()) {
        resume(Effect.void)
        return
      }
      const wake = () => {
        clearTimeout(timer)
        sleepers.delete(wake)
        resume(Effect.void)
      }
      const timer = setTimeout(wake, Math.max(1, s.nextSampleMs - now))
      sleepers.add(wake)
      return Effect.sync(() => {
        clearTimeout(timer)
        sleepers.delete(wake)
      })
    })

  /** One TCP connection: login, then send/ACK packets until something calls for a reconnect. */
  const session = (s: DeviceState): Effect.Effect<SessionEnd> =>
    Effect.gen(function* () {
      const socket = yield* DeviceSocket.connect(options.host, options.port, ackTimeoutMs)
      if (s.sessions++ > 0) stats.reconnects++
      socket.write(encodeImei(s.device.imei))
      const reply = yield* socket.read(1, ackTimeoutMs)
      if (Option.isNone(reply)) return "reconnect"
      if (reply.value[0] !== 0x01) return "rejected"
      stats.connected++
      return yield* Effect.gen(function* () {
        for (;;) {
          const now = yield* Clock.currentTimeMillis
          sampleDue(s, now)
          nextPacket(s)
          const pending = s.pending
          if (pending === undefined) {
            if (isStopping()) return "done"
            yield* untilNextSample(s, now)
            continue
          }
          if (pending.attempts++ > 0) stats.resends++
          socket.write(pending.bytes)
          stats.packetsSent++
          stats.recordsSent += pending.records.length
          if (dropP > 0 && chance(s.random, dropP)) return "reconnect"
          const ack = yield* socket.read(4, ackTimeoutMs)
          if (Option.isNone(ack)) {
            if (!socket.isClosed) stats.ackTimeouts++
            return "reconnect"
          }
          // A count other than what was sent means "not all stored": resend all of it, as devices do.
          if (ack.value.readUInt32BE(0) !== pending.records.length) return "reconnect"
          for (const record of pending.records) s.acked.push(record.timestampMs)
          stats.recordsAcked += pending.records.length
          stats.packetsAcked++
          s.pending = undefined
          if (reconnectP > 0 && chance(s.random, reconnectP)) return "reconnect"
        }
      }).pipe(Effect.ensuring(Effect.sync(() => stats.connected--)))
    }).pipe(
      Effect.scoped,
      Effect.catchTag("ConnectFailed", () =>
        Effect.sync(() => {
          stats.connectFailures++
          return "reconnect" as const
        }),
      ),
    )

  const runDevice = (s: DeviceState, index: number) =>
    Effect.gen(function* () {
      yield* Effect.sleep(Duration.millis((rampUpMs * index) / deviceCount))
      let backoffMs = 100
      for (;;) {
        const ackedBefore = s.acked.length
        const end = yield* session(s)
        if (end === "done") return
        if (end === "rejected") {
          stats.loginsRejected++
          return
        }
        if (isStopping() && s.pending === undefined && s.buffer.length === 0) return
        // Jittered backoff so a gateway restart is not met by the whole fleet in the same millisecond.
        yield* Effect.sleep(Duration.millis(backoffMs * (0.5 + s.random.next())))
        backoffMs = s.acked.length > ackedBefore ? 100 : Math.min(backoffMs * 2, 5_000)
      }
    })

  const generation =
    options.durationMs === undefined
      ? Effect.void
      : Effect.sleep(Duration.millis(options.durationMs)).pipe(Effect.andThen(stop))
  const devices = Effect.forEach(states, runDevice, { concurrency: "unbounded", discard: true })
  // After the stop signal, devices get drainTimeoutMs to deliver what they hold; then they are cut off.
  const drainDeadline = Deferred.await(stopped).pipe(Effect.andThen(Effect.sleep(Duration.millis(drainTimeoutMs))))

  yield* Effect.forkChild(generation)
  yield* Effect.raceFirst(devices, drainDeadline)
  yield* stop

  const ledger = new Map<string, ReadonlyArray<number>>()
  let unacked = 0
  for (const s of states) {
    ledger.set(s.device.imei, s.acked)
    unacked += s.buffer.length + (s.pending?.records.length ?? 0)
  }
  const finishedAt = yield* Clock.currentTimeMillis
  const report: FleetReport = {
    ...monitor.stats(),
    devices: states.map((s) => ({ imei: s.device.imei, codecId: s.device.codecId })),
    ledger,
    unacked,
    elapsedMs: finishedAt - startedAt,
  }
  return report
})

/** Every ACKed (IMEI, timestamp) pair of a report, e.g. to compare with the database. */
export function* ackedKeys(report: FleetReport): Generator<readonly [imei: string, tsMs: number]> {
  for (const [imei, timestamps] of report.ledger) for (const ts of timestamps) yield [imei, ts]
}
