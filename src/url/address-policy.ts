/**
 * Which network addresses a URL fetch may connect to. Only globally routable
 * unicast addresses are public; everything else — loopback, private,
 * link-local (with the cloud metadata endpoint), shared (CGNAT), multicast,
 * broadcast, unspecified, documentation, benchmarking and reserved ranges — is
 * refused unless the caller allows the private network. IPv6 forms that embed
 * an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`) are judged by the address they embed; IPv4-compatible `::/96`
 * and Teredo `2001::/32` are refused outright.
 *
 * Addresses are parsed here, not matched as strings: the WHATWG URL parser has
 * already turned `2130706433`, `0x7f.1` and `017700000001` into `127.0.0.1`,
 * and `[::ffff:7f00:1]` into its canonical form, so what reaches this file is
 * one of the two text forms `net.isIP` accepts.
 */
import { isIP } from "node:net";

/** Why an address is not public; `"public"` when it may be fetched from. */
export type AddressRange =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "shared"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "benchmarking"
  | "reserved"
  | "ipv4-compatible"
  | "teredo";

export interface AddressVerdict {
  readonly range: AddressRange;
  /** The embedded IPv4 address the verdict is about (IPv4-mapped, NAT64, 6to4), if any. */
  readonly embedded?: string;
}

interface V4Range {
  readonly base: number;
  readonly bits: number;
  readonly range: AddressRange;
}

function v4(text: string, bits: number, range: AddressRange): V4Range {
  return { base: ipv4ToNumber(text), bits, range };
}

/** Most specific first: the metadata address sits inside link-local. */
const V4_RANGES: readonly V4Range[] = [
  v4("169.254.169.254", 32, "metadata"),
  v4("255.255.255.255", 32, "broadcast"),
  v4("0.0.0.0", 8, "unspecified"),
  v4("10.0.0.0", 8, "private"),
  v4("100.64.0.0", 10, "shared"),
  v4("127.0.0.0", 8, "loopback"),
  v4("169.254.0.0", 16, "link-local"),
  v4("172.16.0.0", 12, "private"),
  v4("192.0.0.0", 24, "reserved"),
  v4("192.0.2.0", 24, "documentation"),
  v4("192.88.99.0", 24, "reserved"),
  v4("192.168.0.0", 16, "private"),
  v4("198.18.0.0", 15, "benchmarking"),
  v4("198.51.100.0", 24, "documentation"),
  v4("203.0.113.0", 24, "documentation"),
  v4("224.0.0.0", 4, "multicast"),
  v4("240.0.0.0", 4, "reserved"),
];

/** Dotted-quad IPv4 (already validated by `isIP`) → unsigned 32-bit number. */
function ipv4ToNumber(text: string): number {
  return text.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join(".");
}

function inV4(n: number, { base, bits }: V4Range): boolean {
  const size = 2 ** (32 - bits);
  return Math.floor(n / size) === Math.floor(base / size);
}

function classifyV4(n: number): AddressRange {
  return V4_RANGES.find((r) => inV4(n, r))?.range ?? "public";
}

/** IPv6 text (validated by `isIP`, zone removed) → its eight 16-bit groups. */
function ipv6Groups(text: string): number[] {
  let body = text;
  const tail: number[] = [];
  // A trailing dotted quad (`::ffff:127.0.0.1`) stands for the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (quad !== null) {
    const n = ipv4ToNumber(quad[1] as string);
    tail.push(n >>> 16, n & 0xffff);
    body = body.slice(0, -(quad[1] as string).length);
    if (body.endsWith(":") && !body.endsWith("::")) body = body.slice(0, -1);
  }
  const parse = (part: string): number[] => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const [head, rest] = body.split("::") as [string, string | undefined];
  const left = parse(head);
  const right = [...(rest === undefined ? [] : parse(rest)), ...tail];
  if (rest === undefined) return [...left, ...right];
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function embeddedAt(groups: readonly number[], index: number): number {
  return ((groups[index] as number) * 0x10000 + (groups[index + 1] as number)) >>> 0;
}

function judgeEmbedded(n: number): AddressVerdict {
  const range = classifyV4(n);
  return { range, embedded: numberToIpv4(n) };
}

