import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { beforeAll } from "vitest"
import { deviceKeyOf, type Position } from "../../src/domain/Position.ts"
import { PositionBatch } from "../../src/domain/PositionBatch.ts"
import { Writer } from "../../src/writer/Writer.ts"
import { freshDatabaseUrl, sqlLayer, writerLayer } from "../support/postgres.ts"

let url = ""
beforeAll(async () => {
  url = await freshDatabaseUrl()
})

const position = (streamId: string, deviceId: string, tsMs: number, overrides: Partial<Position> = {}): Position => ({
  streamId,
  deviceId,
  deviceKey: deviceKeyOf(deviceId),
  tsMs,
  lat: 54.1,
  lon: 25.3,
  altitude: 100,
  angle: 90,
  speed: 40,
  satellites: 9,
  priority: 1,
  eventId: 0,
  attributesJson: JSON.stringify({ "78": { $bigint: "18446744073709551615" }, "385": { $bytes: "AQID" }, "21": 3 }),
  receivedAtMs: 1_700_000_000_999,
  ...overrides,
})

const withWriter = <A, E>(effect: Effect.Effect<A, E, Writer | SqlClient.SqlClient>, chunkSize = 500) =>
  effect.pipe(Effect.provide(writerLayer(url, chunkSize).pipe(Layer.provideMerge(sqlLayer(url)))))

const ids = (streamIds: ReadonlyArray<string>) => [...streamIds].sort()

/** Runs `body` in a transaction of another session (its own pool, `other`), in a child fiber. */
const inOtherSession = <A, E>(
  other: Layer.Layer<SqlClient.SqlClient, unknown>,
  body: (admin: SqlClient.SqlClient) => Effect.Effect<A, E>,
) =>
  Effect.gen(function* () {
    const admin = yield* SqlClient.SqlClient
    return yield* admin.withTransaction(body(admin))
  }).pipe(Effect.provide(other), Effect.forkChild)

/** Asks another session until `count` answers more than 0 (e.g. a statement waiting on a lock). */
const untilSeen = <E>(
  other: Layer.Layer<SqlClient.SqlClient, unknown>,
  count: (admin: SqlClient.SqlClient) => Effect.Effect<number, E>,
) =>
  Effect.gen(function* () {
    return yield* count(yield* SqlClient.SqlClient)
  }).pipe(Effect.provide(other), Effect.repeat({ until: (n) => n > 0, schedule: Schedule.spaced("20 millis") }))

