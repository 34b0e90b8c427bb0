#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, checks types and lint, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh browser
bash scripts/ensure-node.sh
npx tsc --noEmit
npx biome check .
npx vitest run "$@"
