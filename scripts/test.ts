/**
 * Runs the whole test suite (vitest; its global set-up starts throwaway PostgreSQL and Redis) and
 * ends with the plain "N passed, N failed" line CI reads.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const report = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "telemetry-test-")), "report.json")
const vitest = Path.resolve(import.meta.dirname, "../node_modules/vitest/vitest.mjs")
const child = ChildProcess.spawnSync(
  process.execPath,
  [vitest, "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
)

let passed = 0
let failed = 0
let skipped = 0
if (Fs.existsSync(report)) {
  const summary = JSON.parse(Fs.readFileSync(report, "utf8")) as {
    numPassedTests: number
    numFailedTests: number
    numPendingTests: number
    numTodoTests: number
  }
  passed = summary.numPassedTests
  failed = summary.numFailedTests
  skipped = summary.numPendingTests + summary.numTodoTests
  Fs.rmSync(Path.dirname(report), { recursive: true, force: true })
}
const code = child.status ?? 1
if (code !== 0 && failed === 0) failed = 1 // a crash outside any test still fails the run
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(code === 0 && passed > 0 ? 0 : code === 0 ? 1 : code)
