import * as V8 from "node:v8"
import { Effect } from "effect"

/** How far V8 lets the old generation grow past the live set before the next full collection. */
export const OLD_GENERATION_GROWTH_PERCENT = 25

/**
 * The long-running roles hold a small live set (device state, a few batches) and allocate fast;
 * V8's default lets the old generation grow to several times the live set between full
 * collections, which buys nothing here but resident memory. Capped growth keeps RSS near the
 * live set. A `--heap-growing-percent` given on node's command line wins (NODE_OPTIONS cannot
 * carry it). The young generation's size can only be set at start: the image sets it in
 * NODE_OPTIONS (see the Dockerfile).
 */
export const boundOldGenerationGrowth = Effect.sync(() => {
  if (process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) return
  V8.setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`)
})
