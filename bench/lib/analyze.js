// Turns the scenarios' raw results into the figures BENCHMARKS.md reports:
// each attache figure with its reference, ratio, target and whether it is met.
import { fmtBytes } from "./common.js";

const med = (s) => s?.median ?? null;

/**
 * kind "time": lower is better; ratio = attache / reference; met when ratio ≤ target.
 * kind "rate": higher is better; ratio = attache / reference; met when ratio ≥ target.
 * kind "absolute": the value itself against a bound (ratio = value / bound).
 */
function figure({ id, scenario, label, value, unit, reference, referenceLabel, kind, target, extra = {} }) {
  const ratio = value == null || reference == null || reference === 0 ? null : value / reference;
  let met = null;
  if (target != null && ratio != null) met = kind === "rate" ? ratio >= target.value : ratio <= target.value;
  if (target != null && kind === "absolute" && value != null) met = value < target.value;
  // How many times short of its target a figure is (1 = just met; only for figures with a ratio target).
  let shortfall = null;
  if (met === false && ratio != null && kind !== "absolute") shortfall = kind === "rate" ? target.value / ratio : ratio / target.value;
  if (met === false && kind === "absolute") shortfall = value / target.value;
  return { id, scenario, label, value, unit, reference, referenceLabel, kind, ratio, target: target ?? null, met, shortfall, ...extra };
}

