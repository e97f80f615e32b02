import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { imageNodeOptions } from "../../bench/contenders.ts"
import { freePort } from "../../src/devservers/index.ts"
import { HttpLive } from "../../src/http/HttpLive.ts"
import { parseYaml, parseYamlDocuments, type Yaml } from "./yaml.ts"

/**
 * No container engine or cluster runs here, so the deployment files are checked against the code
 * instead: they are parsed (test/deploy/yaml.ts, a strict reader for the subset they use) and
 * compared with what the code serves and reads. What this does NOT check: that the image builds,
 * that Compose or Kubernetes accept every field (no schema validation), that KEDA's trigger works.
 */

const root = Path.resolve(import.meta.dirname, "../..")
const read = (file: string) => Fs.readFileSync(Path.join(root, file), "utf8")

type Node = { readonly [key: string]: Yaml }
const obj = (value: Yaml | undefined, what: string): Node => {
  if (value === null || value === undefined || typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`${what}: expected a mapping`)
  }
  return value as Node
}
const list = (value: Yaml | undefined, what: string): ReadonlyArray<Yaml> => {
  if (!Array.isArray(value)) throw new Error(`${what}: expected a sequence`)
  return value
}
const str = (value: Yaml | undefined, what: string): string => {
  if (typeof value !== "string") throw new Error(`${what}: expected a scalar`)
  return value
}

/** The first capture of `pattern` over every .ts file under `dirs`. */
const capturesIn = (dirs: ReadonlyArray<string>, pattern: RegExp): Set<string> => {
  const found = new Set<string>()
  const walk = (dir: string) => {
    for (const entry of Fs.readdirSync(Path.join(root, dir), { withFileTypes: true })) {
      const rel = Path.join(dir, entry.name)
      if (entry.isDirectory()) walk(rel)
      else if (entry.name.endsWith(".ts")) {
        for (const m of read(rel).matchAll(pattern)) found.add(m[1] as string)
      }
    }
  }
  for (const dir of dirs) walk(dir)
  return found
}

/** Every `"NAME"` string literal in the config modules: the variables the code reads. */
const configVariables = capturesIn(["src/config", "src/gateway"], /"([A-Z][A-Z0-9_]{2,})"/g)

