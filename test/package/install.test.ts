import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { satisfies } from "semver";
import * as v from "valibot";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { freePort } from "../../src/testing/index.js";
import { stackTest as test } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { createProject, type PackResult, packFromClone, ROOT, run } from "./packed-herald.js";
import { type ProjectProcess, startInProject } from "./project-process.js";

/**
 * Herald as a user gets it: packed from a fresh clone (prepack builds it), installed from the tarball
 * into a new project, then used only through what the package exposes: the `herald` command, the
 * entry points' JavaScript and types, and a front-end bundle of the client.
 */

const FIXTURES = join(ROOT, "test/package/fixtures");
const Manifest = v.object({
  version: v.string(),
  exports: v.record(v.string(), v.unknown()),
  dependencies: v.record(v.string(), v.string()),
});
const manifest = v.parse(Manifest, JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")));

let workDir: string;
let project: string;
let packed: PackResult & { tarball: string };
let installOutput: string;

// Packing and installing is a build, not a stack: once before the suite (minutes on a cold cache),
// removed after it. The commands each test runs in the project are ended after that test.
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "herald-package-"));
  project = join(workDir, "project");
  await mkdir(project);
  packed = await packFromClone(workDir);
  // ws: in Node 20 the client needs a WebSocket implementation, as the client guide says.
  await createProject(project, packed.tarball, { ws: manifest.dependencies.ws ?? "missing" });
  const installed = await run("npm", ["install", "--no-audit", "--no-fund"], project).catch(
    (error: Error) => {
      const hint = /ENOTCACHED/.test(error.message)
        ? "\nThe npm cache lacks a dependency: run npm ci first."
        : "";
      throw new Error(`${error.message}${hint}`);
    },
  );
  installOutput = installed.stdout + installed.stderr;
  for (const fixture of await readdir(FIXTURES))
    await copyFile(join(FIXTURES, fixture), join(project, fixture));
}, 300_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** `command args` in the project; its whole process group is killed after the test. */
function start(launch: Launcher, command: string, args: readonly string[]): ProjectProcess {
  return launch.own(startInProject(command, args, project), (process) => process.stop("SIGKILL"));
}

