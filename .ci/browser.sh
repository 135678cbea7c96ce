#!/usr/bin/env bash
# Real-browser end-to-end test of the chat example (tests/browser/): headless Debian Chromium
# driven by playwright-core against a freshly built chat-server. Idempotent: installs Chromium
# (apt) and the npm packages only when they are missing, so it runs as well on a new machine as
# on one that already has them. Run from anywhere; CI calls it as `bash .ci/browser.sh`.
#
# Env: CARGO_TARGET_DIR (default target), ARTIFACTS_DIR (default ci-artifacts/browser: failure
# screenshots and logs), CHROMIUM_PATH (default /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
step "browser: chromium"
if [ ! -x "$CHROMIUM_PATH" ]; then
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
"$CHROMIUM_PATH" --version

step "browser: npm packages"
if [ ! -f "$ROOT/tests/browser/node_modules/playwright-core/package.json" ]; then
  (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund)
fi
node -e 'console.log("playwright-core " + require(process.argv[1]).version)' \
  "$ROOT/tests/browser/node_modules/playwright-core/package.json"

step "browser: build chat-server"
cargo build --locked -p chat-example --bin chat-server

TARGET="${CARGO_TARGET_DIR:-target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
export CHAT_SERVER_BIN="$TARGET/debug/chat-server"
export CHROMIUM_PATH
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$ROOT/ci-artifacts/browser}"
mkdir -p "$ARTIFACTS_DIR"

step "browser: node --test tests/browser/"
# --test-timeout bounds every test even if one of its own waits were unbounded.
node --test --test-timeout=180000 tests/browser/