function classifyV6(groups: readonly number[]): AddressVerdict {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const zeroTo = (end: number) => groups.slice(0, end).every((g) => g === 0);
  if (zeroTo(5) && g5 === 0xffff) return judgeEmbedded(embeddedAt(groups, 6)); // ::ffff:0:0/96 IPv4-mapped
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return judgeEmbedded(embeddedAt(groups, 6)); // ::ffff:0:0:0/96 SIIT
  if (zeroTo(6)) {
    if (g6 === 0 && g7 === 0) return { range: "unspecified" };
    if (g6 === 0 && g7 === 1) return { range: "loopback" };
    return { range: "ipv4-compatible", embedded: numberToIpv4(embeddedAt(groups, 6)) };
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return judgeEmbedded(embeddedAt(groups, 6)); // 64:ff9b::/96 NAT64
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return { range: "private" }; // 64:ff9b:1::/48 local-use NAT64
  if (g0 === 0x2002) {
    const inner = judgeEmbedded(embeddedAt(groups, 1)); // 2002:AABB:CCDD::/48 6to4
    return inner.range === "public" ? { range: "public" } : inner;
  }
  if (g0 === 0x2001 && g1 === 0) return { range: "teredo" }; // 2001::/32
  if (g0 === 0x2001 && g1 < 0x200) return { range: "reserved" }; // 2001::/23 IETF protocol assignments
  if (g0 === 0x2001 && g1 === 0xdb8) return { range: "documentation" }; // 2001:db8::/32
  if (g0 === 0x3fff && (g1 & 0xf000) === 0) return { range: "documentation" }; // 3fff::/20
  if ((g0 & 0xff00) === 0xff00) return { range: "multicast" };
  if ((g0 & 0xffc0) === 0xfe80) return { range: "link-local" };
  if ((g0 & 0xfe00) === 0xfc00) return { range: "private" }; // fc00::/7 unique local (fd00:ec2::254 is AWS metadata)
  if ((g0 & 0xffc0) === 0xfec0) return { range: "private" }; // fec0::/10 site-local, deprecated
  if ((g0 & 0xe000) !== 0x2000) return { range: "reserved" }; // only 2000::/3 is global unicast
  return { range: "public" };
}

/**
 * The range `address` (IPv4 or IPv6 text, with or without brackets or a
 * `%zone`) belongs to. Throws on text that is not an IP address.
 */
export function classifyAddress(address: string): AddressVerdict {
  const bare = address.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return { range: classifyV4(ipv4ToNumber(bare)) };
  if (family === 6) return classifyV6(ipv6Groups(bare.toLowerCase()));
  throw new TypeError(`${JSON.stringify(address)} is not an IP address.`);
}

/** True for an address a fetch may connect to without `allowPrivateNetwork`. */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address).range === "public";
}

/** Words for a refused verdict: "a loopback address", "an IPv4-mapped form of 10.0.0.1 (private)". */
export function describeVerdict(verdict: AddressVerdict): string {
  const words: Record<AddressRange, string> = {
    public: "a public address",
    unspecified: "the unspecified address",
    loopback: "a loopback address",
    private: "a private-network address",
    "link-local": "a link-local address",
    metadata: "the cloud metadata address",
    shared: "a shared (carrier-grade NAT) address",
    multicast: "a multicast address",
    broadcast: "the broadcast address",
    documentation: "a documentation address",
    benchmarking: "a benchmarking address",
    reserved: "a reserved address",
    "ipv4-compatible": "an IPv4-compatible IPv6 address (deprecated)",
    teredo: "a Teredo tunnel address",
  };
  const what = words[verdict.range];
  return verdict.embedded !== undefined && verdict.range !== "ipv4-compatible" ? `${what} (embedding ${verdict.embedded})` : what;
}

/**
 * Host names refused before any lookup: `localhost` and its subdomains
 * (RFC 6761: they resolve to loopback whatever DNS says), and `.internal`,
 * the private-use top-level domain where cloud metadata lives
 * (`metadata.google.internal`). A trailing dot is ignored.
 */
export function isPrivateHostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost") || name === "internal" || name.endsWith(".internal");
}
