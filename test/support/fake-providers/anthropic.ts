/**
 * A fake of Anthropic's Files API (beta). Point an SDK client at it:
 * `new Anthropic({ apiKey, baseURL: fake.url })`.
 *
 *   POST   /v1/files        multipart: file (filename + content type), expires_in_seconds
 *   GET    /v1/files/{id}   DELETE /v1/files/{id}
 *
 * Every request needs `anthropic-version`, `anthropic-beta` naming
 * files-api-2025-04-14, and the key (`x-api-key` or `Authorization: Bearer`).
 * Files belong to the key that made them: another key gets a 404.
 */
import { FakeHttpError, FakeHttpServer, fakeId, formFields, parseMultipart, type FakeRequest } from "./fake-server.js";

export const FILES_BETA = "files-api-2025-04-14";

export interface FakeAnthropicFile {
  id: string;
  account: string;
  bytes: Buffer;
  filename: string;
  mimeType: string;
  createdAt: Date;
  expiresAt: Date | null;
  deleted: boolean;
}

export interface FakeAnthropicOptions {
  /** API keys the fake accepts, each its own account. @default ["sk-ant-test"] */
  apiKeys?: string[];
  /** Largest file; larger is a 413. @default 500 MB */
  maxFileBytes?: number;
}

export class FakeAnthropic extends FakeHttpServer {
  readonly files = new Map<string, FakeAnthropicFile>();
  private readonly apiKeys: string[];
  private readonly maxFileBytes: number;

  constructor(options: FakeAnthropicOptions = {}) {
    super((status, message, type) => ({
      type: "error",
      error: { type: type ?? errorType(status), message },
      request_id: fakeId("req_"),
    }));
    this.apiKeys = options.apiKeys ?? ["sk-ant-test"];
    this.maxFileBytes = options.maxFileBytes ?? 500 * 1000 ** 2;
    const check = (header: (name: string) => string | undefined): void => void this.account(header);
    this.route({ name: "files.upload", method: "POST", path: /^\/v1\/files$/, check, handle: (r) => this.upload(r) });
    this.route({ name: "files.retrieve", method: "GET", path: /^\/v1\/files\/([^/]+)$/, check, handle: (r) => ({ json: metadata(this.liveFile(r)) }) });
    this.route({
      name: "files.delete",
      method: "DELETE",
      path: /^\/v1\/files\/([^/]+)$/,
      check,
      handle: (r) => {
        const file = this.liveFile(r);
        file.deleted = true;
        return { json: { id: file.id, type: "file_deleted" } };
      },
    });
  }

  fileBytes(id: string): Buffer {
    const file = this.files.get(id);
    if (!file) throw new Error(`The fake holds no file ${id}.`);
    return file.bytes;
  }

  /** Checks the headers every Files API request needs; the account is the key. */
  private account(header: (name: string) => string | undefined): string {
    if (!header("anthropic-version")) throw new FakeHttpError(400, "anthropic-version: header is required", "invalid_request_error");
    const betas = (header("anthropic-beta") ?? "").split(",").map((beta) => beta.trim());
    if (!betas.includes(FILES_BETA)) throw new FakeHttpError(400, `The Files API requires the beta header anthropic-beta: ${FILES_BETA}.`, "invalid_request_error");
    const key = header("x-api-key") ?? /^Bearer (.+)$/.exec(header("authorization") ?? "")?.[1];
    if (!key || !this.apiKeys.includes(key)) throw new FakeHttpError(401, "invalid x-api-key", "authentication_error");
    return key;
  }

  private upload(request: FakeRequest): { json: unknown } {
    const account = this.account(request.header);
    const form = formFields(parseMultipart(request.header("content-type"), request.body), ["file", "expires_in_seconds"]);
    const file = form.get("file");
    if (!file || file.filename === undefined) throw new FakeHttpError(400, "file: Field required", "invalid_request_error");
    if (file.data.length > this.maxFileBytes) throw new FakeHttpError(413, `File exceeds the maximum size of ${this.maxFileBytes} bytes.`, "request_too_large");
    let expiresAt: Date | null = null;
    const expires = form.get("expires_in_seconds")?.data.toString();
    if (expires !== undefined) {
      const seconds = Number(expires);
      if (!Number.isInteger(seconds) || seconds < 3600 || seconds > 7_776_000) {
        throw new FakeHttpError(400, "expires_in_seconds: must be between 3600 and 7776000", "invalid_request_error");
      }
      expiresAt = new Date(Date.now() + seconds * 1000);
    }
    const stored: FakeAnthropicFile = {
      id: fakeId("file_"),
      account,
      bytes: Buffer.from(file.data),
      filename: file.filename.split(/[\\/]/).pop() || "unnamed",
      mimeType: file.contentType ?? "application/octet-stream",
      createdAt: new Date(),
      expiresAt,
      deleted: false,
    };
    this.files.set(stored.id, stored);
    return { json: metadata(stored) };
  }

  private liveFile(request: FakeRequest): FakeAnthropicFile {
    const account = this.account(request.header);
    const id = request.params[0] as string;
    const file = this.files.get(id);
    if (!file || file.deleted || file.account !== account || (file.expiresAt !== null && file.expiresAt.getTime() < Date.now())) {
      throw new FakeHttpError(404, `File not found: ${id}`, "not_found_error");
    }
    return file;
  }
}

function metadata(file: FakeAnthropicFile): unknown {
  return {
    id: file.id,
    type: "file",
    filename: file.filename,
    mime_type: file.mimeType,
    size_bytes: file.bytes.length,
    created_at: file.createdAt.toISOString(),
    downloadable: false,
    expires_at: file.expiresAt?.toISOString() ?? null,
  };
}

function errorType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  if (status === 413) return "request_too_large";
  if (status === 404) return "not_found_error";
  return "invalid_request_error";
}