/** Subcommand names defined in src/cli (`Command.make("name"`). */
const cliCommands = capturesIn(["src/cli"], /Command\.make\(\s*"([a-z][a-z-]*)"/g)
const ROLE_COMMANDS = ["processor", "gateway", "migrate"]
const expectCommand = (command: string, where: string) => {
  expect(ROLE_COMMANDS, where).toContain(command)
  expect([...cliCommands], where).toContain(command)
}

/** Probe paths must be served: the real router is started and asked (not a list of strings). */
let probeBase = ""
let probeScope: Scope.Closeable | undefined
beforeAll(async () => {
  const port = await freePort()
  probeScope = Effect.runSync(Scope.make())
  await Effect.runPromise(
    Layer.buildWithScope(HttpLive({ port, host: "127.0.0.1", checks: [], liveness: () => true }), probeScope),
  )
  probeBase = `http://127.0.0.1:${port}`
})
afterAll(async () => {
  if (probeScope !== undefined) await Effect.runPromise(Scope.close(probeScope, Exit.void))
})
const expectServed = async (path: string, where: string) => {
  expect(path, where).toMatch(/^\//)
  const response = await fetch(`${probeBase}${path}`)
  expect(response.status, `${where}: GET ${path}`).toBe(200)
}

const durationSeconds = (text: string): number => {
  const m = /^(\d+)(s|m)?$/.exec(text)
  if (m === null) throw new Error(`unsupported duration ${text}`)
  return Number(m[1]) * (m[2] === "m" ? 60 : 1)
}

describe("yaml subset reader", () => {
  it("reads what the manifests use and rejects what it does not support", () => {
    const doc = parseYaml(
      [
        "base: &b",
        "  a: '1' # comment",
        '  b: "x # not a comment"',
        "m:",
        "  <<: *b",
        "  a: 2",
        "seq:",
        "  - name: one",
        "    port: 80",
        "  - plain:value",
        '  - ["x", y]',
        "empty:",
      ].join("\n"),
    )
    expect(doc).toEqual({
      base: { a: "1", b: "x # not a comment" },
      m: { a: "2", b: "x # not a comment" },
      seq: [{ name: "one", port: "80" }, "plain:value", ["x", "y"]],
      empty: null,
    })
    expect(parseYamlDocuments("a: 1\n---\nb: 2\n")).toEqual([{ a: "1" }, { b: "2" }])
    expect(() => parseYaml("a: |\n  text")).toThrow(/block scalars/)
    expect(() => parseYaml("a:\n- x")).toThrow(/own indent/)
    expect(() => parseYaml("a: 1\n   b: 2")).toThrow(/indentation/)
    expect(() => parseYaml("a: 1\na: 2")).toThrow(/duplicate/)
  })
})

describe("docker-compose.yml", () => {
  const compose = obj(parseYaml(read("docker-compose.yml")), "compose")
  const services = obj(compose.services, "services")
  const app = Object.entries(services).filter(([, s]) => obj(s, "service").image === "telemetry-pipeline:local")
  const processors = app.filter(([, s]) => list(obj(s, "service").command, "command")[0] === "processor")

  it("runs Redis 7 with AOF and noeviction on a volume, PostgreSQL 16 with a volume and a healthcheck", () => {
    const redis = obj(services.redis, "redis")
    expect(str(redis.image, "redis.image")).toMatch(/^redis:7/)
    const args = list(redis.command, "redis.command")
    expect(args[args.indexOf("--appendonly") + 1]).toBe("yes")
    expect(args[args.indexOf("--maxmemory-policy") + 1]).toBe("noeviction")
    expect(list(redis.volumes, "redis.volumes")).toEqual(["redis-data:/data"])
    const pg = obj(services.postgres, "postgres")
    expect(str(pg.image, "postgres.image")).toMatch(/^postgres:16/)
    expect(list(pg.volumes, "postgres.volumes")[0]).toMatch(/^postgres-data:/)
    expect(obj(pg.healthcheck, "postgres.healthcheck").test).toBeDefined()
    expect(Object.keys(obj(compose.volumes, "volumes")).sort()).toEqual(["postgres-data", "redis-data"])
  })

  it("has a one-shot migrate service the processors wait for", () => {
    const migrate = obj(services.migrate, "migrate")
    expect(migrate.command).toEqual(["migrate"])
    expect(migrate.restart).toBe("no")
    expect(processors.length).toBeGreaterThanOrEqual(2)
    for (const [name, service] of processors) {
      const depends = obj(obj(service, name).depends_on, `${name}.depends_on`)
      expect(obj(depends.migrate, `${name} → migrate`).condition).toBe("service_completed_successfully")
      expect(obj(obj(service, name).environment, `${name}.environment`).MIGRATE_ON_START).toBe("false")
    }
  })

  it("gives each processor its own consumer name and a stop grace period above the drain timeout", () => {
    const names = processors.map(([name, s]) => {
      const env = obj(obj(s, name).environment, `${name}.environment`)
      return env.REDIS_CONSUMER_NAME ?? obj(s, name).hostname
    })
    expect(names.every((n) => typeof n === "string" && n !== "")).toBe(true)
    expect(new Set(names).size).toBe(processors.length)
    for (const [name, s] of processors) {
      const service = obj(s, name)
      const drainMs = Number(obj(service.environment, `${name}.environment`).DRAIN_TIMEOUT_MS ?? 15_000)
      expect(durationSeconds(str(service.stop_grace_period, `${name}.stop_grace_period`))).toBeGreaterThan(
        drainMs / 1000,
      )
    }
  })

  it("exposes the gateway on 5027 TCP and UDP", () => {
    const gateway = obj(services.gateway, "gateway")
    expect(gateway.command).toEqual(["gateway"])
    expect(list(gateway.ports, "gateway.ports")).toEqual(expect.arrayContaining(["5027:5027/tcp", "5027:5027/udp"]))
  })

  it("runs only commands the CLI defines, with variables the code reads, probing a served path", async () => {
    for (const [name, s] of app) {
      const service = obj(s, name)
      expectCommand(str(list(service.command, `${name}.command`)[0], `${name}.command`), `compose ${name}`)
      for (const variable of Object.keys(obj(service.environment, `${name}.environment`))) {
        expect(configVariables, `compose ${name}: ${variable}`).toContain(variable)
      }
      const health = obj(service.healthcheck, `${name}.healthcheck`)
      if (health.disable === "true") continue
      const test = list(health.test, `${name}.healthcheck.test`).join(" ")
      const path = /http:\/\/127\.0\.0\.1:8080(\/\S*)/.exec(test)?.[1]
      expect(path, `${name} healthcheck`).toBeDefined()
      await expectServed(path ?? "", `compose ${name} healthcheck`)
    }
  })
})

describe("Kubernetes manifests (deploy/k8s)", () => {
  const dir = "deploy/k8s"
  const kustomization = obj(parseYaml(read(`${dir}/kustomization.yaml`)), "kustomization")
  const files = list(kustomization.resources, "resources").map((r) => str(r, "resource"))
  const resources = files.flatMap((file) => parseYamlDocuments(read(`${dir}/${file}`)).map((d) => obj(d, file)))
  const byKind = (kind: string) => resources.filter((r) => r.kind === kind)
  const named = (kind: string, name: string) => {
    const found = byKind(kind).find((r) => obj(r.metadata, "metadata").name === name)
    if (found === undefined) throw new Error(`${kind}/${name} missing`)
    return found
  }
  const configMap = obj(named("ConfigMap", "telemetry-config").data, "ConfigMap data")
  const secret = obj(obj(parseYaml(read(`${dir}/secret.example.yaml`)), "secret").stringData, "secret data")
  const podSpec = (deployment: Node) => obj(obj(obj(deployment.spec, "spec").template, "template").spec, "pod spec")
  const container = (deployment: Node) => obj(list(podSpec(deployment).containers, "containers")[0], "container")
  const processor = named("Deployment", "telemetry-processor")
  const gateway = named("Deployment", "telemetry-gateway")

  it("lists every manifest in the kustomization except the example Secret", () => {
    const onDisk = Fs.readdirSync(Path.join(root, dir)).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    expect([...files].sort()).toEqual(onDisk.filter((f) => f !== "secret.example.yaml").sort())
    expect(new Set(resources.map((r) => r.kind))).toEqual(
      new Set([
        "ConfigMap",
        "Job",
        "Deployment",
        "PodDisruptionBudget",
        "TriggerAuthentication",
        "ScaledObject",
        "Service",
      ]),
    )
  })

  it("probes paths the HTTP server serves, on the port HTTP_PORT opens", async () => {
    for (const deployment of [processor, gateway]) {
      const c = container(deployment)
      const port = list(c.ports, "ports")
        .map((p) => obj(p, "port"))
        .find((p) => p.name === "http")
      expect(port?.containerPort).toBe(configMap.HTTP_PORT)
      const liveness = obj(obj(c.livenessProbe, "livenessProbe").httpGet, "httpGet")
      const readiness = obj(obj(c.readinessProbe, "readinessProbe").httpGet, "httpGet")
      expect([liveness.path, readiness.path]).toEqual(["/healthz", "/readyz"])
      expect([liveness.port, readiness.port]).toEqual(["http", "http"])
      await expectServed(str(liveness.path, "liveness"), "livenessProbe")
      await expectServed(str(readiness.path, "readiness"), "readinessProbe")
    }
  })

  it("gives the processor a grace period longer than DRAIN_TIMEOUT_MS and its pod name as consumer name", () => {
    const grace = Number(str(podSpec(processor).terminationGracePeriodSeconds, "grace"))
    expect(grace).toBeGreaterThan(Number(configMap.DRAIN_TIMEOUT_MS) / 1000)
    const env = list(container(processor).env, "env").map((e) => obj(e, "env"))
    const consumerName = env.find((e) => e.name === "REDIS_CONSUMER_NAME")
    expect(obj(obj(consumerName?.valueFrom, "valueFrom").fieldRef, "fieldRef").fieldPath).toBe("metadata.name")
    expect(configMap.MIGRATE_ON_START).toBe("false")
  })

  it("uses only variables the code reads, and Secret keys the example Secret defines", () => {
    for (const key of Object.keys(configMap)) expect(configVariables, `ConfigMap ${key}`).toContain(key)
    const job = named("Job", "telemetry-migrate")
    const jobSpec = obj(obj(obj(job.spec, "spec").template, "template").spec, "job pod")
    const jobContainer = obj(list(jobSpec.containers, "containers")[0], "container")
    for (const c of [container(processor), container(gateway), jobContainer]) {
      for (const raw of list(c.env, "env")) {
        const e = obj(raw, "env")
        expect(configVariables, `env ${String(e.name)}`).toContain(e.name)
        const ref = e.valueFrom === undefined ? undefined : obj(e.valueFrom, "valueFrom").secretKeyRef
        if (ref !== undefined) {
          expect(obj(ref, "secretKeyRef").name).toBe("telemetry-secrets")
          expect(Object.keys(secret)).toContain(obj(ref, "secretKeyRef").key)
        }
        const cm = e.valueFrom === undefined ? undefined : obj(e.valueFrom, "valueFrom").configMapKeyRef
        if (cm !== undefined) expect(Object.keys(configMap)).toContain(obj(cm, "configMapKeyRef").key)
      }
    }
  })

  it("runs CLI subcommands: processor, gateway, and migrate in the Job", () => {
    expectCommand(str(list(container(processor).args, "args")[0], "args"), "processor Deployment")
    expectCommand(str(list(container(gateway).args, "args")[0], "args"), "gateway Deployment")
    expect(container(processor).args).toEqual(["processor"])
    expect(container(gateway).args).toEqual(["gateway"])
    const job = named("Job", "telemetry-migrate")
    const jobSpec = obj(obj(obj(job.spec, "spec").template, "template").spec, "job pod")
    expect(obj(list(jobSpec.containers, "containers")[0], "container").args).toEqual(["migrate"])
    expect(jobSpec.restartPolicy).toBe("OnFailure")
  })

  it("points the PDBs, the Service and the ScaledObject at the right pods and stream", () => {
    const labels = (d: Node) =>
      obj(obj(obj(obj(d.spec, "spec").template, "template").metadata, "meta").labels, "labels")
    for (const pdb of byKind("PodDisruptionBudget")) {
      const selector = obj(obj(obj(pdb.spec, "spec").selector, "selector").matchLabels, "matchLabels")
      const target = [processor, gateway].find((d) => Object.entries(selector).every(([k, v]) => labels(d)[k] === v))
      expect(target, `PDB ${String(obj(pdb.metadata, "m").name)}`).toBeDefined()
    }
    const service = named("Service", "telemetry-gateway")
    const selector = obj(obj(service.spec, "spec").selector, "selector")
    expect(Object.entries(selector).every(([k, v]) => labels(gateway)[k] === v)).toBe(true)
    const gatewayPorts = list(container(gateway).ports, "ports").map((p) => obj(p, "port"))
    for (const raw of list(obj(service.spec, "spec").ports, "service ports")) {
      const port = obj(raw, "service port")
      const target = gatewayPorts.find((p) => p.name === port.targetPort)
      expect(target?.protocol ?? "TCP").toBe(port.protocol)
    }
    expect(new Set(list(obj(service.spec, "spec").ports, "ports").map((p) => obj(p, "p").protocol))).toEqual(
      new Set(["TCP", "UDP"]),
    )

    const scaled = named("ScaledObject", "telemetry-processor")
    const spec = obj(scaled.spec, "spec")
    expect(obj(spec.scaleTargetRef, "scaleTargetRef").name).toBe("telemetry-processor")
    const triggers = list(spec.triggers, "triggers").map((t) => obj(t, "trigger"))
    expect(triggers.length).toBeGreaterThan(0)
    const kinds = new Set<string>()
    for (const trigger of triggers) {
      expect(trigger.type).toBe("redis-streams")
      const meta = obj(trigger.metadata, "metadata")
      expect(meta.stream).toBe(configMap.REDIS_TELEMETRY_STREAM)
      expect(meta.consumerGroup).toBe(configMap.REDIS_CONSUMER_GROUP)
      if (meta.lagCount !== undefined) kinds.add("lag")
      if (meta.pendingEntriesCount !== undefined) kinds.add("pending")
      const auth = obj(trigger.authenticationRef, "authenticationRef").name
      expect(named("TriggerAuthentication", str(auth, "auth")).spec).toBeDefined()
    }
    expect(kinds).toEqual(new Set(["lag", "pending"]))
  })
})

describe("Dockerfile and .dockerignore", () => {
  const dockerfile = read("Dockerfile")
  const instructions = dockerfile
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
  const stages: Array<Array<string>> = []
  for (const line of instructions) {
    if (line.startsWith("FROM ")) stages.push([line])
    else stages.at(-1)?.push(line)
  }
  const [build = [], runtime = []] = stages

  it("builds on node:24-alpine in two stages: npm ci + npm run build, then production dependencies only", () => {
    expect(stages.length).toBe(2)
    expect(build[0]).toMatch(/^FROM node:24-alpine AS build$/)
    expect(runtime[0]).toMatch(/^FROM node:24-alpine AS runtime$/)
    expect(build).toEqual(expect.arrayContaining([expect.stringMatching(/^RUN npm ci\b/), "RUN npm run build"]))
    expect(runtime).toContainEqual(expect.stringMatching(/^RUN \(?npm ci --omit=dev\b/))
    expect(runtime.some((l) => /npm run build|COPY src\b|COPY test\b|COPY \. /.test(l))).toBe(false)
    expect(runtime).toContain("COPY --from=build /app/dist ./dist")
    expect(runtime).toContain("COPY migrations ./migrations")
    // The build script compiles src only and leaves tests out; the migrator finds ../../migrations.
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> }
    expect(pkg.scripts.build).toMatch(/tsc -p tsconfig\.build\.json/)
    expect(JSON.parse(read("tsconfig.build.json")).include).toEqual(["src"])
    expect(read("src/migrator/Migrator.ts")).toContain('new URL("../../migrations/", import.meta.url)')
  })

  it("runs as a non-root user with the CLI as entrypoint, processor by default, and a /healthz HEALTHCHECK", async () => {
    const user = runtime.find((l) => l.startsWith("USER "))
    expect(user).toBeDefined()
    expect(user).not.toMatch(/^USER (root|0)(:|$)/)
    expect(runtime).toContain('ENTRYPOINT ["node", "dist/main.js"]')
    expect(runtime).toContain('CMD ["processor"]')
    expectCommand("processor", "Dockerfile CMD")
    const healthcheck = runtime.find((l) => l.startsWith("HEALTHCHECK "))
    expect(healthcheck).toMatch(/CMD wget .*\/healthz/)
    await expectServed("/healthz", "HEALTHCHECK")
  })

  it("sets NODE_OPTIONS that node accepts there, which the bench reads and nothing overrides", () => {
    const options = imageNodeOptions(Path.join(root, "Dockerfile"))
    expect(runtime).toContain(`ENV NODE_OPTIONS="${options}"`)
    expect(options).toMatch(/--max-semi-space-size=\d+/)
    // Some V8 flags are refused in NODE_OPTIONS, which would stop every role at start.
    const started = ChildProcess.spawnSync(process.execPath, ["-e", "process.stdout.write('up')"], {
      env: { ...process.env, NODE_OPTIONS: options },
      encoding: "utf8",
    })
    expect(started.stderr).toBe("")
    expect(started.stdout).toBe("up")
    for (const file of [
      "docker-compose.yml",
      ...Fs.readdirSync(Path.join(root, "deploy/k8s")).map((f) => `deploy/k8s/${f}`),
    ]) {
      expect(read(file), file).not.toContain("NODE_OPTIONS")
    }
  })

  it("keeps tests, dependencies, build output and VCS data out of the build context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"))
    expect(ignored).toEqual(expect.arrayContaining(["node_modules", "dist", "test", ".git", ".env"]))
    for (const needed of [
      "src",
      "migrations",
      "package.json",
      "package-lock.json",
      "tsconfig.json",
      "tsconfig.build.json",
    ]) {
      expect(ignored).not.toContain(needed)
    }
  })

  it("the gateway command the deployment runs is defined in src/cli", () => {
    expect([...cliCommands]).toContain("gateway")
  })
})

