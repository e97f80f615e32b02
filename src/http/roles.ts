import { Effect, Layer, type Option, type Redacted } from "effect"
import { SqlClient } from "effect/sql"
import type { ProcessorSettings } from "../config/AppConfig.ts"
import { describeSqlError } from "../db/sqlError.ts"
import { ControlSubscriberLive } from "../ops/ControlSubscriber.ts"
import { Ops } from "../ops/Ops.ts"
import { OpsMetricsLive } from "../ops/opsMetrics.ts"
import { Heartbeat } from "../processor/Heartbeat.ts"
import { RedisClient } from "../redis/RedisClient.ts"
import { adminOptions } from "./adminRoutes.ts"
import { HttpLive } from "./HttpLive.ts"

/** HttpSettings of AppConfig.ts. */
export interface HttpRoleSettings {
  readonly port: number
  readonly managementApiKey: Option.Option<Redacted.Redacted<string>>
}

/** The read loop beats once per XREADGROUP, which blocks up to READ_BLOCK_MS; a loop that has not
 * beaten for several of those (and at least 30 s, so a slow batch is not mistaken for a hang) is
 * stalled. */
export const livenessBoundMs = (readBlockMs: number) => Math.max(3 * readBlockMs, 30_000)

const postgresCheck = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return sql`SELECT 1`.pipe(Effect.mapError((error) => new Error(describeSqlError(error))))
})

/**
 * Everything operational a processor adds to its pipeline: the HTTP server (health, readiness on
 * PostgreSQL and Redis, metrics, management API when MANAGEMENT_API_KEY is set), the control
 * channel subscriber that answers `telemetry claim` / `telemetry rehydrate`, and the stream/DLQ/
 * Redis-memory gauges (opsMetrics.ts). Needs the pipeline's
 * services (processorServices) and its RedisClient and SqlClient; add it next to them so the
 * Heartbeat, StateStore and BatchProcessor are the running pipeline's own.
 */
export const ProcessorOpsLive = (settings: ProcessorSettings, http: HttpRoleSettings) => {
  const opsOptions = {
    redisUrl: settings.stream.redis.url,
    stream: settings.stream.redis.stream,
    group: settings.stream.group,
    dlqStream: settings.stream.dlqStream,
  }
  const server = Layer.unwrap(
    Effect.gen(function* () {
      const redis = yield* RedisClient
      const heartbeat = yield* Heartbeat
      const ops = yield* Ops
      const bound = livenessBoundMs(settings.readBlockMs)
      return HttpLive({
        port: http.port,
        checks: [
          { name: "postgres", check: yield* postgresCheck },
          { name: "redis", check: redis.ping },
        ],
        liveness: () => Date.now() - heartbeat.lastBeatMs() < bound,
        admin: adminOptions(http.managementApiKey, ops),
      })
    }),
  ).pipe(Layer.provide(Ops.layer(opsOptions)))
  const control = ControlSubscriberLive({
    redisUrl: settings.stream.redis.url,
    claimThresholdMs: settings.claimThresholdMs,
    readCount: settings.readCount,
  })
  const gauges = OpsMetricsLive({ stream: opsOptions.stream, dlqStream: opsOptions.dlqStream })
  return Layer.mergeAll(server, control, gauges)
}

/** StreamSettings of AppConfig.ts: the gateway needs the group and DLQ names only for the admin API. */
export interface StreamRoleSettings {
  readonly redis: { readonly url: Redacted.Redacted<string>; readonly stream: string }
  readonly group: string
  readonly dlqStream: string
}

/**
 * The gateway's HTTP server: ready while Redis answers (it can acknowledge nothing otherwise); alive
 * while the process serves HTTP (its listeners have no loop to stall); the same management API,
 * whose claim and rehydrate reach the processors over the control channel.
 */
export const GatewayOpsLive = (http: HttpRoleSettings, stream: StreamRoleSettings) => {
  const server = Layer.unwrap(
    Effect.gen(function* () {
      const redis = yield* RedisClient
      const ops = yield* Ops
      return HttpLive({
        port: http.port,
        checks: [{ name: "redis", check: redis.ping }],
        liveness: () => true,
        admin: adminOptions(http.managementApiKey, ops),
      })
    }),
  ).pipe(
    Layer.provide(
      Ops.layer({
        redisUrl: stream.redis.url,
        stream: stream.redis.stream,
        group: stream.group,
        dlqStream: stream.dlqStream,
      }),
    ),
  )
  return Layer.merge(server, OpsMetricsLive({ stream: stream.redis.stream, dlqStream: stream.dlqStream }))
}
