import { describe, expect } from "vitest";
import { test } from "../fixtures.js";

async function counter(metricsPort: number | undefined, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

describe("message and delivery counters", () => {
  test("count every message from NATS and every frame handed to a socket, read at each scrape", async ({
    backend,
    gateway,
    client,
  }) => {
    const [a1, a2, b] = [await client("a"), await client("a"), await client("b")];
    expect(await counter(gateway.metricsPort, "herald_messages_total")).toBe(0);
    expect(await counter(gateway.metricsPort, "herald_deliveries_total")).toBe(0);
    await backend.publish({ user: "a" }, { n: 1 });
    await backend.publish({ user: "b" }, { n: 2 });
    await Promise.all([a1.waitForMessages(1), a2.waitForMessages(1), b.waitForMessages(1)]);
    expect(await counter(gateway.metricsPort, "herald_messages_total")).toBe(2);
    expect(await counter(gateway.metricsPort, "herald_deliveries_total")).toBe(3);
    // a second scrape adds only what came since
    await backend.publish({ user: "a" }, { n: 3 });
    await Promise.all([a1.waitForMessages(2), a2.waitForMessages(2)]);
    expect(await counter(gateway.metricsPort, "herald_messages_total")).toBe(3);
    expect(await counter(gateway.metricsPort, "herald_deliveries_total")).toBe(5);
    expect(await counter(gateway.metricsPort, "herald_messages_total")).toBe(3);
  });
});
