import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric, Option, Redacted, Scope } from "effect"
import { freePort } from "../../src/devservers/index.ts"
import { adminOptions } from "../../src/http/adminRoutes.ts"
import { HttpLive, type HttpOptions } from "../../src/http/HttpLive.ts"
import type { Ops } from "../../src/ops/Ops.ts"
import { OpsError } from "../../src/ops/OpsError.ts"

/**
 * The HTTP server on its own, with checks and liveness the test controls: what each endpoint
 * answers in each state. The processor with real dependencies is in processor.test.ts.
 */

/** Admin routes only need an Ops value; these tests look at routing and auth, not at Redis. */
const fakeOps = {
  lag: Effect.succeed({ stream: "s" }),
  dlqList: () => Effect.fail(new OpsError({ operation: "XRANGE", reason: "boom" })),
} as unknown as Ops["Service"]

interface Running {
  readonly url: string
  readonly close: () => Promise<void>
}

const serve = async (options: Omit<HttpOptions, "port">): Promise<Running> => {
  const port = await freePort()
  const scope = Effect.runSync(Scope.make())
  await Effect.runPromise(Layer.buildWithScope(HttpLive({ ...options, port, host: "127.0.0.1" }), scope))
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void)),
  }
}

const state = { alive: true, postgresUp: true }
const checks: HttpOptions["checks"] = [
  { name: "postgres", check: Effect.suspend(() => (state.postgresUp ? Effect.void : Effect.fail(new Error("down")))) },
  { name: "redis", check: Effect.void },
]

describe("HttpLive", () => {
  let withKey: Running
  let withoutKey: Running
  let emptyKey: Running
  const key = "s3cret-management-key"

  beforeAll(async () => {
    withKey = await serve({
      checks,
      liveness: () => state.alive,
      admin: adminOptions(Option.some(Redacted.make(key)), fakeOps),
    })
    withoutKey = await serve({ checks, liveness: () => true, admin: adminOptions(Option.none(), fakeOps) })
    emptyKey = await serve({
      checks,
      liveness: () => true,
      admin: adminOptions(Option.some(Redacted.make(" ")), fakeOps),
    })
  })
  afterAll(async () => {
    await Promise.all([withKey.close(), withoutKey.close(), emptyKey.close()])
  })

  it("answers /healthz by the liveness function, and tells a stalled loop from a waiting one", async () => {
    state.alive = true
    state.postgresUp = true
    expect((await fetch(`${withKey.url}/healthz`)).status).toBe(200)

    state.alive = false
    const stalled = await fetch(`${withKey.url}/healthz`)
    expect(stalled.status).toBe(503)
    expect(await stalled.json()).toMatchObject({ status: "stalled" })

    // Not beating because a dependency is down: a restart would not help, readiness reports it.
    state.postgresUp = false
    const waiting = await fetch(`${withKey.url}/healthz`)
    expect(waiting.status).toBe(200)
    expect(await waiting.json()).toMatchObject({ status: "waiting", postgres: "error: down", redis: "ok" })
    state.alive = true
    state.postgresUp = true
  })

  it("answers /readyz 200 ok or 503 degraded naming the failed dependency", async () => {
    const ok = await fetch(`${withKey.url}/readyz`)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ status: "ok", postgres: "ok", redis: "ok" })

    state.postgresUp = false
    const degraded = await fetch(`${withKey.url}/readyz`)
    expect(degraded.status).toBe(503)
    expect(await degraded.json()).toEqual({ status: "degraded", postgres: "error: down", redis: "ok" })
    state.postgresUp = true
  })

  it("bounds a readiness check that hangs", async () => {
    const hanging = await serve({
      checks: [{ name: "redis", check: Effect.never }],
      liveness: () => true,
      checkTimeoutMs: 200,
    })
    try {
      const response = await fetch(`${hanging.url}/readyz`)
      expect(response.status).toBe(503)
      expect(await response.json()).toEqual({ status: "degraded", redis: "error: no answer within 200 ms" })
    } finally {
      await hanging.close()
    }
  })

  it("serves /metrics in Prometheus text from the process's metrics", async () => {
    await Effect.runPromise(Metric.update(Metric.counter("ops_http_test_total", { incremental: true }), 3))
    const response = await fetch(`${withKey.url}/metrics`)
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toMatch(/^# TYPE ops_http_test_total counter$/m)
    expect(text).toMatch(/^ops_http_test_total 3$/m)
  })

  it("guards /admin with the bearer key: 401 without or with a wrong one", async () => {
    const none = await fetch(`${withKey.url}/admin/lag`)
    expect(none.status).toBe(401)
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/)
    for (const header of [`Bearer ${key}x`, `Bearer ${key.slice(0, -1)}`, `Basic ${key}`, key, "Bearer "]) {
      const wrong = await fetch(`${withKey.url}/admin/lag`, { headers: { authorization: header } })
      expect(wrong.status, header).toBe(401)
    }
    const right = await fetch(`${withKey.url}/admin/lag`, { headers: { authorization: `Bearer ${key}` } })
    expect(right.status).toBe(200)
    expect(await right.json()).toEqual({ stream: "s" })
  })

  it("maps a failed operation to 503 and bad input to 400", async () => {
    const auth = { authorization: `Bearer ${key}` }
    const failed = await fetch(`${withKey.url}/admin/dlq`, { headers: auth })
    expect(failed.status).toBe(503)
    expect(await failed.json()).toMatchObject({ error: "OpsError" })
    const bad = await fetch(`${withKey.url}/admin/dlq?count=abc`, { headers: auth })
    expect(bad.status).toBe(400)
    const badOrder = await fetch(`${withKey.url}/admin/dlq?order=sideways`, { headers: auth })
    expect(badOrder.status).toBe(400)
  })

  it("does not serve /admin at all when MANAGEMENT_API_KEY is unset or empty", async () => {
    for (const server of [withoutKey, emptyKey]) {
      expect((await fetch(`${server.url}/admin/lag`)).status).toBe(404)
      expect((await fetch(`${server.url}/admin/lag`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(404)
      expect((await fetch(`${server.url}/admin/dlq/replay`, { method: "POST" })).status).toBe(404)
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    }
    expect((await fetch(`${withKey.url}/nothing-here`)).status).toBe(404)
  })

  it("stops listening when its scope closes", async () => {
    const server = await serve({ checks: [], liveness: () => true })
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const closing = Effect.runFork(Effect.promise(() => server.close()))
    await Effect.runPromise(Fiber.join(closing))
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow()
  })
})
