/**
 * For suites about blobs kept as files (their damage, their permissions,
 * their fsyncs, their inodes): every store they open — in this process and in
 * the CLI and worker processes it starts — keeps every blob in a file, as
 * small ones would otherwise stay inline in the manifest. Inline blobs have
 * suites of their own (test/store/inline-blobs.test.ts). Import it first.
 */
import { afterAll } from "vitest";

const before = process.env.ATTACHE_INLINE_MAX_SIZE;
process.env.ATTACHE_INLINE_MAX_SIZE = "0";
afterAll(() => {
  if (before === undefined) delete process.env.ATTACHE_INLINE_MAX_SIZE;
  else process.env.ATTACHE_INLINE_MAX_SIZE = before;
});
