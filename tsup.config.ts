import { defineConfig } from "tsup";

/** The package's entry points (the `exports` map): each gets its bundled `.d.ts`. */
const entries = {
  index: "src/index.ts",
  testing: "src/testing/index.ts",
  openai: "src/providers/openai.ts",
  anthropic: "src/providers/anthropic.ts",
  gemini: "src/providers/gemini.ts",
  s3: "src/backends/s3/index.ts",
  postgres: "src/backends/postgres/index.ts",
};

export default defineConfig({
  entry: { ...entries, cli: "src/cli/main.ts" },
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: { entry: entries },
  sourcemap: true,
  clean: true,
  splitting: true,
});
