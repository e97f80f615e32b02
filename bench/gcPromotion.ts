/**
 * A reproducer for the processor's p99 gap (README, "Benchmark"): how much of what a timer-paced
 * loop allocates V8 promotes to the old generation, with ioredis's `Command` objects and without.
 * No servers: each command is created and resolved in memory, as ioredis does when a reply arrives.
 *
 *   node bench/gcPromotion.ts
 *
 * On Node 24 with ioredis 6 about half of the Command loop's bytes are promoted (and collected
 * later by a full collection); a plain promise loop promotes nothing. The cause: `initPromise`
 * creates its reject handler as `this.reject = (err) => …` inside the promise executor, and V8
 * allocates a function literal assigned to a property directly in the old generation (it expects
 * a method). That dead closure holds the executor's context, and through it the command and its
 * reply, until the next full collection: a scavenge cannot tell an old object is dead. The same
 * `initPromise` with the handler returned from a call promotes nothing here, but in the processor's
 * latency case it left promotion unchanged (281 vs 278 MB over a run), so it is not what promotes
 * the processor's batches, and it was not kept.
 */
import * as ChildProcess from "node:child_process"
import { Command } from "ioredis"

type Mode = "ioredis-command" | "plain-promise"
const MODES: ReadonlyArray<Mode> = ["ioredis-command", "plain-promise"]
const SECONDS = 10
const WARMUP_MS = 3_000

const runLoop = async (mode: Mode) => {
  const reply = Array.from({ length: 15 }, () => Buffer.from("x".repeat(300)))
  const stopAt = Date.now() + SECONDS * 1000
  while (Date.now() < stopAt) {
    if (mode === "ioredis-command") {
      const command = new Command("lrange", ["l", 0, -1], { replyEncoding: "utf8" })
      command.resolve(reply.map((b) => b.subarray(0)))
      await command.promise
    } else {
      await new Promise((resolve) => resolve(reply.map((b) => b.subarray(0).toString())))
    }
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}

/** Allocated and promoted bytes per second over the scavenges after the warm-up, from --trace-gc-nvp. */
const measure = (mode: Mode) => {
  const out = ChildProcess.execFileSync(
    process.execPath,
    ["--max-semi-space-size=8", "--trace-gc-nvp", import.meta.filename, "child", mode],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  )
  const scavenges = out
    .split("\n")
    .map((line) => /\]\s+(\d+) ms: pause=.* gc=s .*allocated=(\d+) promoted=(\d+)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ ms: Number(m[1]), allocated: Number(m[2]), promoted: Number(m[3]) }))
    .filter((s) => s.ms >= WARMUP_MS)
  const first = scavenges[0]
  const last = scavenges.at(-1)
  if (first === undefined || last === undefined || last.ms === first.ms) return `${mode}: too few scavenges`
  const seconds = (last.ms - first.ms) / 1000
  const later = scavenges.slice(1)
  const allocated = later.reduce((sum, s) => sum + s.allocated, 0)
  const promoted = later.reduce((sum, s) => sum + s.promoted, 0)
  return `${mode.padEnd(16)} allocated ${(allocated / seconds / 1e6).toFixed(1)} MB/s, promoted ${(promoted / seconds / 1e3).toFixed(0)} KB/s (${((100 * promoted) / Math.max(1, allocated)).toFixed(1)}%)`
}

if (process.argv[2] === "child") await runLoop(process.argv[3] as Mode)
else for (const mode of MODES) console.log(measure(mode))
