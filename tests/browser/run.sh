#!/usr/bin/env bash
# Browser tests of the web console: installs what they need if missing (Debian's
# Chromium with apt-get, playwright-core with npm into tests/browser/node_modules,
# confluent-kafka into ./.venv), builds moldau, and runs the tests against a broker
# they start themselves (one broker, and a three-node cluster). Screenshots land in test-artifacts/console/.
#
#   tests/browser/run.sh            # from anywhere; uses $CARGO_TARGET_DIR if set
#   MOLDAU_BIN=path/to/moldau tests/browser/run.sh   # skip the build
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

say() { printf '==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  say "installing chromium with apt-get"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d "$here/node_modules/playwright-core" ]; then
  say "installing playwright-core (npm ci)"
  # Playwright's own browser download is never used: the tests drive Debian's Chromium.
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import confluent_kafka' >/dev/null 2>&1; then
  say "installing confluent-kafka into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "confluent-kafka==2.16.1"
fi

if [ -z "${MOLDAU_BIN:-}" ]; then
  say "building moldau"
  cargo build -q -p moldau-cli
  target_dir="${CARGO_TARGET_DIR:-$root/target}"
  case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
  export MOLDAU_BIN="$target_dir/debug/moldau"
fi

mkdir -p test-artifacts/console
say "browser tests (Chromium $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | awk '{print $2}'))"
cd "$here"
exec node --test --test-concurrency=1 console.test.mjs login.test.mjs console_acls.test.mjs cluster.test.mjs
