// Code in the docs that lives in a checked file: every code block in README.md and docs/*.md that
// follows a line `<!-- snippet: <path from the repository root> -->` is that file's text; with
// `<path>#<name>`, the lines between `ANCHOR: <name>` and `ANCHOR_END: <name>` in it (comment lines
// of their own, as mdBook marks them). `npm run docs:snippets` copies them into the docs;
// test/docs/snippets.test.ts fails when a block has drifted.
// Usage: npm run docs:snippets (or tsx scripts/snippets.ts --check to only compare)
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
// The block: its opening fence, whole lines lazily, then the first closing fence at a line start.
const SNIPPET = /<!-- snippet: ([^\s#]+)(?:#([\w-]+))? -->\n```(\w*)\n((?:[^\n]*\n)*?)```/g;

export interface Snippet {
  readonly path: string;
  readonly region: string | undefined;
  /** The code as the document shows it. */
  readonly shown: string;
}

/** Every document that may show snippets. */
export function documents(): string[] {
  return [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((file) => file.endsWith(".md"))
      .map((file) => `docs/${file}`),
  ];
}

/** The snippets a document's text shows. */
export function snippetsOf(text: string): Snippet[] {
  return [...text.matchAll(SNIPPET)].map(([, path = "", region, , shown = ""]) => ({
    path,
    region,
    shown: shown.trimEnd(),
  }));
}

/** What a snippet must show: the whole file, or its region (blank lines at either end left out). */
export function source(path: string, region?: string): string {
  const text = readFileSync(join(ROOT, path), "utf8");
  if (region === undefined) return text.trimEnd();
  const lines = text.split("\n");
  const start = lines.findIndex((line) => line.trim().endsWith(`ANCHOR: ${region}`));
  const end = lines.findIndex((line, i) => i > start && line.trim().endsWith(`ANCHOR_END: ${region}`));
  if (start < 0 || end < 0)
    throw new Error(`${path} has no region ${region} (ANCHOR: ${region} ... ANCHOR_END)`);
  return lines
    .slice(start + 1, end)
    .join("\n")
    .replace(/^\n+/, "")
    .trimEnd();
}

/** The document's text with every snippet copied anew from its file. */
export function synced(text: string): string {
  return text.replace(SNIPPET, (_block, path: string, region: string | undefined, lang: string) => {
    const marker = region === undefined ? path : `${path}#${region}`;
    return `<!-- snippet: ${marker} -->\n\`\`\`${lang}\n${source(path, region)}\n\`\`\``;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const doc of documents()) {
    const file = join(ROOT, doc);
    const text = readFileSync(file, "utf8");
    const next = synced(text);
    if (next === text) continue;
    stale++;
    if (check) console.error(`${doc}: a snippet differs from its file; run npm run docs:snippets`);
    else {
      writeFileSync(file, next);
      console.log(`${doc}: snippets updated`);
    }
  }
  process.exitCode = check && stale ? 1 : 0;
}
