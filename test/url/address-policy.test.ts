/**
 * The address policy: every non-public class of address, in its IPv4 form and
 * in the IPv6 forms that embed one, and the literals the URL parser turns into
 * them. Resolution is faked, so these run without DNS.
 */
import { describe, expect, it } from "vitest";
import { classifyAddress, isPrivateHostName, isPublicAddress, type AddressRange } from "../../src/url/address-policy.js";
import { resolvePinned } from "../../src/url/resolve-pinned.js";
import type { ResolvedAddress } from "../../src/url/fetch-options.js";

const REFUSED: readonly [string, AddressRange][] = [
  ["0.0.0.0", "unspecified"],
  ["0.1.2.3", "unspecified"],
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["100.64.0.1", "shared"],
  ["100.100.100.200", "shared"], // Alibaba Cloud metadata
  ["100.127.255.255", "shared"],
  ["127.0.0.1", "loopback"],
  ["127.1.2.3", "loopback"],
  ["169.254.0.1", "link-local"],
  ["169.254.169.254", "metadata"],
  ["172.16.0.1", "private"],
  ["172.31.255.255", "private"],
  ["192.0.0.1", "reserved"],
  ["192.0.0.192", "reserved"],
  ["192.0.2.10", "documentation"],
  ["192.168.1.1", "private"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["198.51.100.1", "documentation"],
  ["203.0.113.9", "documentation"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.250", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "broadcast"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["::ffff:127.0.0.1", "loopback"],
  ["::ffff:7f00:1", "loopback"],
  ["::ffff:a9fe:a9fe", "metadata"],
  ["::ffff:10.1.2.3", "private"],
  ["::ffff:0:10.1.2.3", "private"], // SIIT
  ["::127.0.0.1", "ipv4-compatible"],
  ["::8.8.8.8", "ipv4-compatible"],
  ["64:ff9b::7f00:1", "loopback"], // NAT64 of 127.0.0.1
  ["64:ff9b::169.254.169.254", "metadata"],
  ["64:ff9b:1::1", "private"],
  ["2002:7f00:1::1", "loopback"], // 6to4 of 127.0.0.1
  ["2002:c0a8:101::", "private"], // 6to4 of 192.168.1.1
  ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"],
  ["2001:2::1", "reserved"],
  ["2001:db8::1", "documentation"],
  ["3fff::1", "documentation"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local"],
  ["febf::1", "link-local"],
  ["fc00::1", "private"],
  ["fd00:ec2::254", "private"], // AWS metadata over IPv6
  ["fec0::1", "private"],
  ["ff02::1", "multicast"],
  ["100::1", "reserved"], // discard prefix
  ["[::1]", "loopback"],
];

const PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "172.32.0.1", "100.128.0.1", "169.253.255.255", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"];

describe("classifyAddress", () => {
  it.each(REFUSED)("%s is %s", (address, range) => {
    expect(classifyAddress(address).range).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(PUBLIC)("%s is public", (address) => {
    expect(classifyAddress(address).range).toBe("public");
  });

  it("names the IPv4 address an IPv6 form embeds", () => {
    expect(classifyAddress("::ffff:7f00:1")).toEqual({ range: "loopback", embedded: "127.0.0.1" });
    expect(classifyAddress("64:ff9b::a9fe:a9fe")).toEqual({ range: "metadata", embedded: "169.254.169.254" });
  });

  it("throws on text that is not an address", () => {
    expect(() => classifyAddress("example.com")).toThrow(TypeError);
  });
});

describe("host names", () => {
  it.each(["localhost", "LOCALHOST", "localhost.", "a.b.localhost", "metadata.google.internal", "metadata.google.internal.", "x.internal"])(
    "%s is refused by name",
    (name) => expect(isPrivateHostName(name)).toBe(true),
  );
  it.each(["example.com", "localhost.example.com", "internal.example.com", "mylocalhost"])("%s is not", (name) => {
    expect(isPrivateHostName(name)).toBe(false);
  });
});

/** The literals a URL may spell an address with, as the WHATWG parser normalises them. */
describe("URL literals", () => {
  const refuse = { allowPrivateNetwork: false, resolver: () => Promise.reject(new Error("a literal must not be resolved")) };
  it.each([
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://127.1/",
    "http://0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[fe80::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://2852039166/",
  ])("%s is refused without a lookup", async (text) => {
    await expect(resolvePinned(new URL(text), refuse)).rejects.toMatchObject({ code: "INVALID_SOURCE", retryable: false });
  });

  it("normalises decimal and hex IPv4 literals to dotted quads", () => {
    expect(new URL("http://2130706433/").hostname).toBe("127.0.0.1");
    expect(new URL("http://0x7f.1/").hostname).toBe("127.0.0.1");
  });

  it("allows every literal with allowPrivateNetwork", async () => {
    const pinned = await resolvePinned(new URL("http://[::ffff:7f00:1]:8080/"), { ...refuse, allowPrivateNetwork: true });
    expect(pinned).toEqual({ hostname: "::ffff:7f00:1", addresses: [{ address: "::ffff:7f00:1", family: 6 }] });
  });
});

describe("names resolved once through the resolver", () => {
  const dns: Record<string, ResolvedAddress[]> = {
    "public.test": [{ address: "93.184.216.34", family: 4 }, { address: "2606:2800:220:1::1", family: 6 }],
    "mixed.test": [{ address: "93.184.216.34", family: 4 }, { address: "10.0.0.7", family: 4 }],
    "mapped.test": [{ address: "::ffff:169.254.169.254", family: 6 }],
    "loopback6.test": [{ address: "::1", family: 6 }],
    "empty.test": [],
  };
  for (const [address, range] of REFUSED.filter(([a]) => !a.startsWith("["))) dns[`${range}-${address.replace(/[^0-9a-f]/gi, "-")}.test`] = [{ address, family: address.includes(":") ? 6 : 4 }];
  const calls: string[] = [];
  const resolver = async (name: string) => {
    calls.push(name);
    const answer = dns[name];
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return answer;
  };
  const guarded = { allowPrivateNetwork: false, resolver };

  it("pins every address of a public name", async () => {
    const pinned = await resolvePinned(new URL("https://public.test/x"), guarded);
    expect(pinned.addresses.map((a) => a.address)).toEqual(["93.184.216.34", "2606:2800:220:1::1"]);
  });

  it.each(Object.keys(dns).filter((name) => !["public.test", "empty.test"].includes(name)))("refuses %s", async (name) => {
    const err = await resolvePinned(new URL(`http://${name}/`), guarded).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_SOURCE", retryable: false });
    expect((err as Error).message).toContain(`${name} resolves to`);
    expect((err as Error).message).toContain("allowPrivateNetwork");
  });

  it("refuses a name when ANY of its answers is private", async () => {
    await expect(resolvePinned(new URL("http://mixed.test/"), guarded)).rejects.toThrow(/10\.0\.0\.7, which is a private-network address/);
  });

  it("allows them all with allowPrivateNetwork", async () => {
    const pinned = await resolvePinned(new URL("http://mixed.test/"), { ...guarded, allowPrivateNetwork: true });
    expect(pinned.addresses).toHaveLength(2);
  });

  it("refuses localhost and metadata names before asking the resolver", async () => {
    calls.length = 0;
    await expect(resolvePinned(new URL("http://localhost:8080/"), guarded)).rejects.toThrow(/local or internal host name/);
    await expect(resolvePinned(new URL("http://metadata.google.internal/computeMetadata/v1/"), guarded)).rejects.toThrow(/local or internal/);
    await expect(resolvePinned(new URL("http://api.localhost/"), guarded)).rejects.toMatchObject({ code: "INVALID_SOURCE" });
    expect(calls).toEqual([]);
  });

  it("fails on a name with no answer, and on a resolver error", async () => {
    await expect(resolvePinned(new URL("http://empty.test/"), guarded)).rejects.toThrow(/resolves to no address/);
    await expect(resolvePinned(new URL("http://nowhere.test/"), guarded)).rejects.toMatchObject({ code: "INVALID_SOURCE", retryable: false });
    const flaky = async () => Promise.reject(Object.assign(new Error("queryA EAI_AGAIN"), { code: "EAI_AGAIN" }));
    await expect(resolvePinned(new URL("http://flaky.test/"), { ...guarded, resolver: flaky })).rejects.toMatchObject({ retryable: true });
  });
});
