import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect } from "vitest";
import WebSocket from "ws";
import { connect } from "../../src/client/index.js";
import { freePort, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";
import type { Launcher } from "../launcher.js";
import { HEARTBEAT_INTERVAL_MS, ROOT, readRecipe } from "./recipe-files.js";

const recipe = readRecipe("nginx/herald.conf");
const TLS = join(ROOT, "test/fixtures/tls");
/** Debian's nginx (scripts/ensure-system.sh deploy installs it). */
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path)) ?? "nginx";

/**
 * The recipe as this machine can run it: its own TLS files for the test certificate, its listener on
 * a free loopback port, its gateways replaced by the test's. Every other line is the recipe's.
 */
function localRecipe(listenPort: number, gatewayPort: number): string {
  const replaced = recipe
    .replace(/^(\s*)listen 443 ssl;$/m, `$1listen 127.0.0.1:${listenPort} ssl;`)
    .replace(/^(\s*)server \d+\.\d+\.\d+\.\d+:\d+;$/gm, `$1server 127.0.0.1:${gatewayPort};`)
    .replace(/^(\s*)ssl_certificate \S+;$/m, `$1ssl_certificate ${join(TLS, "server.pem")};`)
    .replace(/^(\s*)ssl_certificate_key \S+;$/m, `$1ssl_certificate_key ${join(TLS, "server-key.pem")};`);
  const changed = recipe.split("\n").filter((line, i) => line !== replaced.split("\n")[i]);
  expect(changed).toHaveLength(5); // listen, two upstream servers, two TLS files
  return replaced;
}

/** A whole nginx.conf around the recipe, every path inside `dir`, in the foreground. */
function mainConfig(dir: string): string {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
    (kind) => `  ${kind}_temp_path ${join(dir, kind)};`,
  );
  return [
    "daemon off;",
    "master_process off;",
    `pid ${join(dir, "nginx.pid")};`,
    "error_log stderr warn;",
    "events { worker_connections 64; }",
    "http {",
    "  access_log off;",
    ...temp,
    `  include ${join(dir, "herald.conf")};`,
    "}",
    "",
  ].join("\n");
}

test.override({ natsOptions: {}, backendOptions: { history: false }, gatewayOptions: { history: false } });

/** The recipe written for the test's gateway into a folder of its own. */
interface Site {
  readonly dir: string;
  readonly listenPort: number;
}

const nginxTest = test.extend<{ site: Site }>({
  site: async ({ gateway, launch }, use) => {
    const dir = launch.own(await mkdtemp(join(tmpdir(), "herald-nginx-")), (made) =>
      rm(made, { recursive: true, force: true }),
    );
    const listenPort = await freePort();
    await writeFile(join(dir, "herald.conf"), localRecipe(listenPort, gateway.port));
    await writeFile(join(dir, "nginx.conf"), mainConfig(dir));
    await use({ dir, listenPort });
  },
});

