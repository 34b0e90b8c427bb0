#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, checks types and lint, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh browser examples deploy
bash scripts/ensure-node.sh
npx tsc --noEmit
npx biome check .
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line: "tests: N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" 2>/dev/null || true
exit "$status"
