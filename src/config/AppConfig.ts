import * as Os from "node:os"
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { BacklogMode } from "../runtime/HeapPolicy.ts"

/**
 * The environment variables of SPEC §6, validated once at start-up. An invalid value fails with a
 * ConfigError whose message names the variable (never its value); secrets are Redacted so they
 * print as `<redacted>` wherever they end up.
 */

/** An integer variable within [minimum, maximum], with a default. */
export const intBetween = (name: string, fallback: number, minimum: number, maximum: number) =>
  Config.schema(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum, maximum })), name).pipe(
    Config.withDefault(fallback),
  )

const textValue = (name: string) =>
  Config.schema(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)), name)

const text = (name: string, fallback: string) => textValue(name).pipe(Config.withDefault(fallback))

const hasScheme = (schemes: ReadonlyArray<string>) => (value: string) => {
  const parsed = URL.parse(value)
  return parsed !== null && schemes.includes(parsed.protocol) && parsed.hostname !== ""
    ? undefined
    : `expected a ${schemes.map((s) => `${s}//`).join(" or ")} URL with a host`
}

/** A connection URL that may carry a password: validated by shape, then kept Redacted. */
const secretUrl = (name: string, fallback: string, schemes: ReadonlyArray<string>) =>
  Config.schema(Schema.String.check(Schema.makeFilter(hasScheme(schemes))), name).pipe(
    Config.withDefault(fallback),
    Config.map(Redacted.make),
  )

const bool = (name: string, fallback: boolean) =>
  Config.schema(Schema.Literals(["true", "false", "1", "0", "yes", "no"]), name).pipe(
    Config.map((v) => v === "true" || v === "1" || v === "yes"),
    Config.withDefault(fallback),
  )

export const LogLevelName = Schema.Literals(["trace", "debug", "info", "warn", "error", "fatal", "none"])
export type LogLevelName = typeof LogLevelName.Type

export const RedisSettings = Config.all({
  url: secretUrl("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
  stream: text("REDIS_TELEMETRY_STREAM", "telemetry:teltonika"),
})

export const StreamSettings = Config.all({
  redis: RedisSettings,
  group: text("REDIS_CONSUMER_GROUP", "processor"),
  dlqStream: Config.option(textValue("DLQ_STREAM")),
}).pipe(
  Config.map(({ redis, group, dlqStream }) => ({
    redis,
    group,
    dlqStream: Option.getOrElse(dlqStream, () => `${redis.stream}:dlq`),
  })),
)

export const PostgresSettings = Config.all({
  url: secretUrl("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/telemetry", ["postgres:", "postgresql:"]),
  /** Connections in the pool; two writers saturate a 2-core box, more only queue. */
  poolSize: intBetween("POSTGRES_POOL_SIZE", 4, 1, 100),
})

/** Entries per XREADGROUP and rows per INSERT; the bench gives its reference and ceiling the same.
 * 1000 rather than SPEC's 500: in paired drains on the bench machine, +15% rows/s and ~20% less
 * PostgreSQL CPU per row, for ~4 MB more peak RSS (README, "Benchmark"). Without a backlog a read
 * returns what is there, so the size only matters when draining. */
export const DEFAULT_READ_COUNT = 1000
export const DEFAULT_WRITE_BATCH_SIZE = 1000

export const ProcessorSettings = Config.all({
  stream: StreamSettings,
  postgres: PostgresSettings,
  consumer: text("REDIS_CONSUMER_NAME", Os.hostname()),
  readCount: intBetween("READ_COUNT", DEFAULT_READ_COUNT, 1, 100_000),
  readBlockMs: intBetween("READ_BLOCK_MS", 1000, 1, 60_000),
  writeBatchSize: intBetween("WRITE_BATCH_SIZE", DEFAULT_WRITE_BATCH_SIZE, 1, 50_000),
  /** Batches written at once; each holds a connection, so it stays ≤ the pool size. */
  writeConcurrency: intBetween("WRITE_CONCURRENCY", 2, 1, 32),
  claimThresholdMs: intBetween("CLAIM_THRESHOLD_MS", 30_000, 100, 86_400_000),
  claimIntervalMs: intBetween("CLAIM_INTERVAL_MS", 10_000, 100, 86_400_000),
  maxDeliveries: intBetween("MAX_DELIVERIES", 5, 1, 1000),
  stateMaxDevices: intBetween("STATE_MAX_DEVICES", 100_000, 1, 100_000_000),
  drainTimeoutMs: intBetween("DRAIN_TIMEOUT_MS", 15_000, 0, 3_600_000),
  migrateOnStart: bool("MIGRATE_ON_START", true),
  /** Consumers idle this long with nothing pending are removed from the group (scale-in). */
  consumerIdleRemoveMs: intBetween("CONSUMER_IDLE_REMOVE_MS", 3_600_000, 1_000, 604_800_000),
  /** How far V8's old generation may grow past the live set before a full collection, and when
   * that cap holds; 0 leaves V8's own policy (src/runtime/HeapPolicy.ts). */
  heapGrowthPercent: intBetween("HEAP_GROWTH_PERCENT", 120, 0, 1000),
  heapGrowthCap: Config.schema(Schema.Literals(["backlog", "always"]), "HEAP_GROWTH_CAP").pipe(
    Config.withDefault("backlog" as const),
  ),
  /** RSS, in MiB, up to which the old generation may grow faster than HEAP_GROWTH_PERCENT while that
   * cap holds; 0: no budget (src/runtime/HeapPolicy.ts). */
  heapBudgetMb: intBetween("HEAP_BUDGET_MB", 0, 0, 1_048_576),
  /** When V8 marks the heap on a helper thread (src/runtime/HeapPolicy.ts). */
  concurrentMarking: Config.schema(BacklogMode, "CONCURRENT_MARKING").pipe(Config.withDefault("backlog" as const)),
})

export type ProcessorSettings = typeof ProcessorSettings extends Config.Config<infer A> ? A : never

export const HttpSettings = Config.all({
  port: intBetween("HTTP_PORT", 8080, 0, 65_535),
  managementApiKey: Config.option(Config.Redacted("MANAGEMENT_API_KEY")),
})

export const LogSettings = Config.all({
  level: Config.schema(LogLevelName, "LOG_LEVEL").pipe(Config.withDefault("info" as const)),
  format: Config.schema(Schema.Literals(["json", "pretty"]), "LOG_FORMAT").pipe(Config.withDefault("json" as const)),
})

/** The processor's settings as a service, so tests can hand any layer a literal value. */
export class ProcessorConfig extends Context.Service<ProcessorConfig, ProcessorSettings>()(
  "telemetry/config/ProcessorConfig",
) {
  static readonly layer = Layer.effect(
    ProcessorConfig,
    Effect.gen(function* () {
      return yield* ProcessorSettings
    }),
  )
  static readonly layerWith = (settings: ProcessorSettings) => Layer.succeed(ProcessorConfig, settings)
}
