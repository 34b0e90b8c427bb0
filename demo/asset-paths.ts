import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The folder of Herald's package.json. Searched upwards because this code runs both from source
 * (demo/) and bundled (dist/cli/ or a chunk in dist/), at different depths.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "herald") return dir;
      } catch {
        // not a readable manifest: keep looking upwards
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find Herald's package.json above ${from}`);
    dir = parent;
  }
}

/** The demo page's files, served as they are. */
export function defaultPublicDir(): string {
  return join(packageRoot(), "demo", "public");
}

/** The client SDK as one script (`npm run build` makes it). */
export function defaultClientBundle(): string {
  return join(packageRoot(), "dist", "client", "herald-client.min.js");
}
