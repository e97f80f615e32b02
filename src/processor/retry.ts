import { Duration, Effect, Metric, Schedule } from "effect"
import { transientFailures } from "../metrics/processorMetrics.ts"

const FIRST_DELAY = Duration.millis(100)
const MAX_DELAY = Duration.seconds(5)

/** Exponential backoff from `first`, doubling, capped at 5 s, for as long as it takes: the
 * dependency is down, not the data bad. */
export const backoff = (first: Duration.Duration = FIRST_DELAY) =>
  Schedule.exponential(first, 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, MAX_DELAY))),
  )

/** Retries a transient failure until it succeeds: 100 ms, 200 ms, 400 ms … 5 s apart; shutdown
 * (interruption) ends the wait. Each failure is logged and counted by dependency. The retry
 * machinery is built only after a first failure: the hot path wraps every Redis and PostgreSQL
 * call of every batch in this, and nearly all of them succeed at once. */
export const retryTransient = <A, E extends { readonly message: string }, R>(
  dependency: "postgres" | "redis",
  operation: string,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, never, R> => {
  const report = (error: E) =>
    Effect.logWarning(`${operation} failed; retrying with backoff`).pipe(
      Effect.annotateLogs({ dependency, error: error.message }),
      Effect.andThen(Metric.update(transientFailures.pipe(Metric.withAttributes({ dependency })), 1)),
    )
  return effect.pipe(
    Effect.catch((error) =>
      report(error).pipe(
        Effect.andThen(Effect.sleep(FIRST_DELAY)),
        Effect.andThen(effect.pipe(Effect.tapError(report), Effect.retry(backoff(Duration.times(FIRST_DELAY, 2))))),
      ),
    ),
    Effect.catch((error) => Effect.die(error)),
  )
}
