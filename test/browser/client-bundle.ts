import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "tsup";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Builds the client SDK's script bundle from the current sources into a temporary folder, with the
 * options of tsup.config.ts, so the browser always runs the code under test, never a stale dist/.
 */
export async function buildClientBundle(): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "herald-bundle-"));
  await build({
    config: false,
    silent: true,
    entry: { "herald-client.min": join(ROOT, "src/client/index.ts") },
    format: ["iife"],
    globalName: "Herald",
    platform: "browser",
    target: "es2020",
    minify: true,
    outDir: dir,
    outExtension: () => ({ js: ".js" }),
    dts: false,
    sourcemap: false,
    clean: false,
  });
  return { file: join(dir, "herald-client.min.js"), dir };
}
