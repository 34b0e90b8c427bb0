import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The backend guide's PHP and Go code is taken from examples/, which CI runs: each code block marked
 * `<!-- excerpt: <path> -->` must appear in that file word for word, so the guide cannot drift.
 */
const root = fileURLToPath(new URL("../../", import.meta.url));
const guide = readFileSync(`${root}docs/backend-guide.md`, "utf8");
const excerpts = [...guide.matchAll(/<!-- excerpt: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map(
  ([, path, code]) => ({ path: path!, code: code! }),
);

describe("backend guide excerpts", () => {
  it("has excerpts of every example program", () => {
    expect(new Set(excerpts.map((e) => e.path))).toEqual(
      new Set([
        "examples/go/auth-responder/main.go",
        "examples/go/publish/main.go",
        "examples/go/rpc-responder/main.go",
        "examples/php/auth-responder.php",
        "examples/php/publish.php",
        "examples/php/rpc-responder.php",
      ]),
    );
  });

  it.each(excerpts.map((e, i) => [`${e.path} #${i + 1}`, e] as const))(
    "quotes %s verbatim",
    (_name, { path, code }) => {
      expect(code.split("\n").length).toBeGreaterThan(5);
      expect(readFileSync(`${root}${path}`, "utf8")).toContain(code);
    },
  );

  it("has no Go or PHP code that is not an excerpt", () => {
    const blocks = [...guide.matchAll(/(<!-- excerpt: \S+ -->\n)?```(go|php)\n/g)];
    expect(blocks.filter(([, marker]) => marker === undefined)).toEqual([]);
  });
});
