import { Effect, Layer, Option, Redacted } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import type { Ops } from "../ops/Ops.ts"
import { OpsInputError } from "../ops/OpsError.ts"
import { bearerChecker } from "./auth.ts"
import { HTTP_PATHS } from "./paths.ts"

export interface AdminOptions {
  readonly apiKey: Redacted.Redacted<string>
  readonly ops: Ops["Service"]
}

/** MANAGEMENT_API_KEY unset, or set to nothing (an empty `${VAR:-}` in compose): no admin API. */
export const adminOptions = (
  apiKey: Option.Option<Redacted.Redacted<string>>,
  ops: Ops["Service"],
): AdminOptions | undefined =>
  Option.match(apiKey, {
    onNone: () => undefined,
    onSome: (key) => (Redacted.value(key).trim() === "" ? undefined : { apiKey: key, ops }),
  })

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })

const DEFAULT_PAGE = 50
const DEFAULT_CLAIM_TIMEOUT_MS = 30_000
const DEFAULT_REHYDRATE_TIMEOUT_MS = 5_000
const MAX_TIMEOUT_MS = 120_000

/** Failures as the operator should see them: bad input 400, unknown DLQ id 404, a dependency or
 * nobody listening 503. */
const respondError = (error: { readonly _tag: string; readonly message: string }) =>
  Effect.succeed(
    json(
      { error: error._tag, message: error.message },
      error._tag === "OpsInputError" ? 400 : error._tag === "DlqEntryNotFound" ? 404 : 503,
    ),
  )

const query = Effect.gen(function* () {
  const params = yield* HttpServerRequest.ParsedSearchParams
  const text = (name: string): string | undefined => {
    const value = params[name]
    const first = Array.isArray(value) ? value[0] : value
    return first === undefined || first === "" ? undefined : first
  }
  const int = (name: string, fallback?: number): Effect.Effect<number | undefined, OpsInputError> => {
    const raw = text(name)
    if (raw === undefined) return Effect.succeed(fallback)
    const n = Number(raw)
    return Number.isSafeInteger(n)
      ? Effect.succeed(n)
      : Effect.fail(new OpsInputError({ reason: `${name} must be an integer` }))
  }
  return { text, int }
})

const timeout = (value: number | undefined, fallback: number) =>
  Math.min(Math.max(value ?? fallback, 100), MAX_TIMEOUT_MS)

/**
 * `/admin/...` (SPEC §7), each route behind the bearer key. Purge is deliberately not offered over
 * HTTP: it destroys data and belongs to an operator at a terminal (`telemetry dlq purge --yes`).
 */
export const adminRoutes = ({ apiKey, ops }: AdminOptions) => {
  const authorized = bearerChecker(apiKey)
  const guarded = <R>(
    handler: Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>,
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R | HttpServerRequest.HttpServerRequest> =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      authorized(request.headers.authorization)
        ? handler
        : Effect.succeed(
            HttpServerResponse.jsonUnsafe(
              { error: "Unauthorized", message: "Authorization: Bearer <MANAGEMENT_API_KEY> required" },
              { status: 401, headers: { "www-authenticate": 'Bearer realm="telemetry-admin"' } },
            ),
          ),
    )
  const base = HTTP_PATHS.admin

  return Layer.mergeAll(
    HttpRouter.add(
      "GET",
      `${base}/lag`,
      guarded(
        ops.lag.pipe(
          Effect.map((report) => json(report)),
          Effect.catch(respondError),
        ),
      ),
    ),
    HttpRouter.add(
      "GET",
      `${base}/dlq`,
      guarded(
        Effect.gen(function* () {
          const q = yield* query
          const order = q.text("order") ?? "newest"
          if (order !== "newest" && order !== "oldest")
            return yield* new OpsInputError({ reason: "order must be newest or oldest" })
          const count = yield* q.int("count", DEFAULT_PAGE)
          return json(yield* ops.dlqList({ order, cursor: q.text("cursor"), count: count ?? DEFAULT_PAGE }))
        }).pipe(Effect.catch(respondError)),
      ),
    ),
    HttpRouter.add(
      "POST",
      `${base}/dlq/replay`,
      guarded(
        Effect.gen(function* () {
          const q = yield* query
          const limit = yield* q.int("limit")
          return json(yield* ops.dlqReplay({ id: q.text("id"), errorTag: q.text("errorTag"), limit }))
        }).pipe(Effect.catch(respondError)),
      ),
    ),
    HttpRouter.add(
      "POST",
      `${base}/claim`,
      guarded(
        Effect.gen(function* () {
          const q = yield* query
          const minIdleMs = yield* q.int("minIdleMs")
          const timeoutMs = timeout(yield* q.int("timeoutMs"), DEFAULT_CLAIM_TIMEOUT_MS)
          return json(yield* ops.requestClaim({ minIdleMs, consumer: q.text("consumer") }, timeoutMs))
        }).pipe(Effect.catch(respondError)),
      ),
    ),
    HttpRouter.add(
      "POST",
      `${base}/rehydrate/:device`,
      guarded(
        Effect.gen(function* () {
          const q = yield* query
          const device = (yield* HttpRouter.params).device ?? ""
          const timeoutMs = timeout(yield* q.int("timeoutMs"), DEFAULT_REHYDRATE_TIMEOUT_MS)
          return json(yield* ops.requestRehydrate(device, timeoutMs))
        }).pipe(Effect.catch(respondError)),
      ),
    ),
  )
}
