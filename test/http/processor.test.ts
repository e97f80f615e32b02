import * as NodeServices from "@effect/platform-node/NodeServices"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Exit, Fiber, Layer, Option, Redacted, References } from "effect"
import { Command } from "effect/cli"
import { SqlClient } from "effect/sql"
import { Redis } from "ioredis"
import { inject } from "vitest"
import { opsCommands } from "../../src/cli/ops.ts"
import { ProcessorSettings } from "../../src/config/AppConfig.ts"
import { freePort, type PostgresServer, startPostgres } from "../../src/devservers/index.ts"
import type { ControlResult } from "../../src/ops/control.ts"
import type { DlqPage, DlqReplayReport, LagReport } from "../../src/ops/Ops.ts"
import { validPayload } from "../support/entries.ts"
import { eventually, parsePrometheus, processorWithOps } from "./harness.ts"

/**
 * A processor running in this process with ProcessorOpsLive, against a real Redis (the shared test
 * server) and its own PostgreSQL (stopped and started by the readiness test).
 */

const KEY = "test-management-key-0123456789"
const stream = `http-test:${process.pid}:${Date.now().toString(36)}`
const dlqStream = `${stream}:dlq`
const group = "processor"

let pg: PostgresServer
let redis: Redis
let base = ""
let processor: Fiber.Fiber<unknown, unknown>
let sequence = 0

const payload = (deviceId: string, ts: number) => JSON.stringify(validPayload(deviceId, ts))

/** A valid entry at a fresh timestamp, so every one is a new row. */
const entry = (deviceId: string) => [
  "payload",
  payload(deviceId, 1_700_000_000_000 + sequence++ * 1000),
  "source",
  "test",
]

const auth = { authorization: `Bearer ${KEY}` }
const get = (path: string, headers: Record<string, string> = auth) => fetch(`${base}${path}`, { headers })
const post = (path: string, headers: Record<string, string> = auth) =>
  fetch(`${base}${path}`, { method: "POST", headers })

