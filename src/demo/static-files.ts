import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { dirname, join } from "node:path";

export interface StaticFiles {
  /** Folder with index.html, app.js, room.js, bell.js and style.css. */
  readonly publicDir: string;
  /** The client SDK's IIFE bundle; its fallbacks (HTTP-streaming, SSE) and the inbox's are built beside it. */
  readonly clientBundle: string;
}

interface Asset {
  readonly file: (files: StaticFiles) => string;
  readonly type: string;
}

/** Only these paths are served: a fixed list leaves no room for path tricks. */
const ASSETS: Readonly<Record<string, Asset>> = {
  "/": { file: (f) => join(f.publicDir, "index.html"), type: "text/html; charset=utf-8" },
  "/index.html": { file: (f) => join(f.publicDir, "index.html"), type: "text/html; charset=utf-8" },
  "/app.js": { file: (f) => join(f.publicDir, "app.js"), type: "text/javascript; charset=utf-8" },
  "/room.js": { file: (f) => join(f.publicDir, "room.js"), type: "text/javascript; charset=utf-8" },
  "/bell.js": { file: (f) => join(f.publicDir, "bell.js"), type: "text/javascript; charset=utf-8" },
  "/style.css": { file: (f) => join(f.publicDir, "style.css"), type: "text/css; charset=utf-8" },
  "/herald-client.min.js": { file: (f) => f.clientBundle, type: "text/javascript; charset=utf-8" },
  "/herald-inbox.min.js": {
    file: (f) => join(dirname(f.clientBundle), "herald-inbox.min.js"),
    type: "text/javascript; charset=utf-8",
  },
  "/herald-client-fallbacks.min.js": {
    file: (f) => join(dirname(f.clientBundle), "herald-client-fallbacks.min.js"),
    type: "text/javascript; charset=utf-8",
  },
};

/**
 * The page may run its own scripts and styles and reach the gateway (a WebSocket, or its HTTP
 * fallbacks) and nothing else: even a rendering bug could not run an injected inline handler.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss: http: https:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function isStaticPath(path: string): boolean {
  return Object.hasOwn(ASSETS, path);
}

/** Sends one of the listed files; read on every request so edits show on reload. */
export async function serveStatic(
  path: string,
  files: StaticFiles,
  res: ServerResponse,
  headOnly: boolean,
): Promise<void> {
  const asset = ASSETS[path];
  if (!asset) throw new Error(`not a static path: ${path}`);
  let body: Buffer;
  try {
    body = await readFile(asset.file(files));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    const text = missing
      ? `${path} is missing on the server${path.startsWith("/herald-") ? " (run npm run build)" : ""}\n`
      : "cannot read the file\n";
    res.writeHead(missing ? 404 : 500, { "content-type": "text/plain; charset=utf-8" });
    res.end(text);
    return;
  }
  res.writeHead(200, {
    "content-type": asset.type,
    "content-length": body.length,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": CONTENT_SECURITY_POLICY,
  });
  res.end(headOnly ? undefined : body);
}
