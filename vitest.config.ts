import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Servers start per run, and fault-injection cases restart them: generous bounds, no timing asserts.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: the fault suite's child processes need the CPU more than parallel files do.
    maxWorkers: 2,
  },
})
