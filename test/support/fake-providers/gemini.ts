/**
 * A fake of the Gemini API's Files API and its resumable upload protocol.
 * Point an SDK client at it: `new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.url } })`.
 *
 *   POST /upload/v1beta/files            X-Goog-Upload-Command: start (+ Protocol, Header-Content-Length/-Type, JSON body)
 *     ← X-Goog-Upload-URL: {origin}/upload/v1beta/files?upload_id=…&upload_protocol=resumable
 *   POST {session}  upload            X-Goog-Upload-Offset must equal the bytes received; a multiple of 256 KiB
 *   POST {session}  upload, finalize  offset + length must equal the declared size → { file }
 *   POST {session}  query             → X-Goog-Upload-Status, X-Goog-Upload-Size-Received (and { file } once final)
 *   GET  /v1beta/files/{id}           DELETE /v1beta/files/{id}
 *
 * Every request needs `x-goog-api-key`. A file that is gone, or another
 * key's, is a 403 PERMISSION_DENIED, as Gemini answers.
 */
import { createHash } from "node:crypto";
import { FakeHttpError, FakeHttpServer, fakeId, jsonObject, type FakeRequest, type FakeResponse } from "./fake-server.js";

export const CHUNK_GRANULARITY = 256 * 1024;

export interface FakeGeminiSession {
  id: string;
  account: string;
  size: number;
  mimeType: string;
  displayName: string | undefined;
  chunks: Buffer[];
  received: number;
  status: "active" | "final" | "cancelled";
  fileName?: string;
}

export interface FakeGeminiFile {
  name: string;
  account: string;
  bytes: Buffer;
  displayName: string | undefined;
  mimeType: string;
  createTime: Date;
  expirationTime: Date;
  deleted: boolean;
}

export interface FakeGeminiOptions {
  /** API keys the fake accepts, each its own account. @default ["gemini-test-key"] */
  apiKeys?: string[];
  /** Largest file; a larger declared size is a 413 at start. @default 2 GB */
  maxFileBytes?: number;
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  413: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

export class FakeGemini extends FakeHttpServer {
  readonly sessions = new Map<string, FakeGeminiSession>();
  readonly files = new Map<string, FakeGeminiFile>();
  private readonly apiKeys: string[];
  private readonly maxFileBytes: number;

  constructor(options: FakeGeminiOptions = {}) {
    super((status, message) => ({ error: { code: status, message, status: STATUS_NAMES[status] ?? "UNKNOWN" } }));
    this.apiKeys = options.apiKeys ?? ["gemini-test-key"];
    this.maxFileBytes = options.maxFileBytes ?? 2 * 1000 ** 3;
    const check = (header: (name: string) => string | undefined): void => void this.account(header);
    const upload = /^\/upload\/v1beta\/files$/;
    const command = (expected: RegExp) => (header: (name: string) => string | undefined) => expected.test(header("x-goog-upload-command") ?? "");
    this.route({ name: "upload.start", method: "POST", path: upload, when: command(/^start$/), check, handle: (r) => this.startSession(r) });
    this.route({ name: "upload.chunk", method: "POST", path: upload, when: command(/^upload$/), check, handle: (r) => this.chunk(r, false) });
    this.route({ name: "upload.finalize", method: "POST", path: upload, when: command(/^upload,\s*finalize$/), check, handle: (r) => this.chunk(r, true) });
    this.route({ name: "upload.query", method: "POST", path: upload, when: command(/^query$/), check, handle: (r) => this.query(r) });
    this.route({
      name: "upload.cancel",
      method: "POST",
      path: upload,
      when: command(/^cancel$/),
      check,
      handle: (r) => {
        this.session(r).status = "cancelled";
        return { headers: { "x-goog-upload-status": "cancelled" } };
      },
    });
    this.route({
      name: "upload.invalid",
      method: "POST",
      path: upload,
      handle: (r) => {
        throw new FakeHttpError(400, `Invalid X-Goog-Upload-Command: ${JSON.stringify(r.header("x-goog-upload-command"))}.`);
      },
    });
    this.route({ name: "files.get", method: "GET", path: /^\/v1beta\/files\/([^/]+)$/, check, handle: (r) => ({ json: this.fileResource(this.liveFile(r)) }) });
    this.route({
      name: "files.delete",
      method: "DELETE",
      path: /^\/v1beta\/files\/([^/]+)$/,
      check,
      handle: (r) => {
        this.liveFile(r).deleted = true;
        return { json: {} };
      },
    });
  }

  /** The bytes of a stored file, by name (`files/…`). */
  fileBytes(name: string): Buffer {
    const file = this.files.get(name);
    if (!file) throw new Error(`The fake holds no file ${name}.`);
    return file.bytes;
  }

  /** Forgets a session, as the server does once it expires. */
  dropSession(id: string): void {
    this.sessions.delete(id);
  }

  private account(header: (name: string) => string | undefined): string {
    const key = header("x-goog-api-key");
    if (!key) throw new FakeHttpError(401, "Method doesn't allow unregistered callers. Please use an API key.");
    if (!this.apiKeys.includes(key)) throw new FakeHttpError(400, "API key not valid. Please pass a valid API key.");
    return key;
  }

