import * as V8 from "node:v8"
import { Effect } from "effect"

/**
 * HEAP_GROWTH_PERCENT: how far V8 lets the old generation grow past the live set before the next
 * full collection. The processor holds a small live set (code, device state, a few batches) and,
 * draining a backlog, allocates fast; V8's default lets the old generation grow to several times
 * the live set between full collections, which keeps ~70 MB of garbage resident in the bench's
 * memory case (100k devices). A cap keeps RSS near the live set at a price: more frequent full
 * collections, measured at ~10% more CPU per row and a p99 latency at 5,000 msg/s of 14.5 ms
 * instead of 7.9 (50%). 0 leaves V8's own policy: for latency-sensitive deployments with memory to
 * spare. A `--heap-growing-percent` on node's command line wins (NODE_OPTIONS cannot carry it). The
 * young generation can only be sized at start: the image sets it in NODE_OPTIONS (Dockerfile).
 */
export const boundOldGenerationGrowth = (percent: number) =>
  Effect.sync(() => {
    if (percent === 0 || process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) return
    V8.setFlagsFromString(`--heap-growing-percent=${percent}`)
  })
