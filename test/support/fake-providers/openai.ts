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
 *   POST   /v1/responses              JSON: model, input (messages with input_text, input_image, input_file parts)
 *
 * Files belong to the API key that made them: another key gets a 404.
 * `keepBytes: false` hashes what files.create and parts bring as it arrives
 * and keeps only sizes and digests (`FakeOpenAIFile.sha256`, `partSha256`),
 * so a benchmark can send hundreds of MiB without the fake holding them.
 * `responses.create` checks every content part (a file id must be a live
 * file of the caller's, an inline image a base64 data URL whose bytes are
 * the declared type) and answers one short, fixed-form message naming the
 * parts it got.
 */
import { FakeHttpError, FakeHttpServer, fakeId, formFields, jsonObject, parseMultipart, type FakeRequest, type FakeStreamRequest } from "./fake-server.js";
import { bytesMatchType, INLINE_IMAGE_TYPES, objectAt, onlyKeys, parseDataUrl } from "./content-parts.js";
import { parseMultipartStream, streamedFields } from "./multipart-stream.js";

const PURPOSES = ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
/** Purposes a file may have to be an input of a response. */
const INPUT_PURPOSES = ["user_data", "assistants", "vision"];
/** Body fields of `POST /v1/responses` the fake accepts (a subset of the API's). */
const RESPONSES_FIELDS = [
  "model", "input", "instructions", "max_output_tokens", "metadata", "previous_response_id", "reasoning", "store",
  "temperature", "text", "top_p", "truncation", "user", "stream", "include", "parallel_tool_calls", "tool_choice", "tools",
];

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
  /** With `keepBytes: false` (`bytes` is then empty): the file's size. */
  size?: number;
  /** With `keepBytes: false`: SHA-256 of the file (files.create), hex. */
  sha256?: string;
  /** With `keepBytes: false`: SHA-256 of each part, in part_ids order (an Upload's file). */
  partSha256?: string[];
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
  /** With `keepBytes: false`, instead of `parts`: each part's size and SHA-256. */
  partDigests?: Map<string, { size: number; sha256: string }>;
  fileId?: string;
}

/** A content part of a `POST /v1/responses` request, as the fake understood it. */
export interface FakeResponsesPart {
  type: "input_text" | "input_image" | "input_file";
  /** How the part carried its content. */
  via: "text" | "inline" | "file_id";
  /** The declared type of inline content (from the data URL). */
  contentType?: string;
  fileId?: string;
  filename?: string;
  /** Bytes of inline content, or of the referenced file. */
  size?: number;
}

/** One `POST /v1/responses` request the fake accepted. */
export interface FakeResponsesRequest {
  model: string;
  parts: FakeResponsesPart[];
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
  /** Keep the bytes of files and parts; false: hash them as they arrive and keep only digests. @default true */
  keepBytes?: boolean;
}

export class FakeOpenAI extends FakeHttpServer {
  readonly files = new Map<string, FakeOpenAIFile>();
  readonly uploads = new Map<string, FakeOpenAIUpload>();
  /** The part_ids of every complete request, in arrival order. */
  readonly completions: string[][] = [];
  /** Every `POST /v1/responses` request accepted, in arrival order. */
  readonly responseRequests: FakeResponsesRequest[] = [];
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

    const keepBytes = options.keepBytes ?? true;
    this.route(
      keepBytes
        ? { name: "files.create", method: "POST", path: /^\/v1\/files$/, check, handle: (r) => this.createFile(r) }
        : { name: "files.create", method: "POST", path: /^\/v1\/files$/, check, handleStream: (r) => this.createFileHashed(r) },
    );
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
    this.route(
      keepBytes
        ? { name: "uploads.parts", method: "POST", path: /^\/v1\/uploads\/([^/]+)\/parts$/, check, handle: (r) => this.addPart(r) }
        : { name: "uploads.parts", method: "POST", path: /^\/v1\/uploads\/([^/]+)\/parts$/, check, handleStream: (r) => this.addPartHashed(r) },
    );
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
    this.route({ name: "responses.create", method: "POST", path: /^\/v1\/responses$/, check, handle: (r) => this.createResponse(r) });
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

