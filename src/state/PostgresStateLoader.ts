import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { textArray } from "../db/arrays.ts"
import { describeSqlError } from "../db/sqlError.ts"
import type { Attributes, Position } from "../domain/Position.ts"
import { StateLoadError, StateLoader } from "./StateStore.ts"

interface LatestRow {
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
  readonly attributes: Attributes
  readonly stream_id: string
  readonly received_ms: number | null
}

/** Rehydration: the latest stored position of each cold device, in one query. The LATERAL form
 * reads one index entry per device (backwards on the primary key), however long its history. */
export const PostgresStateLoader = Layer.effect(
  StateLoader,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return StateLoader.of({
      load: (deviceIds) =>
        sql<LatestRow>`
          SELECT p.device_id, (extract(epoch FROM p.ts) * 1000)::float8 AS ts_ms, p.lat, p.lon, p.altitude, p.angle,
                 p.speed, p.satellites, p.priority, p.event_id, p.attributes, p.stream_id,
                 (extract(epoch FROM p.received_at) * 1000)::float8 AS received_ms
          FROM unnest(${textArray(deviceIds)}) AS d(device_id)
          CROSS JOIN LATERAL (
            SELECT * FROM positions WHERE positions.device_id = d.device_id ORDER BY ts DESC LIMIT 1
          ) p`.pipe(
          Effect.map((rows) => {
            const latest = new Map<string, Position>()
            for (const row of rows) {
              latest.set(row.device_id, {
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
                attributes: row.attributes,
                receivedAtMs: row.received_ms,
              })
            }
            return latest as ReadonlyMap<string, Position>
          }),
          Effect.mapError((error) => new StateLoadError({ reason: describeSqlError(error) })),
        ),
    })
  }),
)
