/**
 * How S3's answers become the errors the store knows. A missing object is an
 * ENOENT-coded error (what `openRead` and `commit` promise, as files do);
 * every other failure is an AttacheError IO_ERROR, `retryable` where the
 * same request may succeed later: throttling (503 SlowDown, 429), a server
 * error (500, 502, 503, 504), a timeout or a dropped connection.
 *
 * By the time a failure gets here, the client's own retry strategy has
 * already retried it (see `client` in options.ts): `retryable` tells the
 * caller to try again later, not at once.
 */
import { AttacheError } from "../../errors.js";

/** What an SDK error carries (a ServiceException, or a network error with an errno code). */
interface SdkFailure {
  name?: string;
  message?: string;
  code?: string;
  $fault?: "client" | "server";
  $metadata?: { httpStatusCode?: number };
}

const THROTTLING = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestThrottledException",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "BandwidthLimitExceeded",
]);
const TRANSIENT_NAMES = new Set(["InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeoutException", "TimeoutError"]);
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

function parts(err: unknown): SdkFailure {
  return err !== null && typeof err === "object" ? (err as SdkFailure) : {};
}

/** The HTTP status S3 answered with, if it answered. */
export function statusOf(err: unknown): number | undefined {
  return parts(err).$metadata?.httpStatusCode;
}

/** The S3 error code ("NoSuchKey", "SlowDown"…): the SDK names its errors after it. */
export function errorNameOf(err: unknown): string | undefined {
  return parts(err).name;
}

/** True when the object asked for is not there (NoSuchKey; HeadObject's bare 404). */
export function isMissingObject(err: unknown): boolean {
  const name = errorNameOf(err);
  return name === "NoSuchKey" || name === "NotFound" || (statusOf(err) === 404 && name !== "NoSuchBucket" && name !== "NoSuchUpload");
}

/** True when the multipart upload is not there (completed, aborted, or never made). */
export function isMissingUpload(err: unknown): boolean {
  return errorNameOf(err) === "NoSuchUpload";
}

/** True when the server does not implement the request (s3rver: ListMultipartUploads; some S3-compatibles). */
export function isNotImplemented(err: unknown): boolean {
  return errorNameOf(err) === "NotImplemented" || statusOf(err) === 501;
}

/** True when the same request may succeed later. */
export function isRetryableS3Failure(err: unknown, depth = 0): boolean {
  if (err instanceof AttacheError) return err.retryable;
  const { name, code, $metadata } = parts(err);
  if (name === "AbortError") return false;
  if ((name !== undefined && (THROTTLING.has(name) || TRANSIENT_NAMES.has(name))) || (code !== undefined && NETWORK_CODES.has(code))) return true;
  if ($metadata?.httpStatusCode !== undefined && TRANSIENT_STATUSES.has($metadata.httpStatusCode)) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return depth < 4 && cause !== undefined && isRetryableS3Failure(cause, depth + 1);
}

/** An ENOENT-coded error for an object that is not there. */
export function missingObject(where: string, cause?: unknown): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${where} does not exist`, { cause });
  err.code = "ENOENT";
  return err;
}

/**
 * The error for a failed request: `what` says what was being done ("read",
 * "copy … to …"), `where` the object (`s3://bucket/key`).
 */
export function s3Failure(what: string, where: string, err: unknown): Error {
  if (err instanceof AttacheError) return err;
  if (isMissingObject(err)) return missingObject(where, err);
  const { name, message } = parts(err);
  const status = statusOf(err);
  const retryable = isRetryableS3Failure(err);
  const detail = `${name ?? "Error"}${status === undefined ? "" : ` (HTTP ${status})`}: ${message ?? String(err)}`;
  const hint = retryable
    ? "S3 is throttling or briefly failing, and the client's retries ran out: retry later, or give the S3Client more maxAttempts."
    : name === "NoSuchBucket"
      ? "Create the bucket, or check its name and the client's region and endpoint."
      : status === 403
        ? "Check the credentials, and that their policy allows GetObject, PutObject, DeleteObject, ListBucket and AbortMultipartUpload on the bucket."
        : "Check the bucket and the client's configuration, then retry.";
  return new AttacheError("IO_ERROR", `Could not ${what} (${where}): ${detail}. ${hint}`, {
    cause: err,
    retryable,
    ...(status === undefined ? {} : { status }),
  });
}

/** Runs one request; its failure becomes {@link s3Failure}. */
export async function request<T>(what: string, where: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (err) {
    throw s3Failure(what, where, err);
  }
}
