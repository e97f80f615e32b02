import * as V8 from "node:v8"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import { HeapPolicy, type HeapPolicyOptions, heapFlags } from "../../src/runtime/HeapPolicy.ts"
import { StateLoader } from "../../src/state/StateStore.ts"
import { Writer, writtenReport } from "../../src/writer/Writer.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import { eventually, processorWith, redisFor, testSettings } from "../support/processor.ts"

describe("HeapPolicy", () => {
  it.live("the read loop reports when it starts and stops draining a backlog, once per change", () =>
    Effect.gen(function* () {
      const settings = testSettings({ READ_COUNT: "10" })
      const { stream } = settings.stream.redis
      const redis = redisFor(settings)
      const reports: Array<boolean> = []
      const run = yield* Effect.forkChild(
        processorWith(settings, {
          writer: Layer.succeed(Writer, Writer.of({ write: (positions) => Effect.succeed(writtenReport(positions)) })),
          stateLoader: StateLoader.layerNone,
          checkpoints: Checkpoints.layerMemory,
          heapPolicy: HeapPolicy.layerTest(reports),
        }),
      )
      yield* Effect.promise(async () => {
        // It starts as if draining; an empty stream ends that.
        await eventually(async () => reports.length === 1, "the first read")
        expect(reports).toEqual([false])
        // 100 entries at once (MULTI): ten full reads, then a short one.
        const burst = redis.multi()
        for (let i = 0; i < 100; i++) burst.call("XADD", stream, "*", ...entryFields(validPayload(`b${i}`, 1000 + i)))
        await burst.exec()
        await eventually(async () => reports.length === 3, "the backlog drained")
        expect(reports).toEqual([false, true, false])
      })
      yield* Fiber.interrupt(run)
      redis.disconnect()
    }),
  )

  const options = (o: Partial<HeapPolicyOptions>): HeapPolicyOptions => ({
    concurrentMarking: "backlog",
    growthPercent: 50,
    growthCap: "backlog",
    ...o,
  })
  /** The flags set at start, then on each report in `changes`. */
  const flagsOver = (o: HeapPolicyOptions, changes: ReadonlyArray<boolean>, fromCommandLine = false) => [
    heapFlags(o, undefined, fromCommandLine),
    ...changes.map((draining) => heapFlags(o, draining, fromCommandLine)),
  ]

  it("by default: capped growth and concurrent marking while draining, V8's own policy at a steady load", () => {
    expect(flagsOver(options({}), [false, true])).toEqual([
      // The processor starts as if draining; concurrent marking is V8's default already.
      ["--heap-growing-percent=50"],
      ["--no-concurrent-marking", "--heap-growing-percent=0"],
      ["--concurrent-marking", "--heap-growing-percent=50"],
    ])
  })

  it("HEAP_GROWTH_CAP=always caps from the start and is never lifted", () => {
    expect(flagsOver(options({ growthCap: "always", growthPercent: 80 }), [false, true])).toEqual([
      ["--heap-growing-percent=80"],
      ["--no-concurrent-marking"],
      ["--concurrent-marking"],
    ])
  })

  it("HEAP_GROWTH_PERCENT=0, or a --heap-growing-percent on node's command line, leaves growth alone", () => {
    const expected = [[], ["--no-concurrent-marking"], ["--concurrent-marking"]]
    expect(flagsOver(options({ growthPercent: 0 }), [false, true])).toEqual(expected)
    expect(flagsOver(options({}), [false, true], true)).toEqual(expected)
  })

  it("CONCURRENT_MARKING always or never is set once, at start", () => {
    expect(flagsOver(options({ concurrentMarking: "never", growthPercent: 0 }), [false, true])).toEqual([
      ["--no-concurrent-marking"],
      [],
      [],
    ])
    expect(flagsOver(options({ concurrentMarking: "always", growthPercent: 0 }), [true])).toEqual([
      ["--concurrent-marking"],
      [],
    ])
  })

  it("the real layer's flags are accepted by V8 at run time, and it leaves V8's defaults on", () => {
    for (const concurrentMarking of ["never", "backlog", "always"] as const) {
      for (const growthCap of ["backlog", "always"] as const) {
        const service = Effect.runSync(
          Effect.gen(function* () {
            return yield* HeapPolicy
          }).pipe(Effect.provide(HeapPolicy.layer(options({ concurrentMarking, growthCap })))),
        )
        service.backlogChanged(false)
        service.backlogChanged(true)
      }
    }
    // Back to V8's defaults for the rest of this worker's tests.
    Effect.runSync(
      Effect.gen(function* () {
        return yield* HeapPolicy
      }).pipe(Effect.provide(HeapPolicy.layer(options({ concurrentMarking: "always", growthPercent: 0 })))),
    )
    V8.setFlagsFromString("--heap-growing-percent=0")
  })
})
