/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per
 * package/file, idle and GC split out. Used by `npm run bench -- --profile`, and standalone:
 *
 *   node bench/profile.ts <file.cpuprofile> [top=30]
 */
import * as Fs from "node:fs"
import * as Path from "node:path"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface FunctionTime {
  readonly function: string
  readonly location: string
  readonly selfMs: number
  /** Share of the busy (non-idle) time. */
  readonly selfPct: number
}

export interface GroupTime {
  readonly group: string
  readonly selfMs: number
  readonly selfPct: number
}

export interface ProfileSummary {
  readonly file: string
  readonly wallMs: number
  readonly busyMs: number
  readonly idleMs: number
  readonly gcMs: number
  readonly topFunctions: ReadonlyArray<FunctionTime>
  /** Time with the function anywhere on the stack (once per sample), for the project's own code:
   * which stage of the pipeline the self time above is spent under. */
  readonly inclusiveProject: ReadonlyArray<FunctionTime>
  readonly byPackage: ReadonlyArray<GroupTime>
  readonly byFile: ReadonlyArray<GroupTime>
}

const root = `file://${Path.resolve(import.meta.dirname, "..")}/`

const shortUrl = (url: string): string => (url.startsWith(root) ? url.slice(root.length) : url)

/** node_modules/<pkg> (scoped too), dist/<dir>, node:<module>, or the V8 pseudo-frames. */
const packageOf = (frame: CallFrame): string => {
  const url = shortUrl(frame.url)
  if (url === "")
    return frame.functionName === "" ? "(anonymous native)" : `(${frame.functionName.replace(/[()]/g, "")})`
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (nm !== null) return nm[1] as string
  if (url.startsWith("node:")) return "node: internals"
  const dist = /^(dist|src|bench)\/([^/]+)/.exec(url)
  if (dist !== null) return `${dist[1]}/${dist[2]}`
  return url
}

export const summarize = (file: string, top = 30): ProfileSummary => {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const node of profile.nodes) byId.set(node.id, node)
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; attribute the next gap to it (V8's own convention).
    const id = profile.samples[i] as number
    const dt = profile.timeDeltas[i + 1] ?? 0
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt))
  }
  const fn = new Map<string, { function: string; location: string; us: number }>()
  const pkg = new Map<string, number>()
  const files = new Map<string, number>()
  let idle = 0
  let gc = 0
  let total = 0
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    total += us
    if (frame.functionName === "(idle)") {
      idle += us
      continue
    }
    if (frame.functionName === "(garbage collector)") gc += us
    const location = frame.url === "" ? "" : `${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    const name = frame.functionName === "" ? "(anonymous)" : frame.functionName
    const key = `${name} ${location}`
    const entry = fn.get(key) ?? { function: name, location, us: 0 }
    entry.us += us
    fn.set(key, entry)
    const group = packageOf(frame)
    pkg.set(group, (pkg.get(group) ?? 0) + us)
    const fileKey = frame.url === "" ? group : shortUrl(frame.url)
    files.set(fileKey, (files.get(fileKey) ?? 0) + us)
  }
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const project = /^(dist|src|bench)\//
  const inclusive = new Map<string, { function: string; location: string; us: number }>()
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = Math.max(0, profile.timeDeltas[i + 1] ?? 0)
    const seen = new Set<string>()
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const frame = (byId.get(id) as ProfileNode).callFrame
      const url = shortUrl(frame.url)
      if (!project.test(url)) continue
      const name = frame.functionName === "" ? "(anonymous)" : frame.functionName
      const location = `${url}:${frame.lineNumber + 1}`
      const key = `${name} ${location}`
      if (seen.has(key)) continue
      seen.add(key)
      const entry = inclusive.get(key) ?? { function: name, location, us: 0 }
      entry.us += dt
      inclusive.set(key, entry)
    }
  }
  const busy = total - idle
  const pct = (us: number) => (busy === 0 ? 0 : (100 * us) / busy)
  const sortDesc = <A extends { readonly us: number }>(xs: Array<A>) => xs.sort((a, b) => b.us - a.us)
  return {
    file,
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    gcMs: gc / 1000,
    topFunctions: sortDesc([...fn.values()])
      .slice(0, top)
      .map((f) => ({ function: f.function, location: f.location, selfMs: f.us / 1000, selfPct: pct(f.us) })),
    inclusiveProject: sortDesc([...inclusive.values()])
      .slice(0, 20)
      .map((f) => ({ function: f.function, location: f.location, selfMs: f.us / 1000, selfPct: pct(f.us) })),
    byPackage: sortDesc([...pkg].map(([group, us]) => ({ group, us })))
      .slice(0, 15)
      .map((g) => ({ group: g.group, selfMs: g.us / 1000, selfPct: pct(g.us) })),
    byFile: sortDesc([...files].map(([group, us]) => ({ group, us })))
      .slice(0, 20)
      .map((g) => ({ group: g.group, selfMs: g.us / 1000, selfPct: pct(g.us) })),
  }
}

export const formatSummary = (s: ProfileSummary): string => {
  const lines: Array<string> = []
  const ms = (x: number) => x.toFixed(0).padStart(7)
  const p = (x: number) => `${x.toFixed(1).padStart(5)}%`
  lines.push(`CPU profile ${s.file}`)
  lines.push(
    `wall ${(s.wallMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s, GC ${(s.gcMs / 1000).toFixed(1)} s (${((100 * s.gcMs) / Math.max(1, s.busyMs)).toFixed(1)}% of busy)`,
  )
  lines.push("", "self time by package / directory (% of busy):")
  for (const g of s.byPackage) lines.push(`  ${ms(g.selfMs)} ms ${p(g.selfPct)}  ${g.group}`)
  lines.push("", "self time by file:")
  for (const g of s.byFile) lines.push(`  ${ms(g.selfMs)} ms ${p(g.selfPct)}  ${g.group}`)
  lines.push("", "top functions by self time:")
  for (const f of s.topFunctions) lines.push(`  ${ms(f.selfMs)} ms ${p(f.selfPct)}  ${f.function}  ${f.location}`)
  lines.push("", "project functions by inclusive time (on the stack):")
  for (const f of s.inclusiveProject) lines.push(`  ${ms(f.selfMs)} ms ${p(f.selfPct)}  ${f.function}  ${f.location}`)
  return lines.join("\n")
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === Path.resolve(import.meta.filename)) {
  const file = process.argv[2]
  if (file === undefined) {
    process.stderr.write("usage: node bench/profile.ts <file.cpuprofile> [top]\n")
    process.exit(2)
  }
  process.stdout.write(`${formatSummary(summarize(file, Number(process.argv[3] ?? "30")))}\n`)
}
