import * as Fs from "node:fs"
import * as Path from "node:path"
import { DEFAULT_READ_COUNT } from "../src/config/AppConfig.ts"
import { CONSUMER, fileSafe, type Proc, type Servers, spawnProc } from "./infra.ts"

/** The two consumers under test. The ceiling is not one of them: it has no Redis (cases/ceiling.ts). */
export type Contender = "processor" | "reference"

export const CONTENDERS: ReadonlyArray<Contender> = ["processor", "reference"]

export interface LaunchOptions {
  readonly servers: Servers
  readonly logDir: string
  readonly label: string
  readonly httpPort: number
  readonly stateMaxDevices: number
  /** Extra variables for the processor (`--processor-env K=V`), e.g. WRITE_CONCURRENCY. */
  readonly processorEnv: Readonly<Record<string, string>>
  /** Extra variables for the reference (`--reference-env K=V`), e.g. NODE_OPTIONS for a fairness check. */
  readonly referenceEnv: Readonly<Record<string, string>>
  /** Writes a V8 CPU profile of the process into this directory when it exits. */
  readonly cpuProfDir?: string
}

/** The NODE_OPTIONS the image runs every role with (the Dockerfile's `ENV NODE_OPTIONS=…`), so the
 * processor is measured as it runs in production. */
export const imageNodeOptions = (dockerfile = "Dockerfile"): string => {
  const match = /^ENV\s+NODE_OPTIONS="([^"]*)"/m.exec(Fs.readFileSync(dockerfile, "utf8"))
  if (match?.[1] === undefined) throw new Error(`${dockerfile} sets no ENV NODE_OPTIONS="…"`)
  return match[1]
}

/** Starts a contender the way its users start it: `node dist/main.js processor` with the settings
 * in the environment (migrations already applied by `node dist/main.js migrate`) and the image's
 * NODE_OPTIONS, or the reference with the same variables and plain `node`. */
export const launch = (contender: Contender, o: LaunchOptions): Proc => {
  const nodeOptions = contender === "processor" ? { NODE_OPTIONS: imageNodeOptions() } : {}
  const redis = o.servers.redis
  if (redis === undefined) throw new Error("a contender needs Redis")
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: "production",
    POSTGRES_URL: o.servers.pg.url,
    REDIS_URL: redis.url,
    REDIS_CONSUMER_NAME: CONSUMER,
    MIGRATE_ON_START: "false",
    STATE_MAX_DEVICES: String(o.stateMaxDevices),
    LOG_LEVEL: "warn",
    LOG_FORMAT: "json",
    HTTP_PORT: String(o.httpPort),
    // The reference reads as many entries at a time as the processor.
    READ_COUNT: o.processorEnv.READ_COUNT ?? String(DEFAULT_READ_COUNT),
    ...nodeOptions,
    ...(contender === "processor" ? o.processorEnv : o.referenceEnv),
  }
  const profile = o.cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`]
  const args =
    contender === "processor" ? [...profile, "dist/main.js", "processor"] : [...profile, "bench/reference/main.ts"]
  return spawnProc(args, env, Path.join(o.logDir, `${fileSafe(o.label)}.log`))
}
