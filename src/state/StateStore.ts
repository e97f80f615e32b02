import { Context, Effect, Layer, Schema } from "effect"
import type { Position } from "../domain/Position.ts"
import { type DeviceState, fromStored, type LastFix, observe } from "./DeviceState.ts"

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

/** Per-device state, bounded by an LRU of `maxDevices`. A Map keeps insertion order, so deleting
 * and re-inserting a key on use makes its first key the least recently used. */
export class StateStore extends Context.Service<
  StateStore,
  {
    /** Applies a batch of positions; devices not in memory are rehydrated first, in one load. */
    readonly observeBatch: (positions: ReadonlyArray<Position>) => Effect.Effect<void, StateLoadError>
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
        const devices = new Map<string, DeviceState>()
        let evictions = 0
        let batch = 0

        const touch = (deviceId: string, state: DeviceState) => {
          if (state.touchedInBatch === batch) return
          state.touchedInBatch = batch
          devices.delete(deviceId)
          devices.set(deviceId, state)
          if (devices.size > options.maxDevices) {
            const oldest = devices.keys().next()
            if (oldest.done !== true) {
              devices.delete(oldest.value)
              evictions++
            }
          }
        }

        const observeBatch = Effect.fnUntraced(function* (positions: ReadonlyArray<Position>) {
          batch++
          let cold: Set<string> | undefined
          for (const p of positions) {
            if (!devices.has(p.deviceId)) {
              cold ??= new Set()
              cold.add(p.deviceId)
            }
          }
          const stored = cold === undefined ? undefined : yield* loader.load([...cold])
          if (stored !== undefined) {
            for (const [deviceId, position] of stored) {
              if (!devices.has(deviceId)) touch(deviceId, fromStored(position))
            }
          }
          for (const p of positions) touch(p.deviceId, observe(devices.get(p.deviceId), p))
        })

        return StateStore.of({
          observeBatch,
          get: (deviceId) => devices.get(deviceId),
          forget: (deviceId) => {
            devices.delete(deviceId)
          },
          stats: () => ({ size: devices.size, evictions }),
        })
      }),
    )
}