describe("Writer against PostgreSQL", () => {
  it.live("reports inserted, then duplicate for the same keys; stores every column", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const batch = [position("1-0", "w1", 1000), position("1-1", "w1", 2000), position("1-2", "w2", 1000)]
        const first = yield* writer.write(writer.encode(PositionBatch.of(batch)))
        expect(ids(first.written)).toEqual(["1-0", "1-1", "1-2"])
        expect(first.inserted).toBe(3)
        const again = yield* writer.write(
          writer.encode(PositionBatch.of(batch.map((p, i) => ({ ...p, streamId: `2-${i}` })))),
        )
        expect(ids(again.written)).toEqual(["2-0", "2-1", "2-2"])
        expect(again.inserted).toBe(0)

        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{
          device_id: string
          ts: Date
          attributes: unknown
          stream_id: string
          received_at: Date
          satellites: number
        }>`SELECT device_id, ts, attributes, stream_id, received_at, satellites FROM positions WHERE device_id = 'w1' ORDER BY ts`
        expect(rows.map((r) => [r.device_id, r.ts.getTime(), r.stream_id])).toEqual([
          ["w1", 1000, "1-0"],
          ["w1", 2000, "1-1"],
        ])
        expect(rows[0]?.attributes).toEqual({
          "78": { $bigint: "18446744073709551615" },
          "385": { $bytes: "AQID" },
          "21": 3,
        })
        expect(rows[0]?.received_at.getTime()).toBe(1_700_000_000_999)
        expect(rows[0]?.satellites).toBe(9)
      }),
    ),
  )

  it.live("writes batches that mix integer and fractional values, large integers and missing received_at", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const report = yield* writer.write(
          writer.encode(
            PositionBatch.of([
              position("8-0", "w8", 1, { lat: 54, speed: 12.5, altitude: -3, receivedAtMs: null }),
              position("8-1", "w8", 2, {
                lat: 54.25,
                speed: 0,
                altitude: 3_000_000_000,
                receivedAtMs: 1_700_000_000_001,
              }),
              position("8-2", "w8", 3, { lat: -0.5, speed: 1e-9, eventId: 65_535, receivedAtMs: null }),
            ]),
          ),
        )
        expect(report.inserted).toBe(3)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ lat: number; speed: number; altitude: number; received_at: Date | null }>`
          SELECT lat, speed, altitude, received_at FROM positions WHERE device_id = 'w8' ORDER BY ts`
        expect(rows.map((r) => [r.lat, r.speed, r.altitude, r.received_at === null])).toEqual([
          [54, 12.5, -3, true],
          [54.25, 0, 3_000_000_000, false],
          [-0.5, 1e-9, 0 + 100, true],
        ])
      }),
    ),
  )

  it.live("counts the same key twice in one batch once inserted, once duplicate", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const report = yield* writer.write(
          writer.encode(PositionBatch.of([position("3-0", "w3", 5000), position("3-1", "w3", 5000)])),
        )
        expect(report.written.length).toBe(2)
        expect(report.inserted).toBe(1)
        expect(report.failed).toEqual([])
      }),
    ),
  )

  it.live("stores multi-byte and long texts as given (the Writer encodes its own arrays)", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const note = `ąčęėįšųūž 🚚 ${"ü".repeat(5_000)}`
        const report = yield* writer.write(
          writer.encode(
            PositionBatch.of([
              position("10-0", "vilkikas-ą🚛", 1, { attributesJson: JSON.stringify({ note }) }),
              position("10-1", "vilkikas-ą🚛", 2, { attributesJson: "{}" }),
            ]),
          ),
        )
        expect(report.inserted).toBe(2)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ device_id: string; note: string | null; stream_id: string }>`
          SELECT device_id, attributes->>'note' AS note, stream_id FROM positions
          WHERE device_id = ${"vilkikas-ą🚛"} ORDER BY ts`
        expect(rows).toEqual([
          { device_id: "vilkikas-ą🚛", note, stream_id: "10-0" },
          { device_id: "vilkikas-ą🚛", note: null, stream_id: "10-1" },
        ])
      }),
    ),
  )

  it.live("writes in chunks of WRITE_BATCH_SIZE and accounts for every record", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const batch = Array.from({ length: 250 }, (_, i) => position(`4-${i}`, `w4-${i % 7}`, 10_000 + i))
        const given = [...batch, ...batch.slice(0, 10).map((p) => ({ ...p, streamId: `5-${p.streamId}` }))]
        const report = yield* writer.write(writer.encode(PositionBatch.of(given)))
        expect(report.written.length).toBe(260)
        expect(report.inserted).toBe(250)
        // In the order given (stream order, for XACK), although written sorted by (device, ts).
        expect(report.written).toEqual(given.map((p) => p.streamId))
      }),
      64,
    ),
  )

  it.live("isolates rows PostgreSQL rejects and writes the rest of their chunk", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const batch = Array.from({ length: 100 }, (_, i) => position(`6-${i}`, "w6", 20_000 + i))
        batch[17] = position("6-17", "w6", 20_017, { satellites: 100_000 }) // smallint out of range
        batch[60] = position("6-60", "w6", 20_060, { attributesJson: JSON.stringify({ "1": "nul\u0000byte" }) }) // jsonb rejects \u0000
        const report = yield* writer.write(writer.encode(PositionBatch.of(batch)))
        expect(report.written.length).toBe(98)
        expect(report.written).toEqual(batch.filter((_, i) => i !== 17 && i !== 60).map((p) => p.streamId))
        expect(report.inserted).toBe(98)
        expect(report.failed.map((f) => f.position.streamId).sort()).toEqual(["6-17", "6-60"])
        expect(report.failed.map((f) => f.error.sqlState).sort()).toEqual(["22003", "22P05"])
        const sql = yield* SqlClient.SqlClient
        const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM positions WHERE device_id = 'w6'`
        expect(row?.n).toBe(98)
      }),
      500,
    ),
  )

  it.live("surfaces a connection terminated mid-write as a TransientWriteError, and works again after", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const sql = yield* SqlClient.SqlClient
        const other = sqlLayer(url, 2)
        // Hold a lock so the insert is certainly in flight on the server when its backend is killed.
        const release = yield* Deferred.make<void>()
        const locked = yield* Deferred.make<void>()
        const holder = yield* inOtherSession(other, (admin) =>
          Effect.gen(function* () {
            yield* admin`LOCK TABLE positions IN ACCESS EXCLUSIVE MODE`
            yield* Deferred.succeed(locked, undefined)
            yield* Deferred.await(release)
          }),
        )
        yield* Deferred.await(locked)
        const write = yield* writer
          .write(writer.encode(PositionBatch.of([position("7-1", "w7", 2)])))
          .pipe(Effect.flip, Effect.forkChild)
        const terminated = yield* untilSeen(other, (admin) =>
          admin<{ ok: boolean }>`
            SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO positions%'`.pipe(
            Effect.map((rows) => rows.length),
          ),
        )
        expect(terminated).toBe(1)
        const error = yield* Fiber.join(write)
        expect(error._tag).toBe("TransientWriteError")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        // The pool reconnects: the same write then succeeds.
        const report = yield* writer
          .write(writer.encode(PositionBatch.of([position("7-1", "w7", 2)])))
          .pipe(Effect.retry({ times: 3 }))
        expect(report.inserted).toBe(1)
        const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM positions WHERE device_id = 'w7'`
        expect(row?.n).toBe(1)
      }),
    ),
  )

  // What a rolling deploy across a change of row order can cause (OPERATIONS, "Deploy"): another
  // writer holding the batch's keys in the opposite order.
  it.live("a deadlock with another writer is a TransientWriteError (40P01); the retry writes the batch once", () =>
    withWriter(
      Effect.gen(function* () {
        const writer = yield* Writer
        const sql = yield* SqlClient.SqlClient
        const other = sqlLayer(url, 2)
        const insertOne = (admin: SqlClient.SqlClient, streamId: string, tsMs: number) =>
          admin`INSERT INTO positions (device_id, ts, lat, lon, altitude, angle, speed, satellites, priority, event_id, attributes, stream_id)
                VALUES ('w9', to_timestamp(${tsMs} / 1000.0), 0, 0, 0, 0, 0, 0, 0, 0, '{}', ${streamId})`
        const secondKeyHeld = yield* Deferred.make<void>()
        const writerWaiting = yield* Deferred.make<void>()
        // The other session takes the batch's second key, then (once the writer waits on it) the first.
        const rival = yield* inOtherSession(other, (admin) =>
          Effect.gen(function* () {
            yield* insertOne(admin, "9-9", 2000)
            yield* Deferred.succeed(secondKeyHeld, undefined)
            yield* Deferred.await(writerWaiting)
            yield* insertOne(admin, "9-8", 1000)
          }),
        )
        yield* Deferred.await(secondKeyHeld)
        const batch = [position("9-0", "w9", 1000), position("9-1", "w9", 2000)]
        const write = yield* writer.write(writer.encode(PositionBatch.of(batch))).pipe(Effect.flip, Effect.forkChild)
        yield* untilSeen(other, (admin) =>
          admin<{ n: number }>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM unnest(%'`.pipe(
            Effect.map((rows) => rows[0]?.n ?? 0),
          ),
        )
        yield* Deferred.succeed(writerWaiting, undefined)
        // The writer waited first, so its deadlock check runs first and aborts its own statement.
        const error = yield* Fiber.join(write)
        expect(error._tag).toBe("TransientWriteError")
        expect(error.sqlState).toBe("40P01")
        yield* Fiber.join(rival)
        const report = yield* writer.write(writer.encode(PositionBatch.of(batch)))
        expect(report.written).toEqual(["9-0", "9-1"])
        expect(report.inserted).toBe(0)
        const rows = yield* sql<{
          stream_id: string
        }>`SELECT stream_id FROM positions WHERE device_id = 'w9' ORDER BY ts`
        expect(rows.map((r) => r.stream_id)).toEqual(["9-8", "9-9"])
      }),
    ),
  )
})
