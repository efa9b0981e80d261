/**
 * A fake of OpenAI's Files and Uploads APIs, strict enough that a request
 * the real API would refuse fails here too. Point an SDK client at it:
 * `new OpenAI({ apiKey, baseURL: `${fake.url}/v1` })`.
 *
 *   POST   /v1/files                  multipart: file, purpose, expires_after[anchor|seconds]
 *   GET    /v1/files/{id}             DELETE /v1/files/{id}
 *   POST   /v1/uploads                JSON: bytes, filename, mime_type, purpose, expires_after
 *   POST   /v1/uploads/{id}/parts     multipart: data (at most maxPartBytes)
 *   POST   /v1/uploads/{id}/complete  JSON: part_ids (byte count must match), md5
 *   POST   /v1/uploads/{id}/cancel
 *
 * Files belong to the API key that made them: another key gets a 404.
 */
import { FakeHttpError, FakeHttpServer, fakeId, formFields, jsonObject, parseMultipart, type FakeRequest } from "./fake-server.js";

const PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];

export interface FakeOpenAIFile {
  id: string;
  account: string;
  bytes: Buffer;
  filename: string;
  purpose: string;
  /** The part's declared content type (files.create) or the upload's mime_type. */
  contentType: string | undefined;
  createdAt: number;
  expiresAt: number | null;
  deleted: boolean;
}

export interface FakeOpenAIUpload {
  id: string;
  account: string;
  bytes: number;
  filename: string;
  mimeType: string;
  purpose: string;
  expiresAfterSeconds: number | undefined;
  createdAt: number;
  expiresAt: number;
  status: "pending" | "completed" | "cancelled" | "expired";
  parts: Map<string, Buffer>;
  fileId?: string;
}

export interface FakeOpenAIOptions {
  /** API keys the fake accepts, each its own account. @default ["sk-test"] */
  apiKeys?: string[];
  /** Largest file files.create takes; larger is a 413. @default 512 MB */
  maxFileBytes?: number;
  /** Largest part. @default 64 MiB */
  maxPartBytes?: number;
  /** How long an Upload takes parts, in seconds. @default 3600 */
  uploadTtlSeconds?: number;
}

export class FakeOpenAI extends FakeHttpServer {
  readonly files = new Map<string, FakeOpenAIFile>();
  readonly uploads = new Map<string, FakeOpenAIUpload>();
  /** The part_ids of every complete request, in arrival order. */
  readonly completions: string[][] = [];
  private readonly apiKeys: string[];
  private readonly maxFileBytes: number;
  private readonly maxPartBytes: number;
  private readonly uploadTtlSeconds: number;

  constructor(options: FakeOpenAIOptions = {}) {
    super((status, message, type) => ({
      error: { message, type: type ?? (status === 429 ? "requests" : status >= 500 ? "server_error" : "invalid_request_error"), param: null, code: null },
    }));
    this.apiKeys = options.apiKeys ?? ["sk-test"];
    this.maxFileBytes = options.maxFileBytes ?? 512 * 1000 ** 2;
    this.maxPartBytes = options.maxPartBytes ?? 64 * 1024 * 1024;
    this.uploadTtlSeconds = options.uploadTtlSeconds ?? 3600;
    const check = (header: (name: string) => string | undefined): void => void this.account(header);

    this.route({ name: "files.create", method: "POST", path: /^\/v1\/files$/, check, handle: (r) => this.createFile(r) });
    this.route({ name: "files.retrieve", method: "GET", path: /^\/v1\/files\/([^/]+)$/, check, handle: (r) => ({ json: this.fileObject(this.liveFile(r)) }) });
    this.route({
      name: "files.delete",
      method: "DELETE",
      path: /^\/v1\/files\/([^/]+)$/,
      check,
      handle: (r) => {
        const file = this.liveFile(r);
        file.deleted = true;
        return { json: { id: file.id, object: "file", deleted: true } };
      },
    });
    this.route({ name: "uploads.create", method: "POST", path: /^\/v1\/uploads$/, check, handle: (r) => this.createUpload(r) });
    this.route({ name: "uploads.parts", method: "POST", path: /^\/v1\/uploads\/([^/]+)\/parts$/, check, handle: (r) => this.addPart(r) });
    this.route({ name: "uploads.complete", method: "POST", path: /^\/v1\/uploads\/([^/]+)\/complete$/, check, handle: (r) => this.complete(r) });
    this.route({
      name: "uploads.cancel",
      method: "POST",
      path: /^\/v1\/uploads\/([^/]+)\/cancel$/,
      check,
      handle: (r) => {
        const upload = this.pendingUpload(r);
        upload.status = "cancelled";
        return { json: this.uploadObject(upload) };
      },
    });
  }

