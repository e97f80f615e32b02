import { ConfigProvider, Console, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { SqlClient } from "effect/sql"
import { HttpSettings, ProcessorSettings } from "../config/AppConfig.ts"
import { PostgresFromUrl } from "../db/Postgres.ts"
import { runSyntheticFleet, type FleetStats as StreamFleetStats } from "../demo/syntheticFleet.ts"
import { freePort, startPostgres, startRedis } from "../devservers/index.ts"
import { GatewaySettings } from "../gateway/GatewayConfig.ts"
import { connect } from "../redis/RedisClient.ts"
import { ackedKeys, makeFleetMonitor, runFleet } from "../simulator/index.ts"
import { gatewayProgram } from "./gateway.ts"
import { processorProgram } from "./processor.ts"

const servers = Effect.acquireRelease(
  Effect.promise(() => Promise.all([startPostgres(), startRedis({ appendOnly: true })])),
  ([pg, redis]) =>
    Effect.promise(() => Promise.all([pg.destroy(), redis.destroy()])).pipe(
      Effect.andThen(Console.log("demo: servers stopped, temp directories removed")),
    ),
)

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "?")

/** What the closing summary checks, whatever the fleet. */
interface Ledger {
  readonly label: string
  /** Keys `device|ts` the fleet knows reached the stream (for Teltonika: the device got an ACK). */
  readonly keys: () => ReadonlySet<string>
  readonly line: () => string
}

