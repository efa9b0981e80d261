/**
 * The dashboard's script, served as /dashboard/app.js (a module: strict,
 * deferred). Browser code in a string module, so the bundle in dist/ carries
 * it; it is written without template literals so that it needs no escaping.
 *
 * It reads only the service's JSON endpoints with the user's token
 * (`Authorization: Bearer`, from `/#token=…` or the sign-in field, kept in
 * sessionStorage): GET /v1/scopes, GET /v1/attachments, GET /metrics (an
 * admin's: a 403 means "not an admin", and the metrics are summed from the
 * scopes instead), image previews from GET /v1/attachments/{id}/content as
 * blob: URLs (an <img> cannot send the header), POST /v1/sweep. Every value
 * from the store goes into the page as text (textContent), never as markup.
 */
export const DASHBOARD_SCRIPT = `"use strict";
const TOKEN_KEY = "attache.token";
const RECENT = 24;
const PREVIEW_MAX_BYTES = 8 * 1024 * 1024;
const byId = (id) => document.getElementById(id);
let previewUrls = [];

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function takeTokenFromFragment() {
  const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (match === null) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  // The token leaves the address bar (and the history) at once.
  history.replaceState(null, "", location.pathname + location.search);
}

async function api(path, init) {
  const headers = new Headers((init && init.headers) || {});
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.set("Authorization", "Bearer " + token);
  const response = await fetch(path, Object.assign({}, init, { headers: headers, cache: "no-store" }));
  if (response.ok) return response;
  let code = "HTTP_" + response.status;
  let message = response.statusText;
  try {
    const body = await response.json();
    code = body.error.code;
    message = body.error.message;
  } catch (_) {
    // not a JSON error body
  }
  throw new ApiError(response.status, code, message);
}

function el(tag, props, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children || []) node.append(child);
  return node;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
function formatBytes(bytes) {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + " " + UNITS[unit];
}
function formatCount(n) {
  return Number(n).toLocaleString("en-US");
}
function plural(n, noun) {
  return formatCount(n) + " " + noun + (n === 1 ? "" : "s");
}
function formatDate(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return date.toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** Prometheus text: the unlabelled samples, by name. */
function parsePrometheus(text) {
  const values = {};
  for (const line of text.split("\\n")) {
    const match = /^([a-z_]+) ([0-9.eE+-]+)$/.exec(line.trim());
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

function showMetrics(entries) {
  const list = byId("metrics");
  list.replaceChildren(...entries.map(([key, label, value]) =>
    el("div", { className: "metric", "data-metric": key }, [el("dt", { text: label }), el("dd", { text: value })])));
}

function metricsFromPrometheus(m) {
  return [
    ["attachments", "Attachments", formatCount(m.attache_attachments || 0)],
    ["scopes", "Scopes", formatCount(m.attache_scopes || 0)],
    ["logicalBytes", "Logical bytes", formatBytes(m.attache_logical_bytes || 0)],
    ["storedBytes", "Stored bytes", formatBytes(m.attache_stored_bytes || 0)],
    ["dedupSavedBytes", "Saved by dedup", formatBytes(m.attache_dedup_saved_bytes || 0)],
    ["blobs", "Blobs", formatCount(m.attache_blobs || 0)],
    ["expired", "Expired, awaiting sweep", formatCount(m.attache_expired_attachments || 0)],
    ["leases", "Leases", formatCount(m.attache_leases || 0)],
  ];
}

function metricsFromScopes(scopes) {
  const sum = (pick) => scopes.reduce((total, s) => total + pick(s), 0);
  return [
    ["attachments", "Attachments", formatCount(sum((s) => s.attachments))],
    ["scopes", "Scopes", formatCount(scopes.length)],
    ["logicalBytes", "Logical bytes", formatBytes(sum((s) => s.logicalBytes))],
    ["expired", "Expired, awaiting sweep", formatCount(sum((s) => s.expired.count))],
    ["leases", "Leases", formatCount(sum((s) => s.leases))],
  ];
}

function showScopes(scopes) {
  const rows = scopes.map((s) => el("tr", { "data-scope": s.scope }, [
    el("td", { className: "scope", text: s.scope }),
    el("td", { className: "num", text: formatCount(s.attachments) }),
    el("td", { className: "num", text: formatBytes(s.logicalBytes), title: formatCount(s.logicalBytes) + " bytes" }),
    el("td", { className: "num", text: formatCount(s.expired.count) }),
    el("td", { text: formatDate(s.nextExpiryAt) }),
  ]));
  byId("scopes").tBodies[0].replaceChildren(...rows);
  byId("no-scopes").hidden = scopes.length > 0;
}

function showRecent(items) {
  for (const url of previewUrls) URL.revokeObjectURL(url);
  previewUrls = [];
  const cards = items.map((a) => {
    const preview = el("div", { className: "preview" });
    const isImage = /^image\\//.test(a.contentType) && a.size <= PREVIEW_MAX_BYTES;
    if (isImage) loadPreview(preview, a);
    else preview.textContent = a.contentType;
    return el("li", { className: "card", "data-id": a.id }, [
      preview,
      el("span", { className: "name", text: a.name, title: a.name }),
      el("div", { className: "meta", text: a.scope + " · " + formatBytes(a.size) + " · " + a.contentType + " · " + formatDate(a.createdAt) }),
    ]);
  });
  byId("recent").replaceChildren(...cards);
}

async function loadPreview(container, attachment) {
  try {
    const response = await api("/v1/attachments/" + encodeURIComponent(attachment.id) + "/content");
    const url = URL.createObjectURL(await response.blob());
    previewUrls.push(url);
    const img = el("img", { alt: attachment.name, src: url });
    container.replaceChildren(img);
  } catch (_) {
    container.textContent = "no preview";
  }
}

function showSignIn(message) {
  byId("content").hidden = true;
  byId("refresh").hidden = true;
  byId("sign-out").hidden = true;
  byId("role").hidden = true;
  byId("sign-in").hidden = false;
  byId("status").textContent = message || "";
  byId("token").focus();
}

async function load() {
  byId("status").textContent = "";
  let scopes;
  try {
    scopes = (await (await api("/v1/scopes?limit=100")).json()).items;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showSignIn(sessionStorage.getItem(TOKEN_KEY) ? "The server does not know this token." : "");
      return;
    }
    throw err;
  }
  const [recent, metrics] = await Promise.all([
    api("/v1/attachments?limit=" + RECENT).then((r) => r.json()),
    api("/metrics").then((r) => r.text(), (err) => {
      if (err instanceof ApiError && err.status === 403) return null;
      throw err;
    }),
  ]);
  const admin = metrics !== null;
  byId("sign-in").hidden = true;
  byId("content").hidden = false;
  byId("refresh").hidden = false;
  byId("sign-out").hidden = !sessionStorage.getItem(TOKEN_KEY);
  byId("role").hidden = false;
  byId("role").textContent = admin ? "admin" : "scoped token";
  byId("admin").hidden = !admin;
  showMetrics(admin ? metricsFromPrometheus(parsePrometheus(metrics)) : metricsFromScopes(scopes));
  showScopes(scopes);
  showRecent(recent.items);
}

function report(err) {
  byId("status").textContent = err instanceof ApiError ? err.code + ": " + err.message : String(err);
}

async function sweep() {
  const button = byId("sweep");
  button.disabled = true;
  try {
    const r = await (await api("/v1/sweep", { method: "POST" })).json();
    byId("sweep-report").textContent = "Swept in " + Math.round(r.durationMs) + " ms: " + r.expired + " expired, " +
      plural(r.blobsDeleted, "blob") + " deleted (" + formatBytes(r.bytesFreed) + " freed), " + plural(r.orphansReclaimed, "orphan") + " reclaimed.";
    await load();
  } catch (err) {
    report(err);
  } finally {
    button.disabled = false;
  }
}

byId("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, byId("token").value.trim());
  byId("token").value = "";
  load().catch(report);
});
byId("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn("");
});
byId("refresh").addEventListener("click", () => load().catch(report));
byId("sweep").addEventListener("click", () => sweep());
window.addEventListener("hashchange", () => {
  takeTokenFromFragment();
  load().catch(report);
});

takeTokenFromFragment();
load().catch(report);
`;
