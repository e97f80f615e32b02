import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { recordHistogramMetric, registerRecordHistogram } from "../../src/metrics/RecordHistogram.ts"
import { makeRandom } from "../../src/simulator/random.ts"

const boundaries = Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 18 })

/** Values on, between and beyond the boundaries, and the odd ones. */
const observations = (): Array<number> => {
  const random = makeRandom(5)
  const values: Array<number> = [...boundaries, 0, -1, 0.0005, 1e9, Number.POSITIVE_INFINITY]
  for (let i = 0; i < 5_000; i++) values.push(random.next() ** 3 * 300)
  return values
}

describe("RecordHistogram", () => {
  it.effect("exports what Effect's own histogram gives for the same observations", () =>
    Effect.gen(function* () {
      const ours = recordHistogramMetric("ours_seconds", { boundaries })
      const effects = Metric.histogram("effects_seconds", { boundaries })
      const recorder = yield* registerRecordHistogram(ours)
      for (const value of observations()) {
        recorder.observe(value)
        yield* Metric.update(effects, value)
      }
      expect(yield* Metric.value(ours.metric)).toEqual(yield* Metric.value(effects))
      const snapshots = yield* Metric.snapshot
      expect(snapshots.find((s) => s.id === "ours_seconds")?.type).toBe("Histogram")
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())),
  )

  it.effect("starts empty like Effect's, and leaves the registry when its scope closes", () =>
    Effect.gen(function* () {
      const ours = recordHistogramMetric("ours_seconds", { boundaries })
      const effects = Metric.histogram("effects_seconds", { boundaries })
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* registerRecordHistogram(ours)
          expect(yield* Metric.value(ours.metric)).toEqual(yield* Metric.value(effects))
        }),
      )
      const snapshots = yield* Metric.snapshot
      expect(snapshots.map((s) => s.id)).not.toContain("ours_seconds")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())),
  )
})
