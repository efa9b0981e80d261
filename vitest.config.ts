import { defineConfig } from "vitest/config";

/**
 * Two sets: `npm test` (unit, conformance, multi-process and server suites: a
 * few minutes) and `npm run test:stress` (the crash and concurrency harnesses,
 * which kill and race processes for tens of seconds each). Both run in CI;
 * `ATTACHE_STRESS=1 npm run test:stress` runs the harnesses at stress sizes.
 */
const STRESS = [
  "test/stress/**/*.test.ts",
  "test/backends/fleet-crash.test.ts",
  "test/backends/fleet-concurrency.test.ts",
  "test/backends/fleet-processes.test.ts",
];
const stressSet = process.env.ATTACHE_TEST_SET === "stress";

export default defineConfig({
  test: {
    include: stressSet ? STRESS : ["test/**/*.test.ts"],
    exclude: stressSet ? [] : STRESS,
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
