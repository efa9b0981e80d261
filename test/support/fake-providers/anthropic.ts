/**
 * A fake of Anthropic's Files API (beta). Point an SDK client at it:
 * `new Anthropic({ apiKey, baseURL: fake.url })`.
 *
 *   POST   /v1/files        multipart: file (filename + content type), expires_in_seconds
 *   GET    /v1/files/{id}   DELETE /v1/files/{id}
 *   POST   /v1/messages     JSON: model, max_tokens, messages (text, image and document blocks)
 *
 * Every Files API request needs `anthropic-version`, `anthropic-beta` naming
 * files-api-2025-04-14, and the key (`x-api-key` or `Authorization: Bearer`).
 * Files belong to the key that made them: another key gets a 404.
 * `messages.create` checks every content block (a `file` source needs the
 * files beta and a live file of the caller's; base64 must be base64 of the
 * declared type) and answers one short, fixed-form message naming the blocks.
 */
import { bytesMatchType, decodeBase64, INLINE_IMAGE_TYPES, objectAt, onlyKeys } from "./content-parts.js";
import { FakeHttpError, FakeHttpServer, fakeId, formFields, jsonObject, parseMultipart, type FakeRequest } from "./fake-server.js";

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

/** A content block of a `POST /v1/messages` request, as the fake understood it. */
export interface FakeMessagesBlock {
  type: "text" | "image" | "document";
  /** How the block carried its content. */
  via: "text" | "base64" | "file";
  /** The declared media type of inline content. */
  mediaType?: string;
  fileId?: string;
  title?: string;
  /** Bytes of inline content, or of the referenced file. */
  size?: number;
}

/** One `POST /v1/messages` request the fake accepted. */
export interface FakeMessagesRequest {
  model: string;
  betas: string[];
  blocks: FakeMessagesBlock[];
}

/** Body fields of `POST /v1/messages` the fake accepts (a subset of the API's). */
const MESSAGES_FIELDS = ["model", "max_tokens", "messages", "system", "metadata", "stop_sequences", "stream", "temperature", "top_k", "top_p"];

export interface FakeAnthropicOptions {
  /** API keys the fake accepts, each its own account. @default ["sk-ant-test"] */
  apiKeys?: string[];
  /** Largest file; larger is a 413. @default 500 MB */
  maxFileBytes?: number;
}

export class FakeAnthropic extends FakeHttpServer {
  readonly files = new Map<string, FakeAnthropicFile>();
  /** Every `POST /v1/messages` request accepted, in arrival order. */
  readonly messageRequests: FakeMessagesRequest[] = [];
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
    this.route({ name: "messages.create", method: "POST", path: /^\/v1\/messages$/, handle: (r) => this.createMessage(r) });
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