export function analyze(s) {
  const figures = [];

  const li = s.largeIngest;
  if (li) {
    const t = (k) => med(li.timings[k]);
    const hash = t("hash");
    const copy = t("copyFile");
    const limit = hash == null || copy == null ? null : Math.max(hash, copy);
    const limitLabel = `max(hash ${hash?.toFixed(0)} ms, copyFile ${copy?.toFixed(0)} ms)`;
    const size = fmtBytes(li.size);
    for (const [key, label] of [
      ["attache stage(path)", `Large ingest: stage(path) of ${size}`],
      ["attache stage(stream)", `Large ingest: stage(createReadStream) of ${size}`],
    ]) {
      figures.push(
        figure({
          id: key,
          scenario: "largeIngest",
          label,
          value: t(key),
          unit: "ms",
          reference: limit,
          referenceLabel: limitLabel,
          kind: "time",
          target: { value: 1.3, text: "≤ 1.3× max(hash, copy)" },
          extra: { vsCacache: t(key) != null && t("cacache.put.stream") ? t(key) / t("cacache.put.stream") : null },
        }),
      );
    }
    for (const [key, label] of [
      ["attache stage(path) dedup hit", `Dedup hit: stage(path) of the same ${size} again`],
      ["attache stage(stream) dedup hit", `Dedup hit: stage(createReadStream) of the same ${size} again`],
      ["attache stage(stream, checksum) dedup hit", `Dedup hit: stage(createReadStream, { checksum }) of the same ${size} again`],
    ]) {
      if (t(key) == null) continue;
      figures.push(
        figure({
          id: key,
          scenario: "largeIngest",
          label,
          value: t(key),
          unit: "ms",
          reference: hash,
          referenceLabel: `hash ${hash?.toFixed(0)} ms`,
          kind: "time",
          target: { value: 1.15, text: "≤ 1.15× hash" },
          extra: { bytesWritten: li.bytesWritten?.[key] ?? null },
        }),
      );
    }
  }

  const si = s.smallIngest;
  if (si) {
    const cases = [
      // A run from before inline blobs measured 4 in flight, every blob a file.
      { label: "4 in flight", cacache: "4 in flight", target: null },
      { label: "sequential", cacache: "sequential", target: 4 },
      { label: "16 in flight", cacache: "16 in flight", target: 5 },
      { label: "sequential, durability full", cacache: "sequential", target: 1.5 },
      { label: "sequential, file blobs", cacache: "sequential", target: null },
    ];
    for (const { label, cacache, target } of cases) {
      const a = med(si.opsPerSec[`attache stage (${label})`]);
      const c = med(si.opsPerSec[`cacache.put (${cacache})`]);
      if (a == null || c == null) continue;
      figures.push(
        figure({
          id: `small ${label}`,
          scenario: "smallIngest",
          label: `Small ingest: ${si.count.toLocaleString("en-US")} × ${fmtBytes(si.bufferSize)}, ${label}${target === null ? " (before: no inline blobs; context)" : ""}`,
          value: a,
          unit: "ops/s",
          reference: c,
          referenceLabel: `cacache.put (${cacache}) ${Math.round(c ?? 0).toLocaleString("en-US")} ops/s`,
          kind: "rate",
          ...(target === null ? {} : { target: { value: target, text: `≥ ${target}× cacache` } }),
        }),
      );
    }
  }

  const md = s.metadata;
  if (md) {
    const c = med(md.opsPerSec["cacache.get.info"]);
    const cases = [
      { op: "get", key: "attache get", ref: "cacache.get.info", target: 30, label: "one after another" },
      { op: "get", key: "attache get (1000 in flight)", ref: "cacache.get.info (1000 in flight)", target: 10, label: "1,000 in flight" },
      { op: "resolve", key: "attache resolve", ref: "cacache.get.info", target: 20, label: "one after another" },
    ];
    for (const { op, key, ref, target, label } of cases) {
      const r = med(md.opsPerSec[ref]) ?? (ref === "cacache.get.info" ? c : null);
      if (md.opsPerSec[key] === undefined || r == null) continue;
      figures.push(
        figure({
          id: `metadata ${key}`,
          scenario: "metadata",
          label: `Metadata: ${op}() of random refs among ${md.count.toLocaleString("en-US")}, ${label}`,
          value: med(md.opsPerSec[key]),
          unit: "ops/s",
          reference: r,
          referenceLabel: `${ref} ${Math.round(r).toLocaleString("en-US")} ops/s`,
          kind: "rate",
          target: { value: target, text: `≥ ${target}× cacache` },
        }),
      );
    }
  }

  const sv = s.serve;
  if (sv?.results) {
    const cases = [
      { key: "metaRps", label: "Service: metadata GET", unit: "req/s", target: 2 },
      { key: "contentRps", label: "Service: 4 KiB content GET", unit: "req/s", target: 1.5 },
      { key: "uploadMBps", label: `Service: ${sv.config.bigMiB} MiB upload`, unit: "MB/s", target: 1.5 },
      { key: "downloadMBps", label: `Service: ${sv.config.bigMiB} MiB download`, unit: "MB/s", target: 1.5 },
    ];
    for (const { key, label, unit, target } of cases) {
      const a = sv.results.serve[key];
      const b = sv.results.bare[key];
      figures.push(
        figure({
          id: `serve ${key}`,
          scenario: "serve",
          label: `${label}: attache serve vs a bare node:http server doing the same work`,
          value: a,
          unit,
          reference: b,
          referenceLabel: `bare node:http ${Math.round(b).toLocaleString("en-US")} ${unit}`,
          kind: "rate",
          // The service may cost at most `target` times the bare server: a rate of at least 1/target of it.
          target: { value: 1 / target, text: `overhead ≤ ${target}× (rate ≥ ${(1 / target).toFixed(2)}× bare)` },
        }),
      );
    }
  }

  const vr = s.verifiedRead;
  if (vr) {
    const t = (k) => med(vr.timings[k]);
    const hash = t("hash");
    const size = fmtBytes(vr.size);
    for (const [key, label, cacacheKey] of [
      ["attache read", `Verified read: read() of ${size}`, "cacache.get"],
      ["attache open", `Verified read: open() of ${size}, drained`, "cacache.get.stream"],
    ]) {
      figures.push(
        figure({
          id: key,
          scenario: "verifiedRead",
          label,
          value: t(key),
          unit: "ms",
          reference: hash,
          referenceLabel: `hash ${hash?.toFixed(0)} ms`,
          kind: "time",
          target: { value: 1.3, text: "≤ 1.3× hash" },
          extra: { vsCacache: t(key) != null && t(cacacheKey) ? t(key) / t(cacacheKey) : null, cacacheOp: cacacheKey },
        }),
      );
    }
  }

  const sw = s.sweep;
  if (sw) {
    const totals = [...new Set(sw.cases.map((c) => c.total))].sort((a, b) => a - b);
    const big = totals[totals.length - 1];
    const small = totals[0];
    const at = (total, expired) => med(sw.cases.find((c) => c.total === total && c.expired === expired)?.sweepMs);
    figures.push(
      figure({
        id: "sweep idle",
        scenario: "sweep",
        label: `Sweep with nothing expired, ${big.toLocaleString("en-US")} attachments`,
        value: at(big, 0),
        unit: "ms",
        reference: 10,
        referenceLabel: "10 ms",
        kind: "absolute",
        target: { value: 10, text: "< 10 ms" },
      }),
    );
    if (small !== big) {
      figures.push(
        figure({
          id: "sweep scaling",
          scenario: "sweep",
          label: `Sweep of 1,000 expired: ${big.toLocaleString("en-US")} vs ${small.toLocaleString("en-US")} attachments`,
          value: at(big, 1000),
          unit: "ms",
          reference: at(small, 1000),
          referenceLabel: `same sweep at ${small.toLocaleString("en-US")}: ${at(small, 1000)?.toFixed(1)} ms`,
          kind: "time",
          target: { value: 1.5, text: `≤ 1.5× (${big / small}× the attachments; derived from "grows with expired, not total")` },
        }),
      );
    }
    const tenK = at(big, 10_000);
    if (tenK != null) {
      figures.push(
        figure({
          id: "sweep 10k",
          scenario: "sweep",
          label: `Sweep of 10,000 expired among ${big.toLocaleString("en-US")} attachments, per expired attachment (file blobs)`,
          value: (tenK * 1000) / 10_000,
          unit: "µs",
          reference: 100,
          referenceLabel: "100 µs",
          kind: "absolute",
          target: { value: 100, text: "≤ 0.1 ms each" },
        }),
      );
    }
    const many = Math.max(...sw.cases.filter((c) => c.total === big).map((c) => c.expired));
    const perMany = at(big, many) == null ? null : (at(big, many) * 1000) / many;
    const perK = at(big, 1000) == null ? null : (at(big, 1000) * 1000) / 1000;
    figures.push(
      figure({
        id: "sweep per expired",
        scenario: "sweep",
        label: `Sweep cost per expired attachment: ${many.toLocaleString("en-US")} vs 1,000 expired (${big.toLocaleString("en-US")} attachments)`,
        value: perMany,
        unit: "µs",
        reference: perK,
        referenceLabel: `${perK?.toFixed(0)} µs each when 1,000 expire`,
        kind: "time",
        target: { value: 1.5, text: "≤ 1.5× (linear in the expired count; derived)" },
      }),
    );
  }

  const mem = s.memory;
  if (mem) {
    const peak = (role) => med(mem.roles[role]?.peakRss);
    const base = peak("baseline");
    figures.push(
      figure({
        id: "memory stream",
        scenario: "memory",
        label: `Peak RSS staging a generated ${fmtBytes(mem.streamSize)} stream`,
        value: peak("attache stage(generated stream)"),
        unit: "bytes",
        reference: 150 * 1024 * 1024,
        referenceLabel: "150 MiB",
        kind: "absolute",
        target: { value: 150 * 1024 * 1024, text: "< 150 MiB" },
        extra: { baseline: base, cacache: peak("cacache.put.stream(generated stream)") },
      }),
    );
    figures.push(
      figure({
        id: "memory manifest",
        scenario: "memory",
        label: `Peak RSS with ${mem.manifestTotal.toLocaleString("en-US")} attachments (open, metrics(), 1,000 get())`,
        value: peak("attache manifest"),
        unit: "bytes",
        reference: base,
        referenceLabel: `baseline process ${fmtBytes(base)}`,
        kind: "info",
        target: null,
      }),
    );
  }
  const dl = s.deliver;
  if (dl) figures.push(...deliverFigures(dl));
  return figures;
}

