#!/usr/bin/env bash
# Installs npm packages when node_modules is missing or older than the lock file, then builds when
# dist/ is missing or older than any source.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ ! -f dist/cli/main.js ] || [ -n "$(find src demo/public tsup.config.ts -newer dist/cli/main.js -type f 2>/dev/null | head -1)" ]; then
  npm run -s build
fi
