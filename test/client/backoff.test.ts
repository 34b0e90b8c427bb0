import { describe, expect, it } from "vitest";
import { Backoff } from "../../src/client/backoff.js";
import { seededRandom } from "./seeded-random.js";

describe("Backoff (exponential, full jitter)", () => {
  it("draws each delay from [0, min(maxMs, initialMs * 2^attempt)) with the injected random source", () => {
    const draws: number[] = [];
    const random = seededRandom(42);
    const backoff = new Backoff({
      initialMs: 500,
      maxMs: 30_000,
      random: () => {
        const r = random();
        draws.push(r);
        return r;
      },
    });
    const ceilings = [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000];
    const delays = ceilings.map(() => backoff.next());
    delays.forEach((delay, attempt) => {
      const ceiling = ceilings[attempt]!;
      expect(delay).toBe(Math.floor(draws[attempt]! * ceiling));
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
    });
    // The draws are not all equal, so the test would notice a delay that ignores the random source.
    expect(new Set(delays).size).toBeGreaterThan(5);
  });

  it("reaches the ceilings exactly at the top of the random range and 0 at its bottom", () => {
    const high = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.9999999 });
    expect([1, 2, 3, 4, 5, 6].map(() => high.next())).toEqual([99, 199, 399, 799, 999, 999]);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0 });
    expect([1, 2, 3].map(() => low.next())).toEqual([0, 0, 0]);
  });

  it("starts from the smallest ceiling again after reset", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([50, 100, 200]);
    expect(backoff.attempts).toBe(3);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(50);
  });

  it("defaults to 500 ms initial and 30 s max, and stays finite after very many attempts", () => {
    const backoff = new Backoff({ random: () => 0.5 });
    expect(backoff.initialMs).toBe(500);
    expect(backoff.maxMs).toBe(30_000);
    for (let i = 0; i < 2000; i++) backoff.next();
    expect(backoff.next()).toBe(15_000);
  });
});
