import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { textArray } from "../db/arrays.ts"
import { describeSqlError } from "../db/sqlError.ts"
import type { LastFix } from "./DeviceState.ts"
import { StateLoadError, StateLoader } from "./StateStore.ts"

type LatestRow = Omit<LastFix, "tsMs"> & { readonly device_id: string; readonly ts_ms: number }

/** Rehydration: the latest stored position of each cold device, in one query. The LATERAL form
 * reads one index entry per device (backwards on the primary key), however long its history. */
export const PostgresStateLoader = Layer.effect(
  StateLoader,
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return StateLoader.of({
      load: (deviceIds) =>
        sql<LatestRow>`
          SELECT d.device_id, (extract(epoch FROM p.ts) * 1000)::float8 AS ts_ms, p.lat, p.lon, p.altitude, p.angle,
                 p.speed, p.satellites
          FROM unnest(${textArray(deviceIds)}) AS d(device_id)
          CROSS JOIN LATERAL (
            SELECT ts, lat, lon, altitude, angle, speed, satellites FROM positions
            WHERE positions.device_id = d.device_id ORDER BY ts DESC LIMIT 1
          ) p`.pipe(
          Effect.map((rows) => {
            const latest = new Map<string, LastFix>()
            for (const row of rows) {
              latest.set(row.device_id, {
                tsMs: row.ts_ms,
                lat: row.lat,
                lon: row.lon,
                altitude: row.altitude,
                angle: row.angle,
                speed: row.speed,
                satellites: row.satellites,
              })
            }
            return latest as ReadonlyMap<string, LastFix>
          }),
          Effect.mapError((error) => new StateLoadError({ reason: describeSqlError(error) })),
        ),
    })
  }),
)
