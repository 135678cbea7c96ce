#!/usr/bin/env bash
# Outside judges for the Python models of a protocol-schema export (DIR holds <name>.py and the
# two <name>.*.schema.json):
#   1. mypy --strict on <name>.py and on a program generated from it (gen_uses_models.py) that
#      narrows every message of each direction's union down to assert_never;
#   2. the models agree with the Rust decoder on the sample corpus in SAMPLES (valid ones parse,
#      invalid ones fail, both directions) and on EXAMPLES hypothesis-jsonschema documents per
#      direction judged by DECODE_CMD (`... decode client|server`); what the models write back
#      (`encode`) from each frame they read must decode in Rust too.
# Usage: bash .ci/judges/py-judges.sh DIR SAMPLES CLIENT_PREFIX SERVER_PREFIX EXAMPLES [DECODE_CMD...]
# (without DECODE_CMD only the sample corpus is judged)
# Env: PYTHON (default .ci/tools/venv/bin/python, with pydantic, mypy, hypothesis-jsonschema).
set -euo pipefail
JUDGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 5 ] || [ ! -d "$1" ] || [ ! -d "$2" ]; then
  echo "usage: $0 EXPORT_DIR SAMPLES_DIR CLIENT_PREFIX SERVER_PREFIX EXAMPLES [DECODE_CMD...]" >&2
  exit 2
fi
DIR="$(cd "$1" && pwd)"
SAMPLES="$2"
shift 2
PYTHON="${PYTHON:-$JUDGES/../tools/venv/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
shopt -s nullglob
modules=("$DIR"/*.py)
if [ ${#modules[@]} -ne 1 ]; then
  echo "py-judges: $DIR must hold exactly one *.py" >&2
  exit 2
fi
name="$(basename "${modules[0]}" .py)"
cp "${modules[0]}" "$WORK/"
"$PYTHON" "$JUDGES/gen_uses_models.py" "$DIR" "$WORK/uses_models.py"
echo "py-judges: mypy --strict on $name.py and a program that narrows every message"
(cd "$WORK" && "$PYTHON" -m mypy --strict --no-incremental "$name.py" uses_models.py)
echo "py-judges: pydantic models against the Rust decoder"
"$PYTHON" "$JUDGES/py_models_judge.py" "$DIR" "$SAMPLES" "$@"
echo "py-judges: all judges passed for $DIR/$name.py"
