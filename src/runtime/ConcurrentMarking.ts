import * as V8 from "node:v8"
import { Context, Layer, Schema } from "effect"

/**
 * When V8 marks the heap on a helper thread (concurrent marking) rather than in small steps on the
 * main thread. Draining a backlog, the processor allocates fast and the helper thread is what keeps
 * the old generation within HEAP_GROWTH_PERCENT (without it the bench's memory case peaks near
 * 320 MB instead of ~185). At a steady load the processor is mostly idle and has time to mark on its
 * own thread, while a helper thread competes for the cores with the event loop (and, on a small
 * host, with PostgreSQL and Redis): on the bench machine p99 latency at 5,000 msg/s halved without it
 * (~11 → ~5.5 ms) at the same RSS.
 *
 * CONCURRENT_MARKING: `backlog` (default) uses the helper thread only while reads come back full,
 * `always` is V8's default, `never` marks on the main thread only.
 */
export const ConcurrentMarkingMode = Schema.Literals(["backlog", "always", "never"])
export type ConcurrentMarkingMode = typeof ConcurrentMarkingMode.Type

export class ConcurrentMarking extends Context.Service<
  ConcurrentMarking,
  {
    /** Told whenever the read loop starts or stops draining a backlog. */
    readonly backlogChanged: (draining: boolean) => void
  }
>()("telemetry/runtime/ConcurrentMarking") {
  static readonly layer = (mode: ConcurrentMarkingMode) =>
    Layer.sync(ConcurrentMarking, () => {
      // V8 reads the flag each time it starts a marking cycle, so a change applies from the next one.
      const use = (enabled: boolean) =>
        V8.setFlagsFromString(enabled ? "--concurrent-marking" : "--no-concurrent-marking")
      if (mode !== "backlog") use(mode === "always")
      return ConcurrentMarking.of({ backlogChanged: mode === "backlog" ? use : () => {} })
    })

  /** Records what the read loop reports, and leaves V8 alone. */
  static readonly layerTest = (reports: Array<boolean>) =>
    Layer.succeed(ConcurrentMarking, ConcurrentMarking.of({ backlogChanged: (draining) => reports.push(draining) }))
}
