import type { BaseIssue } from "valibot";
import { clip, QUOTE_LIMIT, quote } from "./quote.js";

/**
 * One readable line from schema issues: `token: token is empty; recover.epoch: ...`. Schema messages
 * can echo the input and paths hold the input's keys, so both are cut: the line stays short whatever
 * a client or backend sent.
 */
export function formatIssues(issues: readonly BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const path = issue.path?.map((p) => pathKey(p.key)).join(".");
      const message = clip(issue.message, QUOTE_LIMIT * 2);
      return path ? `${clip(path, QUOTE_LIMIT)}: ${message}` : message;
    })
    .join("; ");
}

function pathKey(key: unknown): string {
  const text = String(key);
  return /^[\w-]{1,32}$/.test(text) ? text : quote(text, 16);
}
