import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly allowFailure?: boolean
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export const run = (command: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
  new Promise<RunResult>((resolve, reject) => {
    const child = ChildProcess.spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on("error", reject)
    child.on("close", (code) => {
      if (code === 0 || options.allowFailure === true) resolve({ code, stdout, stderr })
      else reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr.trim() || stdout.trim()}`))
    })
  })

export const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0

/** runuser lives in sbin, which a minimal PATH (CI, cron) may not name. */
const runuser = (): string =>
  ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser", "/bin/runuser"].find((p) => Fs.existsSync(p)) ?? "runuser"

/** PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user. */
export const asPostgresUser = (command: string, args: ReadonlyArray<string>): [string, Array<string>] =>
  isRoot() ? [runuser(), ["-u", "postgres", "--", command, ...args]] : [command, [...args]]
