/**
 * `attache-store/postgres`: the manifest on PostgreSQL, for a store shared by
 * workers on many hosts. `pg` is an optional peer dependency, needed only by
 * this entry point.
 */
export { postgresManifest, type PostgresManifestOptions } from "./manifest.js";
