import { createServer } from "node:net";

/**
 * Whether `port` can be listened on at `host` right now (0 asks for any free port and returns it).
 * Resolves with the port, or undefined when it is taken.
 */
export function probePort(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE" || error.code === "EACCES") resolve(undefined);
      else reject(error);
    });
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}

/** A port that was free a moment ago (the OS picks it). */
export async function anyFreePort(host: string): Promise<number> {
  const port = await probePort(host, 0);
  if (port === undefined) throw new Error(`no free port on ${host}`);
  return port;
}
