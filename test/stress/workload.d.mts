// Types for the parts of workload.mjs that the TypeScript tests import.
/** True when the log shows a reset that began, and had not ended by the time the log was `mark` bytes long. */
export function resetSince(file: string | undefined, mark: number): boolean;
