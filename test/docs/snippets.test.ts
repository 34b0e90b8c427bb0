import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DOCS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((file) => file.endsWith(".md"))
    .map((file) => `docs/${file}`),
];
const SNIPPET = /<!-- snippet: (\S+) -->\n```\w*\n((?:[^\n]*\n)*?)```/g;

/** Code shown in the docs that lives in a checked file: `<!-- snippet: path -->` then a code block. */
function snippets(doc: string): { path: string; code: string }[] {
  const text = readFileSync(join(ROOT, doc), "utf8");
  return [...text.matchAll(SNIPPET)].map(([, path = "", code = ""]) => ({ path, code: code.trimEnd() }));
}

describe("code in the docs", () => {
  it.each(DOCS)("%s shows example files verbatim (npm run docs:snippets copies them)", (doc) => {
    for (const { path, code } of snippets(doc)) {
      expect(existsSync(join(ROOT, path)), `${doc} shows ${path}, which does not exist`).toBe(true);
      expect(code, `${doc}: the block of ${path} differs from the file`).toBe(
        readFileSync(join(ROOT, path), "utf8").trimEnd(),
      );
    }
  });

  it("the client guide shows the bundler, <script> tag, React and Vue examples", () => {
    expect(snippets("docs/client-guide.md").map((s) => s.path)).toEqual(
      expect.arrayContaining([
        "examples/frontend/bundler.ts",
        "examples/frontend/script-tag/index.html",
        "examples/frontend/script-tag/notifications.js",
        "examples/frontend/react/use-herald-notifications.ts",
        "examples/frontend/react/Notifications.tsx",
        "examples/frontend/vue/use-herald-notifications.ts",
      ]),
    );
  });

  it("the operations guide shows the systemd, Kubernetes, Docker and nginx recipes", () => {
    expect(snippets("docs/operations.md").map((s) => s.path)).toEqual(
      expect.arrayContaining([
        "deploy/systemd/herald-gateway.service",
        "deploy/kubernetes/herald-gateway.yaml",
        "deploy/Dockerfile",
        "deploy/nginx/herald.conf",
      ]),
    );
  });
});
