/** File names from Content-Disposition and from URL paths. */
import { describe, expect, it } from "vitest";
import { fileNameFromDisposition, fileNameFromUrl } from "../../src/url/content-disposition.js";

describe("fileNameFromDisposition", () => {
  it.each([
    [`attachment; filename="plain.txt"`, "plain.txt"],
    [`attachment; filename=token.bin`, "token.bin"],
    [`attachment; filename="a; b.txt"`, "a; b.txt"],
    [`attachment; filename="fallback.pdf"; filename*=UTF-8''na%C3%AFve%20plan.pdf`, "naïve plan.pdf"],
    [`attachment; filename*=utf-8'en'%E2%82%AC%20rates.csv; filename="EUR rates.csv"`, "€ rates.csv"],
    [`attachment; FILENAME*=iso-8859-1''caf%E9.txt`, "café.txt"],
    [`attachment; filename*=UTF-8''%E0%A4%A; filename="bad-escape-fallback.txt"`, "bad-escape-fallback.txt"],
    [`attachment; filename*=koi8-r''%F0.txt; filename="unknown-charset.txt"`, "unknown-charset.txt"],
    [`attachment; filename="../../etc/passwd"`, "../../etc/passwd"], // sanitised by the store, not here
    [`attachment`, null],
    [`attachment; filename=""`, null],
    [``, null],
  ])("%s → %s", (header, name) => {
    expect(fileNameFromDisposition(header)).toBe(name);
  });
});

describe("fileNameFromUrl", () => {
  it.each([
    ["https://example.com/a/b/report.pdf?x=1#y", "report.pdf"],
    ["https://example.com/a/b/", "b"],
    ["https://example.com/dir/na%C3%AFve.txt", "naïve.txt"],
    ["https://example.com/%E0%A4%A", "%E0%A4%A"],
    ["https://example.com/", null],
  ])("%s → %s", (url, name) => {
    expect(fileNameFromUrl(new URL(url))).toBe(name);
  });
});
