#!/usr/bin/env node
// The `attache` command. The CLI itself is compiled to dist/cli.js by `npm run build`,
// which `npm ci` and `npm install` run through the package's prepare script.
import("../dist/cli.js").catch((err) => {
  if (err?.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli.js")) {
    process.stderr.write("attache: dist/cli.js is missing: run `npm run build` in the attache package first.\n");
    process.exitCode = 1;
    return;
  }
  throw err;
});
