import { Context, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { classifySqlError, type WriteError } from "../writer/WriteError.ts"

export interface StreamGap {
  readonly kind: "trimmed" | "deleted-pending"
  readonly firstId: string
  readonly lastId: string
  readonly entryCount: number | null
}

/** Where the group's processing frontier is kept, so a lost group can be recreated without loss
 * (migrations/0002_stream_checkpoints.sql). */
export class Checkpoints extends Context.Service<
  Checkpoints,
  {
    readonly load: Effect.Effect<string | undefined, WriteError>
    readonly save: (lastDoneId: string) => Effect.Effect<void, WriteError>
    readonly recordGap: (gap: StreamGap) => Effect.Effect<void, WriteError>
  }
>()("telemetry/processor/Checkpoints") {
  static readonly layer = (stream: string, group: string) =>
    Layer.effect(
      Checkpoints,
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        return Checkpoints.of({
          load: sql<{ readonly last_done_id: string }>`
            SELECT last_done_id FROM stream_checkpoints WHERE stream = ${stream} AND consumer_group = ${group}`.pipe(
            Effect.map((rows) => rows[0]?.last_done_id),
            Effect.mapError(classifySqlError),
          ),
          save: (lastDoneId) =>
            sql`
              INSERT INTO stream_checkpoints (stream, consumer_group, last_done_id, updated_at)
              VALUES (${stream}, ${group}, ${lastDoneId}, now())
              ON CONFLICT (stream, consumer_group) DO UPDATE SET last_done_id = EXCLUDED.last_done_id, updated_at = now()`.pipe(
              Effect.asVoid,
              Effect.mapError(classifySqlError),
            ),
          recordGap: (gap) =>
            sql`
              INSERT INTO stream_gaps (stream, consumer_group, kind, first_id, last_id, entry_count)
              VALUES (${stream}, ${group}, ${gap.kind}, ${gap.firstId}, ${gap.lastId}, ${gap.entryCount})`.pipe(
              Effect.asVoid,
              Effect.mapError(classifySqlError),
            ),
        })
      }),
    )

  /** In memory, for tests. */
  static readonly layerMemory = Layer.sync(Checkpoints, () => {
    let saved: string | undefined
    return Checkpoints.of({
      load: Effect.sync(() => saved),
      save: (id) =>
        Effect.sync(() => {
          saved = id
        }),
      recordGap: () => Effect.void,
    })
  })
}