export const demoCommand = Command.make(
  "demo",
  {
    duration: Flag.Int("duration").pipe(
      Flag.withDescription("Seconds to run the fleet before draining and printing the summary (Ctrl-C ends it early)"),
      Flag.withDefault(30),
    ),
    rate: Flag.Int("rate").pipe(Flag.withDescription("Positions per second the fleet sends"), Flag.withDefault(2000)),
    devices: Flag.Int("devices").pipe(Flag.withDescription("Simulated devices"), Flag.withDefault(1000)),
    source: Flag.Literals("source", ["teltonika", "stream"]).pipe(
      Flag.withDescription(
        "teltonika: devices speak Teltonika TCP to the gateway; stream: a fleet XADDs SPEC entries directly",
      ),
      Flag.withDefault("teltonika"),
    ),
  },
  Effect.fn("demo")(function* ({ duration, rate, devices, source }) {
    const [pg, redis] = yield* servers
    const gatewayPort = yield* Effect.promise(() => freePort())
    const httpPort = yield* Effect.promise(() => freePort())
    yield* Console.log(
      `demo: PostgreSQL on 127.0.0.1:${pg.port}, Redis on 127.0.0.1:${redis.port} (throwaway, temp dirs)`,
    )
    const env = ConfigProvider.fromEnv({
      env: {
        ...process.env,
        POSTGRES_URL: pg.url,
        REDIS_URL: redis.url,
        REDIS_CONSUMER_NAME: "demo-processor",
        GATEWAY_HOST: "127.0.0.1",
        GATEWAY_TCP_PORT: String(gatewayPort),
        GATEWAY_UDP_PORT: "0",
        HTTP_PORT: process.env.HTTP_PORT ?? String(httpPort),
      },
    })
    const settings = yield* ProcessorSettings.parse(env)
    const http = yield* HttpSettings.parse(env)
    const stream = settings.stream.redis.stream
    const processor = yield* Effect.forkChild(processorProgram(settings, http), { startImmediately: true })
    yield* Console.log(
      `demo: processor metrics at http://127.0.0.1:${http.port}/metrics (HTTP_PORT), health at /healthz and /readyz`,
    )

    const { connection: redisCommands } = yield* connect(Redacted.make(redis.url), "demo-monitor")
    let stopFleet: Effect.Effect<void>
    let ledger: Ledger
    let fleetProgress: () => string
    if (source === "teltonika") {
      const gateway = yield* Effect.forkChild(gatewayProgram(yield* GatewaySettings.parse(env)), {
        startImmediately: true,
      })
      yield* Console.log(`demo: gateway on 127.0.0.1:${gatewayPort} (Teltonika TCP); ${fmt(devices)} simulated devices`)
      const monitor = makeFleetMonitor()
      const fleet = yield* Effect.forkChild(
        runFleet({
          host: "127.0.0.1",
          port: gatewayPort,
          devices,
          recordsPerSecond: rate,
          monitor,
          dropBeforeAckProbability: 0.005,
        }),
        { startImmediately: true },
      )
      let keys: Set<string> = new Set()
      let unacked = 0
      stopFleet = Effect.gen(function* () {
        monitor.stop()
        const report = yield* Fiber.join(fleet)
        keys = new Set(Array.from(ackedKeys(report), ([imei, ts]) => `${imei}|${ts}`))
        unacked = report.unacked
        yield* Fiber.interrupt(gateway)
      })
      fleetProgress = () => {
        const s = monitor.stats()
        return `devices ${fmt(s.connected)}  acked ${fmt(s.recordsAcked)} (resent ${fmt(s.resends)})`
      }
      ledger = {
        label: "records ACKed to devices",
        keys: () => keys,
        line: () => {
          const s = monitor.stats()
          return `${fmt(s.recordsGenerated)} records generated, ${fmt(s.recordsSent)} sent (${fmt(s.resends)} packets re-sent), ${fmt(unacked)} never ACKed`
        },
      }
    } else {
      const { connection: feed } = yield* connect(Redacted.make(redis.url), "demo-fleet")
      const stats: StreamFleetStats = { sent: 0, resent: 0, late: 0, keys: new Set() }
      const fleet = yield* Effect.forkChild(
        runSyntheticFleet(feed, { devices, ratePerSecond: rate, stream, resendRate: 0.03, lateRate: 0.02 }, stats),
        { startImmediately: true },
      )
      stopFleet = Fiber.interrupt(fleet)
      fleetProgress = () => `sent ${fmt(stats.sent)}`
      ledger = {
        label: "distinct positions XADDed",
        keys: () => stats.keys,
        line: () => `${fmt(stats.sent)} entries (${fmt(stats.resent)} re-sends, ${fmt(stats.late)} out of order)`,
      }
    }

    const sqlContext = yield* Layer.build(PostgresFromUrl(Redacted.make(pg.url), 1))
    const withSql = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>, fallback: A) =>
      Effect.gen(function* () {
        return yield* f(yield* SqlClient.SqlClient)
      }).pipe(
        Effect.provide(sqlContext),
        Effect.catch(() => Effect.succeed(fallback)),
      )
    const rows = withSql(
      (sql) => sql<{ n: number }>`SELECT count(*)::int AS n FROM positions`.pipe(Effect.map((r) => r[0]?.n ?? 0)),
      -1,
    )
    const groupState = redisCommands.call("XINFO", ["GROUPS", stream]).pipe(
      Effect.map((reply) => {
        const group = Array.isArray(reply) ? (reply[0] as Array<unknown> | undefined) : undefined
        const at = (name: string) => (group === undefined ? undefined : group[group.indexOf(name) + 1])
        return { lag: Number(at("lag") ?? 0), pending: Number(at("pending") ?? 0) }
      }),
      Effect.catch(() => Effect.succeed({ lag: Number.NaN, pending: Number.NaN })),
    )

    const started = Date.now()
    let lastRows = 0
    let lastAt = started
    const progress = Effect.gen(function* () {
      const n = yield* rows
      const g = yield* groupState
      const now = Date.now()
      yield* Console.log(
        `demo: ${((now - started) / 1000).toFixed(0).padStart(4)}s  ${fleetProgress()}  rows ${fmt(n)} (${fmt(((n - lastRows) * 1000) / Math.max(1, now - lastAt))}/s)  lag ${fmt(g.lag)}  pending ${fmt(g.pending)}`,
      )
      lastRows = n
      lastAt = now
      return { rows: n, ...g }
    })

    const finish = Effect.gen(function* () {
      yield* Console.log("demo: stopping the fleet (outstanding ACKs are awaited), then draining the processor")
      yield* stopFleet
      const expected = ledger.keys()
      let state = yield* progress
      for (let i = 0; i < 30 && !(state.lag === 0 && state.pending === 0 && state.rows >= expected.size); i++) {
        yield* Effect.sleep(Duration.seconds(1))
        state = yield* progress
      }
      yield* Fiber.interrupt(processor)
      const stored = yield* withSql(
        (sql) =>
          sql<{
            device_id: string
            ts_ms: string
          }>`SELECT device_id, (extract(epoch FROM ts) * 1000)::bigint::text AS ts_ms FROM positions`,
        [],
      )
      const storedKeys = new Set(stored.map((r) => `${r.device_id}|${r.ts_ms}`))
      let missing = 0
      for (const key of expected) if (!storedKeys.has(key)) missing++
      const ok = missing === 0 && stored.length === storedKeys.size
      yield* Console.log(
        [
          "",
          "demo summary",
          `  ${"fleet".padEnd(26)} ${ledger.line()}`,
          `  ${ledger.label.padEnd(26)} ${fmt(expected.size)}`,
          `  ${"rows in positions".padEnd(26)} ${fmt(stored.length)}`,
          `  ${"missing".padEnd(26)} ${fmt(missing)}`,
          `  ${"check".padEnd(26)} ${ok ? `OK: every one of the ${ledger.label} is in positions, once` : "FAILED"}`,
        ].join("\n"),
      )
      if (!ok) process.exitCode = 1
    })

    yield* Effect.sleep(Duration.seconds(1)).pipe(
      Effect.andThen(progress),
      Effect.repeat({ times: Math.max(0, duration - 1) }),
      Effect.ensuring(Effect.uninterruptible(finish)),
    )
  }, Effect.scoped),
).pipe(
  Command.withDescription(
    "Run the whole pipeline (gateway, processor, simulated fleet) on throwaway local servers; live progress and a summary",
  ),
)
