import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  drainWindowMs,
  GATEWAY_ENV,
  gatewayConfigFrom,
  INSTALLED_SCRIPT,
  manifest,
  readRecipe,
} from "./recipe-files.js";

const UNIT = "systemd/herald-gateway.service";
const unit = readRecipe(UNIT);

/** The [Service] settings of the unit, each key with every value it is given. */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = "";
  for (const line of text.split("\n")) {
    const header = line.match(/^\[(\w+)\]$/);
    if (header) section = header[1] ?? "";
    const setting = line.match(/^(\w+)=(.*)$/);
    if (section === "Service" && setting) {
      const [, key = "", value = ""] = setting;
      settings.set(key, [...(settings.get(key) ?? []), value]);
    }
  }
  return settings;
}

const settings = serviceSettings(unit);
const one = (key: string): string => {
  const values = settings.get(key) ?? [];
  expect(values, key).toHaveLength(1);
  return values[0] ?? "";
};
const environment = new Map(
  (settings.get("Environment") ?? [])
    .flatMap((value) => value.split(/\s+/))
    .map((pair) => pair.split("=", 2) as [string, string]),
);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "herald-systemd-"));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the systemd unit in deploy/", () => {
  it("passes systemd-analyze verify without a single warning", async () => {
    // The node binary is wherever this machine has it; the rest of the unit is checked as written.
    const file = join(dir, "herald-gateway.service");
    await writeFile(file, unit.replace("ExecStart=/usr/bin/node ", `ExecStart=${process.execPath} `));
    const { stdout, stderr } = await promisify(execFile)("systemd-analyze", ["verify", file]).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`systemd-analyze verify failed:\n${error.stdout}\n${error.stderr}`);
      },
    );
    // systemd reports unknown keys and unparsable values as warnings, with exit code 0.
    expect(`${stdout}${stderr}`.trim()).toBe("");
  });

  it("runs the installed package's command with node, without a wrapper that would swallow SIGTERM", () => {
    const [node, script, command, ...rest] = one("ExecStart").split(" ");
    expect(node).toBe("/usr/bin/node");
    expect(script).toBe(`${one("WorkingDirectory")}/${INSTALLED_SCRIPT}`);
    expect(manifest.files).toContain("bin");
    expect([command, ...rest]).toEqual(["gateway"]);
  });

  it("drains on stop: SIGTERM to the main process only, and time for the drain window before SIGKILL", () => {
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(one("KillMode")).toBe("mixed");
    const drain = drainWindowMs(environment);
    expect(drain).toBe(10_000);
    expect(Number(one("TimeoutStopSec")) * 1000).toBeGreaterThanOrEqual(drain + 5000);
  });

  it("allows a file descriptor per WebSocket, and sets only options the gateway knows", () => {
    expect(Number(one("LimitNOFILE"))).toBeGreaterThanOrEqual(65_536);
    for (const name of environment.keys()) expect(GATEWAY_ENV).toContain(name);
    expect(gatewayConfigFrom(environment).drainWindow).toBe(drainWindowMs(environment));
    expect(one("RestartPreventExitStatus")).toBe("2");
  });
});
