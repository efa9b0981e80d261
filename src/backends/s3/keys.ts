/**
 * Where things are in the bucket:
 *
 *   <prefix>blobs/sha256/ab/cd/abcd…   one object per digest (the same fan-out as on disk)
 *   <prefix>tmp/<writer>.<random>.tmp   a temp object: bytes being staged, then copied to blobs/
 */
const HEX_DIGEST = /^[0-9a-f]{64}$/;

export class S3Keys {
  /** `<prefix>blobs/` — every blob, and any stray object, is under it. */
  readonly blobRoot: string;
  /** `<prefix>tmp/` */
  readonly tempRoot: string;
  private readonly digestRoot: string;

  constructor(readonly prefix: string) {
    this.blobRoot = `${prefix}blobs/`;
    this.digestRoot = `${prefix}blobs/sha256/`;
    this.tempRoot = `${prefix}tmp/`;
  }

  blob(digest: string): string {
    return `${this.digestRoot}${digest.slice(0, 2)}/${digest.slice(2, 4)}/${digest}`;
  }

  temp(name: string): string {
    return `${this.tempRoot}${name}`;
  }

  /** The digest a key under blobs/ is filed as, or `null` for a key not named like a blob. */
  digestOf(key: string): string | null {
    if (!key.startsWith(this.digestRoot)) return null;
    const [first, second, name, ...more] = key.slice(this.digestRoot.length).split("/");
    if (more.length > 0 || name === undefined || !HEX_DIGEST.test(name)) return null;
    return first === name.slice(0, 2) && second === name.slice(2, 4) ? name : null;
  }

  /** The temp name of a key under tmp/, or `null` for a key elsewhere. */
  tempNameOf(key: string): string | null {
    return key.startsWith(this.tempRoot) && key.length > this.tempRoot.length ? key.slice(this.tempRoot.length) : null;
  }

  /** Whether `name` is one a temp object may have: removing it touches nothing outside tmp/. */
  isTempName(name: string): boolean {
    return name !== "" && isPlainKey(name);
  }

  /** Whether `key` is a key under blobs/ that may be removed as a stray. */
  isUnderBlobs(key: string): boolean {
    return key.startsWith(this.blobRoot) && key.length > this.blobRoot.length && isPlainKey(key);
  }
}

/**
 * No empty, "." or ".." segment: S3 takes such keys literally, but an HTTP
 * stack or an S3-compatible server on a filesystem may normalise them into
 * another key, outside the folder they were meant for.
 */
function isPlainKey(key: string): boolean {
  return key.split("/").every((segment, i, all) => (segment !== "" || i === all.length - 1) && segment !== "." && segment !== "..");
}

/** `CopySource` for `key` in `bucket`: URL-encoded, slashes kept (the SDK sends it as given). */
export function copySourceOf(bucket: string, key: string): string {
  return `${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** `s3://bucket/key`, for messages and `location`. */
export function s3Url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`;
}