describe("Prometheus alert rules (deploy/prometheus/telemetry-alerts.yml)", () => {
  const rules = obj(parseYaml(read("deploy/prometheus/telemetry-alerts.yml")), "rules file")
  const all = list(rules.groups, "groups").flatMap((g) =>
    list(obj(g, "group").rules, "rules").map((r) => obj(r, "rule")),
  )

  /** Every metric name the code registers: `"telemetry_…"` literals under src/. */
  const metricNames = capturesIn(["src"], /"(telemetry_[a-z0-9_]+)"/g)

  it("alerts only on metrics the code exports, and every alert is explained in OPERATIONS.md", () => {
    const runbook = read("OPERATIONS.md")
    expect(all.length).toBeGreaterThan(10)
    for (const rule of all) {
      const name = str(rule.alert, "alert")
      const expr = str(rule.expr, `${name}.expr`)
      const used = [...expr.matchAll(/\btelemetry_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ""))
      expect(used.length, name).toBeGreaterThan(0)
      for (const metric of used) expect(metricNames, `${name}: ${metric}`).toContain(metric)
      expect(["critical", "warning", "info"]).toContain(obj(rule.labels, `${name}.labels`).severity)
      expect(runbook, `OPERATIONS.md explains ${name}`).toContain(name)
    }
  })
})
