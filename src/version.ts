/**
 * The package's version (the CLI's --version, the service's /openapi.json): from the package.json above this file,
 * whether it runs from src/ or from a dist/ bundle.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export function packageVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "attache-store" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No package.json here: keep walking up.
    }
    if (path.dirname(dir) === dir) return "0.0.0";
  }
}
