#!/usr/bin/env node
// Prints the size of the client's browser bundles and fails when one outgrows its budget.
// Without an argument it checks the <script> build, dist/client/herald-client.min.js, and its
// fallbacks bundle (HTTP-streaming and SSE), dist/client/herald-client-fallbacks.min.js; with a file
// (e.g. what a front-end bundler made of `import { connect } from "herald/client"`, which holds
// both) and a budget in bytes, that file against that budget.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dist = (file) => fileURLToPath(new URL(`../dist/client/${file}`, import.meta.url));
const bundles = process.argv[2]
  ? [{ name: "client bundle", file: process.argv[2], budget: Number(process.argv[3] ?? 6400) }]
  : [
      { name: "client bundle", file: dist("herald-client.min.js"), budget: 6400 },
      { name: "fallbacks bundle", file: dist("herald-client-fallbacks.min.js"), budget: 2048 },
    ];

let over = false;
for (const { name, file, budget } of bundles) {
  let code;
  try {
    code = readFileSync(file);
  } catch (err) {
    console.error(`${name} missing (${err.message}); run tsup first`);
    process.exit(1);
  }
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`${name}: ${code.length} bytes minified, ${gzipped} bytes gzipped`);
  if (gzipped > budget) {
    console.error(`${name} is over its budget of ${budget} bytes gzipped`);
    over = true;
  }
}
if (over) process.exit(1);
