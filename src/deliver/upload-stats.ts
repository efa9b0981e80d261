/**
 * This process's upload counters, for the Prometheus output (`attache
 * metrics`, and the HTTP service's `/metrics`): uploads sent, ledger hits,
 * bytes sent and retries, per destination key. Store-wide figures (remote
 * files and bytes per destination) come from the ledger instead.
 */
export interface UploadCounters {
  uploads: number;
  ledgerHits: number;
  bytesSent: number;
  retries: number;
  failures: number;
}

const byDestination = new Map<string, UploadCounters>();

export function countersOf(destination: string): UploadCounters {
  let counters = byDestination.get(destination);
  if (counters === undefined) {
    counters = { uploads: 0, ledgerHits: 0, bytesSent: 0, retries: 0, failures: 0 };
    byDestination.set(destination, counters);
  }
  return counters;
}

/** A snapshot of this process's counters, by destination key. */
export function uploadCounters(): ReadonlyMap<string, Readonly<UploadCounters>> {
  return new Map([...byDestination].map(([key, counters]) => [key, { ...counters }]));
}
