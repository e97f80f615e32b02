import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { retryTransient } from "../../src/processor/retry.ts"

class Down extends Data.TaggedError("Down")<{ readonly message: string }> {}

/** An operation that fails `failures` times, then succeeds; `attempts` counts every try. */
const flaky = (failures: number) => {
  const state = { attempts: 0 }
  const effect = Effect.suspend(() => {
    state.attempts++
    return state.attempts <= failures ? Effect.fail(new Down({ message: "connection refused" })) : Effect.succeed("ok")
  })
  return { state, effect }
}

/** Steps the clock to 1 ms before the next attempt is due (it has not run), then to it (it has). */
const nextAttemptAfter = (state: { readonly attempts: number }, delayMs: number) =>
  Effect.gen(function* () {
    const before = state.attempts
    yield* TestClock.adjust(`${delayMs - 1} millis`)
    expect(state.attempts).toBe(before)
    yield* TestClock.adjust("1 millis")
    expect(state.attempts).toBe(before + 1)
  })

describe("retryTransient", () => {
  it.effect("runs once and builds nothing more when the operation succeeds", () =>
    Effect.gen(function* () {
      const { state, effect } = flaky(0)
      expect(yield* retryTransient("redis", "test", effect)).toBe("ok")
      expect(state.attempts).toBe(1)
    }),
  )

  it.effect("retries 100 ms, 200 ms, 400 ms … apart until it succeeds", () =>
    Effect.gen(function* () {
      const { state, effect } = flaky(3)
      const fiber = yield* Effect.forkChild(retryTransient("postgres", "test", effect))
      yield* TestClock.adjust("0 millis")
      expect(state.attempts).toBe(1)
      for (const delayMs of [100, 200, 400]) yield* nextAttemptAfter(state, delayMs)
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(state.attempts).toBe(4)
    }),
  )

  it.effect("caps the delay at 5 s", () =>
    Effect.gen(function* () {
      const { state, effect } = flaky(8)
      const fiber = yield* Effect.forkChild(retryTransient("redis", "test", effect))
      // 100 + 200 + 400 + 800 + 1600 + 3200 ms: the seventh attempt.
      yield* TestClock.adjust("6300 millis")
      expect(state.attempts).toBe(7)
      // The next delay would be 6.4 s; it is 5 s.
      yield* nextAttemptAfter(state, 5000)
      yield* TestClock.adjust("5 seconds")
      expect(yield* Fiber.join(fiber)).toBe("ok")
    }),
  )
})
