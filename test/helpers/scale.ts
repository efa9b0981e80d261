/**
 * Sizes of the robustness and stress suites. Moderate by default (what
 * `npm test` and `npm run test:stress` run, and CI); larger with
 * `ATTACHE_STRESS=1 npm run test:stress`.
 */

/** True when the suite runs in stress mode (`ATTACHE_STRESS=1`). */
export const STRESS = process.env.ATTACHE_STRESS === "1";

/** `normal` by default, `stress` under `ATTACHE_STRESS=1`. */
export function scaled<T>(normal: T, stress: T): T {
  return STRESS ? stress : normal;
}
