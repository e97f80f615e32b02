import * as V8 from "node:v8"
import { Context, Layer, Schema } from "effect"

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
 * collections: ~2 µs of CPU per row draining, and at a steady load each collection's pause lands
 * in the latency tail (five paired latency runs at 5,000 msg/s: p99 6.0–10.8 ms capped against
 * 4.8–6.5 with V8's policy, ~4% more CPU per entry). With `backlog` (default) the cap holds while
 * draining only; `always` holds it at a steady load too, for hosts where memory is tight.
 * HEAP_GROWTH_PERCENT=0 never caps. A `--heap-growing-percent` on node's command line wins
 * (NODE_OPTIONS cannot carry it). The young generation can only be sized at start: the image sets
 * it in NODE_OPTIONS (Dockerfile).
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
}

/** The V8 flags to set now (`draining` undefined: at start) for the options: pure, for tests. */
export const heapFlags = (
  options: HeapPolicyOptions,
  draining: boolean | undefined,
  growthFromCommandLine: boolean,
): Array<string> => {
  const flags: Array<string> = []
  const { concurrentMarking, growthPercent, growthCap } = options
  if (concurrentMarking === "backlog" && draining !== undefined) {
    flags.push(draining ? "--concurrent-marking" : "--no-concurrent-marking")
  } else if (concurrentMarking !== "backlog" && draining === undefined) {
    flags.push(concurrentMarking === "always" ? "--concurrent-marking" : "--no-concurrent-marking")
  }
  if (growthPercent > 0 && !growthFromCommandLine) {
    // The processor starts as if draining: the cap holds from the start in either mode.
    if (draining === undefined) flags.push(`--heap-growing-percent=${growthPercent}`)
    else if (growthCap === "backlog") flags.push(`--heap-growing-percent=${draining ? growthPercent : 0}`)
  }
  return flags
}

export class HeapPolicy extends Context.Service<
  HeapPolicy,
  {
    /** Told whenever the read loop starts or stops draining a backlog. */
    readonly backlogChanged: (draining: boolean) => void
  }
>()("telemetry/runtime/HeapPolicy") {
  static readonly layer = (options: HeapPolicyOptions) =>
    Layer.sync(HeapPolicy, () => {
      const fromCommandLine = process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))
      const apply = (draining: boolean | undefined) => {
        for (const flag of heapFlags(options, draining, fromCommandLine)) V8.setFlagsFromString(flag)
      }
      apply(undefined)
      return HeapPolicy.of({ backlogChanged: apply })
    })

  /** Records what the read loop reports, and leaves V8 alone. */
  static readonly layerTest = (reports: Array<boolean>) =>
    Layer.succeed(HeapPolicy, HeapPolicy.of({ backlogChanged: (draining) => reports.push(draining) }))
}