  /** The bytes of a stored file. */
  fileBytes(id: string): Buffer {
    const file = this.files.get(id);
    if (!file) throw new Error(`The fake holds no file ${id}.`);
    return file.bytes;
  }

  /** Ends an upload as OpenAI does an hour after its creation. */
  expireUpload(id: string): void {
    const upload = this.uploads.get(id);
    if (upload) upload.status = "expired";
  }

  private account(header: (name: string) => string | undefined): string {
    const auth = /^Bearer (.+)$/.exec(header("authorization") ?? "");
    if (!auth) throw new FakeHttpError(401, "You didn't provide an API key.", "invalid_request_error");
    if (!this.apiKeys.includes(auth[1] as string)) throw new FakeHttpError(401, "Incorrect API key provided.", "invalid_request_error");
    return auth[1] as string;
  }

  private createFile(request: FakeRequest): { json: unknown } {
    const account = this.account(request.header);
    const form = formFields(parseMultipart(request.header("content-type"), request.body), ["file", "purpose", "expires_after[anchor]", "expires_after[seconds]"]);
    const file = form.get("file");
    if (!file?.filename) throw new FakeHttpError(400, "'file' is a required property and must be a file.");
    const purpose = form.get("purpose")?.data.toString();
    if (!purpose || !PURPOSES.includes(purpose)) throw new FakeHttpError(400, `'purpose' must be one of ${PURPOSES.join(", ")}.`);
    const expiresAfter = readExpiresAfter(form.get("expires_after[anchor]")?.data.toString(), form.get("expires_after[seconds]")?.data.toString());
    if (file.data.length > this.maxFileBytes) throw new FakeHttpError(413, `File is too large: the limit is ${this.maxFileBytes} bytes.`);
    const stored = this.store(account, file.data, file.filename, purpose, file.contentType, expiresAfter);
    return { json: this.fileObject(stored) };
  }

  private createUpload(request: FakeRequest): { json: unknown } {
    const account = this.account(request.header);
    const body = jsonObject(request, ["bytes", "filename", "mime_type", "purpose", "expires_after"]);
    if (!Number.isSafeInteger(body.bytes) || (body.bytes as number) <= 0) throw new FakeHttpError(400, "'bytes' must be a positive integer.");
    if ((body.bytes as number) > 8 * 1000 ** 3) throw new FakeHttpError(400, "An Upload takes at most 8 GB.");
    if (typeof body.filename !== "string" || body.filename === "") throw new FakeHttpError(400, "'filename' is required.");
    if (typeof body.mime_type !== "string" || !/^[\w.+-]+\/[\w.+-]+/.test(body.mime_type)) throw new FakeHttpError(400, "'mime_type' must be a MIME type.");
    if (typeof body.purpose !== "string" || !PURPOSES.includes(body.purpose)) throw new FakeHttpError(400, "'purpose' is invalid.");
    let expiresAfterSeconds: number | undefined;
    if (body.expires_after !== undefined) {
      const { anchor, seconds, ...rest } = body.expires_after as Record<string, unknown>;
      if (Object.keys(rest).length > 0) throw new FakeHttpError(400, "Unrecognized expires_after field.");
      expiresAfterSeconds = readExpiresAfter(anchor as string, String(seconds));
    }
    const now = Math.floor(Date.now() / 1000);
    const upload: FakeOpenAIUpload = {
      id: fakeId("upload_"),
      account,
      bytes: body.bytes as number,
      filename: body.filename,
      mimeType: body.mime_type,
      purpose: body.purpose,
      expiresAfterSeconds,
      createdAt: now,
      expiresAt: now + this.uploadTtlSeconds,
      status: "pending",
      parts: new Map(),
    };
    this.uploads.set(upload.id, upload);
    return { json: this.uploadObject(upload) };
  }

  private addPart(request: FakeRequest): { json: unknown } {
    const upload = this.pendingUpload(request);
    const form = formFields(parseMultipart(request.header("content-type"), request.body), ["data"]);
    const data = form.get("data");
    if (!data || data.filename === undefined) throw new FakeHttpError(400, "'data' is a required property and must be a file.");
    if (data.data.length === 0) throw new FakeHttpError(400, "A Part must not be empty.");
    if (data.data.length > this.maxPartBytes) throw new FakeHttpError(400, `A Part can be at most ${this.maxPartBytes} bytes.`);
    const id = fakeId("part_");
    upload.parts.set(id, Buffer.from(data.data));
    return { json: { id, object: "upload.part", created_at: Math.floor(Date.now() / 1000), upload_id: upload.id } };
  }

