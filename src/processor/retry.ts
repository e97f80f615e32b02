import { Duration, Effect, Metric, Schedule } from "effect"
import { transientFailures } from "../metrics/processorMetrics.ts"

const MAX_DELAY = Duration.seconds(5)

/** Exponential backoff from 100 ms, capped at 5 s, for as long as it takes: the dependency is
 * down, not the data bad. */
export const backoff = Schedule.exponential(Duration.millis(100), 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, MAX_DELAY))),
)

/** Retries a transient failure until it succeeds; shutdown (interruption) ends the wait. Each
 * failure is logged and counted by dependency. */
export const retryTransient = <A, E extends { readonly message: string }, R>(
  dependency: "postgres" | "redis",
  operation: string,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<A, never, R> =>
  effect.pipe(
    Effect.tapError((error) =>
      Effect.logWarning(`${operation} failed; retrying with backoff`).pipe(
        Effect.annotateLogs({ dependency, error: error.message }),
        Effect.andThen(Metric.update(transientFailures.pipe(Metric.withAttributes({ dependency })), 1)),
      ),
    ),
    Effect.retry(backoff),
    Effect.catch((error) => Effect.die(error)),
  )
