import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { beforeAll } from "vitest"
import { deviceKeyOf, type Position } from "../../src/domain/Position.ts"
import { PositionBatch } from "../../src/domain/PositionBatch.ts"
import { PostgresStateLoader } from "../../src/state/PostgresStateLoader.ts"
import { StateLoader, StateStore } from "../../src/state/StateStore.ts"
import { Writer } from "../../src/writer/Writer.ts"
import { freshDatabaseUrl, sqlLayer, writerLayer } from "../support/postgres.ts"

const at = (deviceId: string, tsMs: number, streamId = `${tsMs}-0`): Position => ({
  streamId,
  deviceId,
  deviceKey: deviceKeyOf(deviceId),
  tsMs,
  lat: 1,
  lon: 2,
  altitude: 0,
  angle: 0,
  speed: 0,
  satellites: 5,
  priority: 0,
  eventId: 0,
  attributesJson: "{}",
  receivedAtMs: null,
})

const inMemory = (maxDevices: number) => StateStore.layer({ maxDevices }).pipe(Layer.provide(StateLoader.layerNone))

describe("StateStore", () => {
  it.effect("last seen never moves back on an out-of-order record", () =>
    Effect.gen(function* () {
      const store = yield* StateStore
      yield* store.observeBatch(PositionBatch.of([at("a", 3000), at("a", 1000), at("a", 2000)]))
      const state = store.get("a")
      expect(state?.lastSeenMs).toBe(3000)
      expect(state?.lastPosition.tsMs).toBe(3000)
      expect(state?.sessionRecords).toBe(3)
      expect(state?.sessionOutOfOrder).toBe(2)
    }).pipe(Effect.provide(inMemory(10))),
  )

  it.effect("is bounded by an LRU and counts evictions", () =>
    Effect.gen(function* () {
      const store = yield* StateStore
      yield* store.observeBatch(PositionBatch.of([at("a", 1), at("b", 1), at("c", 1)]))
      yield* store.observeBatch(PositionBatch.of([at("a", 2)])) // a is now the most recently used
      yield* store.observeBatch(PositionBatch.of([at("d", 1)])) // evicts b, the least recently used
      expect(store.stats()).toEqual({ size: 3, evictions: 1 })
      expect(store.get("b")).toBeUndefined()
      expect(store.get("a")?.lastSeenMs).toBe(2)
    }).pipe(Effect.provide(inMemory(3))),
  )
})

describe("StateStore rehydration from PostgreSQL", () => {
  let url = ""
  beforeAll(async () => {
    url = await freshDatabaseUrl()
  })

  it.live("loads cold devices' latest stored position in one query per batch", () =>
    Effect.gen(function* () {
      const writer = yield* Writer
      yield* writer.write(writer.encode(PositionBatch.of([at("r1", 5000), at("r1", 9000), at("r2", 7000)])))
      let loads = 0
      const counting = Layer.effect(
        StateLoader,
        Effect.gen(function* () {
          const real = yield* StateLoader
          return StateLoader.of({
            load: (ids) => {
              loads++
              return real.load(ids)
            },
          })
        }),
      ).pipe(Layer.provide(PostgresStateLoader))
      yield* Effect.gen(function* () {
        const store = yield* StateStore
        // An older record of r1 arrives after a restart: last seen stays at the stored 9000.
        yield* store.observeBatch(PositionBatch.of([at("r1", 6000), at("r2", 8000), at("r3", 1)]))
        expect(loads).toBe(1)
        expect(store.get("r1")?.lastSeenMs).toBe(9000)
        expect(store.get("r2")?.lastSeenMs).toBe(8000)
        expect(store.get("r3")?.lastSeenMs).toBe(1)
        // Warm devices are not loaded again.
        yield* store.observeBatch(PositionBatch.of([at("r1", 10_000), at("r2", 10_000)]))
        expect(loads).toBe(1)
        store.forget("r1")
        yield* store.observeBatch(PositionBatch.of([at("r1", 10_001)]))
        expect(loads).toBe(2)
      }).pipe(Effect.provide(StateStore.layer({ maxDevices: 100 }).pipe(Layer.provide(counting))))
    }).pipe(Effect.provide(writerLayer(url, 500).pipe(Layer.provideMerge(sqlLayer(url))))),
  )
})
