import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EXAMPLES = join(ROOT, "examples/frontend");

/** What the examples import, linked into their node_modules as a front-end project installs it. */
const PACKAGES: Readonly<Record<string, string>> = {
  herald: ROOT, // the built package (dist/ and types/), through its exports
  "@types/react": join(ROOT, "node_modules/@types/react"),
  vue: join(ROOT, "node_modules/vue"),
};

let project: string;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "herald-frontend-"));
  await cp(EXAMPLES, project, { recursive: true });
  for (const [name, target] of Object.entries(PACKAGES)) {
    const link = join(project, "node_modules", name);
    await mkdir(dirname(link), { recursive: true });
    await symlink(target, link, "dir");
  }
});

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe("the front-end examples of the client guide", () => {
  it("type-check as a front-end project with the DOM's types: bundler, <script> tag, React, Vue", async () => {
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [tsc, "-p", "tsconfig.json", "--listFiles"],
      {
        cwd: project,
      },
    ).catch((error: { stdout?: string }) => {
      throw new Error(`the front-end examples do not type-check:\n${error.stdout ?? String(error)}`);
    });
    // Each example was part of the check, and nothing of Node's types was.
    for (const file of [
      "bundler.ts",
      "order-page.ts",
      "script-tag/notifications.js",
      "react/Notifications.tsx",
      "vue/Notifications.ts",
    ]) {
      expect(stdout).toContain(join(project, file));
    }
    expect(stdout).not.toContain("@types/node");
  });

  it("load the <script> bundle, then its fallbacks, before the page's own script", async () => {
    const html = await readFile(join(EXAMPLES, "script-tag/index.html"), "utf8");
    const scripts = [...html.matchAll(/<script src="([^"]+)" defer><\/script>/g)].map((m) => m[1]);
    expect(scripts).toEqual([
      "/herald-client.min.js",
      "/herald-client-fallbacks.min.js",
      "/notifications.js",
    ]);
  });
});
