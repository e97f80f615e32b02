import * as Crypto from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Context, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { describeSqlError } from "../db/sqlError.ts"
import { classifySqlError } from "../writer/WriteError.ts"
import { splitStatements } from "./splitStatements.ts"

export class MigrationError extends Schema.TaggedError<MigrationError>()("MigrationError", {
  migration: Schema.String,
  reason: Schema.String,
  /** The database was unreachable or busy, not the migration wrong: worth trying again. */
  transient: Schema.Boolean,
}) {
  override get message(): string {
    return `migration ${this.migration}: ${this.reason}`
  }
}

export interface Migration {
  readonly version: string
  readonly name: string
  readonly sql: string
  readonly checksum: string
}

/** Both `src/migrator/` and `dist/migrator/` sit two levels below the package root. */
export const defaultMigrationsDir = fileURLToPath(new URL("../../migrations/", import.meta.url))

/** Any fixed 64-bit number; every instance must use the same one. */
const MIGRATION_LOCK_KEY = 7_346_211_001

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/

export const loadMigrations = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      const files = (await Fs.readdir(dir)).filter((f) => f.endsWith(".sql")).sort()
      return Promise.all(
        files.map(async (file): Promise<Migration> => {
          const match = FILE_NAME.exec(file)
          if (match === null) throw new Error(`${file}: expected NNNN_name.sql`)
          const sql = await Fs.readFile(Path.join(dir, file), "utf8")
          return {
            version: match[1] as string,
            name: match[2] as string,
            sql,
            checksum: Crypto.createHash("sha256").update(sql).digest("hex"),
          }
        }),
      )
    },
    catch: (error) => new MigrationError({ migration: dir, reason: String(error), transient: false }),
  })

export interface MigrationReport {
  readonly applied: ReadonlyArray<string>
  readonly alreadyApplied: number
}

export class Migrator extends Context.Service<
  Migrator,
  {
    readonly run: Effect.Effect<MigrationReport, MigrationError>
  }
>()("telemetry/migrator/Migrator") {
  /**
   * Applies pending migrations in one transaction that first takes a transaction-scoped advisory
   * lock, before even the bookkeeping table is created: a second instance starting at the same
   * moment waits on the lock, then finds everything applied. A failure rolls back all of it.
   */
  static readonly layerFrom = (dir: string) =>
    Layer.effect(
      Migrator,
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const run = Effect.gen(function* () {
          const migrations = yield* loadMigrations(dir)
          return yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`
                yield* sql`CREATE TABLE IF NOT EXISTS schema_migrations (
                  version    text        PRIMARY KEY,
                  name       text        NOT NULL,
                  checksum   text        NOT NULL,
                  applied_at timestamptz NOT NULL DEFAULT now()
                )`
                const done = yield* sql<{
                  version: string
                  checksum: string
                }>`SELECT version, checksum FROM schema_migrations`
                const doneByVersion = new Map(done.map((row) => [row.version, row.checksum]))
                const applied: Array<string> = []
                for (const migration of migrations) {
                  const previous = doneByVersion.get(migration.version)
                  if (previous !== undefined) {
                    if (previous !== migration.checksum) {
                      return yield* new MigrationError({
                        migration: `${migration.version}_${migration.name}`,
                        reason: "file changed after it was applied; add a new migration instead",
                        transient: false,
                      })
                    }
                    continue
                  }
                  for (const statement of splitStatements(migration.sql)) yield* sql.unsafe(statement)
                  yield* sql`INSERT INTO schema_migrations (version, name, checksum) VALUES (${migration.version}, ${migration.name}, ${migration.checksum})`
                  applied.push(`${migration.version}_${migration.name}`)
                }
                return { applied, alreadyApplied: migrations.length - applied.length }
              }),
            )
            .pipe(
              Effect.catchTag("SqlError", (error) =>
                Effect.fail(
                  new MigrationError({
                    migration: "(transaction)",
                    reason: describeSqlError(error),
                    transient: classifySqlError(error)._tag === "TransientWriteError",
                  }),
                ),
              ),
            )
        }).pipe(Effect.withSpan("Migrator.run"))
        return Migrator.of({ run })
      }),
    )

  static readonly layer = Migrator.layerFrom(defaultMigrationsDir)
}

/** Runs the migrations, waiting out an unreachable database (start-up order in compose or
 * Kubernetes is not guaranteed) for up to about a minute; a wrong migration fails at once. */
export const migrateWithRetry = Effect.gen(function* () {
  const migrator = yield* Migrator
  const report = yield* migrator.run.pipe(
    Effect.tapError((error) =>
      error.transient
        ? Effect.logWarning("database not ready for migrations; retrying", { error: error.reason })
        : Effect.void,
    ),
    Effect.retry({
      while: (error) => error.transient,
      schedule: Schedule.exponential(Duration.millis(200)).pipe(Schedule.upTo({ duration: Duration.seconds(60) })),
    }),
  )
  yield* Effect.logInfo("migrations applied").pipe(
    Effect.annotateLogs({ applied: report.applied, alreadyApplied: report.alreadyApplied }),
  )
  return report
})
