import type { CeilingSample } from "./cases/ceiling.ts"
import type { DrainSample } from "./cases/drain.ts"
import type { GatewaySample } from "./cases/gateway.ts"
import type { LatencySample } from "./cases/latency.ts"
import type { InsertBackendWaits } from "./infra.ts"
import { fmtInt, fmtNum, mb } from "./progress.ts"

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
  readonly values: ReadonlyArray<number>
}

export const spread = (values: ReadonlyArray<number>): Spread | undefined => {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (xs.length === 0) return undefined
  const mid = Math.floor(xs.length / 2)
  const median = xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2
  return { median, min: xs[0] as number, max: xs.at(-1) as number, n: xs.length, values }
}

export interface Samples {
  readonly drain: Array<DrainSample>
  readonly ceiling: Array<CeilingSample>
  readonly latency: Array<LatencySample>
  readonly memory: Array<DrainSample>
  readonly gateway: Array<GatewaySample>
}

/** Ratios of the processor to another contender, paired by run (the same run's servers, data and
 * machine state), so machine drift between runs cancels out. */
const paired = <A extends { readonly run: number }, B extends { readonly run: number }>(
  xs: ReadonlyArray<A>,
  ys: ReadonlyArray<B>,
  fx: (a: A) => number,
  fy: (b: B) => number,
): Spread | undefined => {
  const ratios: Array<number> = []
  for (const x of xs) {
    const y = ys.find((b) => b.run === x.run)
    if (y !== undefined && fy(y) !== 0) ratios.push(fx(x) / fy(y))
  }
  return spread(ratios)
}

export interface Row {
  readonly case: string
  readonly metric: string
  readonly processor?: Spread
  readonly reference?: Spread
  readonly ceiling?: Spread
  /** processor / reference and processor / ceiling, per run. */
  readonly vsReference?: Spread
  readonly vsCeiling?: Spread
  readonly target?: { readonly text: string; readonly met: boolean | undefined }
  readonly note?: string
  readonly digits: number
}

