import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

/** The gateway reaching NATS over TLS, verifying the server against `--nats-tls-ca`. */
describe("NATS over TLS", () => {
  let nats: NatsServer;
  let backend: HeraldBackend | undefined;
  let gateway: RunningGateway | undefined;

  beforeAll(async () => {
    nats = await startNats({
      extraConfig: `tls { cert_file: ${JSON.stringify(fixture("server.pem"))}, key_file: ${JSON.stringify(fixture("server-key.pem"))} }`,
    });
  });
  afterAll(async () => {
    await gateway?.close();
    await backend?.close();
    await nats?.stop();
  });

  it("connects with the CA given and delivers", async () => {
    gateway = await startTestGateway(`tls://127.0.0.1:${nats.port}`, { natsTlsCa: fixture("ca.pem") });
    const { connect } = await import("@nats-io/transport-node");
    const nc = await connect({ servers: `tls://127.0.0.1:${nats.port}`, tls: { caFile: fixture("ca.pem") } });
    backend = new HeraldBackend(nc, { history: false });
    backend.serveAuth((token) => accept({ user: token }));
    const client = await TestClient.ready(gateway.url, "tess");
    await backend.publish("tess", "over tls");
    expect((await client.waitForMessages(1))[0]).toMatchObject({ data: "over tls" });
    client.close();
    await backend.close();
    await nc.close();
    backend = undefined;
  });

  it("refuses a server it cannot verify", async () => {
    const attempt = startTestGateway(`tls://127.0.0.1:${nats.port}`);
    await expect(attempt).rejects.toThrow();
    // refused for the certificate, not for any other reason a start can fail
    const reason = await attempt.catch((err: Error) => `${err.message} ${String(err.cause ?? "")}`);
    expect(reason).toMatch(/certificate|self[- ]signed|verify/i);
  });
});
