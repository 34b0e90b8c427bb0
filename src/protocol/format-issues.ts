import type { BaseIssue } from "valibot";

/** One readable line from schema issues: `token: token is empty; recover.epoch: ...`. */
export function formatIssues(issues: readonly BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path?.map((p) => String(p.key)).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}
