import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Redacted } from "effect"
import { ProcessorSettings } from "../../src/config/AppConfig.ts"

const parse = (env: Record<string, string>) =>
  Effect.runSyncExit(ProcessorSettings.parse(ConfigProvider.fromEnv({ env })))

const failureMessage = (env: Record<string, string>) => {
  const exit = parse(env)
  if (Exit.isSuccess(exit)) throw new Error("expected a ConfigError")
  return String(exit.cause)
}

describe("ProcessorSettings", () => {
  it("has the SPEC §6 defaults, except the batch sizes the bench moved to 1000 (README)", () => {
    const exit = parse({})
    if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
    const s = exit.value
    expect(Redacted.value(s.stream.redis.url)).toBe("redis://127.0.0.1:6379")
    expect(Redacted.value(s.postgres.url)).toBe("postgres://postgres@127.0.0.1:5432/telemetry")
    expect(s.stream.redis.stream).toBe("telemetry:teltonika")
    expect(s.stream.group).toBe("processor")
    expect(s.stream.dlqStream).toBe("telemetry:teltonika:dlq")
    expect([s.readCount, s.readBlockMs, s.writeBatchSize]).toEqual([1000, 1000, 1000])
    expect([s.claimThresholdMs, s.claimIntervalMs, s.maxDeliveries]).toEqual([30_000, 10_000, 5])
    expect([s.stateMaxDevices, s.drainTimeoutMs, s.migrateOnStart]).toEqual([100_000, 15_000, true])
    expect(s.consumer.length).toBeGreaterThan(0)
  })

  it("derives DLQ_STREAM from the stream name, and takes an explicit one", () => {
    const derived = parse({ REDIS_TELEMETRY_STREAM: "fleet:a" })
    const explicit = parse({ DLQ_STREAM: "dead" })
    expect(Exit.isSuccess(derived) && derived.value.stream.dlqStream).toBe("fleet:a:dlq")
    expect(Exit.isSuccess(explicit) && explicit.value.stream.dlqStream).toBe("dead")
  })

  it.each([
    ["READ_COUNT", "abc"],
    ["READ_COUNT", "0"],
    ["WRITE_BATCH_SIZE", "1.5"],
    ["MAX_DELIVERIES", "-1"],
    ["HEAP_GROWTH_PERCENT", "-5"],
    ["CONCURRENT_MARKING", "sometimes"],
    ["HEAP_GROWTH_CAP", "never"],
    ["MIGRATE_ON_START", "maybe"],
    ["REDIS_URL", "http://cache:6379"],
    ["POSTGRES_URL", "not a url"],
  ])("an invalid %s=%s stops start-up with a message naming the variable", (name, value) => {
    expect(failureMessage({ [name]: value })).toContain(name)
  })

  it("never shows a URL's password in the error or in the parsed settings", () => {
    const message = failureMessage({ REDIS_URL: "http://user:s3cret@cache:6379" })
    expect(message).not.toContain("s3cret")
    const exit = parse({ POSTGRES_URL: "postgres://app:s3cret@db:5432/telemetry" })
    if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
    expect(JSON.stringify(exit.value)).not.toContain("s3cret")
    expect(String(exit.value.postgres.url)).not.toContain("s3cret")
  })
})
