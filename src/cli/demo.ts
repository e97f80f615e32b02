import { ConfigProvider, Console, Duration, Effect, Fiber, Layer, Redacted } from "effect"
import { Command, Flag } from "effect/cli"
import { SqlClient } from "effect/sql"
import { ProcessorSettings } from "../config/AppConfig.ts"
import { PostgresFromUrl } from "../db/Postgres.ts"
import { type FleetStats, runSyntheticFleet } from "../demo/syntheticFleet.ts"
import { startPostgres, startRedis } from "../devservers/index.ts"
import { connect } from "../redis/RedisClient.ts"
import { processorProgram } from "./processor.ts"

const servers = Effect.acquireRelease(
  Effect.promise(() => Promise.all([startPostgres(), startRedis({ appendOnly: true })])),
  ([pg, redis]) =>
    Effect.promise(() => Promise.all([pg.destroy(), redis.destroy()])).pipe(
      Effect.andThen(Console.log("demo: servers stopped, temp directories removed")),
    ),
)

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

export const demoCommand = Command.make(
  "demo",
  {
    duration: Flag.Int("duration").pipe(
      Flag.withDescription("Seconds to run the fleet before draining and printing the summary (Ctrl-C ends it early)"),
      Flag.withDefault(30),
    ),
    rate: Flag.Int("rate").pipe(Flag.withDescription("Positions per second the fleet sends"), Flag.withDefault(2000)),
    devices: Flag.Int("devices").pipe(Flag.withDescription("Simulated devices"), Flag.withDefault(1000)),
  },
  Effect.fn("demo")(function* ({ duration, rate, devices }) {
    const [pg, redis] = yield* servers
    yield* Console.log(`demo: PostgreSQL on 127.0.0.1:${pg.port}, Redis on 127.0.0.1:${redis.port} (throwaway)`)
    const env = {
      ...process.env,
      POSTGRES_URL: pg.url,
      REDIS_URL: redis.url,
      REDIS_CONSUMER_NAME: "demo-processor",
    }
    const settings = yield* ProcessorSettings.parse(ConfigProvider.fromEnv({ env }))
    const stream = settings.stream.redis.stream
    const processor = yield* Effect.forkChild(processorProgram(settings), { startImmediately: true })

    const { connection: feed } = yield* connect(Redacted.make(redis.url), "demo-fleet")
    const stats: FleetStats = { sent: 0, resent: 0, late: 0, keys: new Set() }
    const fleet = yield* Effect.forkChild(
      runSyntheticFleet(feed, { devices, ratePerSecond: rate, stream, resendRate: 0.03, lateRate: 0.02 }, stats),
      { startImmediately: true },
    )

    const sqlContext = yield* Layer.build(PostgresFromUrl(Redacted.make(pg.url), 1))
    const rows = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const result = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM positions`
      return result[0]?.n ?? 0
    }).pipe(
      Effect.provide(sqlContext),
      Effect.catch(() => Effect.succeed(0)),
    )
    const groupState = feed.call("XINFO", ["GROUPS", stream]).pipe(
      Effect.map((reply) => {
        const group = Array.isArray(reply) ? (reply[0] as Array<unknown> | undefined) : undefined
        const at = (name: string) => (group === undefined ? undefined : group[group.indexOf(name) + 1])
        return { lag: Number(at("lag") ?? 0), pending: Number(at("pending") ?? 0) }
      }),
      Effect.catch(() => Effect.succeed({ lag: Number.NaN, pending: Number.NaN })),
    )

    const started = Date.now()
    let lastRows = 0
    let lastSent = 0
    const progress = Effect.gen(function* () {
      const n = yield* rows
      const g = yield* groupState
      const elapsed = (Date.now() - started) / 1000
      yield* Console.log(
        `demo: ${elapsed.toFixed(0).padStart(4)}s  sent ${fmt(stats.sent)} (${fmt(stats.sent - lastSent)}/s)  rows ${fmt(n)} (${fmt(n - lastRows)}/s)  lag ${g.lag}  pending ${g.pending}`,
      )
      lastRows = n
      lastSent = stats.sent
      return { rows: n, ...g }
    })

    const finish = Effect.gen(function* () {
      yield* Fiber.interrupt(fleet)
      yield* Console.log(`demo: fleet stopped after ${fmt(stats.sent)} entries; waiting for the processor to drain`)
      let state = yield* progress
      for (let i = 0; i < 30 && !(state.lag === 0 && state.pending === 0 && state.rows >= stats.keys.size); i++) {
        yield* Effect.sleep(Duration.seconds(1))
        state = yield* progress
      }
      yield* Fiber.interrupt(processor)
      const written = yield* rows
      const distinct = stats.keys.size
      const ok = written === distinct
      yield* Console.log(
        [
          "",
          "demo summary",
          `  entries sent        ${fmt(stats.sent)} (${fmt(stats.resent)} re-sends, ${fmt(stats.late)} out of order)`,
          `  distinct positions  ${fmt(distinct)}`,
          `  rows in positions   ${fmt(written)}`,
          `  check               ${ok ? "OK: rows written = distinct positions sent" : "MISMATCH"}`,
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
    "Run the whole pipeline on throwaway local servers with a simulated fleet; prints live progress and a summary",
  ),
)
