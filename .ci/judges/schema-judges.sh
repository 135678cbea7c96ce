#!/usr/bin/env bash
# Outside judges for a protocol-schema export directory (DIR holds <name>.client.schema.json,
# <name>.server.schema.json, <name>.d.ts, <name>.js, <name>.asyncapi.json):
#   1. ajv --strict compiles both JSON Schemas (with their $id);
#   2. tsc --strict --noEmit type-checks the .d.ts together with uses-types.ts, a program
#      generated from the export that narrows every message in a `switch (m.type)`;
#   3. the same program, compiled and run with node against the export's .js, checks the
#      runtime guards agree with the declarations;
#   4. @asyncapi/parser parses the .asyncapi.json (errors fail).
# Usage: bash .ci/judges/schema-judges.sh DIR
set -euo pipefail
JUDGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 EXPORT_DIR" >&2
  exit 2
fi
DIR="$(cd "$1" && pwd)"
BIN="$JUDGES/node_modules/.bin"
if [ ! -x "$BIN/tsc" ] || [ ! -d "$JUDGES/node_modules/@asyncapi/parser" ] || [ ! -x "$BIN/ajv" ]; then
  (cd "$JUDGES" && npm ci --no-audit --no-fund)
fi

shopt -s nullglob
client=("$DIR"/*.client.schema.json)
server=("$DIR"/*.server.schema.json)
asyncapi=("$DIR"/*.asyncapi.json)
if [ ${#client[@]} -ne 1 ] || [ ${#server[@]} -ne 1 ] || [ ${#asyncapi[@]} -ne 1 ]; then
  echo "schema-judges: $DIR must hold exactly one *.client.schema.json, *.server.schema.json and *.asyncapi.json" >&2
  exit 2
fi
name="$(basename "${client[0]}" .client.schema.json)"
for f in "$DIR/$name.d.ts" "$DIR/$name.js"; do
  [ -f "$f" ] || { echo "schema-judges: missing $f" >&2; exit 2; }
done

fail=0
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "schema-judges: ajv --strict on the JSON Schemas"
for schema in "${client[0]}" "${server[0]}"; do
  if ! "$BIN/ajv" compile --spec=draft2020 --strict=true -c "$JUDGES/ajv-discriminator.js" -s "$schema"; then
    echo "schema-judges: ajv rejected $schema"; fail=1
  fi
done

echo "schema-judges: tsc --strict on $name.d.ts with a program that narrows every message"
cp "$DIR/$name.d.ts" "$DIR/$name.js" "$WORK/"
printf '{ "type": "module" }\n' >"$WORK/package.json"
node "$JUDGES/gen-uses-types.js" "$DIR" "$WORK/uses-types.ts"
TSC_FLAGS=(--strict --target es2022 --lib es2022 --module nodenext --moduleResolution nodenext)
if (cd "$WORK" && "$BIN/tsc" "${TSC_FLAGS[@]}" --noEmit "$name.d.ts" uses-types.ts); then
  echo "schema-judges: tsc --strict --noEmit: ok"
  if (cd "$WORK" && "$BIN/tsc" "${TSC_FLAGS[@]}" --outDir out uses-types.ts \
      && cp "$name.js" package.json out/ && node out/uses-types.js); then
    echo "schema-judges: runtime guards in $name.js agree with $name.d.ts"
  else
    echo "schema-judges: running uses-types against $name.js FAILED"; fail=1
  fi
else
  echo "schema-judges: tsc FAILED (program: $WORK/uses-types.ts)"; cat -n "$WORK/uses-types.ts" | head -200; fail=1
fi

echo "schema-judges: @asyncapi/parser on $(basename "${asyncapi[0]}")"
if ! node "$JUDGES/asyncapi-check.js" "${asyncapi[0]}"; then
  fail=1
fi

if [ "$fail" = 0 ]; then
  echo "schema-judges: all judges passed for $DIR"
else
  echo "schema-judges: FAILED for $DIR"
fi
exit "$fail"