describe("the npm package", () => {
  test("holds the build, the command, the demo page, the docs and the license, and no sources or tests", () => {
    const files = packed.files.map((file) => file.path);
    for (const target of Object.values(manifest.exports).flatMap((entry) =>
      typeof entry === "string" ? [entry] : Object.values(entry as Record<string, string>),
    )) {
      expect(files).toContain(target.replace(/^\.\//, ""));
    }
    for (const file of [
      "bin/herald.js",
      "dist/cli/main.js",
      "demo/public/index.html",
      "demo/public/app.js",
      "demo/public/room.js",
      "README.md",
      "LICENSE",
      "docs/client-guide.md",
      "docs/operations.md",
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /^(src|test|bench|examples|deploy)\//.test(file))).toEqual([]);
    console.info(
      `herald package: ${packed.entryCount} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`,
    );
  });

  test("installs on this Node without an engine warning, every installed package accepting this Node", async () => {
    expect(installOutput).not.toMatch(/EBADENGINE|npm warn/i);
    const nodeModules = join(project, "node_modules");
    const manifests: string[] = [];
    for (const entry of await readdir(nodeModules, { recursive: true })) {
      if (
        entry.endsWith("package.json") &&
        /(^|\/)node_modules\/(@[^/]+\/)?[^/]+\/package\.json$/.test(`node_modules/${entry}`)
      ) {
        manifests.push(join(nodeModules, entry));
      }
    }
    expect(manifests.length).toBeGreaterThan(10);
    const refusing: string[] = [];
    for (const file of manifests) {
      const { name, engines } = JSON.parse(await readFile(file, "utf8")) as {
        name?: string;
        engines?: { node?: string };
      };
      if (engines?.node && !satisfies(process.version, engines.node))
        refusing.push(`${name}: node ${engines.node}`);
    }
    expect(refusing).toEqual([]);
  });

  test("runs `npx herald --help` and `npx herald --version`", async () => {
    const help = await run("npx", ["herald", "--help"], project);
    expect(help.stdout).toMatch(/Usage: herald/);
    for (const command of ["gateway", "publish", "start", "config"]) expect(help.stdout).toContain(command);
    const version = await run("npx", ["herald", "--version"], project);
    expect(version.stdout.trim()).toBe(manifest.version);
  });

  test("runs `npx herald gateway` against NATS until /readyz answers 200, and stops on SIGTERM", async ({
    nats,
    launch,
  }) => {
    const port = await freePort();
    const gateway = start(launch, "npx", [
      "herald",
      "gateway",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--nats",
      nats.url,
      "--drain-window",
      "100",
      "--metrics-port",
      "0",
    ]);
    await gateway.waitFor(/gateway listening/);
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (res) => res.status,
        () => 0,
      );
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    await gateway.stop("SIGTERM");
    expect(gateway.output()).toMatch(/draining/);
  });

  test("imports every entry point from Node, and the <script> bundle defines Herald", async () => {
    const { stdout } = await run("node", ["import-entries.mjs"], project);
    const seen = JSON.parse(stdout) as { version: string; exports: Record<string, string[]> };
    expect(seen.version).toBe(manifest.version);
    expect(seen.exports.protocol).toEqual(
      expect.arrayContaining(["subjectsFor", "ClientFrame", "CloseCode"]),
    );
    expect(seen.exports.gateway).toEqual(expect.arrayContaining(["startGateway", "loadGatewayConfig"]));
    expect(seen.exports.backend).toEqual(expect.arrayContaining(["HeraldBackend", "accept", "refuse"]));
    expect(seen.exports.client).toEqual(
      expect.arrayContaining(["connect", "HeraldClient", "HeraldClientError"]),
    );
    expect(seen.exports.script?.sort()).toEqual(seen.exports.client?.sort());
  });

  test("type-checks a Node project and a front-end project against the installed types", async () => {
    // skipLibCheck as most projects have it (checking @types/node costs 20 s); what it would hide, a
    // type import of a package the user does not get, is checked below.
    const typescript = join(ROOT, "node_modules/typescript/bin/tsc");
    const common = { strict: true, noEmit: true, skipLibCheck: true, target: "ES2022" };
    const projects = {
      "tsconfig.node.json": {
        compilerOptions: {
          ...common,
          module: "NodeNext",
          moduleResolution: "NodeNext",
          typeRoots: [join(ROOT, "node_modules/@types")],
          types: ["node"],
        },
        files: ["node-types.ts"],
      },
      "tsconfig.browser.json": {
        compilerOptions: {
          ...common,
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2022", "DOM"],
          types: [],
        },
        files: ["browser-types.ts"],
      },
    };
    for (const [file, config] of Object.entries(projects)) {
      await writeFile(join(project, file), JSON.stringify(config, null, 2));
    }
    await Promise.all(Object.keys(projects).map((file) => run("node", [typescript, "-p", file], project)));

    const herald = join(project, "node_modules/herald");
    for (const file of packed.files.map((f) => f.path).filter((path) => path.endsWith(".d.ts"))) {
      const comments = /\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm;
      const text = (await readFile(join(herald, file), "utf8")).replace(comments, "");
      const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"'.][^"']*)["']/g)].map(
        (m) => m[1] ?? "",
      );
      const browserSide = file.startsWith("dist/client/") || file.startsWith("types/");
      for (const specifier of specifiers) {
        const name = specifier
          .split("/")
          .slice(0, specifier.startsWith("@") ? 2 : 1)
          .join("/");
        if (name.startsWith("node:")) expect(browserSide, `${file} needs Node's types`).toBe(false);
        else expect(Object.keys(manifest.dependencies), `${file} imports types of ${name}`).toContain(name);
      }
    }
  });

  test('bundles `import { connect } from "herald/client"` for browsers with nothing of Node, within the budgets', async () => {
    const outfile = join(project, "bundle/front-end.js");
    const result = await build({
      absWorkingDir: project,
      entryPoints: ["front-end.js"],
      bundle: true,
      minify: true,
      format: "esm",
      platform: "browser",
      outfile,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs).filter((input) => input !== "front-end.js");
    expect(inputs).toEqual(["node_modules/herald/dist/client/index.js"]);
    // ...and that file was built from Herald's own sources alone: the build marks every module it
    // takes in with a path comment, and none is a dependency's.
    const client = await readFile(join(project, inputs[0] ?? ""), "utf8");
    expect(client).toMatch(/^\/\/ src\/client\//m);
    expect(client).not.toMatch(/^\/\/ node_modules\//m);
    expect(Object.values(result.metafile.outputs).flatMap((output) => output.imports)).toEqual([]);
    // The WebSocket client and its HTTP fallbacks: the <script> bundle's budget and the fallbacks'.
    const size = await run(
      "node",
      [join(ROOT, "scripts/client-size.mjs"), outfile, String(6400 + 2048)],
      project,
    );
    console.info(
      `front-end bundle of herald/client: ${size.stdout.trim()} (${(await stat(outfile)).size} bytes)`,
    );
  });

  test("runs `npx herald start`, and a message from `npx herald publish` reaches a client", async ({
    launch,
  }) => {
    const demo = start(launch, "npx", [
      "herald",
      "start",
      "--port",
      String(await freePort()),
      "--gateway-port",
      String(await freePort()),
    ]);
    const [, page] = await demo.waitFor(/Open\s+(http:\/\/\S+)/);
    for (const path of ["/", "/app.js", "/room.js", "/style.css", "/herald-client.min.js"]) {
      expect((await fetch(new URL(path, page))).status, path).toBe(200);
    }
    const receiver = start(launch, "node", ["receive-one.mjs", String(page)]);
    await receiver.waitFor(/^ready$/m);
    const published = await run(
      "npx",
      ["herald", "publish", "alice", '{"hello":"from the package"}'],
      project,
    );
    expect(published.stdout).toContain("published to herald.user.alice");
    await receiver.waitFor(/^message /m);
    expect(receiver.output()).toContain('message {"hello":"from the package"}');
    expect(await receiver.exited).toBe(0);
    await demo.stop("SIGTERM");
    expect(demo.output()).toMatch(/stopped/);
  });
});