  /** files.create with `keepBytes: false`: the file part hashed as it arrives. */
  private async createFileHashed(request: FakeStreamRequest): Promise<{ json: unknown }> {
    const account = this.account(request.header);
    const form = streamedFields(await parseMultipartStream(request.header("content-type"), request.body), [
      "file",
      "purpose",
      "expires_after[anchor]",
      "expires_after[seconds]",
    ]);
    const file = form.get("file");
    if (!file?.filename) throw new FakeHttpError(400, "'file' is a required property and must be a file.");
    const purpose = form.get("purpose")?.data.toString();
    if (!purpose || !PURPOSES.includes(purpose)) throw new FakeHttpError(400, `'purpose' must be one of ${PURPOSES.join(", ")}.`);
    const expiresAfter = readExpiresAfter(form.get("expires_after[anchor]")?.data.toString(), form.get("expires_after[seconds]")?.data.toString());
    if (file.size > this.maxFileBytes) throw new FakeHttpError(413, `File is too large: the limit is ${this.maxFileBytes} bytes.`);
    const stored = this.store(account, Buffer.alloc(0), file.filename, purpose, file.contentType, expiresAfter);
    stored.size = file.size;
    stored.sha256 = file.sha256;
    return { json: this.fileObject(stored) };
  }

  /** uploads.parts with `keepBytes: false`: the part hashed as it arrives. */
  private async addPartHashed(request: FakeStreamRequest): Promise<{ json: unknown }> {
    const form = streamedFields(await parseMultipartStream(request.header("content-type"), request.body), ["data"]);
    const upload = this.pendingUpload(request);
    const data = form.get("data");
    if (!data || data.filename === undefined) throw new FakeHttpError(400, "'data' is a required property and must be a file.");
    if (data.size === 0) throw new FakeHttpError(400, "A Part must not be empty.");
    if (data.size > this.maxPartBytes) throw new FakeHttpError(400, `A Part can be at most ${this.maxPartBytes} bytes.`);
    const id = fakeId("part_");
    (upload.partDigests ??= new Map()).set(id, { size: data.size, sha256: data.sha256 });
    return { json: { id, object: "upload.part", created_at: Math.floor(Date.now() / 1000), upload_id: upload.id } };
  }

  /** `POST /v1/responses`: every content part checked, then a fixed-form answer naming them. */
  private createResponse(request: FakeRequest): { json: unknown } {
    const account = this.account(request.header);
    const body = jsonObject(request, RESPONSES_FIELDS);
    if (typeof body.model !== "string" || body.model === "") throw new FakeHttpError(400, "Missing required parameter: 'model'.");
    if (body.stream !== undefined && body.stream !== false) throw new FakeHttpError(400, "The fake answers only stream: false.");
    const input = body.input;
    const items: unknown[] = typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? input : [];
    if (items.length === 0) throw new FakeHttpError(400, "'input' must be a string or a non-empty list of input items.");
    const parts: FakeResponsesPart[] = [];
    items.forEach((value, i) => {
      const item = objectAt(value, `input[${i}]`);
      onlyKeys(item, ["type", "role", "content"], `input[${i}]`);
      if (item.type !== undefined && item.type !== "message") throw new FakeHttpError(400, `input[${i}].type: the fake takes only messages.`);
      if (!["user", "assistant", "system", "developer"].includes(item.role as string)) throw new FakeHttpError(400, `input[${i}].role: invalid role ${JSON.stringify(item.role)}.`);
      if (typeof item.content === "string") parts.push({ type: "input_text", via: "text" });
      else if (Array.isArray(item.content) && item.content.length > 0) item.content.forEach((part, j) => parts.push(this.responsesPart(account, part, `input[${i}].content[${j}]`)));
      else throw new FakeHttpError(400, `input[${i}].content must be a string or a non-empty list of content parts.`);
    });
    this.responseRequests.push({ model: body.model, parts });
    const text = `Received ${parts.map(describePart).join(", ")}.`;
    const createdAt = Math.floor(Date.now() / 1000);
    return {
      json: {
        id: fakeId("resp_"),
        object: "response",
        created_at: createdAt,
        status: "completed",
        error: null,
        incomplete_details: null,
        instructions: null,
        max_output_tokens: null,
        model: body.model,
        output: [{ type: "message", id: fakeId("msg_"), status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }],
        parallel_tool_calls: true,
        temperature: 1,
        tool_choice: "auto",
        tools: [],
        top_p: 1,
        usage: { input_tokens: 0, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 0 },
      },
    };
  }

