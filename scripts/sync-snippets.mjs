#!/usr/bin/env node
// Copies example files into the docs: every code block in README.md and docs/*.md that follows a line
// `<!-- snippet: <path from the repository root> -->` is replaced by that file's text, so the docs show
// code that is checked where it lives. test/docs/snippets.test.ts fails when a block has drifted.
// Usage: npm run docs:snippets (or node scripts/sync-snippets.mjs --check to only compare)
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
// The block: its opening fence, whole lines lazily, then the first closing fence at a line start.
const SNIPPET = /<!-- snippet: (\S+) -->\n```(\w*)\n(?:[^\n]*\n)*?```/g;

function documents() {
  return [
    "README.md",
    ...readdirSync(join(ROOT, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
}

function synced(text) {
  return text.replace(SNIPPET, (_block, path, lang) => {
    const code = readFileSync(join(ROOT, path), "utf8").trimEnd();
    return `<!-- snippet: ${path} -->\n\`\`\`${lang}\n${code}\n\`\`\``;
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