  /** `POST /v1/messages`: every block checked, then a fixed-form answer naming them. */
  private createMessage(request: FakeRequest): { json: unknown } {
    if (!request.header("anthropic-version")) throw new FakeHttpError(400, "anthropic-version: header is required", "invalid_request_error");
    const key = request.header("x-api-key") ?? /^Bearer (.+)$/.exec(request.header("authorization") ?? "")?.[1];
    if (!key || !this.apiKeys.includes(key)) throw new FakeHttpError(401, "invalid x-api-key", "authentication_error");
    const betas = (request.header("anthropic-beta") ?? "").split(",").map((beta) => beta.trim()).filter((beta) => beta !== "");
    const body = jsonObject(request, MESSAGES_FIELDS);
    if (typeof body.model !== "string" || body.model === "") throw new FakeHttpError(400, "model: Field required", "invalid_request_error");
    if (!Number.isSafeInteger(body.max_tokens) || (body.max_tokens as number) < 1) throw new FakeHttpError(400, "max_tokens: Field required (an integer ≥ 1)", "invalid_request_error");
    if (body.stream !== undefined && body.stream !== false) throw new FakeHttpError(400, "The fake answers only stream: false.", "invalid_request_error");
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new FakeHttpError(400, "messages: at least one message is required", "invalid_request_error");
    const blocks: FakeMessagesBlock[] = [];
    body.messages.forEach((value, i) => {
      const message = objectAt(value, `messages.${i}`);
      onlyKeys(message, ["role", "content"], `messages.${i}`);
      if (message.role !== "user" && message.role !== "assistant") throw new FakeHttpError(400, `messages.${i}.role: Input should be 'user' or 'assistant'`, "invalid_request_error");
      if (typeof message.content === "string") blocks.push({ type: "text", via: "text" });
      else if (Array.isArray(message.content) && message.content.length > 0) {
        message.content.forEach((block, j) => blocks.push(this.messagesBlock(key, betas, block, `messages.${i}.content.${j}`)));
      } else throw new FakeHttpError(400, `messages.${i}.content: a string or a non-empty list of blocks`, "invalid_request_error");
    });
    this.messageRequests.push({ model: body.model, betas, blocks });
    return {
      json: {
        id: fakeId("msg_"),
        type: "message",
        role: "assistant",
        model: body.model,
        content: [{ type: "text", text: `Received ${blocks.map(describeBlock).join(", ")}.` }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    };
  }

  /** One content block of a message, checked as the API does. */
  private messagesBlock(account: string, betas: string[], value: unknown, where: string): FakeMessagesBlock {
    const block = objectAt(value, where);
    const refuse = (message: string): never => {
      throw new FakeHttpError(400, `${where}: ${message}`, "invalid_request_error");
    };
    switch (block.type) {
      case "text":
        onlyKeys(block, ["type", "text", "cache_control", "citations"], where);
        if (typeof block.text !== "string" || block.text === "") refuse("text: a non-empty string is required");
        return { type: "text", via: "text" };
      case "image": {
        onlyKeys(block, ["type", "source", "cache_control"], where);
        const source = objectAt(block.source, `${where}.source`);
        if (source.type === "file") return { type: "image", via: "file", ...this.blockFile(account, betas, source, `${where}.source`) };
        if (source.type !== "base64") return refuse(`source.type: the fake takes base64 or file, not ${JSON.stringify(source.type)}`);
        onlyKeys(source, ["type", "media_type", "data"], `${where}.source`);
        const mediaType = source.media_type as string;
        if (!INLINE_IMAGE_TYPES.includes(mediaType)) refuse(`source.media_type: Input should be ${INLINE_IMAGE_TYPES.map((type) => `'${type}'`).join(", ")}`);
        const bytes = decodeBase64(source.data, `${where}.source.data`);
        if (!bytesMatchType(bytes, mediaType)) refuse(`Image does not match the provided media type ${mediaType}`);
        return { type: "image", via: "base64", mediaType, size: bytes.length };
      }
      case "document": {
        onlyKeys(block, ["type", "source", "title", "context", "citations", "cache_control"], where);
        if (block.title !== undefined && block.title !== null && typeof block.title !== "string") refuse("title: a string is expected");
        const title = typeof block.title === "string" ? { title: block.title } : {};
        const source = objectAt(block.source, `${where}.source`);
        if (source.type === "file") return { type: "document", via: "file", ...title, ...this.blockFile(account, betas, source, `${where}.source`) };
        onlyKeys(source, ["type", "media_type", "data"], `${where}.source`);
        if (source.type === "text") {
          if (source.media_type !== "text/plain") refuse("source.media_type: Input should be 'text/plain'");
          if (typeof source.data !== "string") refuse("source.data: a string is expected");
          return { type: "document", via: "text", mediaType: "text/plain", ...title, size: Buffer.byteLength(source.data as string) };
        }
        if (source.type !== "base64") return refuse(`source.type: the fake takes base64, text or file, not ${JSON.stringify(source.type)}`);
        if (source.media_type !== "application/pdf") refuse("source.media_type: Input should be 'application/pdf'");
        const bytes = decodeBase64(source.data, `${where}.source.data`);
        if (!bytesMatchType(bytes, "application/pdf")) refuse("The PDF specified was not valid.");
        return { type: "document", via: "base64", mediaType: "application/pdf", ...title, size: bytes.length };
      }
      default:
        return refuse(`type: the fake takes text, image and document blocks, not ${JSON.stringify(block.type)}`);
    }
  }

  /** A `file` source: needs the files beta, and a live file of the caller's. */
  private blockFile(account: string, betas: string[], source: Record<string, unknown>, where: string): { fileId: string; size: number } {
    onlyKeys(source, ["type", "file_id"], where);
    if (!betas.includes(FILES_BETA)) throw new FakeHttpError(400, `${where}: file sources need the beta header anthropic-beta: ${FILES_BETA}.`, "invalid_request_error");
    const id = source.file_id;
    if (typeof id !== "string") throw new FakeHttpError(400, `${where}.file_id: a string is expected`, "invalid_request_error");
    const file = this.files.get(id);
    if (!file || file.deleted || file.account !== account || (file.expiresAt !== null && file.expiresAt.getTime() < Date.now())) {
      throw new FakeHttpError(404, `File not found: ${id}`, "not_found_error");
    }
    return { fileId: id, size: file.bytes.length };
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

function describeBlock(block: FakeMessagesBlock): string {
  if (block.type === "text") return "text";
  if (block.via === "file") return `${block.type} (file ${block.fileId})`;
  return `${block.type} (${block.via} ${block.mediaType}, ${block.size} bytes)`;
}

function errorType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  if (status === 413) return "request_too_large";
  if (status === 404) return "not_found_error";
  return "invalid_request_error";
}
