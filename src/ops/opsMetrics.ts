import { Duration, Effect, Layer, Metric, Schedule } from "effect"
import { RedisClient } from "../redis/RedisClient.ts"

/**
 * Gauges the pipeline itself has no reason to keep but an operator alerts on (OPERATIONS.md): the
 * DLQ filling up, the stream growing towards Redis's memory limit, and a Redis whose eviction
 * policy could delete the stream. Sampled by each processor; alert on max() across instances.
 */

export const streamLength = Metric.gauge("telemetry_stream_length", {
  description: "Entries in the main stream (XLEN), processed or not",
})
export const dlqLength = Metric.gauge("telemetry_dlq_length", {
  description: "Entries in the dead-letter stream (XLEN)",
})
export const redisMemoryUsed = Metric.gauge("telemetry_redis_memory_used_bytes", {
  description: "Redis used_memory (INFO memory)",
})
export const redisMaxmemory = Metric.gauge("telemetry_redis_maxmemory_bytes", {
  description: "Redis maxmemory (INFO memory); 0 means no limit",
})
export const redisNoeviction = Metric.gauge("telemetry_redis_noeviction", {
  description: "1 when Redis maxmemory-policy is noeviction, 0 otherwise (eviction can delete the stream)",
})

const infoField = (info: string, name: string): string | undefined =>
  new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim()

export interface OpsMetricsOptions {
  readonly stream: string
  readonly dlqStream: string
  readonly intervalMs?: number
}

/** Samples the gauges every `intervalMs` (15 s) for the lifetime of the layer. */
export const OpsMetricsLive = (options: OpsMetricsOptions) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const redis = yield* RedisClient
      const sample = Effect.gen(function* () {
        const [stream, dlq, info] = yield* redis.commands.pipeline([
          ["XLEN", options.stream],
          ["XLEN", options.dlqStream],
          ["INFO", "memory"],
        ])
        if (typeof stream === "number") yield* Metric.update(streamLength, stream)
        if (typeof dlq === "number") yield* Metric.update(dlqLength, dlq)
        if (typeof info === "string") {
          const used = Number(infoField(info, "used_memory"))
          const max = Number(infoField(info, "maxmemory"))
          if (Number.isFinite(used)) yield* Metric.update(redisMemoryUsed, used)
          if (Number.isFinite(max)) yield* Metric.update(redisMaxmemory, max)
          const policy = infoField(info, "maxmemory_policy")
          if (policy !== undefined) yield* Metric.update(redisNoeviction, policy === "noeviction" ? 1 : 0)
        }
      }).pipe(
        // Redis being down is reported by readiness and the pipeline's retries; a missed sample
        // only leaves the gauges at their last value.
        Effect.catch((error) =>
          Effect.logDebug("operations gauges not sampled").pipe(Effect.annotateLogs({ error: error.message })),
        ),
      )
      yield* sample.pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(options.intervalMs ?? 15_000))),
        Effect.forkScoped({ startImmediately: true }),
      )
    }),
  )
