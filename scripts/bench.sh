#!/usr/bin/env bash
# `npm run bench`: Herald side by side with nats-server's WebSocket and Socket.IO + Redis (bench/README.md).
# Installs what is missing, builds, raises the open-files limit as far as allowed, runs the bench runner.
# Arguments pass through, e.g. --quick, --scenario unicast, --system herald, -n 5000, --profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system.sh redis
bash scripts/ensure-node.sh >/dev/null # build output is noise here; errors still reach stderr
command -v taskset >/dev/null 2>&1 || { echo "bench: taskset (util-linux) is missing" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node --import tsx bench/run.ts "$@"
