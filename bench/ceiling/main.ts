/**
 * The PostgreSQL-only ceiling: the bench's rows written with the processor's statement and driver
 * (`insertPositions`, the arrays encoded by the driver, on the Writer's kind of pool,
 * `InsertPoolFromUrl`) over CEILING_CONNECTIONS
 * connections (2), in chunks of CEILING_BATCH (the processor's WRITE_BATCH_SIZE) consecutive
 * entries, each chunk sorted by (device_id, ts): what the processor does with WRITE_CONCURRENCY=2,
 * minus Redis, decoding and state. The rows are built before the clock starts. Speaks JSON lines on stdout: progress every second, then `done`.
 *
 * Environment: POSTGRES_URL, BENCH_DATA (a JSON DataSpec), CEILING_CONNECTIONS, CEILING_BATCH.
 */
import * as PgPool from "@effect/sql-pg/PgPool"
import { Effect, Redacted } from "effect"
import { DEFAULT_WRITE_BATCH_SIZE } from "../../src/config/AppConfig.ts"
import { InsertPoolFromUrl } from "../../src/db/Postgres.ts"
import { type DataSpec, generate } from "../data.ts"
import { type Columns, insertColumns, payloadToRow, type Row, toSortedColumns } from "../sql.ts"

const url = process.env.POSTGRES_URL
const specJson = process.env.BENCH_DATA
if (url === undefined || specJson === undefined) throw new Error("POSTGRES_URL and BENCH_DATA are required")
const spec = JSON.parse(specJson) as DataSpec
const connections = Number(process.env.CEILING_CONNECTIONS ?? "2")
const batch = Number(process.env.CEILING_BATCH ?? String(DEFAULT_WRITE_BATCH_SIZE))

const say = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`)

const data = generate(spec)
/** Stream-id-shaped ids (`<ms>-<seq>`, as long as real ones), 1,000 entries per millisecond. */
const streamIdOf = (i: number) => `${1_767_225_600_000 + Math.floor(i / 1000)}-${i % 1000}`
const chunks: Array<Columns> = []
for (let from = 0; from < data.payloads.length; from += batch) {
  const rows: Array<Row> = []
  for (let i = from; i < Math.min(from + batch, data.payloads.length); i++) {
    rows.push(payloadToRow(streamIdOf(i), data.payloads[i] as string, String(data.receivedAtMs[i])))
  }
  chunks.push(toSortedColumns(rows))
}

const program = Effect.gen(function* () {
  const pool = yield* PgPool.PgPool
  // Open every connection before the clock starts, as the processor's pool does at start-up.
  yield* Effect.all(
    Array.from({ length: connections }, () => pool.use((connection) => connection.query("SELECT pg_sleep(0.05)"))),
    { concurrency: "unbounded", discard: true },
  )
  let written = 0
  let inserted = 0
  const started = performance.now()
  const ticker = setInterval(
    () => say({ type: "progress", written, inserted, elapsedMs: performance.now() - started }),
    1000,
  )
  yield* Effect.forEach(
    chunks,
    (c) =>
      insertColumns(pool, c).pipe(
        Effect.map((insertedNow) => {
          written += c.deviceId.length
          inserted += insertedNow
        }),
      ),
    { concurrency: connections, discard: true },
  )
  const durationMs = performance.now() - started
  clearInterval(ticker)
  say({ type: "done", written, inserted, durationMs })
})

say({ type: "ready", chunks: chunks.length, entries: data.payloads.length })
await Effect.runPromise(program.pipe(Effect.provide(InsertPoolFromUrl(Redacted.make(url), connections))))
