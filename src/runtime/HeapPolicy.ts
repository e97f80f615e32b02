import * as PerfHooks from "node:perf_hooks"
import * as V8 from "node:v8"
import { Context, Effect, Layer, Schema } from "effect"

/**
 * How V8 collects the old generation, following the load: a processor draining a backlog (its
 * reads come back full) allocates fast, one at a steady load is mostly idle. Two V8 settings are
 * switched on that signal. V8 reads both each time it starts a marking cycle or sizes the old
 * generation after a full collection, so a switch applies from the next collection and costs
 * nothing.
 *
 * Concurrent marking (CONCURRENT_MARKING): V8 marks on a helper thread or in small steps on the
 * main thread. Draining, the helper thread is what keeps the old generation within its growth cap
 * (without it the bench's memory case peaks near 320 MB instead of ~185). At a steady load the
 * helper thread competes for the cores with the event loop (and, on a small host, with PostgreSQL
 * and Redis): on the bench machine p99 latency at 5,000 msg/s halved without it (~11 → ~5.5 ms).
 *
 * Old-generation growth cap (HEAP_GROWTH_PERCENT, HEAP_GROWTH_CAP): how far V8 lets the old
 * generation grow past the live set before the next full collection. V8's own policy lets it grow
 * to several times the live set, which, draining, keeps ~70 MB of garbage resident in the memory
 * case (100k devices). The cap keeps RSS near the live set at the price of more frequent full
 * collections (OPERATIONS.md, "Processor memory", says what each setting costs), and at a steady
 * load each collection's pause lands in the latency tail (five paired latency runs at 5,000 msg/s: p99 6.0–10.8 ms capped against
 * 4.8–6.5 with V8's policy, ~4% more CPU per entry). With `backlog` (default) the cap holds while
 * draining only; `always` holds it at a steady load too, for hosts where memory is tight.
 * HEAP_GROWTH_PERCENT=0 never caps.
 *
 * Memory budget (HEAP_BUDGET_MB, off by default): with one, the cap is a floor, not a fixed rate.
 * While it holds, after each full collection the growth is raised to what the budget has room for
 * (RSS now plus that growth of the heap in use comes to the budget), so a processor well below its
 * budget collects rarely and one near it as often as HEAP_GROWTH_PERCENT says. Peak RSS while
 * draining comes to about the budget. Draining 300k entries from 10k devices on the bench machine
 * (paired runs): with 384 MB, 5 full collections instead of 17–18, 2.5 µs less processor CPU per
 * row (13 against 15.5), peak RSS ~260 MB against ~180. It is off by default because the bench's
 * 100k-device case peaks at ~185–195 MB with the fixed cap, just under its 200 MB target.
 * A `--heap-growing-percent` on node's command line wins
 * (NODE_OPTIONS cannot carry it).
 *
 * Allocation-site pretenuring is turned off at start. V8 allocates the objects of a literal
 * straight into the old generation once most of them survive a young collection; draining, a
 * collection always finds the batch being read and decoded alive. When each stream entry and each
 * position was an object (until session 12; reads are now decoded in place, README), V8 decided
 * that for both within the first second, and from then on every record's objects died in the old
 * generation, where only a full collection frees them. Without it (paired 300k drains then): 10–11
 * full collections instead of 15–17, 10.2–12.3 µs of processor CPU per row instead of 12.4–13.9,
 * peak RSS the same (memory case 185–188 MB, 184–194 with it). It stays off for whatever per-batch
 * objects remain. An `--allocation-site-pretenuring` (or its `--no-` form) on node's command
 * line wins. The young generation can only be sized at start: the image sets it in NODE_OPTIONS
 * (Dockerfile).
 */
export const BacklogMode = Schema.Literals(["backlog", "always", "never"])
export type BacklogMode = typeof BacklogMode.Type

export interface HeapPolicyOptions {
  /** `backlog`: on a helper thread only while draining; `always` (V8's default); `never`. */
  readonly concurrentMarking: BacklogMode
  /** 0: V8's own policy. */
  readonly growthPercent: number
  /** When the growth cap holds: `backlog` (while draining) or `always`. */
  readonly growthCap: Exclude<BacklogMode, "never">
  /** RSS the growth above `growthPercent` may fill, in bytes; 0: none (the growth is `growthPercent`). */
  readonly budgetBytes: number
}

/** Growth beyond this would let one full collection's garbage dwarf the heap in use. */
export const MAX_BUDGETED_GROWTH_PERCENT = 300

/**
 * The growth to allow after a full collection while the cap holds: the budget's room over the heap
 * in use, between `floorPercent` and MAX_BUDGETED_GROWTH_PERCENT, in steps of 10 (a flag is set
 * only when the step changes). Pure, for tests.
 */
export const budgetedGrowthPercent = (
  floorPercent: number,
  budgetBytes: number,
  rssBytes: number,
  heapUsedBytes: number,
): number => {
  const room = budgetBytes - rssBytes
  if (budgetBytes <= 0 || room <= 0 || heapUsedBytes <= 0) return floorPercent
  const percent = Math.floor((room / heapUsedBytes) * 10) * 10
  return Math.min(MAX_BUDGETED_GROWTH_PERCENT, Math.max(floorPercent, percent))
}

