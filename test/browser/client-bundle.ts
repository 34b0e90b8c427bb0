import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import tsupConfig from "../../tsup.config.js";

/**
 * Builds the client SDK's script bundle from the current sources into a temporary folder, with the
 * project's own tsup entry for it, so the browser always runs the code under test, never a stale dist/.
 */
export async function buildClientBundle(): Promise<{ file: string; dir: string }> {
  const iife = (tsupConfig as Options[]).find((options) => options.globalName === "Herald");
  if (!iife) throw new Error("tsup.config.ts has no entry with globalName Herald");
  const dir = await mkdtemp(join(tmpdir(), "herald-bundle-"));
  await build({ ...iife, outDir: dir, config: false, silent: true, sourcemap: false });
  return { file: join(dir, "client/herald-client.min.js"), dir };
}
