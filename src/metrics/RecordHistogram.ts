import { Effect, Metric, type Scope } from "effect"

/**
 * A histogram for one observation per record on the hot path, recorded without allocating.
 *
 * Effect's histogram looks its series up in the registry on every update and keeps its sum, min
 * and max in closure variables, so each update boxes new numbers: ~120 bytes of garbage and a
 * registry lookup per record, for a metric observed for every acknowledged record. This one keeps
 * its counts and sums in typed arrays and is exported as the metric's own series
 * (`Metric.registerUnsafe`), so exporters see an ordinary histogram with the same buckets.
 */
export interface RecordHistogram {
  readonly observe: (value: number) => void
}

/** A histogram metric with its boundaries, which Effect's metric keeps to itself. */
export interface RecordHistogramMetric {
  readonly metric: Metric.Histogram<number>
  readonly boundaries: ReadonlyArray<number>
}

export const recordHistogramMetric = (
  name: string,
  options: { readonly description?: string; readonly boundaries: ReadonlyArray<number> },
): RecordHistogramMetric => ({ metric: Metric.histogram(name, options), boundaries: options.boundaries })

/** Registers the series for the lifetime of the scope. */
export const registerRecordHistogram = ({
  metric,
  boundaries,
}: RecordHistogramMetric): Effect.Effect<RecordHistogram, never, Scope.Scope> =>
  Effect.gen(function* () {
    const bounds = Float64Array.from(boundaries)
    // One slot per boundary, and one past the last (counted, not listed, like Effect's own).
    const counts = new Float64Array(bounds.length + 1)
    // count, sum, min, max
    const stats = Float64Array.of(0, 0, Number.MAX_VALUE, -Number.MAX_VALUE)

    const observe = (value: number): void => {
      let low = 0
      let high = bounds.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (value <= (bounds[mid] as number)) high = mid
        else low = mid + 1
      }
      counts[low] = (counts[low] as number) + 1
      stats[0] = (stats[0] as number) + 1
      stats[1] = (stats[1] as number) + value
      if (value < (stats[2] as number)) stats[2] = value
      if (value > (stats[3] as number)) stats[3] = value
    }

    const get = (): Metric.HistogramState => {
      const buckets: Array<[number, number]> = []
      let cumulative = 0
      for (let i = 0; i < bounds.length; i++) {
        cumulative += counts[i] as number
        buckets.push([bounds[i] as number, cumulative])
      }
      return {
        buckets,
        count: stats[0] as number,
        sum: stats[1] as number,
        min: stats[2] as number,
        max: stats[3] as number,
      }
    }

    const context = yield* Effect.context<never>()
    yield* Effect.acquireRelease(
      Effect.sync(() => Metric.registerUnsafe(metric, context, { get, update: observe, modify: observe })),
      (registration) => Effect.sync(() => registration.remove()),
    )
    return { observe }
  })
