import { Config, Context, Effect, Layer, Option, Schema } from "effect"
import { intBetween, RedisSettings } from "../config/AppConfig.ts"
import { isImei } from "./codec/index.ts"

/**
 * The gateway role's environment (SPEC §6 plus the gateway's own knobs), validated once at start-up
 * the way AppConfig does it: an invalid value fails with a ConfigError naming the variable.
 */

const splitList = (value: string): Array<string> =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")

const imeiList = (value: string): string | undefined => {
  const imeis = splitList(value)
  if (imeis.length === 0) return "expected comma-separated 15-digit IMEIs, got an empty list"
  const bad = imeis.find((imei) => !isImei(imei))
  // The offending item is named (an IMEI is not a secret) so the operator can find the typo.
  return bad === undefined ? undefined : `expected comma-separated 15-digit IMEIs, got "${bad.slice(0, 32)}"`
}

export const GatewaySettings = Config.all({
  redis: RedisSettings,
  /** Interface to bind both listeners to. */
  host: Config.schema(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)), "GATEWAY_HOST").pipe(
    Config.withDefault("0.0.0.0"),
  ),
  // 0 asks the OS for a free port (tests); the bound port is reported by Gateway.
  tcpPort: intBetween("GATEWAY_TCP_PORT", 5027, 0, 65_535),
  udpPort: intBetween("GATEWAY_UDP_PORT", 5027, 0, 65_535),
  /** Unset: every well-formed IMEI may log in. An empty list is refused rather than read as "nobody". */
  imeiAllowlist: Config.option(
    Config.schema(Schema.String.check(Schema.makeFilter(imeiList)), "GATEWAY_IMEI_ALLOWLIST"),
  ).pipe(Config.map(Option.map((value): ReadonlySet<string> => new Set(splitList(value))))),
  maxConnections: intBetween("GATEWAY_MAX_CONNECTIONS", 10_000, 1, 1_000_000),
  maxFrameBytes: intBetween("GATEWAY_MAX_FRAME_BYTES", 65_536, 64, 16_777_216),
  /** Time from connect to a complete IMEI login; also the longest a started frame may take to arrive. */
  loginTimeoutMs: intBetween("GATEWAY_LOGIN_TIMEOUT_MS", 10_000, 1, 3_600_000),
  /** A logged-in connection that sends nothing (not even the 0xFF keep-alive) this long is closed. */
  idleTimeoutMs: intBetween("GATEWAY_IDLE_TIMEOUT_MS", 300_000, 1, 86_400_000),
  /** Longest wait for the XADDs of one packet; past it the packet is not acknowledged and the connection closes. */
  publishTimeoutMs: intBetween("GATEWAY_PUBLISH_TIMEOUT_MS", 10_000, 1, 600_000),
  /** Unset: no trimming (the operator's choice, see OPERATIONS.md); set: `XADD … MAXLEN ~ n`. */
  streamMaxLen: Config.option(
    Config.schema(
      Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
      "REDIS_STREAM_MAXLEN",
    ),
  ),
})

export type GatewaySettings = typeof GatewaySettings extends Config.Config<infer A> ? A : never

/** The gateway's settings as a service, so tests hand the gateway a literal value. */
export class GatewayConfig extends Context.Service<GatewayConfig, GatewaySettings>()(
  "telemetry/gateway/GatewayConfig",
) {
  static readonly layer = Layer.effect(
    GatewayConfig,
    Effect.gen(function* () {
      return yield* GatewaySettings
    }),
  )
  static readonly layerWith = (settings: GatewaySettings) => Layer.succeed(GatewayConfig, settings)
}
