import { defineConfig } from "tsup";

export default defineConfig({
  entry: {
    index: "src/index.ts",
    testing: "src/testing/index.ts",
    openai: "src/providers/openai.ts",
    anthropic: "src/providers/anthropic.ts",
    gemini: "src/providers/gemini.ts",
    s3: "src/backends/s3/index.ts",
    postgres: "src/backends/postgres/index.ts",
    cli: "src/cli/main.ts",
  },
  format: ["esm"],
  target: "node20",
  platform: "node",
  dts: {
    entry: {
      index: "src/index.ts",
      testing: "src/testing/index.ts",
      openai: "src/providers/openai.ts",
      anthropic: "src/providers/anthropic.ts",
      gemini: "src/providers/gemini.ts",
      s3: "src/backends/s3/index.ts",
      postgres: "src/backends/postgres/index.ts",
    },
  },
  sourcemap: true,
  clean: true,
  splitting: true,
});