/** Scenario 8: upload overhead, ledger hits, parts in flight. */
function deliverFigures(dl) {
  const out = [];
  const { large, ledger, chunked } = dl;
  if (large) {
    const t = (k) => med(large.timings[k]);
    const size = fmtBytes(large.size);
    const requests = large.parts > 1 ? `${large.parts} parts, ${large.concurrency} in flight` : "one files.create";
    out.push(
      figure({
        id: "deliver upload",
        scenario: "deliver",
        label: `Upload of ${size} to a local OpenAI fake: upload() vs the SDK sending the same requests (${requests})`,
        value: t("attache upload()"),
        unit: "ms",
        reference: t("SDK, same requests"),
        referenceLabel: `SDK ${t("SDK, same requests")?.toFixed(0)} ms`,
        kind: "time",
        target: { value: 1.15, text: "≤ 1.15× the SDK" },
      }),
      figure({
        id: "deliver upload vs one request",
        scenario: "deliver",
        label: `Upload of ${size}: upload() vs the SDK's one streamed files.create (context)`,
        value: t("attache upload()"),
        unit: "ms",
        reference: t("SDK, one files.create"),
        referenceLabel: `files.create ${t("SDK, one files.create")?.toFixed(0)} ms`,
        kind: "time",
        target: null,
      }),
    );
  }
  if (ledger) {
    const hit = med(ledger.microsecondsPerCall["attache upload() ledger hit"]);
    const get = med(ledger.microsecondsPerCall["attache get()"]);
    out.push(
      figure({
        id: "deliver ledger hit",
        scenario: "deliver",
        label: "Ledger hit: upload() of an attachment already uploaded (no request sent), per call",
        value: hit,
        unit: "µs",
        reference: 1000,
        referenceLabel: "1 ms",
        kind: "absolute",
        target: { value: 1000, text: "well under 1 ms" },
      }),
      figure({
        id: "deliver ledger hit vs get",
        scenario: "deliver",
        label: "Ledger hit vs get() of the same ref, per call (context)",
        value: hit,
        unit: "µs",
        reference: get,
        referenceLabel: `get() ${get?.toFixed(1)} µs`,
        kind: "time",
        target: null,
      }),
    );
  }
  for (const [i, c] of (chunked ?? []).entries()) {
    const rate = (k) => {
      const ms = med(c.timings[k]);
      return ms == null ? null : c.size / MiB_ / (ms / 1000);
    };
    const one = rate("1 part at a time");
    // The first case is the target's (latency dominates); the others are context.
    out.push(
      figure({
        id: `deliver parts in flight ${i}`,
        scenario: "deliver",
        label: `Chunked upload of ${fmtBytes(c.size)} in ${c.parts} × ${fmtBytes(c.partSize)} parts, ${c.latencyMs} ms per request: 4 in flight vs 1 at a time${i === 0 ? "" : " (context)"}`,
        value: rate("4 parts in flight"),
        unit: "MiB/s",
        reference: one,
        referenceLabel: `1 at a time ${one?.toFixed(1)} MiB/s`,
        kind: "rate",
        target: i === 0 ? { value: 2, text: "≥ 2× one at a time" } : null,
      }),
    );
  }
  return out;
}

const MiB_ = 1024 * 1024;
