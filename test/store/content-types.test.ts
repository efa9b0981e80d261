/**
 * Content types of the files a coding agent stages, through the public API:
 * declared, then a real signature, then UTF-8 text by a table of source,
 * config and markup extensions (else text/plain), then the extension's type
 * for bytes that are not text, then application/octet-stream.
 */
import { describe, expect, it } from "vitest";
import type { Store } from "../../src/index.js";
import { embeddedHarness, writeTempFile } from "../support/fixtures.js";

const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a1f1e6e60000000049454e44ae426082",
  "hex",
);

const TYPESCRIPT = `import { readFile } from "node:fs/promises";
import type { Attachment } from "./types.js";

/** Loads the attachment's bytes. */
export async function load(a: Attachment): Promise<Buffer> {
  const bytes = await readFile(a.path);
  if (bytes.length !== a.size) throw new Error(\`short read: \${bytes.length} < \${a.size}\`);
  return bytes;
}
`;

const PYTHON = `#!/usr/bin/env python3
"""Summarise a CSV file."""
import csv
import sys


def main(path: str) -> int:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    print(f"{len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
`;

const RUST = `use std::fs;

fn main() -> std::io::Result<()> {
    let text = fs::read_to_string("Cargo.toml")?;
    for (i, line) in text.lines().enumerate() {
        println!("{:>4} {}", i + 1, line);
    }
    Ok(())
}
`;

const GO = `package main

import (
\t"fmt"
\t"os"
)

func main() {
\tif len(os.Args) < 2 {
\t\tfmt.Fprintln(os.Stderr, "usage: hello NAME")
\t\tos.Exit(2)
\t}
\tfmt.Printf("hello, %s\\n", os.Args[1])
}
`;

const SHELL = `#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci
npm run build
for f in dist/*.js; do
  echo "built $f"
done
`;

const YAML = `name: ci
on:
  push:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: npm ci && npm test
`;

const TOML = `[package]
name = "hello"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { version = "1", features = ["derive"] }
`;

const MARKDOWN = `# Notes

- staged \`report.pdf\` for the reviewer
- **todo:** rotate the keys — before Friday ✅

\`\`\`sh
attache ls --json
\`\`\`
`;

const DIFF = `diff --git a/src/index.ts b/src/index.ts
index 3b18e51..a9c4f2d 100644
--- a/src/index.ts
+++ b/src/index.ts
@@ -1,4 +1,4 @@
-export const VERSION = "0.1.0";
+export const VERSION = "0.2.0";
 export { openStore } from "./store.js";
`;

const JSON_TEXT = `{
  "name": "demo",
  "version": "1.0.0",
  "scripts": { "test": "vitest run" },
  "dependencies": {}
}
`;

const CSV = "id,name,city\n1,Zoë,Kraków\n2,Ada,London\n";

/**
 * One long line, longer than the sniffed head (4100 bytes), with a three-byte
 * character cut by the head's end and more multi-byte characters after it.
 */
function minifiedJs(): string {
  let code = '!function(){"use strict";';
  for (let i = 0; Buffer.byteLength(code) < 4000; i++) code += `function f${i}(a,b){return a+b*${i}}`;
  code += `var pad="${"x".repeat(4099 - Buffer.byteLength(code) - 'var pad="'.length)}→";`;
  for (let i = 0; code.length < 12_000; i++) code += `var s${i}="héllo→${i}";`;
  return `${code}}();`;
}

/** MPEG transport stream packets: 188 bytes each, starting with the 0x47 sync byte. */
function mpegTs(): Buffer {
  const out = Buffer.alloc(188 * 8);
  for (let p = 0; p < 8; p++) {
    out[p * 188] = 0x47;
    out[p * 188 + 1] = 0x40;
    out[p * 188 + 3] = 0x10 | (p & 0xf);
    for (let i = 4; i < 188; i++) out[p * 188 + i] = (i * 7 + p) & 0xff;
  }
  return out;
}

/** Bytes that are no known format and not text: NULs and high bytes. */
function opaqueBytes(): Buffer {
  const out = Buffer.alloc(2048);
  for (let i = 0; i < out.length; i++) out[i] = (i * 131 + 17) % 256;
  return out;
}

async function typeOf(store: Store, name: string, contents: string | Uint8Array, contentType?: string): Promise<string> {
  const file = writeTempFile(name, contents);
  const attachment = await store.stage(file, { scope: `t:${name}`, ...(contentType === undefined ? {} : { contentType }) });
  expect(attachment.name).toBe(name);
  return attachment.contentType;
}

