// Types for manifest-dump.mjs (imported by TypeScript tests).
import type Database from "better-sqlite3";

/** Table name → its rows as sorted canonical JSON strings. */
export type ManifestDump = Record<string, string[]>;

/** Every row of every table of the manifest, in one read transaction (or the connection's current one). */
export function dumpManifest(db: Database.Database): ManifestDump;
/** Rows `after` has and `before` lacks (added), and the reverse (removed), by table. */
export function diffDumps(before: ManifestDump, after: ManifestDump): { added: ManifestDump; removed: ManifestDump };
/** Number of rows in a dump or a diff side. */
export function countRows(dump: ManifestDump): number;
