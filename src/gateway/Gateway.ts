import { Context, Effect, Layer } from "effect"
import { RedisClient } from "../redis/RedisClient.ts"
import type { RedisError } from "../redis/RedisError.ts"
import { GatewayConfig } from "./GatewayConfig.ts"
import { Publisher } from "./Publisher.ts"
import { type GatewayListenError, startTcpServer } from "./TcpServer.ts"
import { startUdpServer } from "./UdpServer.ts"

export { GatewayListenError } from "./TcpServer.ts"

/**
 * The running gateway (SPEC §5): the Teltonika TCP and UDP listeners, open for the lifetime of the
 * layer. The service reports the ports actually bound (a configured 0 picks a free one).
 *
 * Shutdown (the layer's scope closing, e.g. on SIGTERM): both listeners stop accepting first; then
 * idle connections are closed and packets being published finish, are acknowledged, and their
 * connections close. Devices reconnect to another instance and resend anything unacknowledged.
 */
export class Gateway extends Context.Service<
  Gateway,
  {
    readonly tcpPort: number
    readonly udpPort: number
  }
>()("telemetry/gateway/Gateway") {
  /** Needs a Publisher; see `layer` for the usual wiring. */
  static readonly layerNoDeps = Layer.effect(
    Gateway,
    Effect.gen(function* () {
      const config = yield* GatewayConfig
      const publisher = yield* Publisher
      const tcp = yield* startTcpServer(
        {
          host: config.host,
          port: config.tcpPort,
          maxConnections: config.maxConnections,
          maxFrameBytes: config.maxFrameBytes,
          loginTimeoutMs: config.loginTimeoutMs,
          idleTimeoutMs: config.idleTimeoutMs,
          imeiAllowlist: config.imeiAllowlist,
        },
        publisher,
      )
      const udp = yield* startUdpServer(
        { host: config.host, port: config.udpPort, imeiAllowlist: config.imeiAllowlist },
        publisher,
      )
      yield* Effect.logInfo("gateway listening").pipe(
        Effect.annotateLogs({
          host: config.host,
          tcpPort: tcp.port,
          udpPort: udp.port,
          stream: config.redis.stream,
          maxConnections: config.maxConnections,
          allowlist: config.imeiAllowlist._tag === "Some" ? config.imeiAllowlist.value.size : "off",
        }),
      )
      yield* Effect.addFinalizer(() => Effect.logInfo("gateway stopped"))
      return Gateway.of({ tcpPort: tcp.port, udpPort: udp.port })
    }),
  )

  /** Listeners plus the Redis publisher; requires RedisClient and GatewayConfig. */
  static readonly layer: Layer.Layer<Gateway, GatewayListenError, RedisClient | GatewayConfig> =
    Gateway.layerNoDeps.pipe(Layer.provide(Publisher.layer))
}

/**
 * `telemetry gateway`: runs until interrupted (SIGTERM/SIGINT), then shuts down gracefully.
 * Fails only if a listener cannot be opened.
 */
export const runGateway: Effect.Effect<never, GatewayListenError, RedisClient | GatewayConfig> = Layer.launch(
  Gateway.layer,
)

/** Readiness (SPEC §7 /readyz): the gateway can acknowledge nothing while Redis does not answer. */
export const gatewayReadiness: Effect.Effect<void, RedisError, RedisClient> = Effect.gen(function* () {
  const redis = yield* RedisClient
  yield* redis.ping
})
