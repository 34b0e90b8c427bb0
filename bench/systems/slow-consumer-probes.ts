import * as v from "valibot";

/**
 * How many clients a server has cut off for reading too slowly, read from the server's own
 * monitoring: the server side sees the cut-off when it happens, a stalled client only when it reads again.
 */

/** Herald: the gateway's Prometheus counter `herald_closes_total{code="4429"}` (SLOW_CONSUMER). */
export async function heraldSlowConsumerCloses(metricsUrl: string): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${metricsUrl}: HTTP ${res.status}`);
  const text = await res.text();
  const line = /^herald_closes_total\{code="4429"\}\s+(\S+)$/m.exec(text);
  // The counter has no series until the first such close.
  if (!line) return 0;
  return v.parse(Count, Number(line[1]));
}

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));

/** Herald with `--events true`: events of a kind this gateway has stored (`herald_events_published_total`). */
export async function heraldEventsStored(metricsUrl: string, kind: string): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${metricsUrl}: HTTP ${res.status}`);
  const line = new RegExp(`^herald_events_published_total\\{kind="${kind}"\\}\\s+(\\S+)$`, "m").exec(
    await res.text(),
  );
  return line ? v.parse(Count, Number(line[1])) : 0;
}
const Varz = v.object({ slow_consumers: Count });

/** nats-server: `slow_consumers` of its /varz monitoring endpoint (clients it closed for falling behind). */
export async function natsSlowConsumers(monitorUrl: string): Promise<number> {
  const res = await fetch(`${monitorUrl}/varz`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${monitorUrl}/varz: HTTP ${res.status}`);
  return v.parse(Varz, await res.json()).slow_consumers;
}
