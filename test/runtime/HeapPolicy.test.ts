import * as PerfHooks from "node:perf_hooks"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer } from "effect"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import {
  budgetedGrowthPercent,
  type CommandLineHeapFlags,
  commandLineHeapFlags,
  type HeapControl,
  HeapPolicy,
  type HeapPolicyOptions,
  heapFlags,
  isFullCollection,
  MAX_BUDGETED_GROWTH_PERCENT,
} from "../../src/runtime/HeapPolicy.ts"
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
          writer: Writer.layerTest((positions) => Effect.succeed(writtenReport(positions))),
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
    budgetBytes: 0,
    ...o,
  })
  const NONE_ON_COMMAND_LINE: CommandLineHeapFlags = { growth: false, pretenuring: false }
  /** The flags set at start, then on each report in `changes`; pretenuring's is left out (see below). */
  const flagsOver = (
    o: HeapPolicyOptions,
    changes: ReadonlyArray<boolean>,
    commandLine: Partial<CommandLineHeapFlags> = {},
  ) => {
    const given = { ...NONE_ON_COMMAND_LINE, ...commandLine }
    return [heapFlags(o, undefined, given), ...changes.map((draining) => heapFlags(o, draining, given))].map((flags) =>
      flags.filter((flag) => flag !== "--no-allocation-site-pretenuring"),
    )
  }

  it("turns allocation-site pretenuring off at start, unless node's command line sets it either way", () => {
    expect(heapFlags(options({}), undefined, NONE_ON_COMMAND_LINE)).toContain("--no-allocation-site-pretenuring")
    expect(heapFlags(options({}), false, NONE_ON_COMMAND_LINE)).not.toContain("--no-allocation-site-pretenuring")
    expect(heapFlags(options({}), undefined, { growth: false, pretenuring: true })).not.toContain(
      "--no-allocation-site-pretenuring",
    )
    expect(commandLineHeapFlags(["--allocation-site-pretenuring"])).toEqual({ growth: false, pretenuring: true })
    expect(commandLineHeapFlags(["--no-allocation_site_pretenuring", "--heap-growing-percent=30"])).toEqual({
      growth: true,
      pretenuring: true,
    })
    expect(commandLineHeapFlags(["--max-semi-space-size=8"])).toEqual(NONE_ON_COMMAND_LINE)
  })

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
    expect(flagsOver(options({}), [false, true], { growth: true })).toEqual(expected)
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
    V8.setFlagsFromString("--allocation-site-pretenuring")
  })

  const MB = 1024 * 1024

  it("with a budget the growth is the budget's room over the heap in use, between the cap and a maximum", () => {
    // 200 MB budget, 120 MB resident, 40 MB of heap in use: room for 200% growth.
    expect(budgetedGrowthPercent(50, 200 * MB, 120 * MB, 40 * MB)).toBe(200)
    // In steps of ten, rounded down: 75 MB of room over 100 MB is 70%, not 75.
    expect(budgetedGrowthPercent(50, 200 * MB, 125 * MB, 100 * MB)).toBe(70)
    // Near or past the budget, the cap (HEAP_GROWTH_PERCENT) is the floor.
    expect(budgetedGrowthPercent(50, 200 * MB, 190 * MB, 40 * MB)).toBe(50)
    expect(budgetedGrowthPercent(50, 200 * MB, 260 * MB, 40 * MB)).toBe(50)
    // Far below it, at most MAX_BUDGETED_GROWTH_PERCENT.
    expect(budgetedGrowthPercent(50, 2000 * MB, 100 * MB, 10 * MB)).toBe(MAX_BUDGETED_GROWTH_PERCENT)
    // No budget: the cap.
    expect(budgetedGrowthPercent(50, 0, 100 * MB, 10 * MB)).toBe(50)
  })

  it.live("with a budget, each full collection while draining sets the growth the budget has room for", () =>
    Effect.gen(function* () {
      const flags: Array<string> = []
      const control: HeapControl = {
        setFlag: (flag) => flags.push(flag),
        rssBytes: () => 120 * MB,
        heapUsedBytes: () => 40 * MB,
      }
      // A full collection on demand: V8 exposes `gc` to new contexts once the flag is set.
      V8.setFlagsFromString("--expose-gc")
      const gc = Vm.runInNewContext("gc") as () => void
      // Node calls observers in the order they were created, in one turn: when this one (created
      // after the policy's) sees the collection, the policy's has seen it too. No sleeping.
      const fullCollection = Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            const seen = new PerfHooks.PerformanceObserver((list) => {
              if (!list.getEntries().some(isFullCollection)) return
              seen.disconnect()
              resolve()
            })
            seen.observe({ entryTypes: ["gc"] })
            gc()
          }),
      )
      /** The flags set by a full collection (cleared just before it). */
      const flagsAfterFullCollection = Effect.sync(() => {
        flags.length = 0
      }).pipe(
        Effect.andThen(fullCollection),
        Effect.map(() => [...flags]),
      )
      /** The flags a backlog change sets, in one synchronous step: nothing else can run in between. */
      const flagsOnBacklogChange = (policy: HeapPolicy["Service"], draining: boolean) =>
        Effect.sync(() => {
          flags.length = 0
          policy.backlogChanged(draining)
          return [...flags]
        })
      yield* Effect.scoped(
        Effect.gen(function* () {
          // Built in this scope, so that its observer lives until the end of the test.
          const built = yield* Layer.build(HeapPolicy.layerWith(options({ budgetBytes: 200 * MB }), control))
          const policy = Context.get(built, HeapPolicy)
          expect(flags).toEqual(["--no-allocation-site-pretenuring", "--heap-growing-percent=50"])
          // 200 MB budget, 120 MB resident, 40 MB in use: 200%.
          expect(yield* flagsAfterFullCollection).toEqual(["--heap-growing-percent=200"])
          // Set again only when it changes.
          expect(yield* flagsAfterFullCollection).toEqual([])
          // At a steady load V8's own policy holds and the budget does not apply.
          expect(yield* flagsOnBacklogChange(policy, false)).toEqual([
            "--no-concurrent-marking",
            "--heap-growing-percent=0",
          ])
          expect(yield* flagsAfterFullCollection).toEqual([])
          // Draining again: the cap, then the budget's growth from the next full collection.
          expect(yield* flagsOnBacklogChange(policy, true)).toEqual([
            "--concurrent-marking",
            "--heap-growing-percent=50",
          ])
          expect(yield* flagsAfterFullCollection).toEqual(["--heap-growing-percent=200"])
        }),
      )
      // Back to V8's defaults for the rest of this worker's tests.
      V8.setFlagsFromString("--heap-growing-percent=0")
      V8.setFlagsFromString("--concurrent-marking")
    }),
  )
})