/** nginx running the recipe, accepting connections; stopped after the test. */
async function startNginx(site: Site, launch: Launcher): Promise<{ output(): string }> {
  const { dir, listenPort } = site;
  let nginxOutput = "";
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", "stderr"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  launch.own(child, async (nginx) => {
    if (nginx.exitCode !== null || nginx.signalCode !== null) return;
    const exited = new Promise((resolve) => nginx.once("exit", resolve));
    nginx.kill("SIGTERM");
    const timer = setTimeout(() => nginx.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  });
  child.stdout.on("data", (chunk: Buffer) => {
    nginxOutput += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    nginxOutput += chunk.toString();
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${nginxOutput}`);
    const status = await fetch(`https://127.0.0.1:${listenPort}/`).then(
      () => "up",
      (error: { cause?: { code?: string } }) => error.cause?.code ?? "error",
    );
    // Up once it answers TLS at all (the test CA is unknown to fetch, hence a certificate error).
    if (status !== "ECONNREFUSED") return { output: () => nginxOutput };
    if (Date.now() > deadline) throw new Error(`nginx did not listen within 20 s: ${nginxOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the nginx block in deploy/", () => {
  nginxTest("passes nginx -t", async ({ site: { dir } }) => {
    const { stderr } = await promisify(execFile)(NGINX, [
      "-t",
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-e",
      "stderr",
    ]).catch((error: { stderr?: string }) => {
      throw new Error(
        `nginx -t failed (is nginx installed? scripts/ensure-system.sh deploy):\n${error.stderr ?? error}`,
      );
    });
    expect(stderr).toMatch(/syntax is ok/);
    expect(stderr).toMatch(/test is successful/);
    expect(stderr).not.toMatch(/\[warn\]|\[emerg\]/);
  });

  test("keeps quiet connections open longer than the gateway's heartbeat", () => {
    for (const directive of ["proxy_read_timeout", "proxy_send_timeout"]) {
      const [, seconds] = recipe.match(new RegExp(`^\\s*${directive} (\\d+)s;$`, "m")) ?? [];
      expect(Number(seconds) * 1000, directive).toBeGreaterThan(HEARTBEAT_INTERVAL_MS * 2);
    }
    expect(recipe).toMatch(/^\s*proxy_set_header Upgrade \$http_upgrade;$/m);
    expect(recipe).toMatch(/^\s*proxy_set_header Connection \$connection_upgrade;$/m);
    expect(recipe).toMatch(/^\s*proxy_http_version 1\.1;$/m);
  });

  nginxTest(
    "carries an HTTP stream through TLS to a gateway: auth, ready, a message as it comes, and a POST of frames",
    async ({ site, backend, launch }) => {
      const nginx = await startNginx(site, launch);
      const ca = await readFile(join(TLS, "ca.pem"));
      const base = `https://127.0.0.1:${site.listenPort}/ws`;
      const post = (path: string, body: string) =>
        new Promise<IncomingMessage>((resolve, reject) => {
          const req = httpsRequest(
            `${base}/${path}`,
            { method: "POST", ca, headers: { "content-type": "text/plain" } },
            resolve,
          );
          req.on("error", reject);
          req.end(body);
        });
      const stream = launch.own(await post("stream", '{"type":"auth","token":"alice"}'), (res) =>
        res.destroy(),
      );
      expect(stream.statusCode).toBe(200);
      const lines: string[] = [];
      let buffered = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split("\n");
        buffered = parts.pop() ?? "";
        lines.push(...parts.filter((line) => line.trim() !== ""));
      });
      const frame = (type: string) =>
        lines.map((line) => JSON.parse(line) as { type: string }).find((f) => f.type === type);
      await waitUntil(() => frame("ready") !== undefined, "ready through nginx");
      const streamId = (frame("session") as unknown as { id: string }).id;
      // proxy_buffering off: the message arrives while the response goes on.
      await backend.publish("alice", { through: "nginx" });
      await waitUntil(
        () => lines.some((line) => line.includes('"through":"nginx"')),
        "the message through nginx",
      );
      const sent = await post("send", `${streamId}\n{"type":"ping"}`);
      expect(sent.statusCode).toBe(204);
      await waitUntil(() => frame("pong") !== undefined, "the pong through nginx");
      expect(nginx.output()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    },
  );

  nginxTest(
    "carries a client's WebSocket through TLS to a gateway: auth, ready, a message",
    async ({ site, backend, launch }) => {
      const nginx = await startNginx(site, launch);
      const ca = await readFile(join(TLS, "ca.pem"));
      /** `ws` trusting the test CA, as a browser trusts a real certificate. */
      class TrustingWebSocket extends WebSocket {
        constructor(url: string) {
          super(url, { ca });
        }
      }
      const client = connect({
        url: `wss://127.0.0.1:${site.listenPort}/ws`,
        getToken: () => "alice",
        WebSocket: TrustingWebSocket,
      });
      try {
        // The first error fails the test at once: through a proxy that breaks upgrades it would retry forever.
        const failed = new Promise<never>((_, reject) => client.on("error", reject));
        const ready = Promise.race([
          failed,
          new Promise<string>((resolve) => client.on("ready", (frame) => resolve(frame.user))),
        ]);
        const message = new Promise<unknown>((resolve) => client.on("message", (m) => resolve(m.data)));
        expect(await ready).toBe("alice");
        await backend.publish("alice", { through: "nginx" });
        expect(await Promise.race([failed, message])).toEqual({ through: "nginx" });
      } finally {
        client.close();
      }
      expect(nginx.output()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
    },
  );
});