  private startSession(request: FakeRequest): FakeResponse {
    const account = this.account(request.header);
    if (request.header("x-goog-upload-protocol") !== "resumable") throw new FakeHttpError(400, "X-Goog-Upload-Protocol must be resumable.");
    const size = Number(request.header("x-goog-upload-header-content-length"));
    if (!Number.isSafeInteger(size) || size < 0) throw new FakeHttpError(400, "X-Goog-Upload-Header-Content-Length is required.");
    const mimeType = request.header("x-goog-upload-header-content-type");
    if (!mimeType) throw new FakeHttpError(400, "X-Goog-Upload-Header-Content-Type is required.");
    const body = jsonObject(request, ["file"]);
    const file = (body.file ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(file)) {
      if (!["name", "displayName", "mimeType", "sizeBytes"].includes(key)) throw new FakeHttpError(400, `Invalid JSON payload received. Unknown name "${key}" at 'file'.`);
    }
    if (file.sizeBytes !== undefined && String(file.sizeBytes) !== String(size)) throw new FakeHttpError(400, "file.sizeBytes does not match the declared length.");
    if (size > this.maxFileBytes) throw new FakeHttpError(413, `The file exceeds the ${this.maxFileBytes} byte limit.`);
    const session: FakeGeminiSession = {
      id: fakeId("session-"),
      account,
      size,
      mimeType,
      displayName: typeof file.displayName === "string" ? file.displayName : undefined,
      chunks: [],
      received: 0,
      status: "active",
    };
    this.sessions.set(session.id, session);
    return {
      headers: {
        "x-goog-upload-url": `${this.url}/upload/v1beta/files?upload_id=${session.id}&upload_protocol=resumable`,
        "x-goog-upload-status": "active",
        "x-goog-upload-chunk-granularity": String(CHUNK_GRANULARITY),
      },
    };
  }

  private chunk(request: FakeRequest, finalize: boolean): FakeResponse {
    const session = this.session(request);
    if (session.status !== "active") throw new FakeHttpError(400, `The upload session is ${session.status}.`);
    const offset = Number(request.header("x-goog-upload-offset"));
    if (!Number.isSafeInteger(offset) || offset !== session.received) {
      throw new FakeHttpError(400, `X-Goog-Upload-Offset ${request.header("x-goog-upload-offset")} does not match the ${session.received} bytes received.`);
    }
    const length = request.body.length;
    if (finalize) {
      if (offset + length !== session.size) throw new FakeHttpError(400, `The upload ends at ${offset + length} bytes, not at the declared ${session.size}.`);
    } else if (length === 0 || length % CHUNK_GRANULARITY !== 0 || offset + length >= session.size) {
      throw new FakeHttpError(400, `A chunk other than the last must be a non-empty multiple of ${CHUNK_GRANULARITY} bytes and end before the declared size.`);
    }
    session.chunks.push(Buffer.from(request.body));
    session.received += length;
    if (!finalize) return { headers: { "x-goog-upload-status": "active", "x-goog-upload-size-received": String(session.received) } };
    const file: FakeGeminiFile = {
      name: `files/${fakeId("")}`,
      account: session.account,
      bytes: Buffer.concat(session.chunks),
      displayName: session.displayName,
      mimeType: session.mimeType,
      createTime: new Date(),
      expirationTime: new Date(Date.now() + 48 * 3600_000),
      deleted: false,
    };
    this.files.set(file.name, file);
    session.status = "final";
    session.fileName = file.name;
    return { headers: { "x-goog-upload-status": "final" }, json: { file: this.fileResource(file) } };
  }

  private query(request: FakeRequest): FakeResponse {
    const session = this.session(request);
    const headers = { "x-goog-upload-status": session.status, "x-goog-upload-size-received": String(session.received) };
    const file = session.fileName ? this.files.get(session.fileName) : undefined;
    return file ? { headers, json: { file: this.fileResource(file) } } : { headers };
  }

  private session(request: FakeRequest): FakeGeminiSession {
    const account = this.account(request.header);
    const session = this.sessions.get(request.query.get("upload_id") ?? "");
    if (!session || session.account !== account) throw new FakeHttpError(404, "No such upload session.");
    return session;
  }

  private liveFile(request: FakeRequest): FakeGeminiFile {
    const account = this.account(request.header);
    const name = `files/${request.params[0] as string}`;
    const file = this.files.get(name);
    if (!file || file.deleted || file.account !== account || file.expirationTime.getTime() < Date.now()) {
      throw new FakeHttpError(403, `You do not have permission to access the File ${request.params[0] as string} or it may not exist.`);
    }
    return file;
  }

  private fileResource(file: FakeGeminiFile): unknown {
    return {
      name: file.name,
      ...(file.displayName === undefined ? {} : { displayName: file.displayName }),
      mimeType: file.mimeType,
      sizeBytes: String(file.bytes.length),
      createTime: file.createTime.toISOString(),
      updateTime: file.createTime.toISOString(),
      expirationTime: file.expirationTime.toISOString(),
      sha256Hash: createHash("sha256").update(file.bytes).digest("base64"),
      uri: `${this.url}/v1beta/${file.name}`,
      state: "ACTIVE",
      source: "UPLOADED",
    };
  }
}
