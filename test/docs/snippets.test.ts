import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { documents, ROOT, snippetsOf, source } from "../../scripts/snippets.js";

/** Code shown in the docs that lives in a checked file: `<!-- snippet: path[#region] -->`, then a code block. */
const snippets = (doc: string) => snippetsOf(readFileSync(join(ROOT, doc), "utf8"));

const shown = documents().flatMap((doc) =>
  snippets(doc).map((snippet) => {
    const what = snippet.region === undefined ? snippet.path : `${snippet.path}#${snippet.region}`;
    return [`${doc}: ${what}`, { doc, ...snippet }] as const;
  }),
);

describe("code in the docs", () => {
  it.each(shown)("%s is shown verbatim (npm run docs:snippets copies it)", (what, snippet) => {
    expect(existsSync(join(ROOT, snippet.path)), `${what}: no such file`).toBe(true);
    expect(snippet.shown, `${what}: the block differs from the file`).toBe(
      source(snippet.path, snippet.region),
    );
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

  it("the operations guide shows the systemd, Kubernetes, Docker, nginx and HAProxy recipes", () => {
    expect(snippets("docs/operations.md").map((s) => s.path)).toEqual(
      expect.arrayContaining([
        "deploy/systemd/herald-gateway.service",
        "deploy/kubernetes/herald-gateway.yaml",
        "deploy/Dockerfile",
        "deploy/nginx/herald.conf",
        "deploy/haproxy/herald.cfg",
      ]),
    );
  });

  // The PHP and Go code of the backend guide is taken from examples/, which CI runs.
  it("the backend guide quotes every example program, in regions of more than five lines", () => {
    const quoted = snippets("docs/backend-guide.md").filter((s) => s.path.startsWith("examples/"));
    expect(new Set(quoted.map((s) => s.path))).toEqual(
      new Set([
        "examples/go/auth-responder/main.go",
        "examples/go/inbox/main.go",
        "examples/go/notify/main.go",
        "examples/go/publish/main.go",
        "examples/go/rpc-responder/main.go",
        "examples/php/auth-responder.php",
        "examples/php/inbox.php",
        "examples/php/notify.php",
        "examples/php/publish.php",
        "examples/php/rpc-responder.php",
        "examples/php/stored-publish.php",
      ]),
    );
    for (const { shown } of quoted) expect(shown.split("\n").length).toBeGreaterThan(5);
  });

  it("the backend guide has no Go or PHP code that is not a snippet", () => {
    const guide = readFileSync(join(ROOT, "docs/backend-guide.md"), "utf8");
    const blocks = [...guide.matchAll(/(<!-- snippet: \S+ -->\n)?```(go|php)\n/g)];
    expect(blocks.filter(([, marker]) => marker === undefined)).toEqual([]);
  });
});
