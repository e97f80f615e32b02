import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Result } from "effect"
import { SqlClient } from "effect/sql"
import { beforeAll } from "vitest"
import { generate, SOURCE } from "../../bench/data.ts"
import { decodeEntryFields } from "../../src/decoder/Decoder.ts"
import type { Position } from "../../src/domain/Position.ts"
import { Checkpoints } from "../../src/processor/Checkpoints.ts"
import { makeRandom } from "../../src/simulator/random.ts"
import { StateLoader } from "../../src/state/StateStore.ts"
import { freshDatabaseUrl, sqlLayer, writerLayer } from "../support/postgres.ts"
import { eventually, pendingCount, processorWith, redisFor, testSettings } from "../support/processor.ts"

const ENTRIES = 2_400

/**
 * The stream's entries: the bench's payloads, changed here and there so that every way of decoding
 * and every size of read comes up — attribute texts of random length (reads grow and shrink, and a
 * read's reused buffers hold the tail of a longer one), device ids with non-ASCII characters and
 * string timestamps (the full path), no `received_at`, whitespace between tokens.
 */
const streamFields = (): Array<Array<string>> => {
  const random = makeRandom(2026)
  const data = generate({ entries: ENTRIES, devices: 300, resendRate: 0, seed: 12 })
  return data.payloads.map((text, i) => {
    const payload = JSON.parse(text) as { device_id: string; ts: number | string; attributes: Record<string, unknown> }
    if (i % 7 === 3) payload.attributes.note = "n".repeat(Math.floor(random.next() * 2_000))
    if (i % 11 === 5) payload.device_id = `${payload.device_id}-é`
    if (i % 13 === 6) payload.ts = new Date(payload.ts).toISOString()
    const json = i % 19 === 9 ? JSON.stringify(payload, null, 1) : JSON.stringify(payload)
    const fields = ["payload", json, "source", SOURCE]
    if (i % 17 !== 8) fields.push("received_at", String(data.receivedAtMs[i]))
    return fields
  })
}

interface Row {
  readonly stream_id: string
  readonly device_id: string
  readonly ts_ms: number
  readonly lat: number
  readonly lon: number
  readonly altitude: number
  readonly angle: number
  readonly speed: number
  readonly satellites: number
  readonly priority: number
  readonly event_id: number
  readonly attributes: string
  readonly received_ms: number | null
}

/** What a stored row says, in a Position's terms. */
const asPosition = (row: Row) => ({
  streamId: row.stream_id,
  deviceId: row.device_id,
  tsMs: row.ts_ms,
  lat: row.lat,
  lon: row.lon,
  altitude: row.altitude,
  angle: row.angle,
  speed: row.speed,
  satellites: row.satellites,
  priority: row.priority,
  eventId: row.event_id,
  attributes: JSON.parse(row.attributes) as unknown,
  receivedAtMs: row.received_ms,
})

describe("rows as stored", () => {
  let url = ""
  beforeAll(async () => {
    url = await freshDatabaseUrl()
  })

  it.live(
    "every column of every row is what the full JSON path decodes from its entry, across reads of every size",
    () =>
      Effect.gen(function* () {
        const settings = testSettings({ READ_COUNT: "300", WRITE_BATCH_SIZE: "64" })
        const { stream } = settings.stream.redis
        const redis = redisFor(settings)
        const run = yield* Effect.forkChild(
          processorWith(settings, {
            writer: writerLayer(url, 64),
            stateLoader: StateLoader.layerNone,
            checkpoints: Checkpoints.layerMemory,
          }),
        )
        const entries = streamFields()
        const ids = yield* Effect.promise(async () => {
          // Bursts of 1 to 400 entries, each after the last is read: reads from a single entry to
          // full ones that arrive in several socket chunks.
          const random = makeRandom(7)
          const ids: Array<string> = []
          for (let at = 0; at < entries.length; ) {
            const burst = entries.slice(at, at + 1 + Math.floor(random.next() * 400))
            const pipeline = redis.pipeline()
            for (const fields of burst) pipeline.call("XADD", stream, "*", ...fields)
            for (const [error, id] of (await pipeline.exec()) ?? []) {
              if (error !== null) throw error
              ids.push(String(id))
            }
            at += burst.length
            await eventually(async () => (await pendingCount(redis, stream, "processor")) === 0, "burst acknowledged")
          }
          return ids
        })
        const rows = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql.unsafe<Row>(`
          SELECT stream_id, device_id, (extract(epoch from ts) * 1000)::float8 AS ts_ms, lat, lon, altitude,
                 angle, speed, satellites, priority, event_id, attributes::text AS attributes,
                 (extract(epoch from received_at) * 1000)::float8 AS received_ms
          FROM positions`)
        }).pipe(Effect.provide(sqlLayer(url, 1)))
        yield* Fiber.interrupt(run)
        redis.disconnect()

        expect(rows.length).toBe(ENTRIES)
        const stored = new Map(rows.map((row) => [row.stream_id, asPosition(row)]))
        let compared = 0
        entries.forEach((fields, i) => {
          const id = ids[i] as string
          const decoded = decodeEntryFields({ id, fields })
          if (Result.isFailure(decoded)) throw new Error(`entry ${i} is not valid: ${decoded.failure.reason}`)
          const { deviceKey: _key, attributesJson, ...expected }: Position = decoded.success
          expect(stored.get(id), `entry ${i}`).toEqual({ ...expected, attributes: JSON.parse(attributesJson) })
          compared++
        })
        expect(compared).toBe(ENTRIES)
      }),
  )
})