export const buildRows = (s: Samples): Array<Row> => {
  const rows: Array<Row> = []
  const proc = <A extends { readonly contender: string }>(xs: ReadonlyArray<A>) =>
    xs.filter((x) => x.contender === "processor")
  const ref = <A extends { readonly contender: string }>(xs: ReadonlyArray<A>) =>
    xs.filter((x) => x.contender === "reference")

  if (s.drain.length > 0 || s.ceiling.length > 0) {
    const p = proc(s.drain)
    const r = ref(s.drain)
    const vsReference = paired(
      p,
      r,
      (a) => a.rowsPerSec,
      (b) => b.rowsPerSec,
    )
    const vsCeiling = paired(
      p,
      s.ceiling,
      (a) => a.rowsPerSec,
      (b) => b.rowsPerSec,
    )
    const okRef = vsReference === undefined ? undefined : vsReference.median >= 1.6
    const okCeil = vsCeiling === undefined ? undefined : vsCeiling.median >= 0.9
    const processor = spread(p.map((x) => x.rowsPerSec))
    const reference = spread(r.map((x) => x.rowsPerSec))
    const ceiling = spread(s.ceiling.map((x) => x.rowsPerSec))
    rows.push({
      case: "drain",
      metric: "rows/s",
      ...(processor === undefined ? {} : { processor }),
      ...(reference === undefined ? {} : { reference }),
      ...(ceiling === undefined ? {} : { ceiling }),
      ...(vsReference === undefined ? {} : { vsReference }),
      ...(vsCeiling === undefined ? {} : { vsCeiling }),
      target: {
        text: "≥1.6× ref, ≥0.9× ceiling",
        met: okRef === undefined && okCeil === undefined ? undefined : okRef !== false && okCeil !== false,
      },
      digits: 0,
    })
    const cpuRows: ReadonlyArray<{
      metric: string
      get: (x: DrainSample) => number
      ceiling?: (x: CeilingSample) => number
    }> = [
      { metric: "CPU µs/row: contender", get: (x) => x.cpuUsPerRow, ceiling: (x) => x.cpuUsPerRow },
      { metric: "CPU µs/row: postgres", get: (x) => x.postgresCpuUsPerRow, ceiling: (x) => x.postgresCpuUsPerRow },
      { metric: "CPU µs/row: redis", get: (x) => x.redisCpuUsPerRow },
    ]
    for (const m of cpuRows) {
      const cpuP = spread(p.map(m.get))
      const cpuR = spread(r.map(m.get))
      const cpuC = m.ceiling === undefined ? undefined : spread(s.ceiling.map(m.ceiling))
      const cpuRatio = paired(p, r, m.get, m.get)
      const cpuCeil = m.ceiling === undefined ? undefined : paired(p, s.ceiling, m.get, m.ceiling)
      rows.push({
        case: "drain",
        metric: m.metric,
        ...(cpuP === undefined ? {} : { processor: cpuP }),
        ...(cpuR === undefined ? {} : { reference: cpuR }),
        ...(cpuC === undefined ? {} : { ceiling: cpuC }),
        ...(cpuRatio === undefined ? {} : { vsReference: cpuRatio }),
        ...(cpuCeil === undefined ? {} : { vsCeiling: cpuCeil }),
        digits: 1,
      })
    }
    // Shares of pg_stat_activity samples of the insert connections (infra.ts, InsertBackendWaits).
    const waitRows: ReadonlyArray<{ readonly metric: string; readonly kind: keyof InsertBackendWaits }> = [
      { metric: "pg inserts % on CPU", kind: "cpu" },
      { metric: "pg inserts % wait client", kind: "client" },
      { metric: "pg inserts % wait lock", kind: "lock" },
      { metric: "pg inserts % wait I/O", kind: "io" },
    ]
    for (const w of waitRows) {
      const pct = (x: { readonly insertWaits?: InsertBackendWaits }) => 100 * (x.insertWaits?.[w.kind] ?? Number.NaN)
      const wP = spread(p.map(pct))
      const wR = spread(r.map(pct))
      const wC = spread(s.ceiling.map(pct))
      rows.push({
        case: "drain",
        metric: w.metric,
        ...(wP === undefined ? {} : { processor: wP }),
        ...(wR === undefined ? {} : { reference: wR }),
        ...(wC === undefined ? {} : { ceiling: wC }),
        digits: 0,
      })
    }
    const rssP = spread(p.map((x) => mb(x.peakRssBytes)))
    const rssR = spread(r.map((x) => mb(x.peakRssBytes)))
    const rssRatio = paired(
      p,
      r,
      (a) => a.peakRssBytes,
      (b) => b.peakRssBytes,
    )
    rows.push({
      case: "drain",
      metric: "peak RSS MB",
      ...(rssP === undefined ? {} : { processor: rssP }),
      ...(rssR === undefined ? {} : { reference: rssR }),
      ...(rssRatio === undefined ? {} : { vsReference: rssRatio }),
      digits: 0,
    })
  }

  if (s.latency.length > 0) {
    const p = proc(s.latency)
    const r = ref(s.latency)
    const metrics: ReadonlyArray<{
      name: string
      get: (x: LatencySample) => number
      target?: (processor: Spread | undefined, ratio: Spread | undefined) => Row["target"]
    }> = [
      {
        name: "p50 ms",
        get: (x) => x.p50Ms,
        target: (processor) => ({ text: "≤ 3 ms", met: processor === undefined ? undefined : processor.median <= 3 }),
      },
      { name: "p90 ms", get: (x) => x.p90Ms },
      {
        name: "p99 ms",
        get: (x) => x.p99Ms,
        target: (_, ratio) => ({ text: "≤ ref p99", met: ratio === undefined ? undefined : ratio.median <= 1 }),
      },
      { name: "max ms", get: (x) => x.maxMs },
      { name: "p50 ms to txn start", get: (x) => x.startP50Ms },
      { name: "p99 ms to txn start", get: (x) => x.startP99Ms },
      { name: "CPU µs/entry", get: (x) => x.cpuUsPerEntry },
      { name: "entries per read", get: (x) => x.entriesPerRead },
    ]
    for (const m of metrics) {
      const processor = spread(p.map(m.get))
      const reference = spread(r.map(m.get))
      const vsReference = paired(p, r, m.get, m.get)
      const target = m.target?.(processor, vsReference)
      rows.push({
        case: "latency",
        metric: m.name,
        ...(processor === undefined ? {} : { processor }),
        ...(reference === undefined ? {} : { reference }),
        ...(vsReference === undefined ? {} : { vsReference }),
        ...(target === undefined ? {} : { target }),
        digits: 1,
      })
    }
    const offered = spread(s.latency.map((x) => x.offeredRate))
    if (offered !== undefined) {
      rows.push({
        case: "latency",
        metric: "offered msg/s",
        processor: spread(p.map((x) => x.offeredRate)) ?? offered,
        ...(r.length > 0 ? { reference: spread(r.map((x) => x.offeredRate)) ?? offered } : {}),
        digits: 0,
      })
    }
  }

  if (s.memory.length > 0) {
    const p = proc(s.memory)
    const r = ref(s.memory)
    const processor = spread(p.map((x) => mb(x.peakRssBytes)))
    const reference = spread(r.map((x) => mb(x.peakRssBytes)))
    const vsReference = paired(
      p,
      r,
      (a) => a.peakRssBytes,
      (b) => b.peakRssBytes,
    )
    rows.push({
      case: "memory",
      metric: "peak RSS MB",
      ...(processor === undefined ? {} : { processor }),
      ...(reference === undefined ? {} : { reference }),
      ...(vsReference === undefined ? {} : { vsReference }),
      target: { text: "≤ 200 MB", met: processor === undefined ? undefined : processor.max <= 200 },
      digits: 0,
    })
    const rateP = spread(p.map((x) => x.rowsPerSec))
    const rateR = spread(r.map((x) => x.rowsPerSec))
    const rateRatio = paired(
      p,
      r,
      (a) => a.rowsPerSec,
      (b) => b.rowsPerSec,
    )
    rows.push({
      case: "memory",
      metric: "rows/s (100k devices)",
      ...(rateP === undefined ? {} : { processor: rateP }),
      ...(rateR === undefined ? {} : { reference: rateR }),
      ...(rateRatio === undefined ? {} : { vsReference: rateRatio }),
      digits: 0,
    })
  }

  const gatewayRate = spread(s.gateway.map((g) => g.recordsPerSec))
  if (gatewayRate !== undefined) {
    rows.push({ case: "gateway", metric: "records/s ACKed, 1,000 conns", processor: gatewayRate, digits: 0 })
    const cpu = spread(s.gateway.map((g) => g.gatewayCpuUsPerRecord))
    if (cpu !== undefined) rows.push({ case: "gateway", metric: "CPU µs/record", processor: cpu, digits: 1 })
  }
  return rows
}

