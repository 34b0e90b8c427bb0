import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { test } from "../fixtures.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

test.override({
  natsOptions: {
    extraConfig: `tls { cert_file: ${JSON.stringify(fixture("server.pem"))}, key_file: ${JSON.stringify(fixture("server-key.pem"))} }`,
  },
  backendOptions: { history: false, tls: { caFile: fixture("ca.pem") } },
});
// The test's gateway dials tls:// and verifies the server against the CA.
test.override("gatewayOptions", ({ nats }) => ({
  history: false,
  nats: [`tls://127.0.0.1:${nats.port}`],
  natsTlsCa: fixture("ca.pem"),
}));

/** The gateway reaching NATS over TLS, verifying the server against `--nats-tls-ca`. */
describe("NATS over TLS", () => {
  test("connects with the CA given and delivers", async ({ backend, client }) => {
    const tess = await client("tess");
    await backend.publish("tess", "over tls");
    expect((await tess.waitForMessages(1))[0]).toMatchObject({ data: "over tls" });
  });

  test("refuses a server it cannot verify", async ({ nats, startGateway }) => {
    const attempt = startGateway({ history: false, nats: [`tls://127.0.0.1:${nats.port}`] });
    await expect(attempt).rejects.toThrow();
    // refused for the certificate, not for any other reason a start can fail
    const reason = await attempt.catch((err: Error) => `${err.message} ${String(err.cause ?? "")}`);
    expect(reason).toMatch(/certificate|self[- ]signed|verify/i);
  });
});
