import { describe, expect } from "vitest";
import { HeraldBackend } from "../../src/backend/index.js";
import { runCli } from "../cli/run-cli.js";
import { test } from "../fixtures.js";

// A server that lets in only user svc with password s3cret: the gateway, the backend SDK and
// `herald publish` log in with the same options.
test.override({
  natsOptions: { jetstream: true, extraConfig: 'authorization { user: "svc", password: "s3cret" }' },
  backendOptions: { user: "svc", pass: "s3cret" },
  gatewayOptions: { natsUser: "svc", natsPassword: "s3cret" },
});

describe("NATS user and password", () => {
  test("HeraldBackend.connect logs in with user and pass and reaches a gateway logged in with --nats-user", async ({
    backend,
    client,
  }) => {
    const alice = await client("alice");
    await backend.publishStored("alice", { n: 1 });
    expect((await alice.waitForMessages(1))[0]?.data).toEqual({ n: 1 });
  });

  test("HeraldBackend.connect is refused with a wrong password, and takes no user without one", async ({
    nats,
  }) => {
    const wrong = HeraldBackend.connect({ servers: nats.url, user: "svc", pass: "wrong", timeout: 2000 });
    await expect(wrong).rejects.toMatchObject({
      code: "NOT_CONNECTED",
      message: expect.stringMatching(/auth/i),
    });
    const alone = HeraldBackend.connect({ servers: nats.url, user: "svc" });
    await expect(alone).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining("a user and a password go together"),
    });
  });

  test("herald publish takes --nats-user/--nats-password or their environment names, and reports a refused login", async ({
    nats,
    client,
  }) => {
    const alice = await client("alice");
    const refused = await runCli(["publish", "alice", "x", "--nats", nats.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`cannot reach NATS at ${nats.url}: .*[Aa]uthoriz`));
    const alone = await runCli(["publish", "alice", "x", "--nats", nats.url, "--nats-user", "svc"]);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain("--nats-user and --nats-password go together");

    const flags = ["--nats", nats.url, "--nats-user", "svc", "--nats-password", "s3cret"];
    const withFlags = await runCli(["publish", "alice", "flags", ...flags]);
    expect(withFlags.code, withFlags.stderr).toBe(0);
    expect(withFlags.stdout).toMatch(/stored as seq \d+/);
    const withEnv = await runCli(["publish", "alice", "env"], {
      HERALD_NATS_URL: nats.url,
      HERALD_NATS_USER: "svc",
      HERALD_NATS_PASSWORD: "s3cret",
    });
    expect(withEnv.code, withEnv.stderr).toBe(0);
    expect((await alice.waitForMessages(2)).map((m) => m.data)).toEqual(["flags", "env"]);
  });
});
