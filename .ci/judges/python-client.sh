#!/usr/bin/env bash
# The README's Python client, for real: the ```python block of README.md's "Python client"
# section is type-checked with mypy --strict against examples/chat/schema/chat.py, then run
# against a chat-server on a free loopback port; it must print the id of its delivered message.
# Usage: bash .ci/judges/python-client.sh CHAT_SERVER_BIN
# Env: PYTHON (default .ci/tools/venv/bin/python, with pydantic, mypy and websockets).
set -euo pipefail
JUDGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$JUDGES/../.." && pwd)"
PYTHON="${PYTHON:-$JUDGES/../tools/venv/bin/python}"
BIN="${1:?usage: $0 CHAT_SERVER_BIN}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
# The first ```python block after the "### Python client" heading.
awk '/^### Python client/{s=1} s&&/^```python/{p=1;next} p&&/^```/{exit} p' "$ROOT/README.md" >"$WORK/client.py"
[ -s "$WORK/client.py" ] || { echo "python-client: no \`\`\`python block under \"### Python client\" in README.md" >&2; exit 2; }
echo "python-client: $(wc -l <"$WORK/client.py") lines from README.md"
cp "$ROOT/examples/chat/schema/chat.py" "$WORK/"
(cd "$WORK" && "$PYTHON" -m mypy --strict --no-incremental client.py chat.py)
# Read the server's output as it comes: the first line says where it listens.
coproc SERVER { exec "$BIN" --listen 127.0.0.1:0 2>&1; }
exec 3<&"${SERVER[0]}"
addr=""
while IFS= read -r -t 30 -u 3 line; do
  addr="$(sed -n 's#.*listening on http://\([^ ]*\).*#\1#p' <<<"$line")"
  [ -n "$addr" ] && break
done
[ -n "$addr" ] || { echo "python-client: chat-server did not say where it listens within 30 s" >&2; exit 1; }
# Keep draining its output so it never blocks on a full pipe.
cat <&3 >"$WORK/server.log" &
out="$(cd "$WORK" && timeout 30 "$PYTHON" client.py "ws://$addr")"
echo "$out"
grep -q '^sent as ' <<<"$out" || { echo "python-client: the client did not get its sent reply" >&2; exit 1; }
echo "python-client: the README's client talked to chat-server at $addr"
