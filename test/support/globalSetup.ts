import type { TestProject } from "vitest/node"
import { startPostgres, startRedis } from "../../src/devservers/index.ts"

declare module "vitest" {
  export interface ProvidedContext {
    readonly postgresAdminUrl: string
    readonly redisUrl: string
  }
}

/** One throwaway PostgreSQL and Redis for the whole run; each test file takes its own database
 * (test/support/postgres.ts) and its own stream keys. Fault-injection tests start their own. */
export default async function setup(project: TestProject) {
  const [pg, redis] = await Promise.all([startPostgres({ fsync: false, database: "admin" }), startRedis()])
  project.provide("postgresAdminUrl", pg.url)
  project.provide("redisUrl", redis.url)
  return async () => {
    await Promise.all([pg.destroy(), redis.destroy()])
  }
}
