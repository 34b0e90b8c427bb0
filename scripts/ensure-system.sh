#!/usr/bin/env bash
# Makes sure the Debian packages Herald's tests and demo run against are installed:
# nats-server always, chromium for the browser tests (pass "browser"), redis-server for benchmarks (pass "redis"),
# php-cli, Go and Go's NATS client for the backend examples in examples/ (pass "examples"), nginx,
# HAProxy and systemd-analyze for the checks of the deployment recipes in deploy/ (pass "deploy").
set -euo pipefail
# Debian puts nginx and nats-server in /usr/sbin, which an ordinary user's PATH may lack.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
need=()
have nats-server || need+=(nats-server)
for extra in "$@"; do
  case "$extra" in
    browser) have chromium || need+=(chromium) ;;
    redis) have redis-server || need+=(redis-server) ;;
    examples)
      have php || need+=(php-cli)
      have go || need+=(golang-go)
      # nats.go 1.22 as a Debian package: the Go example builds offline against /usr/share/gocode
      [ -d /usr/share/gocode/src/github.com/nats-io/nats.go ] || need+=(golang-github-nats-io-go-nats-dev)
      ;;
    deploy)
      have nginx || need+=(nginx)
      have haproxy || need+=(haproxy)
      have systemd-analyze || need+=(systemd)
      ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "herald: installing ${need[*]} with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The tests run nginx and HAProxy themselves: the services Debian starts after installing are not wanted.
  for service in nginx haproxy; do
    case " ${need[*]} " in
      *" $service "*) systemctl disable --now "$service" >/dev/null 2>&1 || true ;;
    esac
  done
else
  echo "herald: missing ${need[*]}. Install with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
