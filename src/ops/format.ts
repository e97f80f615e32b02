import type { ControlResult } from "./control.ts"
import type { DlqEntry } from "./dlqEntry.ts"
import type { DlqPage, DlqReplayReport, LagReport } from "./Ops.ts"

/** Plain-text rendering of the ops reports for people at a terminal; `--json` skips all of this. */

export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

export const duration = (ms: number | null): string => {
  if (ms === null) return "-"
  if (ms < 1_000) return `${ms} ms`
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`
  return `${(ms / 3_600_000).toFixed(1)} h`
}

const n = (value: number | null) => (value === null ? "unknown" : value.toLocaleString("en-US"))

export const formatLag = (r: LagReport): string => {
  const head = table(
    ["", "", ""],
    [
      ["stream", r.stream, `length ${n(r.streamLength)}`],
      [
        "group",
        r.group,
        r.groupExists
          ? `lag ${n(r.lag)}  pending ${n(r.pending)}  last delivered ${r.lastDeliveredId ?? "-"}`
          : "MISSING (no processor has started, or the group was lost: see OPERATIONS.md)",
      ],
      [
        "oldest pending",
        r.oldestPendingId ?? "-",
        r.oldestPendingId === null ? "" : `age ${duration(r.oldestPendingAgeMs)}`,
      ],
      ["dlq", r.dlqStream, `length ${n(r.dlqLength)}`],
    ],
  )
    .split("\n")
    .slice(1)
    .join("\n")
  if (r.consumers.length === 0) return `${head}\n\n(no consumers in the group)`
  const consumers = table(
    ["CONSUMER", "PENDING", "IDLE"],
    r.consumers.map((c) => [c.name, n(c.pending), duration(c.idleMs)]),
  )
  return `${head}\n\n${consumers}`
}

const deviceOf = (entry: DlqEntry): string => {
  const payload = entry.fields.payload
  if (payload === undefined) return "-"
  const match = /"device_id"\s*:\s*"([^"]{1,64})"/.exec(payload)
  return match?.[1] ?? "?"
}

const oneLine = (text: string | null, max: number) => {
  if (text === null) return "-"
  const flat = text.replace(/\s+/g, " ")
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

export const formatDlqPage = (page: DlqPage): string => {
  if (page.entries.length === 0)
    return `${page.dlqStream}: no entries${page.nextCursor === null ? "" : " on this page"}`
  const rows = page.entries.map((e) => [
    e.id,
    e.originalId ?? "-",
    e.failedAt ?? "-",
    e.deliveries === null ? "-" : String(e.deliveries),
    deviceOf(e),
    `${e.errorTag ?? "-"}: ${oneLine(e.errorMessage, 80)}`,
  ])
  const body = table(["DLQ ID", "ORIGINAL ID", "FAILED AT", "DELIVERIES", "DEVICE", "ERROR"], rows)
  const more =
    page.nextCursor === null
      ? `(${page.order} first; end of the DLQ)`
      : `(${page.order} first; next page: --cursor ${page.nextCursor})`
  return `${body}\n${more}`
}

export const formatReplay = (r: DlqReplayReport): string => {
  const lines = [`replayed ${r.replayed} entr${r.replayed === 1 ? "y" : "ies"} from ${r.dlqStream} to ${r.stream}`]
  if (r.skipped > 0) lines.push(`skipped ${r.skipped}`)
  if (r.details.length > 0) {
    lines.push(
      "",
      table(
        ["DLQ ID", "ORIGINAL ID", "RESULT"],
        r.details.map((d) => [
          d.dlqId,
          d.originalId ?? "-",
          d.newId === undefined ? `skipped: ${d.skipped}` : `now ${d.newId}`,
        ]),
      ),
    )
    const shown = r.replayed + r.skipped
    if (shown > r.details.length) lines.push(`(first ${r.details.length} of ${shown} shown)`)
  }
  return lines.join("\n")
}

export const formatControl = (r: ControlResult): string => {
  const rows = r.replies.map((reply) => {
    if (!reply.ok) return [reply.consumer, "FAILED", reply.error ?? ""]
    if (reply.type === "rehydrate")
      return [reply.consumer, "ok", reply.forgot === true ? "state dropped" : "device not in memory"]
    return [
      reply.consumer,
      "ok",
      `claimed ${reply.claimed ?? 0}: inserted ${reply.inserted ?? 0}, duplicate ${reply.duplicate ?? 0}, dead-lettered ${reply.deadLettered ?? 0}, deleted ${reply.deleted ?? 0}`,
    ]
  })
  const lines = [`request ${r.requestId}: ${r.receivers} processor(s) received it, ${r.replies.length} answered`]
  if (rows.length > 0) lines.push("", table(["PROCESSOR", "STATUS", "RESULT"], rows))
  if (r.missing > 0) lines.push("", `${r.missing} processor(s) did not answer within the timeout`)
  return lines.join("\n")
}
