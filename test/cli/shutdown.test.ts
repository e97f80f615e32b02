import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const shutdownModule = fileURLToPath(new URL("../../src/cli/shutdown.ts", import.meta.url))

const runNode = (code: string) =>
  ChildProcess.spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8" })

describe("crash handlers", () => {
  it.each([
    [
      "an uncaught exception",
      "setTimeout(() => { throw new Error('boom from a stray callback') }, 0)",
      "uncaught exception",
    ],
    [
      "an unhandled rejection",
      "Promise.reject(new Error('boom from a forgotten promise'))",
      "unhandled promise rejection",
    ],
  ])("%s is logged with its context and exits 1", (_, crash, kind) => {
    const result = runNode(
      `import { installCrashHandlers } from ${JSON.stringify(shutdownModule)}; installCrashHandlers(); ${crash}`,
    )
    expect(result.status).toBe(1)
    const line = JSON.parse(result.stderr.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>
    expect(line.level).toBe("FATAL")
    expect(String(line.message)).toContain(kind)
    expect(JSON.stringify(line.error)).toContain("boom from a")
  })
})
