/**
 * The reference consumer: what a team would write without Effect, as the yardstick for the
 * processor. One serial loop, one batch at a time, no overlap:
 *
 *   XREADGROUP COUNT 500 → JSON.parse → build arrays (sorted by device_id, ts) → unnest insert → XACK
 *
 * ioredis for Redis; for PostgreSQL the processor's own driver and statement (@effect/sql-pg's
 * pool, `insertPositions`, which lets the driver encode the arrays, as a team would) behind a
 * one-line promise wrapper. No state, no DLQ, no claiming, no retries: a failure ends the process. Same environment variables as the
 * processor (POSTGRES_URL, REDIS_URL, REDIS_TELEMETRY_STREAM, REDIS_CONSUMER_GROUP,
 * REDIS_CONSUMER_NAME, READ_COUNT, READ_BLOCK_MS). SIGTERM: finish the current batch, exit 0.
 */
import * as PgPool from "@effect/sql-pg/PgPool"
import { ManagedRuntime, Redacted } from "effect"
import { Redis } from "ioredis"
import { InsertPoolFromUrl } from "../../src/db/Postgres.ts"
import { insertColumns, payloadToRow, type Row, toSortedColumns } from "../sql.ts"

const env = (name: string, fallback: string): string => process.env[name] ?? fallback

const stream = env("REDIS_TELEMETRY_STREAM", "telemetry:teltonika")
const group = env("REDIS_CONSUMER_GROUP", "processor")
const consumer = env("REDIS_CONSUMER_NAME", "reference")
const count = Number(env("READ_COUNT", "500"))
const blockMs = Number(env("READ_BLOCK_MS", "1000"))

const redis = new Redis(env("REDIS_URL", "redis://127.0.0.1:6379"))
const pg = ManagedRuntime.make(
  InsertPoolFromUrl(Redacted.make(env("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/telemetry")), 1),
)
const pool = await pg.runPromise(PgPool.PgPool)

/** The whole "driver layer" of the reference: a statement in, a promise of the inserted count out. */
const insert = (rows: ReadonlyArray<Row>) => pg.runPromise(insertColumns(pool, toSortedColumns(rows)))

let stopping = false
process.once("SIGTERM", () => {
  stopping = true
})
process.once("SIGINT", () => {
  stopping = true
})

type Entry = [id: string, fields: Array<string>]

/** XREADGROUP on one stream: null on timeout, else `[stream, entries]` (RESP3, ioredis 6's default)
 * or `[[stream, entries]]` (RESP2). */
const entriesOf = (reply: unknown): Array<Entry> => {
  if (!Array.isArray(reply)) return []
  if (typeof reply[0] === "string") return (reply[1] ?? []) as Array<Entry>
  return ((reply[0] as [string, Array<Entry>] | undefined)?.[1] ?? []) as Array<Entry>
}

const fieldOf = (fields: ReadonlyArray<string>, name: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

try {
  await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM")
} catch (error) {
  if (!String(error).includes("BUSYGROUP")) throw error
}

// This consumer's own pending entries first (after a crash), then new ones.
let cursor = "0"
let inserted = 0
let duplicates = 0
let bad = 0
while (!stopping) {
  const args: Array<string | number> = ["GROUP", group, consumer, "COUNT", count]
  if (cursor === ">") args.push("BLOCK", blockMs)
  args.push("STREAMS", stream, cursor)
  const entries = entriesOf(await redis.call("XREADGROUP", ...args))
  if (entries.length === 0) {
    if (cursor !== ">") cursor = ">"
    continue
  }
  if (cursor !== ">") cursor = (entries.at(-1) as Entry)[0]

  const rows: Array<Row> = []
  const ids: Array<string> = []
  for (const [id, fields] of entries) {
    ids.push(id)
    const payload = fieldOf(fields, "payload")
    try {
      if (payload === undefined) throw new Error("no payload")
      rows.push(payloadToRow(id, payload, fieldOf(fields, "received_at")))
    } catch (error) {
      bad++
      console.error(JSON.stringify({ level: "WARN", message: "dropping undecodable entry", id, error: String(error) }))
    }
  }
  if (rows.length > 0) {
    const insertedNow = await insert(rows)
    inserted += insertedNow
    duplicates += rows.length - insertedNow
  }
  await redis.xack(stream, group, ...ids)
}

console.error(JSON.stringify({ level: "INFO", message: "reference stopped", inserted, duplicates, bad }))
redis.disconnect()
await pg.dispose()
