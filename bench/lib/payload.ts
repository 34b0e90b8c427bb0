/**
 * The notification every publisher sends: `{"r":<run>,"i":<index>,"t":<ns>,"p":"xxx"}`. `t` is
 * process.hrtime (CLOCK_MONOTONIC, shared by every process on the machine) at publish time, so the
 * load generator measures publish-to-receipt latency on the same clock. `p` pads to the wanted size.
 */
export function monotonicNs(): number {
  // Nanoseconds since boot fit a double exactly for 104 days of uptime.
  return Number(process.hrtime.bigint());
}

export function payloadPadding(payloadBytes: number): string {
  const skeleton = `{"r":1,"i":1000000,"t":${monotonicNs()},"p":""}`.length;
  return "x".repeat(Math.max(0, payloadBytes - skeleton));
}

export interface Stamp {
  run: number;
  sentNs: number;
}

export function stampPayload(run: number, index: number, padding: string): string {
  return `{"r":${run},"i":${index},"t":${monotonicNs()},"p":"${padding}"}`;
}

/** The same notification as an object, for Socket.IO's `emit`. */
export interface PayloadObject {
  r: number;
  i: number;
  t: number;
  p: string;
}

export function stampObject(run: number, index: number, padding: string): PayloadObject {
  return { r: run, i: index, t: monotonicNs(), p: padding };
}

const RUN_KEY = Buffer.from('"r":');
const TIME_KEY = Buffer.from('"t":');

/**
 * Reads run and timestamp from a frame holding the payload (raw, or inside a Herald message frame)
 * without parsing the whole JSON: the load generator must not be the bottleneck.
 */
export function readStamp(frame: Buffer, from = 0, to = frame.length): Stamp | undefined {
  const runAt = frame.indexOf(RUN_KEY, from);
  if (runAt < 0 || runAt >= to) return undefined;
  const timeAt = frame.indexOf(TIME_KEY, runAt);
  if (timeAt < 0 || timeAt >= to) return undefined;
  const run = readInt(frame, runAt + RUN_KEY.length, to);
  const sentNs = readInt(frame, timeAt + TIME_KEY.length, to);
  if (run === undefined || sentNs === undefined) return undefined;
  return { run, sentNs };
}

function readInt(buf: Buffer, start: number, end: number): number | undefined {
  let value = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return i === start ? undefined : value;
}
