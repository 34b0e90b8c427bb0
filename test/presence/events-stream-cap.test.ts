import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiscardPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { afterAll, describe, expect } from "vitest";
import { rawTest as test } from "../fixtures.js";

/**
 * The events stream's byte cap (`--events-max-bytes`, 1 GiB by default) on a nats-server whose
 * JetStream file store holds 2 GB: a stream made without a cap (as gateways did before) is given
 * one at the next start, and a cap the store has no room for stops the start with the option to
 * change named.
 */
const storeDir = mkdtempSync(join(tmpdir(), "herald-events-cap-"));
afterAll(() => rmSync(storeDir, { recursive: true, force: true }));

test.override({
  natsOptions: {
    jetstream: false,
    extraConfig: `jetstream { store_dir: ${JSON.stringify(storeDir)}, max_file_store: 2GB }`,
  },
});

describe("the events stream's byte cap", () => {
  test("is set on an events stream made without one", async ({ raw, startGateway }) => {
    const jsm = await jetstreamManager(raw);
    await jsm.streams.add({
      name: "HERALD_EVENTS",
      subjects: ["herald.events.>"],
      discard: DiscardPolicy.Old,
      max_age: 604_800 * 1_000_000_000,
      max_bytes: -1,
      storage: StorageType.File,
    });
    await startGateway({ history: false, events: true });
    const { config } = await jsm.streams.info("HERALD_EVENTS");
    expect([config.max_bytes, config.discard]).toEqual([1024 ** 3, DiscardPolicy.Old]);
    await jsm.streams.delete("HERALD_EVENTS");
  });

  test("that JetStream has no room for stops the start, naming the options to change", async ({
    startGateway,
  }) => {
    await expect(
      startGateway({ history: false, events: true, eventsMaxBytes: 4 * 1024 ** 3 }),
    ).rejects.toThrow(/lower --events-max-bytes, or raise the NATS servers' jetstream max_file_store/);
  });
});
