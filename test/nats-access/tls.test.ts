import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import { runCli } from "../cli/run-cli.js";
import { test } from "../fixtures.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
const tls = {
  caFile: fixture("ca.pem"),
  certFile: fixture("client.pem"),
  keyFile: fixture("client-key.pem"),
};

// A server that speaks only TLS and asks every client for a certificate signed by the client CA:
// the gateway, the backend SDK and `herald publish` give the same CA, certificate and key.
test.override({
  natsOptions: {
    jetstream: true,
    extraConfig: `tls {
      cert_file: ${JSON.stringify(fixture("server.pem"))}
      key_file: ${JSON.stringify(fixture("server-key.pem"))}
      ca_file: ${JSON.stringify(fixture("client-ca.pem"))}
      verify: true
    }`,
  },
  backendOptions: { tls },
  gatewayOptions: { natsTlsCa: tls.caFile, natsTlsCert: tls.certFile, natsTlsKey: tls.keyFile },
});

describe("NATS over TLS with a client certificate", () => {
  test("HeraldBackend.connect verifies the server, shows its certificate, and reaches the gateway", async ({
    backend,
    client,
  }) => {
    const cy = await client("cy");
    await backend.publishStored("cy", "over tls");
    expect((await cy.waitForMessages(1))[0]?.data).toBe("over tls");
  });

  test("HeraldBackend.connect is refused without a client certificate, and refuses a server it cannot verify", async ({
    nats,
  }) => {
    const noCert = HeraldBackend.connect({ servers: nats.url, tls: { caFile: tls.caFile }, timeout: 2000 });
    await expect(noCert).rejects.toMatchObject({ code: "NOT_CONNECTED" });
    const noCa = await HeraldBackend.connect({
      servers: nats.url,
      tls: { certFile: tls.certFile, keyFile: tls.keyFile },
      timeout: 2000,
    }).catch((err: Error) => err);
    expect(noCa).toMatchObject({ code: "NOT_CONNECTED" });
    // refused for the server's certificate, not for any other reason a connect can fail
    expect(`${(noCa as Error).message} ${String((noCa as Error).cause ?? "")}`).toMatch(
      /certificate|self[- ]signed|verify/i,
    );
  });

  test("herald publish takes --nats-tls-ca, --nats-tls-cert and --nats-tls-key or their environment names", async ({
    nats,
    client,
  }) => {
    const cy = await client("cy");
    const flags = [
      "--nats-tls-ca",
      tls.caFile,
      "--nats-tls-cert",
      tls.certFile,
      "--nats-tls-key",
      tls.keyFile,
    ];
    const withFlags = await runCli(["publish", "cy", "flags", "--nats", nats.url, ...flags]);
    expect(withFlags.code, withFlags.stderr).toBe(0);
    const withEnv = await runCli(["publish", "cy", "env"], {
      HERALD_NATS_URL: nats.url,
      HERALD_NATS_TLS_CA: tls.caFile,
      HERALD_NATS_TLS_CERT: tls.certFile,
      HERALD_NATS_TLS_KEY: tls.keyFile,
    });
    expect(withEnv.code, withEnv.stderr).toBe(0);
    expect((await cy.waitForMessages(2)).map((m) => m.data)).toEqual(["flags", "env"]);

    const withoutCert = await runCli([
      "publish",
      ...["cy", "x", "--nats", nats.url, "--nats-tls-ca", tls.caFile, "--timeout", "2000"],
    ]);
    expect(withoutCert.code).toBe(1);
  });
});