/** Whether the growth cap holds: with `always`, or while draining (`undefined`: at start, which the
 * processor treats as draining). */
const growthCapHolds = (options: HeapPolicyOptions, draining: boolean | undefined): boolean =>
  options.growthCap === "always" || draining !== false

/** Heap flags given on node's command line, which the policy leaves as they are. */
export interface CommandLineHeapFlags {
  /** `--heap-growing-percent`. */
  readonly growth: boolean
  /** `--allocation-site-pretenuring` or its `--no-` form. */
  readonly pretenuring: boolean
}

export const commandLineHeapFlags = (execArgv: ReadonlyArray<string>): CommandLineHeapFlags => ({
  growth: execArgv.some((arg) => arg.startsWith("--heap-growing-percent")),
  pretenuring: execArgv.some((arg) => /^--(no-)?allocation[-_]site[-_]pretenuring/.test(arg)),
})

/** The V8 flags to set now (`draining` undefined: at start) for the options: pure, for tests. */
export const heapFlags = (
  options: HeapPolicyOptions,
  draining: boolean | undefined,
  commandLine: CommandLineHeapFlags,
): Array<string> => {
  const flags: Array<string> = []
  const { concurrentMarking, growthPercent, growthCap } = options
  if (draining === undefined && !commandLine.pretenuring) flags.push("--no-allocation-site-pretenuring")
  if (concurrentMarking === "backlog" && draining !== undefined) {
    flags.push(draining ? "--concurrent-marking" : "--no-concurrent-marking")
  } else if (concurrentMarking !== "backlog" && draining === undefined) {
    flags.push(concurrentMarking === "always" ? "--concurrent-marking" : "--no-concurrent-marking")
  }
  if (growthPercent > 0 && !commandLine.growth) {
    // The processor starts as if draining: the cap holds from the start in either mode.
    if (draining === undefined) flags.push(`--heap-growing-percent=${growthPercent}`)
    else if (growthCap === "backlog") {
      flags.push(`--heap-growing-percent=${growthCapHolds(options, draining) ? growthPercent : 0}`)
    }
  }
  return flags
}

/** What the policy reads from and sets in V8. */
export interface HeapControl {
  readonly setFlag: (flag: string) => void
  readonly rssBytes: () => number
  readonly heapUsedBytes: () => number
}

const v8Heap: HeapControl = {
  setFlag: (flag) => V8.setFlagsFromString(flag),
  rssBytes: () => process.memoryUsage.rss(),
  heapUsedBytes: () => V8.getHeapStatistics().used_heap_size,
}

/** A `gc` performance entry carries its kind in `detail` (NodeGCPerformanceDetail), which the
 * entry's type does not declare. */
export const isFullCollection = (entry: PerfHooks.PerformanceEntry): boolean => {
  const detail: unknown = Reflect.get(entry, "detail")
  return (
    typeof detail === "object" &&
    detail !== null &&
    Reflect.get(detail, "kind") === PerfHooks.constants.NODE_PERFORMANCE_GC_MAJOR
  )
}

export class HeapPolicy extends Context.Service<
  HeapPolicy,
  {
    /** Told whenever the read loop starts or stops draining a backlog. */
    readonly backlogChanged: (draining: boolean) => void
  }
>()("telemetry/runtime/HeapPolicy") {
  static readonly layer = (options: HeapPolicyOptions) => HeapPolicy.layerWith(options, v8Heap)

  /** The policy over a given V8: tests record the flags and choose the memory readings. */
  static readonly layerWith = (options: HeapPolicyOptions, v8: HeapControl) =>
    Layer.effect(
      HeapPolicy,
      Effect.gen(function* () {
        const fromCommandLine = commandLineHeapFlags(process.execArgv)
        const capped = options.growthPercent > 0 && !fromCommandLine.growth
        let draining = true
        let growth = options.growthPercent
        const apply = (now: boolean | undefined) => {
          if (now !== undefined) draining = now
          growth = options.growthPercent
          for (const flag of heapFlags(options, now, fromCommandLine)) v8.setFlag(flag)
        }
        apply(undefined)
        const afterFullCollection = () => {
          if (!growthCapHolds(options, draining)) return
          const percent = budgetedGrowthPercent(
            options.growthPercent,
            options.budgetBytes,
            v8.rssBytes(),
            v8.heapUsedBytes(),
          )
          if (percent === growth) return
          growth = percent
          v8.setFlag(`--heap-growing-percent=${percent}`)
        }
        if (capped && options.budgetBytes > 0) {
          yield* Effect.acquireRelease(
            Effect.sync(() => {
              const observer = new PerfHooks.PerformanceObserver((list) => {
                if (list.getEntries().some(isFullCollection)) afterFullCollection()
              })
              observer.observe({ entryTypes: ["gc"] })
              return observer
            }),
            (observer) => Effect.sync(() => observer.disconnect()),
          )
        }
        return HeapPolicy.of({ backlogChanged: apply })
      }),
    )

  /** Records what the read loop reports, and leaves V8 alone. */
  static readonly layerTest = (reports: Array<boolean>) =>
    Layer.succeed(HeapPolicy, HeapPolicy.of({ backlogChanged: (draining) => reports.push(draining) }))
}
