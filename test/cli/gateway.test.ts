import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { GATEWAY_OPTIONS } from "../../src/gateway/config/config.js";
import { answersOk, freePort, type NatsServer, waitUntil } from "../../src/testing/index.js";
import { stackTest as test } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { type CliProcess, runCli } from "./run-cli.js";

test.override({ natsOptions: {} });

/** A gateway of its own: `herald gateway` on a free port, ready once /healthz answers. */
async function startGatewayCli(
  launch: Launcher,
  nats: NatsServer,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<{ cli: CliProcess; port: number }> {
  const port = await freePort();
  const cli = launch.cli(
    [
      "gateway",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--nats",
      nats.url,
      "--no-history",
      "--metrics-port",
      "0",
      ...extraArgs,
    ],
    env,
  );
  const healthy = async () => {
    if (cli.child.exitCode !== null) throw new Error(`gateway exited early: ${cli.stderr()}${cli.stdout()}`);
    return answersOk(`http://127.0.0.1:${port}/healthz`);
  };
  await waitUntil(healthy, "the gateway's /healthz", { timeoutMs: 20_000, intervalMs: 100 }).catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${cli.stderr()}`);
    },
  );
  return { cli, port };
}

const at = (port: number) => ({ url: `ws://127.0.0.1:${port}/ws` });

describe("herald gateway", () => {
  test("starts, answers /healthz and /readyz, and exits 0 after draining on SIGTERM", async ({
    launch,
    nats,
  }) => {
    const { cli, port } = await startGatewayCli(launch, nats);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status, { timeout: 5000 })
      .toBe(200);
    const socket = await launch.socket(at(port));

    cli.child.kill("SIGTERM");
    const result = await cli.exited();
    expect(result).toMatchObject({ code: 0, killed: false });
    // Open sockets are told to reconnect elsewhere (1012) rather than dropped.
    expect((await socket.waitClose()).code).toBe(1012);
    expect(result.stdout).toContain('"msg":"draining');
  });

  test("exits 0 on SIGINT", async ({ launch, nats }) => {
    const { cli } = await startGatewayCli(launch, nats);
    cli.child.kill("SIGINT");
    expect(await cli.exited()).toMatchObject({ code: 0, killed: false });
  });

  test("stops a long drain at the second signal", async ({ launch, nats }) => {
    // Three sockets and a 60 s window: the drain alone would take 40 s.
    const { cli, port } = await startGatewayCli(launch, nats, ["--drain-window", "60000"]);
    await Promise.all([launch.socket(at(port)), launch.socket(at(port)), launch.socket(at(port))]);
    cli.child.kill("SIGTERM");
    await expect.poll(() => cli.stdout(), { timeout: 5000 }).toContain('"msg":"draining');
    cli.child.kill("SIGTERM");
    const result = await cli.exited(15_000);
    expect(result.killed).toBe(false);
    expect(result.signal).toBeNull();
    expect(result.stdout).toContain("closing at once");
  });

  test("exits 1 when NATS cannot be reached", async () => {
    const [port, natsPort] = [await freePort(), await freePort()];
    const result = await runCli([
      "gateway",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--nats",
      `nats://127.0.0.1:${natsPort}`,
    ]);
    expect(result).toMatchObject({ code: 1, killed: false });
    expect(result.stderr).toContain("herald: cannot start the gateway: ");
  });

  test.each([
    [["--port", "70000"], {}, ["--port", "HERALD_PORT", "70000"]],
    [["--port", "abc"], {}, ["--port", '"abc"']],
    [[], { HERALD_PORT: "abc" }, ["HERALD_PORT", '"abc"']],
    [["--nats", "http://x"], {}, ["--nats", "HERALD_NATS_URL"]],
    [["--log-level", "loud"], {}, ["--log-level", "HERALD_LOG_LEVEL"]],
    [["--history", "maybe"], {}, ["--history", '"maybe"']],
  ])("exits 2 naming the option for %j %j", async (args, env, expected) => {
    const result = await runCli(["gateway", ...args], env as Record<string, string>);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^herald: invalid configuration:/);
    for (const text of expected) expect(result.stderr).toContain(text);
  });

  test("exits 2 on an unreadable config file and on unknown flags", async () => {
    const missing = await runCli(["gateway", "--config", "/nonexistent/herald.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read config file /nonexistent/herald.json");

    const unknown = await runCli(["gateway", "--prot", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--prot'");
  });

  test("--print-config shows the effective configuration with secrets masked", async ({ launch }) => {
    const dir = launch.own(await mkdtemp(join(tmpdir(), "herald-cli-")), (made) =>
      rm(made, { recursive: true, force: true }),
    );
    const file = join(dir, "herald.json");
    await writeFile(file, JSON.stringify({ port: 9001, prefix: "fromfile", authTimeout: 5000 }));

    const result = await runCli(
      ["gateway", "--print-config", "--config", file, "--port", "9002", "--nats-user", "u", "--no-metrics"],
      { HERALD_PREFIX: "fromenv", HERALD_NATS_PASSWORD: "hunter2" },
    );
    expect(result.code).toBe(0);
    const config = JSON.parse(result.stdout) as Record<string, unknown>;
    // flag > environment > file > default
    expect(config).toMatchObject({
      port: 9002,
      prefix: "fromenv",
      authTimeout: 5000,
      host: "0.0.0.0",
      metrics: false,
      natsUser: "u",
      natsPassword: "***",
    });
    expect(result.stdout).not.toContain("hunter2");
  });
});

describe("herald config", () => {
  test("prints every gateway option as a markdown table", async () => {
    const result = await runCli(["config", "--markdown"]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toBe("| Option | Flag | Environment | Default | Description |");
    const options = Object.entries(GATEWAY_OPTIONS);
    expect(lines).toHaveLength(options.length + 2);
    for (const [key, def] of options) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^\\| ${key} \\| \`${def.flag}\` \\| \`${def.env}\` \\|`)),
      );
    }
    expect(result.stdout).toContain("| port | `--port` | `HERALD_PORT` | `8080` |");
  });

  test("prints the same table as JSON with --json", async () => {
    const result = await runCli(["config", "--json"]);
    const rows = JSON.parse(result.stdout) as { option: string; env: string }[];
    expect(rows.map((row) => row.option)).toEqual(Object.keys(GATEWAY_OPTIONS));
  });
});
