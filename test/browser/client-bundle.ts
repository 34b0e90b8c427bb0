import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import tsupConfig from "../../tsup.config.js";

/**
 * Builds the client SDK's script bundle and its fallbacks bundle from the current sources into a
 * temporary folder, side by side, with the project's own tsup entries for them, so the browser
 * always runs the code under test, never a stale dist/.
 */
export async function buildClientBundle(): Promise<{ file: string; fallbacks: string; dir: string }> {
  const scripts = (tsupConfig as Options[]).filter((options) =>
    Object.keys(options.entry as Record<string, string>).some((name) =>
      name.startsWith("client/herald-client"),
    ),
  );
  if (scripts.length !== 2) throw new Error("tsup.config.ts has no two <script> bundles of the client");
  const dir = await mkdtemp(join(tmpdir(), "herald-bundle-"));
  for (const script of scripts)
    await build({ ...script, outDir: dir, config: false, silent: true, sourcemap: false });
  const client = join(dir, "client");
  return {
    file: join(client, "herald-client.min.js"),
    fallbacks: join(client, "herald-client-fallbacks.min.js"),
    dir,
  };
}
