import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { freePort } from "./ports.ts"
import { asPostgresUser, isRoot, run } from "./process.ts"
import { guardWithWatchdog, shellQuote } from "./watchdog.ts"

export interface PostgresServer {
  readonly port: number
  readonly url: string
  readonly dataDir: string
  /** Stops the server (fast shutdown) and keeps the data directory. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port and data directory. */
  readonly start: () => Promise<void>
  /** Stops the server and removes its directory. */
  readonly destroy: () => Promise<void>
}

export interface PostgresOptions {
  /** Trade crash safety of the OS for speed; for tests only (the bench and demo keep it on). */
  readonly fsync?: boolean
  readonly database?: string
  /** More server settings (`-c name=value`), e.g. `{ track_commit_timestamp: "on" }`. */
  readonly settings?: Readonly<Record<string, string>>
}

const binDir = (): string => {
  const root = "/usr/lib/postgresql"
  const versions = Fs.existsSync(root)
    ? Fs.readdirSync(root)
        .filter((v) => Fs.existsSync(Path.join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : []
  const newest = versions[0]
  if (newest === undefined)
    throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql (run scripts/setup.sh)")
  return Path.join(root, newest, "bin")
}

/** Starts a throwaway PostgreSQL on a free loopback port in a fresh temp directory. */
export const startPostgres = async (options: PostgresOptions = {}): Promise<PostgresServer> => {
  const bin = binDir()
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "telemetry-pg-"))
  const dataDir = Path.join(dir, "data")
  const socketDir = Path.join(dir, "sock")
  Fs.mkdirSync(socketDir)
  if (isRoot()) {
    Fs.chmodSync(dir, 0o755)
    await run("chown", ["-R", "postgres:postgres", dir])
  }
  const pg = (tool: string, args: ReadonlyArray<string>) => {
    const [command, argv] = asPostgresUser(Path.join(bin, tool), args)
    return run(command, argv)
  }
  await pg("initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
  const port = await freePort()
  const settings = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${socketDir}`,
    "-c max_connections=200",
    `-c fsync=${options.fsync === false ? "off" : "on"}`,
    ...Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}=${value}`),
  ].join(" ")
  const logFile = Path.join(dir, "postgres.log")
  const start = async () => {
    await pg("pg_ctl", ["start", "-w", "-t", "60", "-D", dataDir, "-l", logFile, "-o", settings])
  }
  const stop = async () => {
    await pg("pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", dataDir]).catch((error: unknown) => {
      // Already stopped is the state we want; anything else is worth surfacing.
      if (!String(error).includes("is the server running")) throw error
    })
  }
  await start()
  const [stopCommand, stopArgs] = asPostgresUser(Path.join(bin, "pg_ctl"), ["stop", "-m", "immediate", "-D", dataDir])
  const watchdog = guardWithWatchdog(
    `${[stopCommand, ...stopArgs].map(shellQuote).join(" ")} >/dev/null 2>&1; rm -rf ${shellQuote(dir)}`,
  )
  const database = options.database ?? "telemetry"
  await pg("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", database])
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    dataDir,
    start,
    stop,
    destroy: async () => {
      await stop()
      Fs.rmSync(dir, { recursive: true, force: true })
      watchdog.cancel()
    },
  }
}
