import * as PgPool from "@effect/sql-pg/PgPool"
import { Context, Effect, Layer, type Redacted } from "effect"
import { InsertPoolFromUrl } from "../db/Postgres.ts"
import type { Position } from "../domain/Position.ts"
import { inOrder, PositionBatch } from "../domain/PositionBatch.ts"
import { decodeChunk, type EncodedChunk, encodeRows } from "./encodedChunk.ts"
import { insertEncoded } from "./insertPositions.ts"
import { sortOrder } from "./positionColumns.ts"
import { classifySqlError, type PermanentWriteError, type TransientWriteError } from "./WriteError.ts"

export interface FailedRecord {
  readonly position: Position
  readonly error: PermanentWriteError
}

/** How every record of a batch ended. `written` are stored (inserted now, or already there: a
 * duplicate) and may be acknowledged; `failed` holds only rows PostgreSQL rejected on their own
 * (isolated from their chunk), for the DLQ. */
export interface WriteReport {
  /** Stream ids, in stream order (the order the positions were given), not the order written. */
  readonly written: Array<string>
  /** How many of `written` were new rows; the others were duplicates. */
  readonly inserted: number
  readonly failed: Array<FailedRecord>
}

/** A report being filled in, chunk by chunk. */
type ReportInProgress = { -readonly [K in keyof WriteReport]: WriteReport[K] }

export const emptyReport = (): ReportInProgress => ({ written: [], inserted: 0, failed: [] })

/** A report of every position written, `inserted` of them new (for test layers). */
export const writtenReport = (positions: ReadonlyArray<Position>, inserted = positions.length): WriteReport => ({
  written: positions.map((p) => p.streamId),
  inserted,
  failed: [],
})

/**
 * A batch ready for `write`: sorted and encoded into its statements' parameters. What a batch
 * waiting for a connection holds: its stream ids and bytes outside V8's heap (encodedArrays.ts).
 */
export interface EncodedBatch {
  /** In stream order: what is acknowledged, and what the heartbeat keeps claimed. */
  readonly streamIds: ReadonlyArray<string>
  readonly chunks: ReadonlyArray<EncodedChunk>
}

/** The positions in key order (sortOrder), `chunkSize` rows per chunk. */
export const encodeBatch = (positions: PositionBatch, chunkSize: number): EncodedBatch => {
  const order = sortOrder(positions)
  const chunks: Array<EncodedChunk> = []
  for (let from = 0; from < order.length; from += chunkSize) {
    chunks.push(encodeRows(positions, order, from, Math.min(from + chunkSize, order.length)))
  }
  return { streamIds: positions.streamIds, chunks }
}

export class Writer extends Context.Service<
  Writer,
  {
    /** Sorts and encodes a batch: pure and synchronous, done as soon as the batch is decoded so
     * that the decoded objects can be dropped young. */
    readonly encode: (positions: PositionBatch) => EncodedBatch
    /** Writes the batch, one round trip per chunk. Fails only with a transient error; the caller
     * retries (chunks already written come back as duplicates, so a retry is safe). */
    readonly write: (batch: EncodedBatch) => Effect.Effect<WriteReport, TransientWriteError>
  }
>()("telemetry/writer/Writer") {
  static readonly layer = (options: { readonly chunkSize: number }) =>
    Layer.effect(
      Writer,
      Effect.gen(function* () {
        const pool = yield* PgPool.PgPool

        const insert = (chunk: EncodedChunk) => insertEncoded(pool, chunk).pipe(Effect.mapError(classifySqlError))

        /**
         * Inserts `chunk`, rows [from, to) of `rows()`. A data error is narrowed down by halving
         * until the offending rows stand alone: k bad rows cost about 2·k·log2(n) extra statements.
         * `rows` is asked only then: a batch's chunks come back from their bytes (decodeChunk), the
         * halves are cut from those.
         */
        const writeChunk = (
          chunk: EncodedChunk,
          rows: () => PositionBatch,
          from: number,
          to: number,
          report: ReportInProgress,
        ): Effect.Effect<void, TransientWriteError> =>
          insert(chunk).pipe(
            Effect.map((inserted): void => {
              report.inserted += inserted
            }),
            Effect.catchTag("PermanentWriteError", (error) => {
              const sorted = rows()
              if (to - from === 1) {
                report.failed.push({ position: sorted.position(from), error })
                return Effect.void
              }
              const middle = from + Math.ceil((to - from) / 2)
              const order = inOrder(sorted.length)
              const half = (start: number, end: number) =>
                writeChunk(encodeRows(sorted, order, start, end), () => sorted, start, end, report)
              return half(from, middle).pipe(Effect.andThen(half(middle, to)))
            }),
          )

        const write = Effect.fnUntraced(function* (batch: EncodedBatch) {
          const report = emptyReport()
          for (const chunk of batch.chunks) {
            yield* writeChunk(chunk, () => PositionBatch.of(decodeChunk(chunk)), 0, chunk.rows, report)
          }
          // Everything not rejected is stored. Reported in the order given, which is stream order:
          // Redis acknowledges ids in that order at about half the cost of the (device, time) order
          // the rows were written in (bench: ~990 → ~540 µs per XACK of 1,000 ids).
          if (report.failed.length === 0) report.written = batch.streamIds.slice()
          else {
            const failed = new Set(report.failed.map((f) => f.position.streamId))
            report.written = batch.streamIds.filter((id) => !failed.has(id))
          }
          return report
        })

        return Writer.of({ encode: (positions) => encodeBatch(positions, options.chunkSize), write })
      }),
    )

  /** The Writer on its own `connections` to `url` (InsertPoolFromUrl), as the processor runs it
   * with WRITE_CONCURRENCY connections. */
  static readonly layerFromUrl = (
    url: Redacted.Redacted<string>,
    options: { readonly chunkSize: number; readonly connections: number },
  ) => Writer.layer({ chunkSize: options.chunkSize }).pipe(Layer.provide(InsertPoolFromUrl(url, options.connections)))

  /** A Writer whose writes are `behaviour`, given the positions in stream order as they come back
   * from their encoded bytes, for tests of what the pipeline does with each outcome. */
  static readonly layerTest = (
    behaviour: (positions: ReadonlyArray<Position>) => Effect.Effect<WriteReport, TransientWriteError>,
  ) =>
    Layer.succeed(
      Writer,
      Writer.of({
        encode: (positions) => ({
          streamIds: positions.streamIds,
          chunks: positions.length === 0 ? [] : [encodeRows(positions, inOrder(positions.length), 0, positions.length)],
        }),
        write: (batch) => behaviour(batch.chunks.flatMap(decodeChunk)),
      }),
    )
}
