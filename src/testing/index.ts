/**
 * `attache-store/testing`: the conformance suites that every backend must
 * pass, for vitest. Each is parameterised by a factory that opens two
 * handles on one fresh backend, so the suites can check what two processes
 * (or hosts) sharing it may do at the same moment.
 *
 *   describeManifest(name, { open })    a Manifest (attachments, blobs and the fence, pins, writers)
 *   describeBlobStore(name, { open })   a BlobStore (and its `local` capability, where present)
 *   describeStore(name, { create })     a store over a manifest and a blob store, through the public API
 */
export { describeManifest, type ManifestFactory } from "./manifest-suite.js";
export { describeBlobStore, type BlobStoreFactory } from "./blob-store-suite.js";
export { describeStore, type StoreFactory } from "./store-suite.js";
export type { StoreHarness } from "./store-fixtures.js";
export type { HandlePair } from "./support.js";
