import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { GATEWAY_OPTIONS } from "../../src/gateway/config/config.js";
import { answersOk, freePort, type NatsServer, startNats, waitUntil } from "../../src/testing/index.js";
import { type CliProcess, runCli, startCli } from "./run-cli.js";

let nats: NatsServer;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = await startNats();
});

afterAll(async () => {
  await nats?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Starts `herald gateway` on a free port and waits until /healthz answers. */
async function startGatewayCli(
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<{ cli: CliProcess; port: number }> {
  const port = await freePort();
  const cli = startCli(
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
  cleanups.push(async () => {
    if (cli.child.exitCode === null && cli.child.signalCode === null) {
      cli.child.kill("SIGKILL");
      await cli.exited();
    }
  });
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

function openSocket(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    cleanups.push(async () => ws.terminate());
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

describe("herald gateway", () => {
  it("starts, answers /healthz and /readyz, and exits 0 after draining on SIGTERM", async () => {
    const { cli, port } = await startGatewayCli();
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status, { timeout: 5000 })
      .toBe(200);
    const ws = await openSocket(port);
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));

    cli.child.kill("SIGTERM");
    const result = await cli.exited();
    expect(result).toMatchObject({ code: 0, killed: false });
    // Open sockets are told to reconnect elsewhere (1012) rather than dropped.
    expect(await closed).toBe(1012);
    expect(result.stdout).toContain('"msg":"draining');
  });

  it("exits 0 on SIGINT", async () => {
    const { cli } = await startGatewayCli();
    cli.child.kill("SIGINT");
    expect(await cli.exited()).toMatchObject({ code: 0, killed: false });
  });

  it("stops a long drain at the second signal", async () => {
    // Three sockets and a 60 s window: the drain alone would take 40 s.
    const { cli, port } = await startGatewayCli(["--drain-window", "60000"]);
    await Promise.all([openSocket(port), openSocket(port), openSocket(port)]);
    cli.child.kill("SIGTERM");
    await expect.poll(() => cli.stdout(), { timeout: 5000 }).toContain('"msg":"draining');
    cli.child.kill("SIGTERM");
    const result = await cli.exited(15_000);
    expect(result.killed).toBe(false);
    expect(result.signal).toBeNull();
    expect(result.stdout).toContain("closing at once");
  });

  it("exits 1 when NATS cannot be reached", async () => {
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

  it.each([
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

  it("exits 2 on an unreadable config file and on unknown flags", async () => {
    const missing = await runCli(["gateway", "--config", "/nonexistent/herald.json"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("cannot read config file /nonexistent/herald.json");

    const unknown = await runCli(["gateway", "--prot", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--prot'");
  });

  it("--print-config shows the effective configuration with secrets masked", async () => {
    const dir = await mkdtemp(join(tmpdir(), "herald-cli-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
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
  it("prints every gateway option as a markdown table", async () => {
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

  it("prints the same table as JSON with --json", async () => {
    const result = await runCli(["config", "--json"]);
    const rows = JSON.parse(result.stdout) as { option: string; env: string }[];
    expect(rows.map((row) => row.option)).toEqual(Object.keys(GATEWAY_OPTIONS));
  });
});
