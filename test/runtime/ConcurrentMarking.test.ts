import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import { ConcurrentMarking } from "../../src/runtime/ConcurrentMarking.ts"
import { StateLoader } from "../../src/state/StateStore.ts"
import { Writer, writtenReport } from "../../src/writer/Writer.ts"
import { entryFields, validPayload } from "../support/entries.ts"
import { eventually, processorWith, redisFor, testSettings } from "../support/processor.ts"

describe("ConcurrentMarking", () => {
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
          concurrentMarking: ConcurrentMarking.layerTest(reports),
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

  it("the real layer accepts every mode (V8 takes the flag at run time), and leaves V8's default on", () => {
    for (const mode of ["never", "backlog", "always"] as const) {
      const service = Effect.runSync(
        Effect.gen(function* () {
          return yield* ConcurrentMarking
        }).pipe(Effect.provide(ConcurrentMarking.layer(mode))),
      )
      service.backlogChanged(false)
      service.backlogChanged(true)
    }
  })
})
