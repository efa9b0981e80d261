/**
 * `attache-store/s3`: a blob store on S3 and S3-compatible servers (MinIO,
 * R2…), for stores shared by many hosts. Needs `@aws-sdk/client-s3`.
 */
export { s3BlobStore } from "./blob-store.js";
export type { S3BlobStoreOptions } from "./options.js";
