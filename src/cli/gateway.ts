import * as Os from "node:os"
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { HttpSettings, StreamSettings } from "../config/AppConfig.ts"
import { Gateway } from "../gateway/Gateway.ts"
import { GatewayConfig, GatewaySettings } from "../gateway/GatewayConfig.ts"
import { GatewayOpsLive, type HttpRoleSettings, type StreamRoleSettings } from "../http/roles.ts"
import { RedisClient } from "../redis/RedisClient.ts"

/** The gateway with everything it needs, from validated settings; with `http`, also its HTTP
 * server (health, readiness on Redis, metrics, management API). */
export const gatewayProgram = (settings: GatewaySettings, http?: HttpRoleSettings, stream?: StreamRoleSettings) =>
  Layer.launch(
    http === undefined || stream === undefined
      ? Gateway.layer
      : Layer.merge(Gateway.layer, GatewayOpsLive(http, stream)),
  ).pipe(
    Effect.provide(GatewayConfig.layerWith(settings)),
    Effect.provide(RedisClient.layer(settings.redis.url, `gateway-${Os.hostname()}`)),
  )

export const gatewayCommand = Command.make("gateway", {}, () =>
  Effect.gen(function* () {
    const settings = yield* GatewaySettings
    const http = yield* HttpSettings
    const stream = yield* StreamSettings
    return yield* gatewayProgram(settings, http, stream)
  }),
).pipe(
  Command.withDescription(
    "Teltonika TCP/UDP server: decode AVL packets, XADD one entry per record, ACK the device after the XADD succeeded",
  ),
)