describe("content types of a coding agent's files", () => {
  const TEXT_CORPUS: [name: string, expected: string, contents: string][] = [
    ["index.ts", "text/x-typescript", TYPESCRIPT],
    ["component.tsx", "text/x-typescript", `export const A = () => <div>{"hi"}</div>;\n`],
    ["types.d.ts", "text/x-typescript", "export interface A { b: string }\n"],
    ["main.py", "text/x-python", PYTHON],
    ["main.rs", "text/x-rust", RUST],
    ["main.go", "text/x-go", GO],
    ["build.sh", "text/x-shellscript", SHELL],
    ["ci.yml", "text/yaml", YAML],
    ["compose.yaml", "text/yaml", YAML],
    ["Cargo.toml", "application/toml", TOML],
    ["NOTES.md", "text/markdown", MARKDOWN],
    ["patch.diff", "text/x-diff", DIFF],
    ["fix.patch", "text/x-diff", DIFF],
    ["package.json", "application/json", JSON_TEXT],
    ["data.csv", "text/csv", CSV],
    ["bundle.min.js", "text/javascript", minifiedJs()],
    ["server.mjs", "text/javascript", `import http from "node:http";\nhttp.createServer().listen(8080);\n`],
    ["index.html", "text/html", "<!doctype html>\n<html><head><title>x</title></head><body><p>hi</p></body></html>\n"],
    ["site.css", "text/css", "body { margin: 0; font-family: system-ui; }\n"],
    ["pom.xml", "application/xml", `<?xml version="1.0" encoding="UTF-8"?>\n<project><modelVersion>4.0.0</modelVersion></project>\n`],
    ["Dockerfile", "text/x-dockerfile", "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nCMD [\"node\", \"dist/index.js\"]\n"],
    ["Makefile", "text/x-makefile", "all: build\n\nbuild:\n\tnpm run build\n"],
    ["notes.txt", "text/plain", "plain words\r\nwith CRLF line ends\r\n"],
    ["LICENSE", "text/plain", "MIT License\n\nCopyright (c) 2026\n"],
    ["server.log", "text/plain", "2026-01-01T00:00:00Z \u001b[32mINFO\u001b[0m started\n"],
    ["unknown.xyz", "text/plain", "some text in a format nobody registered\n"],
    ["日本語.txt", "text/plain", "こんにちは、世界。テキストです。\n"],
  ];

  it.each(TEXT_CORPUS)("%s is %s", async (name, expected, contents) => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, name, contents)).toBe(expected);
  });

  it("a UTF-8 file with a byte order mark is text", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "export.csv", `\uFEFF${CSV}`)).toBe("text/csv");
    expect(await typeOf(store, "index.ts", `\uFEFF${TYPESCRIPT}`)).toBe("text/x-typescript");
    expect(await typeOf(store, "README", `\uFEFF# Readme\n`)).toBe("text/plain");
  });

  it("text never gets an audio, video or binary type from its extension", async () => {
    const store = await embeddedHarness().open();
    for (const name of ["clip.ts", "song.mp3", "movie.mp4", "tool.exe", "archive.zip", "picture.png", "data.bin"]) {
      const type = await typeOf(store, name, `${name} is just text here\n`);
      expect(type, name).not.toMatch(/^(audio|video|image)\/|octet-stream|zip|msdownload/);
    }
  });

  it("text that happens to start like a binary signature stays text", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "ids.md", "ID3 tags are read first, then the frames.\n")).toBe("text/markdown");
    expect(await typeOf(store, "regions.txt", "MZ is the code of Mozambique\n")).toBe("text/plain");
  });

  it("a PNG renamed .txt is image/png", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "screenshot.txt", PNG)).toBe("image/png");
    expect(await typeOf(store, "icon.ts", PNG)).toBe("image/png");
  });

  it("binary bytes named .ts keep the extension's type", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "capture.ts", mpegTs())).toBe("video/mp2t");
    expect(await typeOf(store, "blob.ts", opaqueBytes())).toBe("video/mp2t");
    expect(await typeOf(store, "blob.py", opaqueBytes())).not.toMatch(/^text\//);
  });

  it("valid UTF-8 that is mostly control characters is not text", async () => {
    const store = await embeddedHarness().open();
    const controls = Buffer.from(Array.from({ length: 600 }, (_, i) => [1, 2, 3, 0x7f, 0x41][i % 5] as number));
    expect(await typeOf(store, "frames.ts", controls)).toBe("video/mp2t");
    expect(await typeOf(store, "frames", controls)).toBe("application/octet-stream");
  });

  it("bytes that are not UTF-8 are not text", async () => {
    const store = await embeddedHarness().open();
    const latin1 = Buffer.from("caf\xe9 cr\xe8me br\xfbl\xe9e\n", "latin1");
    expect(await typeOf(store, "menu", latin1)).toBe("application/octet-stream");
    expect(await typeOf(store, "blob", opaqueBytes())).toBe("application/octet-stream");
  });

  it("a declared type wins over everything", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "index.ts", TYPESCRIPT, "application/x-custom")).toBe("application/x-custom");
    expect(await typeOf(store, "shot.txt", PNG, "image/x-declared")).toBe("image/x-declared");
  });

  it("empty files are typed by their name", async () => {
    const store = await embeddedHarness().open();
    expect(await typeOf(store, "index.ts", "")).toBe("text/x-typescript");
    expect(await typeOf(store, "main.py", "")).toBe("text/x-python");
    expect(await typeOf(store, "empty", "")).toBe("application/octet-stream");
  });

  it("buffers and streams staged with a name follow the same rule", async () => {
    const store = await embeddedHarness().open();
    expect((await store.stage(Buffer.from(RUST), { name: "main.rs", scope: "buf" })).contentType).toBe("text/x-rust");
    expect((await store.stage(new File([PYTHON], "main.py"), { scope: "file" })).contentType).toBe("text/x-python");
  });
});
