/**
 * What `npm pack` would publish: the package is `attache-store` (the bin stays
 * `attache`), and the tarball holds the build, the bin, the license and every
 * file the README and `--help` point to. Nothing is published or downloaded.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { assertCliBuilt, ROOT, runCli } from "./cli-harness.js";

interface PackResult {
  name: string;
  version: string;
  files: { path: string }[];
}

interface PackageJson {
  name: string;
  bin: Record<string, string>;
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  files: string[];
  license: string;
  repository: { type: string; url: string };
}

const readText = (file: string) => readFileSync(path.join(ROOT, file), "utf8");
const pkg = JSON.parse(readText("package.json")) as PackageJson;

/** Relative paths a text names: markdown link targets and docs/, examples/, bin/, dist/ paths. */
function pathsNamedIn(text: string): string[] {
  const named = new Set<string>();
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const file = (target as string).split("#")[0] as string;
    if (file === "" || /^[a-z][a-z0-9+.-]*:/i.test(file)) continue; // anchors and URLs
    named.add(path.posix.normalize(file));
  }
  for (const [file] of text.matchAll(/\b(?:docs|examples|bin|dist)\/[\w./-]*\w/g)) named.add(file);
  return [...named];
}

let packed: PackResult;
let files: Set<string>;

beforeAll(async () => {
  assertCliBuilt();
  // --ignore-scripts: no `prepare` rebuild of dist/ while other tests use it.
  const { stdout } = await promisify(execFile)("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  [packed] = JSON.parse(stdout) as [PackResult];
  files = new Set(packed.files.map((f) => f.path));
}, 120_000);

describe("the npm package", () => {
  it("is attache-store, with the attache bin", () => {
    expect(pkg.name).toBe("attache-store");
    expect(packed.name).toBe("attache-store");
    expect(pkg.bin).toEqual({ attache: "./bin/attache.js" });
  });

  it("ships the build, the bin, the docs, the license and the README", () => {
    for (const file of ["dist/index.js", "dist/index.d.ts", "dist/cli.js", "bin/attache.js", "docs/cli.md", "LICENSE", "README.md", "package.json"]) {
      expect(files, file).toContain(file);
    }
    for (const target of [pkg.main, pkg.types, pkg.bin.attache as string]) {
      expect(files, target).toContain(path.posix.normalize(target));
    }
    for (const entry of Object.values(pkg.exports)) {
      for (const target of typeof entry === "string" ? [entry] : Object.values(entry)) {
        expect(files, target).toContain(path.posix.normalize(target));
      }
    }
  });

  it("ships no tests, sources or store directories", () => {
    const stray = [...files].filter((f) => /^(test|src|bench|node_modules|\.attache)\//.test(f));
    expect(stray).toEqual([]);
  });

  it("ships every file the README and docs/cli.md point to", () => {
    const named = [...pathsNamedIn(readText("README.md")), ...pathsNamedIn(readText("docs/cli.md"))]
      // The README's development section describes a clone: its tests and CI scripts are not shipped.
      .filter((file) => !/^(test|\.ci)\//.test(file) && file !== "dist/");
    expect(named).toContain("docs/cli.md");
    for (const file of named) expect(files, `${file} (named in the README)`).toContain(file);
  });

  it("ships every file --help points to", async () => {
    for (const args of [["--help"], ["stage", "--help"], ["ls", "--help"]]) {
      const help = await runCli(args);
      expect(help.code).toBe(0);
      const named = pathsNamedIn(help.stdout);
      if (args[0] === "--help") expect(named).toContain("docs/cli.md");
      for (const file of named) expect(files, `${file} (named by attache ${args.join(" ")})`).toContain(file);
    }
  });

  it("is installed and imported as attache-store everywhere the docs say so", () => {
    for (const doc of ["README.md", "docs/cli.md"]) {
      const text = readText(doc);
      for (const [line] of text.matchAll(/npm (?:install|i|add) [^\n]*/g)) expect(line, doc).toMatch(/attache-store/);
      for (const [spec] of text.matchAll(/from "(attache[^"]*)"/g)) expect(spec, doc).toMatch(/^from "attache-store(\/|")/);
    }
    expect(readText("README.md")).toMatch(/^npm install attache-store$/m);
  });

  it("has a license file and a repository", () => {
    expect(pkg.license).toBe("MIT");
    const license = readText("LICENSE");
    expect(license).toMatch(/^MIT License/);
    expect(license).toContain("Copyright (c) 2026 the attache authors");
    expect(pkg.repository).toMatchObject({ type: "git", url: expect.stringMatching(/^git\+https:\/\/.+\.git$/) as unknown });
  });

  it("names itself attache-store in the lock file, with no download addresses", () => {
    const lock = JSON.parse(readText("package-lock.json")) as { name: string; packages: Record<string, { name?: string }> };
    expect(lock.name).toBe("attache-store");
    expect(lock.packages[""]?.name).toBe("attache-store");
    expect(readText("package-lock.json")).not.toContain('"resolved"');
  });
});
