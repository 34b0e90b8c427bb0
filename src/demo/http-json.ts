import type { IncomingMessage, ServerResponse } from "node:http";
import * as v from "valibot";
import { formatIssues } from "../protocol/index.js";

/** A request the demo app answers with an error status and `{error, message}`. */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 16 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(text);
}

/** Reads a JSON body of at most 16 KiB and validates it; throws HttpError 400/413/415 otherwise. */
export async function readJsonBody<const TSchema extends v.GenericSchema>(
  req: IncomingMessage,
  schema: TSchema,
): Promise<v.InferOutput<TSchema>> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(415, "unsupported_media_type", "send the body as application/json");
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even when too large: leaving the body unread would cut the connection before
  // the 413 answer reaches the client.
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw new HttpError(413, "body_too_large", `at most ${MAX_BODY_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) throw new HttpError(400, "invalid_request", formatIssues(parsed.issues));
  return parsed.output;
}
