import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import tsupConfig from "../../tsup.config.js";

/**
 * Builds the client SDK's script bundles (the client's, and the inbox's beside it) from the current
 * sources into a temporary folder, with the project's own tsup entries for them, so the browser
 * always runs the code under test, never a stale dist/.
 */
export async function buildClientBundle(): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "herald-bundle-"));
  for (const globalName of ["Herald", "HeraldInbox"]) {
    const iife = (tsupConfig as Options[]).find((options) => options.globalName === globalName);
    if (!iife) throw new Error(`tsup.config.ts has no entry with globalName ${globalName}`);
    await build({ ...iife, outDir: dir, config: false, silent: true, sourcemap: false });
  }
  return { file: join(dir, "client/herald-client.min.js"), dir };
}
