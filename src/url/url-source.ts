/**
 * An http(s) URL as a stage source: the response is fetched under the guard
 * (fetch-url.ts) when the source is opened, so its name, type and length are
 * known before the first byte is hashed, and a refused URL or an oversized
 * `Content-Length` fails before the store creates anything.
 */
import type { OpenedSource } from "../source.js";
import { fetchUrl } from "./fetch-url.js";
import { resolveUrlFetchOptions, type ResolvedUrlFetchOptions } from "./fetch-options.js";

export interface UrlSourceOptions {
  /** The stage's `fetch` option, resolved; defaults when absent. */
  fetch?: ResolvedUrlFetchOptions | undefined;
  /** The store's `maxSize`, checked against `Content-Length` before the body is read. */
  maxSize?: number | undefined;
  signal?: AbortSignal | undefined;
}

export async function openUrlSource(url: URL, options: UrlSourceOptions): Promise<OpenedSource> {
  const fetched = await fetchUrl(url, {
    ...(options.fetch ?? resolveUrlFetchOptions(undefined)),
    maxSize: options.maxSize ?? Infinity,
    signal: options.signal,
  });
  const { body } = fetched;
  return {
    path: null,
    nameHint: fetched.name,
    // Not a declared type: the bytes' signature outranks what a server says (see servedType).
    typeHint: null,
    servedType: fetched.contentType,
    provenance: url.origin,
    size: fetched.length,
    stats: null,
    rereadable: false,
    chunks: () => body,
    destroy: () => body.destroy(),
    async close() {
      body.destroy();
    },
    async assertUnchanged() {},
  };
}
