import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, readFile, symlink, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as v from "valibot";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const PackResult = v.array(
  v.object({
    filename: v.string(),
    size: v.number(),
    unpackedSize: v.number(),
    entryCount: v.number(),
    files: v.array(v.object({ path: v.string(), size: v.number() })),
  }),
);
export type PackResult = v.InferOutput<typeof PackResult>[number];

const LockFile = v.object({
  packages: v.record(
    v.string(),
    v.looseObject({ dev: v.optional(v.boolean()), devOptional: v.optional(v.boolean()) }),
  ),
});

/** npm settings from the environment that say where things are, not what this repository is. */
const KEPT_NPM_SETTINGS = new Set([
  "npm_config_cache",
  "npm_config_userconfig",
  "npm_config_globalconfig",
  "npm_config_registry",
  "npm_config_cafile",
]);

/**
 * The environment for npm and npx: offline from the local cache (so nothing reaches the network and a
 * dependency missing from the lock file fails loudly), and none of the other npm_* variables that
 * `npm test` sets, which would point npm back at this repository (npm_config_local_prefix).
 */
export function npmEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) =>
        (!/^npm_/i.test(key) || KEPT_NPM_SETTINGS.has(key.toLowerCase())) && !key.startsWith("HERALD_"),
    ),
  );
  return {
    ...env,
    npm_config_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
  };
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with its output when it fails or outlives `timeoutMs`. */
export async function run(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs = 120_000,
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, [...args], {
      cwd,
      env: npmEnv(),
      timeout: timeoutMs,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
    });
    return { stdout, stderr };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}: ${String(error)}\n${stdout}\n${stderr}`);
  }
}

/**
 * `npm pack` as from a fresh clone: the checkout's files, without what git ignores (dist/ above all),
 * are copied to `workDir`, given this repository's node_modules (the build tools), and packed there,
 * so `prepack` must build everything the package holds and the checkout's own dist/ is never touched.
 */
export async function packFromClone(workDir: string): Promise<PackResult & { tarball: string }> {
  const clone = join(workDir, "clone");
  // What a clone has (with this checkout's changes): files git tracks or would track, none it ignores.
  const { stdout: listed } = await run(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    ROOT,
  );
  for (const path of new Set(listed.split("\0").filter(Boolean))) {
    if (existsSync(join(ROOT, path))) await cp(join(ROOT, path), join(clone, path), { recursive: true });
  }
  await symlink(join(ROOT, "node_modules"), join(clone, "node_modules"), "dir");
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", workDir], clone, 300_000);
  // prepack's build prints to stdout too: the JSON report is the last thing, starting on a line "[".
  const start = stdout.startsWith("[") ? 0 : stdout.lastIndexOf("\n[") + 1;
  const [result] = v.parse(PackResult, JSON.parse(stdout.slice(start)));
  if (!result) throw new Error(`npm pack reported nothing:\n${stdout}`);
  return { ...result, tarball: join(workDir, result.filename) };
}

/**
 * A new project in `dir` depending on the tarball and `extra` (name -> exact version), with a lock file
 * holding this repository's locked production dependencies: `npm install --offline` then installs
 * from the local npm cache the same tree a user's `npm install` resolves from the registry.
 */
export async function createProject(
  dir: string,
  tarball: string,
  extra: Readonly<Record<string, string>>,
): Promise<void> {
  const dependencies = { herald: `file:${relative(dir, tarball)}`, ...extra };
  const lock = v.parse(LockFile, JSON.parse(await readFile(join(ROOT, "package-lock.json"), "utf8")));
  const packages: Record<string, unknown> = { "": { name: "herald-user", dependencies } };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path !== "" && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  const manifest = { name: "herald-user", private: true, type: "module", dependencies };
  await writeFile(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(
    join(dir, "package-lock.json"),
    `${JSON.stringify({ name: "herald-user", lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}
