import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { HeraldBackend, type HeraldBackendError } from "../backend/index.js";
import { type ApiContext, handleApi, isApiPath } from "./api-routes.js";
import { defaultClientBundle, defaultPublicDir } from "./asset-paths.js";
import { demoAuthHandler } from "./auth-handler.js";
import { isStaticPath, serveStatic } from "./static-files.js";
import { demoSubscribeHandler } from "./subscribe-handler.js";
import { TokenStore } from "./token-store.js";

export interface DemoAppOptions {
  /** NATS servers the gateway uses too. */
  nats: string | readonly string[];
  /** Subject prefix, the gateway's (default `herald`). */
  prefix?: string;
  /** Where the page connects to, e.g. `ws://127.0.0.1:8080/ws`. */
  gatewayUrl: string;
  host?: string;
  /** 0 for any free port. Default 3000. */
  port?: number;
  /** Shown on the page after `npx herald publish alice "hello!"`. */
  publishFlags?: string;
  /** How long an issued token is valid (default 10 minutes). */
  tokenTtlMs?: number;
  publicDir?: string;
  clientBundle?: string;
  /** Told about failures that no request could report (default: stderr). */
  onError?: (message: string) => void;
}

export interface RunningDemoApp {
  /** The page's address, e.g. `http://127.0.0.1:3000/`. */
  readonly url: string;
  readonly port: number;
  readonly tokens: TokenStore;
  close(): Promise<void>;
}

/**
 * The demo's web application, playing the part of a team's own backend: it serves the page, signs
 * demo users in with opaque tokens, answers the gateway's auth and subscribe requests and the page's
 * `time` calls over NATS, publishes the notifications and room messages sent from the page, and
 * signs a user out everywhere.
 */
export async function startDemoApp(options: DemoAppOptions): Promise<RunningDemoApp> {
  const report = options.onError ?? ((message: string) => console.error(`[herald demo] ${message}`));
  const tokens = new TokenStore(options.tokenTtlMs);
  const backend = await HeraldBackend.connect({
    servers: typeof options.nats === "string" ? options.nats : [...options.nats],
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    name: "herald-demo",
    onError: (error: HeraldBackendError) => report(`${error.code}: ${error.message}`),
  });
  backend.serveAuth(demoAuthHandler(tokens));
  // The page's "Server time" button: client.rpc("time"), answered here over NATS.
  backend.onRpc("time", (_data, context) => ({ now: Date.now(), user: context.user }));
  backend.onSubscribe(demoSubscribeHandler());
  // Its responders are known to nats-server before the page (and the gateway's first auth request) can come.
  await backend.flush();

  const files = {
    publicDir: options.publicDir ?? defaultPublicDir(),
    clientBundle: options.clientBundle ?? defaultClientBundle(),
  };
  const api: ApiContext = {
    backend,
    tokens,
    page: { gatewayUrl: options.gatewayUrl, publishFlags: options.publishFlags ?? "" },
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://demo").pathname;
    const done = isApiPath(path)
      ? handleApi(path, req, res, api)
      : isStaticPath(path) && (req.method === "GET" || req.method === "HEAD")
        ? serveStatic(path, files, res, req.method === "HEAD")
        : Promise.resolve(notFound(res));
    done.catch((error: unknown) => {
      report(`request ${req.method} ${path} failed: ${error instanceof Error ? error.message : error}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  try {
    await listen(server, options.port ?? 3000, options.host ?? "127.0.0.1");
  } catch (error) {
    await backend.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const host = options.host === undefined || options.host === "0.0.0.0" ? "127.0.0.1" : options.host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/`,
    port,
    tokens,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await backend.close().catch(() => undefined);
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
  res.end("not found\n");
}
