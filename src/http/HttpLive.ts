import * as Http from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Duration, Effect, Layer, Result } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { type AdminOptions, adminRoutes } from "./adminRoutes.ts"
import { HTTP_PATHS } from "./paths.ts"

/** One dependency /readyz pings, e.g. `{ name: "postgres", check: sql\`SELECT 1\` }`. */
export interface ReadinessCheck {
  readonly name: string
  readonly check: Effect.Effect<unknown, unknown>
}

export interface HttpOptions {
  /** HTTP_PORT; 0 lets the OS pick (tests). */
  readonly port: number
  /** Interface to bind; all interfaces when absent (a pod's probes come from the node). */
  readonly host?: string | undefined
  /** What the role needs to do its work: the processor Postgres and Redis, the gateway Redis. */
  readonly checks: ReadonlyArray<ReadinessCheck>
  /** True while the role's main loop is making progress (the processor: a recent read-loop beat). */
  readonly liveness: () => boolean
  /** Bound on each readiness check: a dependency that hangs is as unready as one that refuses. */
  readonly checkTimeoutMs?: number | undefined
  /** The management API; absent (MANAGEMENT_API_KEY unset) means `/admin/...` is not served: 404. */
  readonly admin?: AdminOptions | undefined
}

const describe = (error: unknown): string => {
  const message =
    typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
      ? error.message
      : String(error)
  return `error: ${message.slice(0, 300)}`
}

/** Runs every check concurrently, each bounded; `"ok"` or `"error: …"` per dependency. */
const runChecks = (checks: ReadonlyArray<ReadinessCheck>, timeoutMs: number) =>
  Effect.forEach(
    checks,
    ({ name, check }) =>
      check.pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(timeoutMs),
          orElse: () => Effect.fail(new Error(`no answer within ${timeoutMs} ms`)),
        }),
        Effect.result,
        Effect.map((result) => [name, Result.isSuccess(result) ? "ok" : describe(result.failure)] as const),
      ),
    { concurrency: "unbounded" },
  ).pipe(
    Effect.map((results) => ({
      ok: results.every(([, status]) => status === "ok"),
      dependencies: Object.fromEntries(results) as Record<string, string>,
    })),
  )

/**
 * The operations HTTP server of a long-running role (SPEC §7), open for the lifetime of the layer.
 *
 * - `/healthz` liveness: 200 while `liveness()` holds. When it does not, the dependencies are
 *   checked: a main loop that stopped because PostgreSQL or Redis is down is waiting, not stuck —
 *   restarting the process cannot bring the database back, and readiness already reports it — so
 *   that answers 200 `"waiting"`. Only a stalled loop with every dependency up answers 503, which
 *   is what should make the orchestrator restart the process.
 * - `/readyz` readiness: 200 `{"status":"ok",...}` or 503 `{"status":"degraded","postgres":"error: …"}`.
 * - `/metrics`: every metric of the process in Prometheus text, from effect's own registry.
 * - `/admin/...`: see adminRoutes.ts.
 */
export const HttpLive = (options: HttpOptions) => {
  const timeoutMs = options.checkTimeoutMs ?? 2_000

  const readyz = runChecks(options.checks, timeoutMs).pipe(
    Effect.map(({ ok, dependencies }) =>
      HttpServerResponse.jsonUnsafe({ status: ok ? "ok" : "degraded", ...dependencies }, { status: ok ? 200 : 503 }),
    ),
  )

  const healthz = Effect.suspend(() =>
    options.liveness()
      ? Effect.succeed(HttpServerResponse.jsonUnsafe({ status: "ok" }))
      : runChecks(options.checks, timeoutMs).pipe(
          Effect.map(({ ok, dependencies }) =>
            ok
              ? HttpServerResponse.jsonUnsafe({ status: "stalled", ...dependencies }, { status: 503 })
              : HttpServerResponse.jsonUnsafe({ status: "waiting", ...dependencies }),
          ),
        ),
  )

  const routes = Layer.mergeAll(
    HttpRouter.add("GET", HTTP_PATHS.liveness, healthz),
    HttpRouter.add("GET", HTTP_PATHS.readiness, readyz),
    PrometheusMetrics.layerHttp({ path: HTTP_PATHS.metrics }),
    options.admin === undefined ? Layer.empty : adminRoutes(options.admin),
  )

  return HttpRouter.serve(routes, { disableLogger: true }).pipe(
    Layer.provide(
      NodeHttpServer.layer(() => Http.createServer(), {
        port: options.port,
        ...(options.host === undefined ? {} : { host: options.host }),
        // Probes and scrapes hold keep-alive sockets; shutdown must not wait for them.
        gracefulShutdownTimeout: Duration.seconds(1),
      }),
    ),
  )
}
