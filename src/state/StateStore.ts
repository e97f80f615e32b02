import { Context, Effect, Layer, Schema } from "effect"
import { ALTITUDE, ANGLE, LAT, LON, type PositionBatch, SATELLITES, SPEED, TS } from "../domain/PositionBatch.ts"
import type { DeviceState, LastFix } from "./DeviceState.ts"
import { DeviceTable } from "./DeviceTable.ts"

export class StateLoadError extends Schema.TaggedError<StateLoadError>()("StateLoadError", {
  reason: Schema.String,
}) {}

/** Loads the last stored position of each cold device, in one query for all of them. */
export class StateLoader extends Context.Service<
  StateLoader,
  {
    readonly load: (deviceIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, LastFix>, StateLoadError>
  }
>()("telemetry/state/StateLoader") {
  /** No history: every device starts fresh. For tests, and the seam rehydration plugs into. */
  static readonly layerNone = Layer.succeed(StateLoader, StateLoader.of({ load: () => Effect.succeed(new Map()) }))
}

export interface StateStats {
  readonly size: number
  readonly evictions: number
}

/** Per-device state, bounded by an LRU of `maxDevices` (a DeviceTable). */
export class StateStore extends Context.Service<
  StateStore,
  {
    /** Applies a batch of positions; devices not in memory are rehydrated first, in one load. */
    readonly observeBatch: (positions: PositionBatch) => Effect.Effect<void, StateLoadError>
    readonly get: (deviceId: string) => DeviceState | undefined
    /** Drops a device so that its next record rehydrates it (operators' `rehydrate`). */
    readonly forget: (deviceId: string) => void
    readonly stats: () => StateStats
  }
>()("telemetry/state/StateStore") {
  static readonly layer = (options: { readonly maxDevices: number }) =>
    Layer.effect(
      StateStore,
      Effect.gen(function* () {
        const loader = yield* StateLoader
        const table = new DeviceTable(options.maxDevices)
        let batch = 0

        /** Applies row `row` at `slot` (looked up with no add in between). */
        const observeRow = (slot: number, positions: PositionBatch, row: number) => {
          const n = positions.numbers
          const c = positions.capacity
          table.observeAt(
            slot,
            n[TS * c + row] as number,
            n[LAT * c + row] as number,
            n[LON * c + row] as number,
            n[ALTITUDE * c + row] as number,
            n[ANGLE * c + row] as number,
            n[SPEED * c + row] as number,
            n[SATELLITES * c + row] as number,
            batch,
          )
        }

        const observeBatch = Effect.fnUntraced(function* (positions: PositionBatch) {
          batch++
          const slots = new Int32Array(positions.length)
          let cold: Set<string> | undefined
          for (let row = 0; row < positions.length; row++) {
            const slot = table.slotOf(positions.deviceKey(row))
            slots[row] = slot
            if (slot < 0) {
              cold ??= new Set()
              cold.add(positions.deviceId(row))
            }
          }
          if (cold === undefined) {
            // Every device is in the table and nothing ran since the lookups: one lookup a record.
            for (let row = 0; row < positions.length; row++) observeRow(slots[row] as number, positions, row)
            return
          }
          // The load yields, and other batches may add and evict meanwhile: look up again after it.
          const stored = yield* loader.load([...cold])
          for (const [deviceId, fix] of stored) {
            if (!table.has(deviceId)) table.add(deviceId, fix)
          }
          for (let row = 0; row < positions.length; row++) {
            const slot = table.slotOf(positions.deviceKey(row))
            observeRow(slot < 0 ? table.add(positions.deviceId(row), undefined) : slot, positions, row)
          }
        })

        return StateStore.of({
          observeBatch,
          get: (deviceId) => table.get(deviceId),
          forget: (deviceId) => table.delete(deviceId),
          stats: () => ({ size: table.size, evictions: table.evictions }),
        })
      }),
    )
}
