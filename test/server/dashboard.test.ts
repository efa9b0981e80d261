/**
 * The dashboard in a real browser (Debian's chromium through playwright-core)
 * against the real service (buildServer) on loopback: metrics, scopes, image
 * previews, names rendered as text, the admin's sweep, the sign-in field.
 * Takes a screenshot; with ATTACHE_UPDATE_SCREENSHOT=1 it becomes
 * docs/dashboard.png (the README's), otherwise it goes to a temp directory.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/index.js";
import { buildServer } from "../../src/server/app.js";
import { DASHBOARD_CSP } from "../../src/server/dashboard/index.js";
import { tempDir } from "../support/fixtures.js";
import { inspectPng, makePng } from "./support-png.js";

const CHROMIUM = process.env.ATTACHE_CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard.test.ts skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set ATTACHE_CHROMIUM).`);

const ADMIN = "admin-token-for-the-dashboard-test";
const ALICE = "alice-token-for-the-dashboard-test";
const HOSTILE = '<img src=x onerror="window.__pwned=1">.txt';
const SCREENSHOT =
  process.env.ATTACHE_UPDATE_SCREENSHOT === "1"
    ? path.resolve(import.meta.dirname, "../../docs/dashboard.png")
    : path.join(fs.mkdtempSync(path.join(os.tmpdir(), "attache-dashboard-")), "dashboard.png");

describe.skipIf(!hasChromium)("dashboard", () => {
  let browser: Browser;
  let store: Store;
  let url: string;
  let close: () => Promise<void>;
  let photoBytes: number;

  beforeAll(async () => {
    const dir = tempDir("attache-dashboard-");
    store = await openStore({ dir: path.join(dir, "store"), sweepInterval: false });
    const gradient = makePng(96, 64, (x, y) => [40 + x * 2, 90 + y * 2, 200]);
    photoBytes = gradient.length;
    await store.stage(gradient, { scope: "alice:photos", name: "gradient.png" });
    await store.stage(makePng(64, 64, (x, y) => ((x >> 3) + (y >> 3)) % 2 === 0 ? [240, 160, 40] : [250, 240, 220]), { scope: "alice:photos", name: "checks.png" });
    await store.stage(Buffer.from("hello from a hostile name"), { scope: "alice:notes", name: HOSTILE });
    await store.stage(Buffer.from(JSON.stringify({ rows: 3 })), { scope: "bob:reports", name: "report.json", ttl: "1h" });
    // Expired by the time the page loads: the admin's sweep removes it.
    await store.stage(Buffer.from("short-lived"), { scope: "bob:reports", name: "old.txt", ttl: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const app = await buildServer(
      store,
      {
        maxSize: Infinity,
        uploadExpiryMs: 3_600_000,
        maxConcurrentUploads: 4,
        allowPrivateNetwork: false,
        fetchTimeoutMs: 10_000,
        drainTimeoutMs: 1_000,
        uploadDir: path.join(dir, "tus"),
        logLevel: "silent",
      },
      [
        { token: ADMIN, admin: true },
        { token: ALICE, scopes: ["alice:*"] },
      ],
    );
    url = await app.listen({ host: "127.0.0.1", port: 0 });
    close = async () => {
      await app.close();
      await store.close();
    };
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-background-networking"] });
  });

  afterAll(async () => {
    await browser?.close();
    await close?.();
  });

  async function openPage(hash = ""): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("response", (response) => {
      if (response.status() >= 400) errors.push(`${response.status()} ${response.url()}`);
    });
    (page as Page & { errors: string[] }).errors = errors;
    await page.goto(`${url}/${hash}`);
    return page;
  }

  const metric = (page: Page, key: string) => page.locator(`[data-metric="${key}"] dd`).textContent();

  it("serves the page with a strict Content-Security-Policy and no data in it", async () => {
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).not.toContain("gradient.png");
    expect(html).not.toMatch(/<script>(?!<)/);
    expect((await fetch(`${url}/dashboard/app.js`)).headers.get("content-type")).toMatch(/^text\/javascript/);
  });

  it("shows an admin the store's metrics, every scope, previews, names as text, and a sweep that reports", async () => {
    const page = await openPage(`#token=${ADMIN}`);
    await page.locator("#content").waitFor();
    expect(page.url()).not.toContain(ADMIN);
    expect(await page.locator("#role").textContent()).toBe("admin");
    await page.locator("[data-metric=storedBytes]").waitFor();
    expect(await metric(page, "attachments")).toBe("4");
    expect(await metric(page, "scopes")).toBe("3");
    expect(await metric(page, "expired")).toBe("1");

    const rows = page.locator("#scopes tbody tr");
    expect(await rows.count()).toBe(3);
    const photos = page.locator('#scopes tbody tr[data-scope="alice:photos"] td');
    expect(await photos.allTextContents()).toEqual(expect.arrayContaining(["alice:photos", "2"]));

    const gradient = page.locator('.card:has(.name:text-is("gradient.png")) img');
    await gradient.waitFor();
    await page.waitForFunction('[...document.querySelectorAll(".card img")].every((img) => img.complete)');
    expect(await gradient.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(96);
    expect(await gradient.getAttribute("src")).toMatch(/^blob:/);

    const hostile = page.locator(".card .name").filter({ hasText: "onerror" });
    expect(await hostile.textContent()).toBe(HOSTILE);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.evaluate("typeof window.__pwned")).toBe("undefined");

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const shot = inspectPng(fs.readFileSync(SCREENSHOT));
    expect(shot.width).toBe(1200);
    expect(shot.height).toBeGreaterThanOrEqual(600);
    expect(shot.distinctBytes).toBeGreaterThan(64);

    await page.locator("#sweep").click();
    // The report, then the status line (empty unless the sweep failed: its error shows there).
    const reportAndStatus = async () => `${await page.locator("#sweep-report").textContent()}|${await page.locator("#status").textContent()}`;
    await expect.poll(reportAndStatus, { timeout: 15_000 }).toMatch(/^Swept in \d+ ms: 1 expired, 1 blob deleted \(11 B freed\), 0 orphans reclaimed\.\|$/);
    await expect.poll(() => metric(page, "attachments"), { timeout: 15_000 }).toBe("4");
    await expect.poll(() => metric(page, "expired"), { timeout: 15_000 }).toBe("0");
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("signs a scoped token in through the field: its own scopes only, summed metrics, no sweep button", async () => {
    const page = await openPage();
    await page.locator("#sign-in").waitFor();
    await page.locator("#token").fill("wrong-token");
    await page.locator("#sign-in-form button").click();
    await expect.poll(() => page.locator("#status").textContent(), { timeout: 15_000 }).toContain("does not know this token");

    await page.locator("#token").fill(ALICE);
    await page.locator("#sign-in-form button").click();
    await page.locator("#content").waitFor();
    expect(await page.locator("#role").textContent()).toBe("scoped token");
    expect(await page.locator("#admin").isHidden()).toBe(true);
    expect(await page.locator("#sweep").isVisible()).toBe(false);
    expect(await page.locator("#scopes tbody tr").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-scope")))).toEqual(
      expect.arrayContaining(["alice:photos", "alice:notes"]),
    );
    expect(await page.locator("#scopes tbody tr").count()).toBe(2);
    expect(await metric(page, "attachments")).toBe("3");
    expect(await page.locator(".card .name").allTextContents()).not.toContain("report.json");
    const bytes = await page.locator('#scopes tbody tr[data-scope="alice:photos"] td').nth(2).getAttribute("title");
    expect(Number(bytes?.replace(/[^0-9]/g, ""))).toBeGreaterThan(photoBytes);

    // The token stays for the tab: a reload signs in again without the field.
    await page.reload();
    await page.locator("#content").waitFor();
    await page.locator("#sign-out").click();
    await page.locator("#sign-in").waitFor();
  });
});
