import { Console, Effect, Option, References } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { StreamSettings } from "../config/AppConfig.ts"
import type { ControlResult } from "../ops/control.ts"
import { formatControl, formatDlqPage, formatLag, formatReplay } from "../ops/format.ts"
import { type DlqPurgeTarget, Ops } from "../ops/Ops.ts"
import { OpsError, OpsInputError } from "../ops/OpsError.ts"

/**
 * The runbook's commands (OPERATIONS.md): `telemetry lag`, `telemetry dlq list|replay|purge`,
 * `telemetry claim`, `telemetry rehydrate <device>`, `telemetry trim`. They read REDIS_URL, REDIS_TELEMETRY_STREAM,
 * REDIS_CONSUMER_GROUP and DLQ_STREAM like the processor does, so running one inside a processor's
 * container (`kubectl exec`, `docker compose exec`) needs no extra setup.
 */

const json = Flag.Boolean("json").pipe(
  Flag.withDescription("Print the result as JSON (for scripts) instead of a table"),
  Flag.withDefault(false),
)

/** Runs `f` with an Ops service over its own Redis connection. Info logs are left out: the
 * command prints its result itself, and `--json` output must stay parseable. */
const withOps = <A, E>(asJson: boolean, f: (ops: Ops["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const settings = yield* StreamSettings
    const layer = Ops.layerConnect({
      redisUrl: settings.redis.url,
      stream: settings.redis.stream,
      group: settings.group,
      dlqStream: settings.dlqStream,
    })
    return yield* Effect.flatMap(Ops, f).pipe(Effect.provide(layer))
  }).pipe(Effect.provideService(References.MinimumLogLevel, asJson ? "None" : "Warn"))

const print = <A>(asJson: boolean, value: A, human: (a: A) => string) =>
  Console.log(asJson ? JSON.stringify(value, null, 2) : human(value))

export const lagCommand = Command.make("lag", { json }, ({ json }) =>
  withOps(json, (ops) => ops.lag.pipe(Effect.flatMap((report) => print(json, report, formatLag)))),
).pipe(
  Command.withDescription(
    "Show the consumer group's lag (entries not yet delivered), pending entries (delivered, not acknowledged) per consumer with idle times, and the stream and DLQ lengths",
  ),
)

const dlqList = Command.make(
  "list",
  {
    json,
    count: Flag.Int("count").pipe(Flag.withDescription("Entries per page (1–1000)"), Flag.withDefault(20)),
    cursor: Flag.String("cursor").pipe(
      Flag.withDescription("Continue after this DLQ id (the `next page` id the previous page printed)"),
      Flag.optional,
    ),
    order: Flag.Literals("order", ["newest", "oldest"]).pipe(
      Flag.withDescription("newest first (default: the latest failures) or oldest first (the replay order)"),
      Flag.withDefault("newest" as const),
    ),
  },
  ({ json, count, cursor, order }) =>
    withOps(json, (ops) =>
      ops
        .dlqList({ order, count, cursor: Option.getOrUndefined(cursor) })
        .pipe(Effect.flatMap((page) => print(json, page, formatDlqPage))),
    ),
).pipe(
  Command.withDescription(
    "List dead-lettered entries with their error, delivery count and original id, one page at a time",
  ),
)

const dlqReplay = Command.make(
  "replay",
  {
    json,
    id: Flag.String("id").pipe(Flag.withDescription("Replay only this DLQ entry (its DLQ id)"), Flag.optional),
    errorTag: Flag.String("error-tag").pipe(
      Flag.withDescription("Replay only entries that failed with this error tag, e.g. CodecError"),
      Flag.optional,
    ),
    limit: Flag.Int("limit").pipe(Flag.withDescription("Replay at most this many entries"), Flag.optional),
  },
  ({ json, id, errorTag, limit }) =>
    withOps(json, (ops) =>
      ops
        .dlqReplay({
          id: Option.getOrUndefined(id),
          errorTag: Option.getOrUndefined(errorTag),
          limit: Option.getOrUndefined(limit),
        })
        .pipe(Effect.flatMap((report) => print(json, report, formatReplay))),
    ),
).pipe(
  Command.withDescription(
    "Put dead-lettered entries back on the main stream with their original fields (oldest first), removing each from the DLQ only after its XADD succeeded. Fix the cause first, or they come back",
  ),
)

const dlqPurge = Command.make(
  "purge",
  {
    json,
    all: Flag.Boolean("all").pipe(Flag.withDescription("Delete the whole DLQ"), Flag.withDefault(false)),
    id: Flag.String("id").pipe(Flag.withDescription("Delete this one DLQ entry"), Flag.optional),
    olderThanMs: Flag.Int("older-than-ms").pipe(
      Flag.withDescription("Delete entries dead-lettered more than this many milliseconds ago"),
      Flag.optional,
    ),
    yes: Flag.Boolean("yes").pipe(
      Flag.withDescription("Confirm: without it nothing is deleted and the command fails"),
      Flag.withDefault(false),
    ),
  },
  ({ json, all, id, olderThanMs, yes }) => {
    const targets: Array<DlqPurgeTarget> = []
    if (all) targets.push({ kind: "all" })
    if (Option.isSome(id)) targets.push({ kind: "id", id: id.value })
    if (Option.isSome(olderThanMs)) targets.push({ kind: "olderThan", ms: olderThanMs.value })
    const target = targets[0]
    if (target === undefined || targets.length > 1) {
      return Effect.fail(
        new OpsInputError({ reason: "choose exactly one of --all, --id <dlq id>, --older-than-ms <n>" }),
      )
    }
    return withOps(json, (ops) =>
      ops
        .dlqPurge(target, yes)
        .pipe(Effect.flatMap((report) => print(json, report, (r) => `removed ${r.removed} from ${r.dlqStream}`))),
    )
  },
).pipe(Command.withDescription("Delete dead-lettered entries for good (requires --yes). Inspect them first"))

export const dlqCommand = Command.make("dlq").pipe(
  Command.withDescription("Inspect, replay or purge the dead-letter stream (DLQ_STREAM)"),
  Command.withSubcommands([dlqList, dlqReplay, dlqPurge]),
)

export const trimCommand = Command.make(
  "trim",
  {
    json,
    keepMs: Flag.Int("keep-ms").pipe(
      Flag.withDescription(
        "Keep processed entries newer than this as a replay buffer, e.g. for a PostgreSQL failover that loses acknowledged rows (0: trim everything processed)",
      ),
      Flag.withDefault(3_600_000),
    ),
    yes: Flag.Boolean("yes").pipe(
      Flag.withDescription("Confirm: without it nothing is deleted and the command fails"),
      Flag.withDefault(false),
    ),
  },
  ({ json, keepMs, yes }) =>
    withOps(json, (ops) =>
      ops
        .trimProcessed({ keepMs }, yes)
        .pipe(
          Effect.flatMap((report) =>
            print(
              json,
              report,
              (r) => `removed ${r.removed} processed entries from ${r.stream}; kept ${r.keptFrom} and after`,
            ),
          ),
        ),
    ),
).pipe(
  Command.withDescription(
    "Free Redis memory: delete the main stream's entries that are fully processed (below the oldest pending entry, or up to the last delivered one), atomically; requires --yes. Run it periodically (see OPERATIONS.md)",
  ),
)

/** Prints the answers, then fails (non-zero exit) if any processor failed or stayed silent. */
const reportControl = (asJson: boolean, operation: string) => (result: ControlResult) =>
  print(asJson, result, formatControl).pipe(
    Effect.andThen(() => {
      const failed = result.replies.filter((r) => !r.ok).length
      return failed > 0 || result.missing > 0
        ? Effect.fail(
            new OpsError({
              operation,
              reason: `${failed} processor(s) failed and ${result.missing} did not answer of ${result.receivers}`,
            }),
          )
        : Effect.void
    }),
  )

const timeoutMs = (fallback: number) =>
  Flag.Int("timeout-ms").pipe(
    Flag.withDescription("How long to wait for the processors' answers"),
    Flag.withDefault(fallback),
  )

export const claimCommand = Command.make(
  "claim",
  {
    json,
    minIdleMs: Flag.Int("min-idle-ms").pipe(
      Flag.withDescription(
        "Claim entries idle at least this long (≥ 1000; default: each processor's CLAIM_THRESHOLD_MS)",
      ),
      Flag.optional,
    ),
    consumer: Flag.String("consumer").pipe(
      Flag.withDescription("Claim only this consumer's pending entries (a dead instance's name, see `telemetry lag`)"),
      Flag.optional,
    ),
    timeoutMs: timeoutMs(60_000),
  },
  ({ json, minIdleMs, consumer, timeoutMs }) =>
    withOps(json, (ops) =>
      ops
        .requestClaim(
          { minIdleMs: Option.getOrUndefined(minIdleMs), consumer: Option.getOrUndefined(consumer) },
          timeoutMs,
        )
        .pipe(Effect.flatMap(reportControl(json, "claim"))),
    ),
).pipe(
  Command.withDescription(
    "Ask every running processor to run a claim pass now (over the control channel) and process what it claims; prints each processor's counts",
  ),
)

export const rehydrateCommand = Command.make(
  "rehydrate",
  {
    json,
    device: Argument.String("device").pipe(Argument.withDescription("The device id (IMEI)")),
    timeoutMs: timeoutMs(5_000),
  },
  ({ json, device, timeoutMs }) =>
    withOps(json, (ops) =>
      ops.requestRehydrate(device, timeoutMs).pipe(Effect.flatMap(reportControl(json, "rehydrate"))),
    ),
).pipe(
  Command.withDescription(
    "Make every running processor drop its in-memory state of a device, so its next record reloads it from PostgreSQL (e.g. after fixing rows by hand)",
  ),
)

/** Add these to `Command.withSubcommands` in main.ts. */
export const opsCommands = [lagCommand, dlqCommand, claimCommand, rehydrateCommand, trimCommand] as const
