/**
 * Resolves a hop's host once, checks every address it got, and gives the
 * connection a `lookup` that can only answer with those addresses. Without
 * the pin, the HTTP client would resolve the name again when it connects, and
 * a DNS server answering "public" to the check and "127.0.0.1" to the connect
 * (DNS rebinding) would walk through the guard.
 */
import { isIP, type LookupFunction } from "node:net";
import { classifyAddress, describeVerdict, isPrivateHostName } from "./address-policy.js";
import { fetchFailed, refusedUrl } from "./fetch-errors.js";
import type { ResolvedAddress, ResolvedUrlFetchOptions } from "./fetch-options.js";

export interface PinnedHost {
  /** The host as the connection names it: brackets removed from IPv6 literals. */
  readonly hostname: string;
  /** Every address checked, in the resolver's order; the connection goes only to these. */
  readonly addresses: readonly ResolvedAddress[];
}

/** The host of `url` without the brackets of an IPv6 literal. */
export function bareHostname(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/**
 * The checked addresses of `url`'s host. An IP literal is checked as it is
 * (the URL parser already normalised `http://2130706433/` to 127.0.0.1);
 * a name is refused outright if it is `localhost` or `.internal`, and
 * otherwise resolved once: if ANY answer is not public, the host is refused.
 */
export async function resolvePinned(
  url: URL,
  options: Pick<ResolvedUrlFetchOptions, "allowPrivateNetwork" | "resolver">,
): Promise<PinnedHost> {
  const hostname = bareHostname(url);
  const family = isIP(hostname);
  if (family !== 0) {
    checkAddress(url, hostname, options.allowPrivateNetwork, null);
    return { hostname, addresses: [{ address: hostname, family: family === 6 ? 6 : 4 }] };
  }
  if (!options.allowPrivateNetwork && isPrivateHostName(hostname)) {
    throw refusedUrl(url, `${hostname} is a local or internal host name (set fetch.allowPrivateNetwork for trusted networks)`);
  }
  let answers: readonly ResolvedAddress[];
  try {
    answers = await options.resolver(hostname);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const retryable = code === "EAI_AGAIN" || code === "ETIMEOUT" || code === "ESERVFAIL";
    throw fetchFailed(url, `${hostname} could not be resolved (${(err as Error)?.message ?? String(err)})`, { cause: err, retryable });
  }
  if (!Array.isArray(answers) || answers.length === 0) {
    throw fetchFailed(url, `${hostname} resolves to no address`, { retryable: false });
  }
  const addresses: ResolvedAddress[] = [];
  for (const answer of answers as readonly ResolvedAddress[]) {
    const address = String(answer?.address ?? "").replace(/%.*$/, "");
    const kind = isIP(address);
    if (kind === 0) throw fetchFailed(url, `the resolver answered ${JSON.stringify(answer?.address)} for ${hostname}, not an IP address`, { retryable: false });
    checkAddress(url, address, options.allowPrivateNetwork, hostname);
    addresses.push({ address, family: kind === 6 ? 6 : 4 });
  }
  return { hostname, addresses };
}

function checkAddress(url: URL, address: string, allowPrivateNetwork: boolean, name: string | null): void {
  if (allowPrivateNetwork) return;
  const verdict = classifyAddress(address);
  if (verdict.range === "public") return;
  const subject = name === null ? address : `${name} resolves to ${address}, which`;
  throw refusedUrl(
    url,
    `${subject} is ${describeVerdict(verdict)}; only public addresses are fetched (set fetch.allowPrivateNetwork for trusted networks)`,
  );
}

/**
 * A `lookup` for `http.request` that answers with the pinned addresses only,
 * whatever name it is asked about. Node asks with `all: true` when it races
 * addresses (`autoSelectFamily`), else for one address: the first answer.
 */
export function pinnedLookup(pinned: PinnedHost): LookupFunction {
  return (_hostname, options, callback) => {
    if (typeof options === "object" && options !== null && options.all === true) {
      (callback as unknown as (err: null, addresses: ResolvedAddress[]) => void)(null, [...pinned.addresses]);
      return;
    }
    const first = pinned.addresses[0] as ResolvedAddress;
    callback(null, first.address, first.family);
  };
}
