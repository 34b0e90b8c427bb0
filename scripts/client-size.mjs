#!/usr/bin/env node
// Prints the size of a browser bundle of the client and fails when it outgrows its budget.
// Without an argument it checks the <script> build, dist/client/herald-client.min.js; with a file (e.g.
// what a front-end bundler made of `import { connect } from "herald/client"`), that file.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const GZIP_BUDGET = 6144;
const bundle =
  process.argv[2] ?? fileURLToPath(new URL("../dist/client/herald-client.min.js", import.meta.url));

let code;
try {
  code = readFileSync(bundle);
} catch (err) {
  console.error(`client bundle missing (${err.message}); run tsup first`);
  process.exit(1);
}
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`client bundle: ${code.length} bytes minified, ${gzipped} bytes gzipped`);
if (gzipped > GZIP_BUDGET) {
  console.error(`client bundle is over its budget of ${GZIP_BUDGET} bytes gzipped`);
  process.exit(1);
}