  private complete(request: FakeRequest): { json: unknown } {
    const upload = this.pendingUpload(request);
    const body = jsonObject(request, ["part_ids", "md5"]);
    const ids = body.part_ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === "string")) throw new FakeHttpError(400, "'part_ids' must be a non-empty list of part ids.");
    this.completions.push([...(ids as string[])]);
    if (new Set(ids).size !== ids.length) throw new FakeHttpError(400, "'part_ids' lists a part twice.");
    const parts = (ids as string[]).map((id) => {
      const part = upload.parts.get(id);
      if (!part) throw new FakeHttpError(400, `Part ${id} is not a part of upload ${upload.id}.`);
      return part;
    });
    const bytes = Buffer.concat(parts);
    if (bytes.length !== upload.bytes) {
      throw new FakeHttpError(400, `The number of bytes uploaded (${bytes.length}) does not match the number expected (${upload.bytes}).`);
    }
    const file = this.store(upload.account, bytes, upload.filename, upload.purpose, upload.mimeType, upload.expiresAfterSeconds);
    upload.status = "completed";
    upload.fileId = file.id;
    return { json: this.uploadObject(upload) };
  }

  private store(account: string, bytes: Buffer, filename: string, purpose: string, contentType: string | undefined, expiresAfter: number | undefined): FakeOpenAIFile {
    const createdAt = Math.floor(Date.now() / 1000);
    const file: FakeOpenAIFile = {
      id: fakeId("file-"),
      account,
      bytes: Buffer.from(bytes),
      filename,
      purpose,
      contentType,
      createdAt,
      expiresAt: expiresAfter === undefined ? (purpose === "batch" ? createdAt + 30 * 86400 : null) : createdAt + expiresAfter,
      deleted: false,
    };
    this.files.set(file.id, file);
    return file;
  }

  private liveFile(request: FakeRequest): FakeOpenAIFile {
    const account = this.account(request.header);
    const id = request.params[0] as string;
    const file = this.files.get(id);
    if (!file || file.deleted || file.account !== account || (file.expiresAt !== null && file.expiresAt * 1000 < Date.now())) {
      throw new FakeHttpError(404, `No such File object: ${id}`);
    }
    return file;
  }

  private pendingUpload(request: FakeRequest): FakeOpenAIUpload {
    const account = this.account(request.header);
    const id = request.params[0] as string;
    const upload = this.uploads.get(id);
    if (!upload || upload.account !== account) throw new FakeHttpError(404, `No such Upload object: ${id}`);
    if (upload.status === "pending" && upload.expiresAt * 1000 < Date.now()) upload.status = "expired";
    if (upload.status !== "pending") throw new FakeHttpError(400, `Upload ${id} is already ${upload.status}.`);
    return upload;
  }

  private fileObject(file: FakeOpenAIFile): unknown {
    return {
      id: file.id,
      object: "file",
      bytes: file.bytes.length,
      created_at: file.createdAt,
      filename: file.filename,
      purpose: file.purpose,
      status: "processed",
      ...(file.expiresAt === null ? {} : { expires_at: file.expiresAt }),
    };
  }

  private uploadObject(upload: FakeOpenAIUpload): unknown {
    const file = upload.fileId ? this.files.get(upload.fileId) : undefined;
    return {
      id: upload.id,
      object: "upload",
      bytes: upload.bytes,
      created_at: upload.createdAt,
      expires_at: upload.expiresAt,
      filename: upload.filename,
      purpose: upload.purpose,
      status: upload.status,
      file: file ? this.fileObject(file) : null,
    };
  }
}

function readExpiresAfter(anchor: string | undefined, seconds: string | undefined): number | undefined {
  if (anchor === undefined && seconds === undefined) return undefined;
  if (anchor !== "created_at") throw new FakeHttpError(400, "expires_after[anchor] must be 'created_at'.");
  const value = Number(seconds);
  if (!Number.isInteger(value) || value < 3600 || value > 2_592_000) throw new FakeHttpError(400, "expires_after[seconds] must be between 3600 and 2592000.");
  return value;
}
