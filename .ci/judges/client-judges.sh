#!/usr/bin/env bash
# Typing judge for a protocol-schema export's generated client: tsc --strict --noEmit on
# PROGRAM (a .ts file with @ts-expect-error traps, see .ci/judges/client/typing/) next to the
# export's NAME.d.ts, NAME.js, NAME.client.d.ts and NAME.client.js. A trap that type-checks
# fails tsc ("Unused '@ts-expect-error' directive"), so both what must compile and what must
# not are judged.
# Usage: bash .ci/judges/client-judges.sh EXPORT_DIR NAME PROGRAM.ts
set -euo pipefail
JUDGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -ne 3 ] || [ ! -d "$1" ] || [ ! -f "$3" ]; then
  echo "usage: $0 EXPORT_DIR NAME PROGRAM.ts" >&2
  exit 2
fi
DIR="$(cd "$1" && pwd)"
NAME="$2"
PROGRAM="$3"
for f in "$NAME.d.ts" "$NAME.js" "$NAME.client.d.ts" "$NAME.client.js"; do
  [ -f "$DIR/$f" ] || { echo "client-judges: missing $DIR/$f" >&2; exit 2; }
done
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$DIR/$NAME.d.ts" "$DIR/$NAME.js" "$DIR/$NAME.client.d.ts" "$DIR/$NAME.client.js" "$WORK/"
cp "$PROGRAM" "$WORK/program.ts"
printf '{ "type": "module" }\n' >"$WORK/package.json"
traps="$(grep -c '@ts-expect-error' "$PROGRAM" || true)"
if (cd "$WORK" && "$JUDGES/node_modules/.bin/tsc" --strict --noEmit --target es2022 --lib es2022,dom \
    --module nodenext --moduleResolution nodenext program.ts); then
  echo "client-judges: tsc --strict: $(basename "$PROGRAM") type-checks against $NAME.client.d.ts, all $traps traps fire"
else
  echo "client-judges: tsc FAILED on $PROGRAM against $DIR/$NAME.client.d.ts"
  exit 1
fi
