import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { optionsMarkdown } from "../../src/cli/options-table.js";
import { ConfigError, GATEWAY_OPTIONS, loadGatewayConfig, redactConfig } from "../../src/gateway/index.js";

describe("gateway configuration", () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "herald-config-"));
    file = join(dir, "herald.json");
    await writeFile(file, JSON.stringify({ port: 9000, prefix: "fromfile", authTimeout: 2000 }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("has working defaults", () => {
    const config = loadGatewayConfig();
    expect(config).toMatchObject({
      port: 8080,
      path: "/ws",
      prefix: "herald",
      nats: ["nats://127.0.0.1:4222"],
      history: true,
    });
    expect(config.gatewayId).toMatch(/^gw-/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("takes flags over the environment over the file over defaults", () => {
    const config = loadGatewayConfig({
      configFile: file,
      env: {
        HERALD_PORT: "9100",
        HERALD_PREFIX: "fromenv",
        HERALD_NATS_URL: "nats://a:4222, nats://b:4222",
        HERALD_HISTORY: "false",
      },
      flags: { port: "9200" },
    });
    expect(config.port).toBe(9200);
    expect(config.prefix).toBe("fromenv");
    expect(config.authTimeout).toBe(2000);
    expect(config.nats).toEqual(["nats://a:4222", "nats://b:4222"]);
    expect(config.history).toBe(false);
  });

  it("follows the cluster for history replicas unless given a number, and pings NATS every 2 s", () => {
    expect(loadGatewayConfig()).toMatchObject({
      historyReplicas: "auto",
      natsPingInterval: 2000,
      natsMaxPingsOut: 2,
    });
    expect(loadGatewayConfig({ env: { HERALD_HISTORY_REPLICAS: "3" } }).historyReplicas).toBe(3);
    expect(loadGatewayConfig({ flags: { historyReplicas: "auto" } }).historyReplicas).toBe("auto");
    expect(loadGatewayConfig({ overrides: { historyReplicas: 5 } }).historyReplicas).toBe(5);
  });

  it("reads HERALD_CONFIG", () => {
    expect(loadGatewayConfig({ env: { HERALD_CONFIG: file } }).prefix).toBe("fromfile");
  });

  it.each([
    [
      { HERALD_PORT: "abc" },
      /port \(--port \/ HERALD_PORT\): invalid HERALD_PORT "abc": expected a whole number/,
    ],
    [{ HERALD_PORT: "70000" }, /port .*--port \/ HERALD_PORT/],
    [{ HERALD_PREFIX: "a.*" }, /prefix .*must be dot-separated/],
    [{ HERALD_NATS_URL: "not a url" }, /nats .*must be like nats:\/\/host:4222/],
    [{ HERALD_HISTORY: "maybe" }, /history .*expected true or false/],
    [{ HERALD_HISTORY_STORAGE: "disk" }, /historyStorage/],
    [
      { HERALD_HEARTBEAT_INTERVAL: "5000", HERALD_HEARTBEAT_TIMEOUT: "4000" },
      /heartbeatTimeout must be larger/,
    ],
    [{ HERALD_NATS_USER: "u" }, /--nats-user and --nats-password go together/],
    [{ HERALD_HISTORY_REPLICAS: "6" }, /historyReplicas .*must be "auto" or a whole number from 1 to 5/],
    [{ HERALD_HISTORY_REPLICAS: "three" }, /historyReplicas .*--history-replicas/],
    [{ HERALD_NATS_PING_INTERVAL: "0" }, /natsPingInterval .*--nats-ping-interval/],
  ])("refuses %j with a message naming it", (env, message) => {
    expect(() => loadGatewayConfig({ env })).toThrow(ConfigError);
    expect(() => loadGatewayConfig({ env })).toThrow(message);
  });

  it("names every bad value at once, and never shows a secret one", async () => {
    const secret = join(dir, "secret.json");
    await writeFile(secret, JSON.stringify({ natsToken: 31337 }));
    let error: unknown;
    try {
      loadGatewayConfig({ configFile: secret, env: { HERALD_PORT: "abc", HERALD_HISTORY_STORAGE: "disk" } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'port (--port / HERALD_PORT): invalid HERALD_PORT "abc": expected a whole number',
      `natsToken (--nats-token / HERALD_NATS_TOKEN): invalid value in config file ${secret}: expected string`,
      expect.stringMatching(
        /^historyStorage \(--history-storage \/ HERALD_HISTORY_STORAGE\): invalid HERALD_HISTORY_STORAGE "disk": /,
      ),
    ]);
    expect((error as ConfigError).message).not.toContain("31337");
  });

  it("refuses unknown keys and bad JSON in the file", async () => {
    const unknown = join(dir, "unknown.json");
    await writeFile(unknown, JSON.stringify({ prot: 1 }));
    expect(() => loadGatewayConfig({ configFile: unknown })).toThrow(/unknown option "prot"/);
    const broken = join(dir, "broken.json");
    await writeFile(broken, "{port:");
    expect(() => loadGatewayConfig({ configFile: broken })).toThrow(/not valid JSON/);
    expect(() => loadGatewayConfig({ configFile: join(dir, "missing.json") })).toThrow(
      /cannot read config file/,
    );
  });

  it("masks secrets when printed", () => {
    const config = loadGatewayConfig({
      env: { HERALD_NATS_USER: "u", HERALD_NATS_PASSWORD: "secret", HERALD_NATS_TOKEN: "tok" },
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain("secret");
    expect(shown).not.toContain('tok"');
  });

  it("are all in the README's configuration table, exactly as generated", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const start = readme.indexOf("<!-- options:start");
    const table = readme.slice(readme.indexOf("\n", start) + 1, readme.indexOf("<!-- options:end -->"));
    // Regenerate with `npm run docs:options`.
    expect(table).toBe(optionsMarkdown());
    for (const [key, def] of Object.entries(GATEWAY_OPTIONS)) {
      expect(table).toContain(`| ${key} | \`${def.flag}\` | \`${def.env}\` |`);
    }
  });
});
