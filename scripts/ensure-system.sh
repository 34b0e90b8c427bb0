#!/usr/bin/env bash
# Makes sure the Debian packages Herald's tests and demo run against are installed:
# nats-server always, chromium for the browser tests (pass "browser"), redis-server for benchmarks (pass "redis"),
# php-cli, Go and Go's NATS client for the backend examples in examples/ (pass "examples").
set -euo pipefail
need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
for extra in "$@"; do
  case "$extra" in
    browser) command -v chromium >/dev/null 2>&1 || need+=(chromium) ;;
    redis) command -v redis-server >/dev/null 2>&1 || need+=(redis-server) ;;
    examples)
      command -v php >/dev/null 2>&1 || need+=(php-cli)
      command -v go >/dev/null 2>&1 || need+=(golang-go)
      # nats.go 1.22 as a Debian package: the Go example builds offline against /usr/share/gocode
      [ -d /usr/share/gocode/src/github.com/nats-io/nats.go ] || need+=(golang-github-nats-io-go-nats-dev)
      ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "herald: installing ${need[*]} with apt-get" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "herald: missing ${need[*]}. Install with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
