// The child half of ./fake-openai.js: runs the tests' strict fake of
// OpenAI's Files and Uploads APIs (test/support/fake-providers/openai.ts) in
// a process of its own, so its work (parsing multipart bodies, hashing every
// byte) never shares an event loop with the client being measured.
//
//   node fake-openai-process.js '<json options>'     (spawned with an IPC channel)
//
// The fake's TypeScript is compiled on start with TypeScript's own
// transpileModule (a devDependency) into a temp directory, removed on exit.
// Messages in: { id, op: "file", fileId } | { id, op: "requests", route? } |
// { id, op: "peak", route } | { id, op: "close" }; out: { ready, url } and
// { id, result } / { id, error }.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
import { REPO_DIR } from "./common.js";

const options = JSON.parse(process.argv[2] ?? "{}");
const source = path.join(REPO_DIR, "test", "support", "fake-providers");
const out = fs.mkdtempSync(path.join(os.tmpdir(), "attache-bench-fakes-"));
const cleanup = () => fs.rmSync(out, { recursive: true, force: true });
process.on("exit", cleanup);

for (const name of fs.readdirSync(source)) {
  if (!name.endsWith(".ts") || name.endsWith(".test.ts")) continue;
  const { outputText } = ts.transpileModule(fs.readFileSync(path.join(source, name), "utf8"), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    fileName: name,
  });
  fs.writeFileSync(path.join(out, name.replace(/\.ts$/, ".js")), outputText);
}
fs.writeFileSync(path.join(out, "package.json"), '{ "type": "module" }\n');

const { FakeOpenAI } = await import(pathToFileURL(path.join(out, "openai.js")).href);
const fake = new FakeOpenAI({ keepBytes: options.keepBytes ?? false, maxFileBytes: 8 * 1000 ** 3 });
if (options.latencyMs) fake.setLatency(options.latencyMs);
const url = await fake.start();

const ops = {
  file: ({ fileId }) => {
    const file = fake.files.get(fileId);
    if (!file) throw new Error(`the fake holds no file ${fileId}`);
    return { id: file.id, size: file.size ?? file.bytes.length, sha256: file.sha256 ?? null, partSha256: file.partSha256 ?? null, filename: file.filename };
  },
  requests: ({ route }) => fake.requests(route),
  peak: ({ route }) => fake.maxConcurrent(route),
  unexpected: () => fake.unexpected.map(String),
  close: async () => {
    await fake.close();
    setImmediate(() => process.exit(0));
    return true;
  },
};

process.on("message", async (message) => {
  try {
    const op = ops[message.op];
    if (!op) throw new Error(`unknown op ${message.op}`);
    process.send({ id: message.id, result: await op(message) });
  } catch (err) {
    process.send({ id: message.id, error: String(err?.message ?? err) });
  }
});
process.on("disconnect", () => {
  cleanup();
  process.exit(0);
});
process.send({ ready: true, url });
