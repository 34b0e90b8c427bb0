import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect as unixConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import { freePort, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import { HEARTBEAT_INTERVAL_MS, ROOT, readRecipe } from "./recipe-files.js";

const recipe = readRecipe("haproxy/herald.cfg");
const TLS = join(ROOT, "test/fixtures/tls");
/** Debian's HAProxy (scripts/ensure-system.sh deploy installs it). */
const HAPROXY = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].find((path) => existsSync(path)) ?? "haproxy";

/**
 * The recipe as this machine can run it: its certificate the test's, its listener on a free loopback
 * port, its two gateways one test gateway. Every other line is the recipe's.
 */
function localRecipe(listenPort: number, gatewayPort: number, pem: string): string {
  const replaced = recipe
    .replace(/^(\s*)bind :443 ssl crt \S+$/m, `$1bind 127.0.0.1:${listenPort} ssl crt ${pem}`)
    .replace(/^(\s*)server gw1 \S+$/m, `$1server gw1 127.0.0.1:${gatewayPort}`)
    .replace(/^\s*server gw2 \S+\n/m, "");
  const lines = recipe.split("\n");
  const kept = replaced.split("\n");
  expect(lines.length - kept.length).toBe(1); // the second gateway
  expect(lines.filter((line) => !kept.includes(line))).toHaveLength(3); // bind, two servers
  return replaced;
}

/** Who each token connected from, as the gateway told the backend. */
const remoteAddresses = new Map<string, string>();

test.override({
  natsOptions: {},
  backendOptions: {
    history: false,
    authorize: async (token, context) => {
      remoteAddresses.set(token, context.remoteAddress);
      return accept({ user: token });
    },
  },
  // as the recipe's comment says: PROXY headers on, believed from this HAProxy only
  gatewayOptions: { history: false, proxyProtocol: true, trustedProxies: ["127.0.0.1"] },
});

/** The recipe written for the test's gateway into a folder of its own, with an admin socket. */
interface Site {
  readonly dir: string;
  readonly listenPort: number;
}

const haproxyTest = test.extend<{ site: Site }>({
  site: async ({ gateway, launch }, use) => {
    const dir = launch.own(await mkdtemp(join(tmpdir(), "herald-haproxy-")), (made) =>
      rm(made, { recursive: true, force: true }),
    );
    const listenPort = await freePort();
    const pem = join(dir, "server.pem");
    const certificate = await readFile(join(TLS, "server.pem"), "utf8");
    await writeFile(pem, certificate + (await readFile(join(TLS, "server-key.pem"), "utf8")));
    await writeFile(
      join(dir, "global.cfg"),
      `global\n    stats socket ${join(dir, "admin.sock")} level admin\n`,
    );
    await writeFile(join(dir, "herald.cfg"), localRecipe(listenPort, gateway.port, pem));
    await use({ dir, listenPort });
  },
});

const configArgs = (dir: string) => ["-f", join(dir, "global.cfg"), "-f", join(dir, "herald.cfg")];

/** A command on HAProxy's admin socket, and its answer. */
function adminCommand(dir: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = unixConnect(join(dir, "admin.sock"));
    let answer = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString();
    });
    socket.on("end", () => resolve(answer));
    socket.end(`${command}\n`);
  });
}

/** The gateway's row in `show stat`: its status and the last health check's result. */
async function gatewayState(dir: string): Promise<{ status: string; check: string } | undefined> {
  const csv = await adminCommand(dir, "show stat").catch(() => "");
  const [header = "", ...rows] = csv.replace(/^# /, "").split("\n");
  const columns = header.split(",");
  const row = rows.map((line) => line.split(",")).find((cells) => cells[1] === "gw1");
  if (!row) return undefined;
  return { status: row[columns.indexOf("status")] ?? "", check: row[columns.indexOf("check_status")] ?? "" };
}

describe("the HAProxy recipe in deploy/", () => {
  haproxyTest("passes haproxy -c", async ({ site: { dir } }) => {
    const { stdout, stderr } = await promisify(execFile)(HAPROXY, ["-c", ...configArgs(dir)]).catch(
      (error: { stderr?: string }) => {
        throw new Error(
          `haproxy -c failed (is HAProxy installed? scripts/ensure-system.sh deploy):\n${error.stderr ?? error}`,
        );
      },
    );
    expect(stdout + stderr).toMatch(/Configuration file is valid/);
    expect(stdout + stderr).not.toMatch(/\[WARNING\]|\[ALERT\]/);
  });

  test("sends a PROXY v2 header on every connection, checks /readyz, and outlives the heartbeat", () => {
    expect(recipe).toMatch(/^\s*mode tcp$/m);
    expect(recipe).toMatch(/^\s*default-server send-proxy-v2 check-send-proxy check\b/m);
    expect(recipe).toMatch(/^\s*option httpchk GET \/readyz$/m);
    for (const directive of ["timeout client", "timeout server"]) {
      const [, seconds] = recipe.match(new RegExp(`^\\s*${directive} (\\d+)s$`, "m")) ?? [];
      expect(Number(seconds) * 1000, directive).toBeGreaterThan(HEARTBEAT_INTERVAL_MS * 2);
    }
    // what the comment tells the gateways to set
    expect(recipe).toMatch(/HERALD_PROXY_PROTOCOL=true/);
    expect(recipe).toMatch(/HERALD_TRUSTED_PROXIES=/);
  });

  haproxyTest(
    "carries a client's WebSocket through TLS to a gateway that learns the client's address from the header",
    async ({ site: { dir, listenPort }, backend, launch }) => {
      let haproxyOutput = "";
      const haproxy = launch.own(
        spawn(HAPROXY, ["-db", ...configArgs(dir)], { stdio: ["ignore", "pipe", "pipe"] }),
        async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once("exit", resolve));
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(timer);
        },
      );
      haproxy.stdout?.on("data", (chunk: Buffer) => {
        haproxyOutput += chunk.toString();
      });
      haproxy.stderr?.on("data", (chunk: Buffer) => {
        haproxyOutput += chunk.toString();
      });
      // the health check, PROXY header and all, passes: the gateway is UP with a layer-7 OK
      await waitUntil(
        async () => (await gatewayState(dir))?.check === "L7OK",
        "HAProxy's health check of the gateway",
        {
          timeoutMs: 20_000,
        },
      );
      expect((await gatewayState(dir))?.status).toBe("UP");

      const ca = await readFile(join(TLS, "ca.pem"));
      const url = `wss://127.0.0.1:${listenPort}/ws`;
      // the client connects from 127.0.0.9; HAProxy reaches the gateway from 127.0.0.1
      const client = await launch.socket({ url }, { localAddress: "127.0.0.9", ca });
      client.send({ type: "auth", token: "behind-haproxy" });
      expect((await client.next("ready")).user).toBe("behind-haproxy");
      expect(remoteAddresses.get("behind-haproxy")).toBe("127.0.0.9");
      await backend.publish("behind-haproxy", { through: "haproxy" });
      expect((await client.waitForMessages(1))[0]).toMatchObject({ data: { through: "haproxy" } });
      expect(haproxyOutput).not.toMatch(/\[ALERT\]/);
    },
  );
});