  /** One content part of a response input, checked as the API does. */
  private responsesPart(account: string, value: unknown, where: string): FakeResponsesPart {
    const part = objectAt(value, where);
    switch (part.type) {
      case "input_text":
        onlyKeys(part, ["type", "text"], where);
        if (typeof part.text !== "string") throw new FakeHttpError(400, `${where}.text must be a string.`);
        return { type: "input_text", via: "text" };
      case "input_image": {
        onlyKeys(part, ["type", "detail", "image_url", "file_id"], where);
        if (part.detail !== undefined && !["low", "high", "auto", "original"].includes(part.detail as string)) {
          throw new FakeHttpError(400, `${where}.detail must be one of low, high, auto, original.`);
        }
        if ((part.image_url == null) === (part.file_id == null)) throw new FakeHttpError(400, `${where}: give exactly one of image_url and file_id.`);
        if (part.file_id != null) return { type: "input_image", via: "file_id", ...this.inputFile(account, part.file_id, where) };
        const { contentType, bytes } = parseDataUrl(part.image_url, `${where}.image_url`);
        if (!INLINE_IMAGE_TYPES.includes(contentType)) throw new FakeHttpError(400, `${where}.image_url: unsupported image type ${contentType}.`);
        if (!bytesMatchType(bytes, contentType)) throw new FakeHttpError(400, `${where}.image_url: the bytes are not a valid ${contentType} image.`);
        return { type: "input_image", via: "inline", contentType, size: bytes.length };
      }
      case "input_file": {
        onlyKeys(part, ["type", "detail", "file_id", "file_data", "filename", "file_url"], where);
        if (part.file_url !== undefined) throw new FakeHttpError(400, `${where}.file_url: the fake takes file_id or file_data.`);
        if ((part.file_data == null) === (part.file_id == null)) throw new FakeHttpError(400, `${where}: give exactly one of file_id and file_data.`);
        if (part.file_id != null) return { type: "input_file", via: "file_id", ...this.inputFile(account, part.file_id, where) };
        if (typeof part.filename !== "string" || part.filename === "") throw new FakeHttpError(400, `${where}.filename is required with file_data.`);
        const { contentType, bytes } = parseDataUrl(part.file_data, `${where}.file_data`);
        if (!bytesMatchType(bytes, contentType)) throw new FakeHttpError(400, `${where}.file_data: the bytes are not a valid ${contentType} file.`);
        return { type: "input_file", via: "inline", contentType, filename: part.filename, size: bytes.length };
      }
      default:
        throw new FakeHttpError(400, `${where}.type: invalid content part type ${JSON.stringify(part.type)}.`);
    }
  }

  /** A file id in a response input: a live file of the caller's, with a purpose inputs may have. */
  private inputFile(account: string, id: unknown, where: string): { fileId: string; filename: string; size: number } {
    if (typeof id !== "string") throw new FakeHttpError(400, `${where}.file_id must be a string.`);
    const file = this.files.get(id);
    if (!file || file.deleted || file.account !== account || (file.expiresAt !== null && file.expiresAt * 1000 < Date.now())) {
      throw new FakeHttpError(404, `${where}.file_id: No such File object: ${id}`);
    }
    if (!INPUT_PURPOSES.includes(file.purpose)) throw new FakeHttpError(400, `${where}.file_id: a file with purpose ${file.purpose} cannot be a model input.`);
    return { fileId: id, filename: file.filename, size: file.size ?? file.bytes.length };
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
    if (upload.partDigests !== undefined) return this.completeHashed(upload, ids as string[]);
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

  /** complete for an upload whose parts were hashed (`keepBytes: false`). */
  private completeHashed(upload: FakeOpenAIUpload, ids: string[]): { json: unknown } {
    const digests = upload.partDigests as Map<string, { size: number; sha256: string }>;
    const parts = ids.map((id) => {
      const part = digests.get(id);
      if (!part) throw new FakeHttpError(400, `Part ${id} is not a part of upload ${upload.id}.`);
      return part;
    });
    const size = parts.reduce((total, part) => total + part.size, 0);
    if (size !== upload.bytes) {
      throw new FakeHttpError(400, `The number of bytes uploaded (${size}) does not match the number expected (${upload.bytes}).`);
    }
    const file = this.store(upload.account, Buffer.alloc(0), upload.filename, upload.purpose, upload.mimeType, upload.expiresAfterSeconds);
    file.size = size;
    file.partSha256 = parts.map((part) => part.sha256);
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

  private pendingUpload(request: Pick<FakeRequest, "header" | "params">): FakeOpenAIUpload {
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
      bytes: file.size ?? file.bytes.length,
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

function describePart(part: FakeResponsesPart): string {
  if (part.via === "text") return part.type;
  if (part.via === "file_id") return `${part.type} (file_id ${part.fileId})`;
  return `${part.type} (inline ${part.contentType}, ${part.size} bytes)`;
}
