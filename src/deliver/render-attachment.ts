/**
 * `render(ref, target)`: one attachment as one content part, plain JSON.
 * The plan (inline, by file id, or by local path) comes from the target's
 * table and limits (render.ts); the bytes, the upload and the path come from
 * the store, through the callbacks it passes in.
 */
import type { AttachmentRecord } from "../backends/manifest.js";
import { invalidArgument } from "../errors.js";
import { refOf } from "../ids.js";
import type { Lease, RenderOptions, UploadRecord } from "../types.js";
import type { Destination } from "../providers/destination.js";
import { buildPart, planRender } from "./render.js";
import type { RenderTarget } from "./types.js";
import { asDestination } from "./upload.js";

export interface RenderSources {
  /** The attachment's bytes, verified. */
  read(): Promise<Buffer>;
  /** Uploads through the ledger (`upload()`). */
  upload(destination: Destination): Promise<UploadRecord>;
  /** A local path to the bytes (`resolve()`). */
  path(): Promise<string>;
}

/**
 * The path of `lease`, which must pin this attachment: a lease of another
 * attachment would name a file with other bytes (and another name) in a part
 * that claims to be this one.
 */
function leasedPath(lease: Lease, record: AttachmentRecord): string {
  if (typeof lease !== "object" || lease === null || typeof lease.path !== "string" || typeof lease.attachment !== "object" || lease.attachment === null) {
    throw invalidArgument("render() lease must be a lease from lease(ref), such as await store.lease(ref, { named: true }).");
  }
  if (lease.attachment.id !== record.id) {
    throw invalidArgument(`render() was given a lease of ${lease.attachment.ref}, not of ${refOf(record.id)}: lease the attachment being rendered.`);
  }
  return lease.path;
}

const RENDER_OPTIONS = new Set(["via", "destination", "detail", "lease", "limits", "signal"]);

export async function renderAttachment(
  record: AttachmentRecord,
  target: RenderTarget,
  options: RenderOptions,
  sources: RenderSources,
): Promise<Record<string, unknown>> {
  if (typeof options !== "object" || options === null) throw invalidArgument("render() options must be an object.");
  for (const key of Object.keys(options)) {
    if (!RENDER_OPTIONS.has(key)) throw invalidArgument(`render() has no option ${JSON.stringify(key)}; it takes ${[...RENDER_OPTIONS].join(", ")}.`);
  }
  const destination = options.destination === undefined ? undefined : asDestination(options.destination);
  const plan = planRender({
    target,
    contentType: record.contentType,
    size: record.size,
    via: options.via ?? "auto",
    hasDestination: destination !== undefined,
    limits: options.limits,
  });
  const common = { target, name: record.name, contentType: record.contentType, detail: options.detail };
  if (plan.kind === "inline") return buildPart({ ...common, kind: "inline", bytes: await sources.read() });
  if (plan.kind === "path") {
    const path = options.lease === undefined ? await sources.path() : leasedPath(options.lease, record);
    return buildPart({ ...common, kind: "path", path });
  }
  const uploaded = await sources.upload(destination as Destination);
  return buildPart({ ...common, kind: "file", fileId: uploaded.remoteId, fileUri: uploaded.uri ?? undefined });
}
