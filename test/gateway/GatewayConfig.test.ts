import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import { GatewaySettings } from "../../src/gateway/GatewayConfig.ts"

const load = (env: Record<string, string>) =>
  Effect.runPromiseExit(
    Effect.gen(function* () {
      return yield* GatewaySettings
    }).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))),
  )

const errorOf = async (env: Record<string, string>): Promise<string> => {
  const exit = await load(env)
  if (Exit.isSuccess(exit)) throw new Error("expected the configuration to be refused")
  return String(exit.cause)
}

describe("GatewayConfig", () => {
  it("has the documented defaults", async () => {
    const exit = await load({})
    if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
    const s = exit.value
    expect(s).toMatchObject({
      host: "0.0.0.0",
      tcpPort: 5027,
      udpPort: 5027,
      maxConnections: 10_000,
      maxFrameBytes: 65_536,
      loginTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      publishTimeoutMs: 10_000,
    })
    expect(Option.isNone(s.imeiAllowlist)).toBe(true)
    expect(Option.isNone(s.streamMaxLen)).toBe(true)
    expect(s.redis.stream).toBe("telemetry:teltonika")
    expect(Redacted.value(s.redis.url)).toBe("redis://127.0.0.1:6379")
  })

  it("reads every variable", async () => {
    const exit = await load({
      REDIS_URL: "rediss://user:secret@redis.example:6380",
      REDIS_TELEMETRY_STREAM: "fleet:a",
      REDIS_STREAM_MAXLEN: "1000000",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_TCP_PORT: "6000",
      GATEWAY_UDP_PORT: "6001",
      GATEWAY_IMEI_ALLOWLIST: " 356307042441013, 352093081452251 ",
      GATEWAY_MAX_CONNECTIONS: "5",
      GATEWAY_MAX_FRAME_BYTES: "2048",
      GATEWAY_LOGIN_TIMEOUT_MS: "100",
      GATEWAY_IDLE_TIMEOUT_MS: "200",
      GATEWAY_PUBLISH_TIMEOUT_MS: "300",
    })
    if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
    const s = exit.value
    expect(s).toMatchObject({
      host: "127.0.0.1",
      tcpPort: 6000,
      udpPort: 6001,
      maxConnections: 5,
      maxFrameBytes: 2048,
      loginTimeoutMs: 100,
      idleTimeoutMs: 200,
      publishTimeoutMs: 300,
    })
    expect(s.redis.stream).toBe("fleet:a")
    expect(Option.getOrThrow(s.streamMaxLen)).toBe(1_000_000)
    expect([...Option.getOrThrow(s.imeiAllowlist)]).toEqual(["356307042441013", "352093081452251"])
    // The URL is a secret: it prints redacted.
    expect(String(s.redis.url)).not.toContain("secret")
  })

  it.each([
    ["GATEWAY_TCP_PORT", "70000"],
    ["GATEWAY_UDP_PORT", "-1"],
    ["GATEWAY_MAX_CONNECTIONS", "0"],
    ["GATEWAY_MAX_FRAME_BYTES", "lots"],
    ["GATEWAY_LOGIN_TIMEOUT_MS", "1.5"],
    ["GATEWAY_IDLE_TIMEOUT_MS", "0"],
    ["REDIS_STREAM_MAXLEN", "0"],
    ["GATEWAY_IMEI_ALLOWLIST", "356307042441013,12345"],
    ["GATEWAY_IMEI_ALLOWLIST", " , "],
  ])("refuses %s=%j and names the variable", async (name, value) => {
    expect(await errorOf({ [name]: value })).toContain(name)
  })

  it("never prints a Redis password in its error", async () => {
    const message = await errorOf({ REDIS_URL: "http://user:hunter2@redis.example" })
    expect(message).toContain("REDIS_URL")
    expect(message).not.toContain("hunter2")
  })
})
