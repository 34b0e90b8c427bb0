import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Options } from "tsup";
import tsupConfig from "../../tsup.config.js";

/**
 * Builds the client SDK's script bundles (the client's, its fallbacks and the inbox's, side by side)
 * from the current sources into a temporary folder, with the project's own tsup entries for them, so
 * the browser always runs the code under test, never a stale dist/.
 */
export async function buildClientBundle(): Promise<{ file: string; fallbacks: string; dir: string }> {
  const scripts = (tsupConfig as Options[]).filter((options) =>
    Object.keys(options.entry as Record<string, string>).some((name) => name.startsWith("client/herald-")),
  );
  if (scripts.length !== 3)
    throw new Error("tsup.config.ts has not the three <script> bundles of the client");
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
