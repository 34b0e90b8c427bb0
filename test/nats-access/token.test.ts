import { describe, expect } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import { runCli } from "../cli/run-cli.js";
import { test } from "../fixtures.js";

// A server that lets in only clients with the token: the gateway, the backend SDK and
// `herald publish` give it with the same options.
test.override({
  natsOptions: { jetstream: true, extraConfig: 'authorization { token: "t0ken-of-trust" }' },
  backendOptions: { token: "t0ken-of-trust" },
  gatewayOptions: { natsToken: "t0ken-of-trust" },
});

describe("NATS token", () => {
  test("HeraldBackend.connect gives its token and reaches a gateway that gave --nats-token", async ({
    backend,
    client,
  }) => {
    const bob = await client("bob");
    await backend.publishStored("bob", { n: 1 });
    expect((await bob.waitForMessages(1))[0]?.data).toEqual({ n: 1 });
  });

  test("HeraldBackend.connect is refused with another token", async ({ nats }) => {
    const wrong = HeraldBackend.connect({ servers: nats.url, token: "guess", timeout: 2000 });
    await expect(wrong).rejects.toMatchObject({
      code: "NOT_CONNECTED",
      message: expect.stringMatching(/auth/i),
    });
  });

  test("herald publish takes --nats-token or HERALD_NATS_TOKEN, and never prints it", async ({
    nats,
    client,
  }) => {
    const bob = await client("bob");
    const withFlag = await runCli([
      "publish",
      "bob",
      "flag",
      "--nats",
      nats.url,
      "--nats-token",
      "t0ken-of-trust",
    ]);
    expect(withFlag.code, withFlag.stderr).toBe(0);
    const withEnv = await runCli(["publish", "bob", "env"], {
      HERALD_NATS_URL: nats.url,
      HERALD_NATS_TOKEN: "t0ken-of-trust",
    });
    expect(withEnv.code, withEnv.stderr).toBe(0);
    expect((await bob.waitForMessages(2)).map((m) => m.data)).toEqual(["flag", "env"]);

    const refused = await runCli(["publish", "bob", "x", "--nats", nats.url, "--nats-token", "guess"]);
    expect(refused.code).toBe(1);
    expect(`${refused.stdout}${refused.stderr}`).not.toContain("guess");
  });
});
