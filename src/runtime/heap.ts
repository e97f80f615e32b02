import * as V8 from "node:v8"
import { Effect } from "effect"

/** How far V8 lets the old generation grow past the live set before the next full collection. */
export const OLD_GENERATION_GROWTH_PERCENT = 50

/**
 * The processor holds a small live set (device state, code, a few batches) and allocates fast;
 * V8's default lets the old generation grow to several times the live set between full
 * collections, which buys nothing here but resident memory (~70 MB in the bench's memory case).
 * The price is more frequent full collections: at 25% the processor spent ~20% more CPU per row,
 * at 50% ~10% (bench/README.md). A `--heap-growing-percent` on node's command line wins
 * (NODE_OPTIONS cannot carry it). The young generation's size can only be set at start: the image
 * sets it in NODE_OPTIONS (see the Dockerfile).
 */
export const boundOldGenerationGrowth = Effect.sync(() => {
  if (process.execArgv.some((arg) => arg.startsWith("--heap-growing-percent"))) return
  V8.setFlagsFromString(`--heap-growing-percent=${OLD_GENERATION_GROWTH_PERCENT}`)
})
