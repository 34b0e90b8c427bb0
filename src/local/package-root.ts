import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as v from "valibot";

const PACKAGE_NAME = "herald";

const Manifest = v.object({ name: v.string(), version: v.string() });
export type Manifest = v.InferOutput<typeof Manifest>;

/** Herald's package.json, parsed; undefined when `file` is missing or not Herald's. */
function readManifest(file: string): Manifest | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = v.safeParse(Manifest, JSON.parse(readFileSync(file, "utf8")));
    return parsed.success && parsed.output.name === PACKAGE_NAME ? parsed.output : undefined;
  } catch {
    return undefined; // not a readable manifest
  }
}

/**
 * The folder of Herald's package.json. Searched upwards because this code runs from source (src/local/),
 * bundled into dist/cli/ or into a chunk at dist/, from a checkout or from node_modules/herald.
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    if (readManifest(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find Herald's package.json above ${from}`);
    dir = parent;
  }
}

/** Herald's own package.json. */
export function packageManifest(): Manifest {
  const file = join(packageRoot(), "package.json");
  const manifest = readManifest(file);
  if (!manifest) throw new Error(`${file} changed while it was read`);
  return manifest;
}
