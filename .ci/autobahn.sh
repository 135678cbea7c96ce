#!/usr/bin/env bash
# RFC 6455 conformance: Autobahn|Testsuite's fuzzing client (cases 1-10, 301 cases; the
# compression groups 12 and 13 are excluded) against examples/echo. wstest exits 0 even when
# cases fail, so the report is read: any FAILED, or fewer than 296 OK, fails this script.
# The HTML report is kept in ci-artifacts/autobahn.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
AB="$ROOT/.ci/tools/autobahn"
ART="$ROOT/ci-artifacts/autobahn"
PY27="$(ls -d "$HOME"/.pyenv/versions/2.7*/bin/python 2>/dev/null | head -1 || true)"
[ -n "$PY27" ] || PY27="$(command -v python2.7 || true)"
if [ -z "$PY27" ]; then
  echo "autobahn: no Python 2.7 found (pyenv or python2.7)" >&2
  exit 1
fi
if [ ! -d "$AB/autobahntestsuite" ]; then
  "$PY27" -m pip install --quiet --disable-pip-version-check --target "$AB" autobahntestsuite==25.10.1
fi

cargo build --locked --release -p echo-example --bin echo-server
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/echo-server"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
WORK="$(mktemp -d)"
"$BIN" --listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$WORK/server.out" && break
  sleep 0.1
done
URL="$(grep -o 'ws://[^ ]*' "$WORK/server.out" | head -1)"
[ -n "$URL" ] || { echo "autobahn: echo-server did not start" >&2; cat "$WORK/server.err" >&2; exit 1; }
rm -rf "$ART"
mkdir -p "$ART"
cat >"$WORK/spec.json" <<JSON
{"outdir": "$ART/servers", "servers": [{"agent": "protocol-echo", "url": "${URL%/}"}],
 "cases": ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "8.*", "9.*", "10.*"],
 "exclude-cases": [], "exclude-agent-cases": {}}
JSON
(cd "$WORK" && timeout 1200 "$PY27" "$ROOT/.ci/judges/wstest.py" "$AB" -m fuzzingclient -s "$WORK/spec.json" >"$ART/wstest.log" 2>&1)
python3 - "$ART/servers/index.json" <<'PY'
import collections, json, sys
cases = json.load(open(sys.argv[1]))["protocol-echo"]
count = collections.Counter(v["behavior"] for v in cases.values())
order = lambda k: [int(p) for p in k.split(".")]
for k in sorted((k for k, v in cases.items() if v["behavior"] != "OK"), key=order):
    print(f"autobahn: {k}: {cases[k]['behavior']} (close: {cases[k]['behaviorClose']})")
print(f"autobahn: {len(cases)} cases: " + ", ".join(f"{n} {b}" for b, n in sorted(count.items())))
sys.exit(1 if count.get("FAILED", 0) or count.get("OK", 0) < 296 else 0)
PY