const cell = (x: Spread | undefined, digits: number): string => {
  if (x === undefined) return "–"
  const f = (v: number) => (digits === 0 ? fmtInt(v) : fmtNum(v, digits))
  return x.n === 1 ? f(x.median) : `${f(x.median)} (${f(x.min)}–${f(x.max)})`
}

const ratio = (x: Spread | undefined): string => {
  if (x === undefined) return "–"
  return x.n === 1 ? `${x.median.toFixed(2)}×` : `${x.median.toFixed(2)}× (${x.min.toFixed(2)}–${x.max.toFixed(2)})`
}

export const formatTable = (rows: ReadonlyArray<Row>): string => {
  const header = ["case", "metric", "processor", "reference", "ceiling", "proc/ref", "proc/ceiling", "target"]
  const body = rows.map((r) => [
    r.case,
    r.metric,
    r.note ?? cell(r.processor, r.digits),
    r.note === undefined ? cell(r.reference, r.digits) : "",
    r.note === undefined ? cell(r.ceiling, r.digits) : "",
    r.note === undefined ? ratio(r.vsReference) : "",
    r.note === undefined ? ratio(r.vsCeiling) : "",
    r.target === undefined
      ? ""
      : `${r.target.text} ${r.target.met === undefined ? "?" : r.target.met ? "MET" : "MISSED"}`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join("  ")
      .trimEnd()
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n")
}