const rows = () =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const result = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM positions`
      return result[0]?.n ?? 0
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pg.url), maxConnections: 1 }))),
  )

const pending = async (consumer?: string) => {
  const reply = (await redis.call("XPENDING", stream, group)) as [
    number,
    unknown,
    unknown,
    Array<[string, string]> | null,
  ]
  if (consumer === undefined) return reply[0]
  return Number(reply[3]?.find(([name]) => name === consumer)?.[1] ?? 0)
}

/** Response bodies typed as the API documents them (the tests then check the values). */
const body = <A>(response: Response) => response.json() as Promise<A>

const metrics = async () => parsePrometheus(await (await fetch(`${base}/metrics`)).text())

beforeAll(async () => {
  pg = await startPostgres({ fsync: false })
  redis = new Redis(inject("redisUrl"))
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  const settings = Effect.runSync(
    ProcessorSettings.parse(
      ConfigProvider.fromEnv({
        env: {
          REDIS_URL: inject("redisUrl"),
          POSTGRES_URL: pg.url,
          REDIS_TELEMETRY_STREAM: stream,
          REDIS_CONSUMER_NAME: "p1",
          READ_BLOCK_MS: "100",
          // The scheduled claim runner stays out of the way: claims here happen on request only.
          CLAIM_INTERVAL_MS: "3600000",
          CLAIM_THRESHOLD_MS: "1000",
        },
      }),
    ),
  )
  processor = Effect.runFork(
    processorWithOps(settings, { port, managementApiKey: Option.some(Redacted.make(KEY)) }).pipe(
      Effect.provideService(References.MinimumLogLevel, "Error"),
    ),
  )
  await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, "processor HTTP ready")
  // The group exists once the processor is past its start-up.
  await eventually(async () => (await pending()) === 0, "consumer group created")
})

afterAll(async () => {
  if (processor !== undefined) await Effect.runPromise(Fiber.interrupt(processor))
  await redis?.quit()
  await pg?.destroy()
})

describe("processor HTTP with real Redis and PostgreSQL", () => {
  it("answers /healthz and /readyz", async () => {
    const health = await get("/healthz", {})
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: "ok" })
    const ready = await get("/readyz", {})
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: "ok", postgres: "ok", redis: "ok" })
  })

  it("/metrics counts exactly the entries processed", async () => {
    const acked = "telemetry_records_acked_total"
    const inserted = 'telemetry_records_written_total{status="inserted"}'
    const before = await metrics()
    const rowsBefore = await rows()
    const n = 25
    for (let i = 0; i < n; i++) await redis.xadd(stream, "*", ...entry(`35209308123${String(i % 5).padStart(4, "0")}`))
    await eventually(async () => (await rows()) === rowsBefore + n && (await pending()) === 0, `${n} rows written`)
    // Acknowledged after the write: wait for the counter rather than racing it.
    const after = await eventually(async () => {
      const m = await metrics()
      return (m.get(acked) ?? 0) - (before.get(acked) ?? 0) >= n ? m : undefined
    }, "acked counter")
    expect((after.get(acked) ?? 0) - (before.get(acked) ?? 0)).toBe(n)
    expect((after.get(inserted) ?? 0) - (before.get(inserted) ?? 0)).toBe(n)
    expect(after.has("telemetry_records_read_total")).toBe(true)
    expect([...after.keys()].some((k) => k.startsWith("telemetry_batch_write_duration_seconds_bucket{"))).toBe(true)
    // One end-to-end observation per acknowledged record (src/metrics/RecordHistogram.ts).
    const endToEnd = "telemetry_end_to_end_latency_seconds_count"
    expect((after.get(endToEnd) ?? 0) - (before.get(endToEnd) ?? 0)).toBe(n)
    expect(after.get('telemetry_end_to_end_latency_seconds_bucket{le="+Inf"}')).toBe(after.get(endToEnd))
    // The operations gauges (src/ops/opsMetrics.ts), sampled at start: the test Redis runs noeviction.
    expect(after.get("telemetry_redis_noeviction")).toBe(1)
    expect(after.has("telemetry_stream_length")).toBe(true)
    expect(after.has("telemetry_dlq_length")).toBe(true)
  })

  it("guards /admin: 401 without or with a wrong key, works with the right one", async () => {
    expect((await get("/admin/lag", {})).status).toBe(401)
    expect((await get("/admin/lag", { authorization: `Bearer ${KEY.slice(1)}` })).status).toBe(401)
    expect((await post("/admin/claim", { authorization: "Bearer nope" })).status).toBe(401)
    expect((await post("/admin/rehydrate/352093081230000", {})).status).toBe(401)
    expect((await post("/admin/dlq/replay", {})).status).toBe(401)

    const lag = await get("/admin/lag")
    expect(lag.status).toBe(200)
    const report = await body<LagReport>(lag)
    expect(report).toMatchObject({ stream, group, dlqStream, groupExists: true })
    expect(report.consumers.map((c) => c.name)).toContain("p1")
  })

  it("rehydrate makes the processor drop a device it holds in memory", async () => {
    const device = "352093081230001" // written by the metrics test, so in memory
    const first = await post(`/admin/rehydrate/${device}`)
    expect(first.status).toBe(200)
    const result = await body<ControlResult>(first)
    expect(result).toMatchObject({ receivers: 1, missing: 0 })
    expect(result.replies).toEqual([expect.objectContaining({ consumer: "p1", ok: true, forgot: true })])
    const again = await body<ControlResult>(await post(`/admin/rehydrate/${device}`))
    expect(again.replies).toEqual([expect.objectContaining({ forgot: false })])
  })

  it("claim processes a dead consumer's pending entries now", async () => {
    const n = 4
    // XADD and XREADGROUP as "dead" in one MULTI: the live processor never sees these as new.
    const multi = redis.multi()
    for (let i = 0; i < n; i++) multi.xadd(stream, "*", ...entry("352093081239999"))
    multi.call("XREADGROUP", "GROUP", group, "dead", "COUNT", String(n), "STREAMS", stream, ">")
    await multi.exec()
    expect(await pending("dead")).toBe(n)
    const rowsBefore = await rows()

    const tooEager = await post("/admin/claim?minIdleMs=10")
    expect(tooEager.status).toBe(400)

    await new Promise((r) => setTimeout(r, 1_100)) // past the 1 s floor of min-idle
    const response = await post("/admin/claim?minIdleMs=1000&consumer=dead")
    expect(response.status).toBe(200)
    const result = await body<ControlResult>(response)
    expect(result.replies).toEqual([expect.objectContaining({ consumer: "p1", ok: true, claimed: n, inserted: n })])
    expect(await pending("dead")).toBe(0)
    expect(await rows()).toBe(rowsBefore + n)
  })

  it("the CLI reaches the running processor over the control channel", async () => {
    const env = ConfigProvider.layer(
      ConfigProvider.fromEnv({ env: { REDIS_URL: inject("redisUrl"), REDIS_TELEMETRY_STREAM: stream } }),
    )
    const root = Command.make("telemetry").pipe(Command.withSubcommands([...opsCommands]))
    const run = async (args: ReadonlyArray<string>) => {
      const out: Array<string> = []
      const capture: Console.Console = {
        ...globalThis.console,
        log: (...xs: ReadonlyArray<unknown>) => out.push(xs.join(" ")),
      }
      const exit = await Effect.runPromiseExit(
        Command.runWith(root, { version: "test" })(args).pipe(
          Effect.provideService(Console.Console, capture),
          Effect.provide(Layer.mergeAll(NodeServices.layer, env)),
        ),
      )
      expect(Exit.isSuccess(exit), args.join(" ")).toBe(true)
      return JSON.parse(out.join("\n")) as ControlResult
    }
    const claim = await run(["claim", "--json"])
    expect(claim.replies).toEqual([expect.objectContaining({ consumer: "p1", type: "claim", ok: true })])
    const rehydrate = await run(["rehydrate", "352093081230002", "--json"])
    expect(rehydrate.replies).toEqual([expect.objectContaining({ consumer: "p1", type: "rehydrate", forgot: true })])
  })

  it("dead-letters a bad entry, lists it over HTTP and replays it by id", async () => {
    const badId = await redis.xadd(stream, "*", "payload", "{not json", "source", "test")
    const listed = await eventually(async () => {
      const page = await body<DlqPage>(await get("/admin/dlq?order=newest&count=10"))
      return page.entries.find((e) => e.originalId === badId)
    }, "bad entry in the DLQ")
    expect(listed).toMatchObject({ errorTag: "CodecError", fields: { payload: "{not json", source: "test" } })

    const replay = await post(`/admin/dlq/replay?id=${encodeURIComponent(listed.id)}`)
    expect(replay.status).toBe(200)
    const report = await body<DlqReplayReport>(replay)
    expect(report).toMatchObject({ replayed: 1, details: [{ dlqId: listed.id, originalId: badId }] })
    const newId = report.details[0]?.newId
    // Still bad, so it comes back to the DLQ under its new id: replay really fed the pipeline.
    await eventually(async () => {
      const page = await body<DlqPage>(await get("/admin/dlq?order=newest&count=10"))
      const ids = page.entries.map((e) => e.originalId)
      return newId !== undefined && ids.includes(newId) && !page.entries.some((e) => e.id === listed.id)
    }, "replayed entry dead-lettered again")
    expect((await post("/admin/dlq/replay?id=1-1")).status).toBe(404)
  })

  it("/readyz turns 503 while PostgreSQL is down and 200 when it is back; processing resumes", async () => {
    await pg.stop()
    const degraded = await eventually(async () => {
      const response = await get("/readyz", {})
      return response.status === 503 ? body<Record<string, string>>(response) : undefined
    }, "readyz 503")
    expect(degraded).toMatchObject({ status: "degraded", redis: "ok", postgres: expect.stringMatching(/^error: /) })
    // The process is alive and waiting, not stuck: liveness must not get it restarted.
    expect((await get("/healthz", {})).status).toBe(200)

    await redis.xadd(stream, "*", ...entry("352093081238888"))
    await pg.start()
    await eventually(async () => (await get("/readyz", {})).status === 200, "readyz 200 again")
    await eventually(async () => (await pending()) === 0, "entry written after PostgreSQL came back")
  })
})
