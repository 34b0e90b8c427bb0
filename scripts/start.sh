#!/usr/bin/env bash
# `npm start`: installs what is missing (nats-server, npm packages), builds when the sources are newer
# than dist/, then runs the demo: embedded nats-server, a gateway and the demo page. Arguments pass
# through, e.g. `npm start -- --port 3001` or `npm start -- --nats nats://127.0.0.1:4222`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian installs nats-server to /usr/sbin, which an ordinary user's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin"
case " $* " in
  *" --nats "* | *" --nats="*) ;; # an external NATS: no local nats-server needed
  *) [ -n "${HERALD_NATS_URL:-}" ] || bash scripts/ensure-system.sh ;;
esac
bash scripts/ensure-node.sh
exec node bin/herald.js start "$@"
