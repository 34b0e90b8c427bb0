import { Socket } from "node:net";

type WriteMethod = (this: Socket, ...args: unknown[]) => unknown;
type Chunk = { chunk: Buffer | string };

/**
 * Every write the gateway's sockets hand to the operating system (one string each, as sent), read
 * by wrapping the two methods through which a net socket writes: one call, one system call.
 */
export function recordWrites(port: number): { readonly writes: string[]; stop(): void } {
  const writes: string[] = [];
  const proto = Socket.prototype as unknown as Record<"_write" | "_writev", WriteMethod>;
  const originals = { _write: proto._write, _writev: proto._writev };
  const text = (chunk: Buffer | string) => (typeof chunk === "string" ? chunk : chunk.toString("latin1"));
  proto._write = function (this: Socket, ...args: unknown[]) {
    if (this.localPort === port) writes.push(text(args[0] as Buffer | string));
    return originals._write.apply(this, args);
  };
  proto._writev = function (this: Socket, ...args: unknown[]) {
    if (this.localPort === port) writes.push((args[0] as Chunk[]).map(({ chunk }) => text(chunk)).join(""));
    return originals._writev.apply(this, args);
  };
  return {
    writes,
    stop: () => Object.assign(proto, originals),
  };
}
