"""hypothesis-jsonschema as an outside judge: documents generated from the exported chat
schemas (bounded) must decode with the Rust decoder.

usage: hypothesis_judge.py SCHEMA_DIR DECODE_CHECK_BIN [EXAMPLES]
"""

import json
import pathlib
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema


def generate(schema: dict, count: int) -> list:
    docs = []

    @settings(max_examples=count, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(from_schema(schema))
    def collect(doc):
        docs.append(doc)

    collect()
    return docs


def main() -> int:
    schema_dir = pathlib.Path(sys.argv[1])
    binary = sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    failed = 0
    for direction in ("client", "server"):
        schema = json.loads((schema_dir / f"chat.{direction}.schema.json").read_text())
        # The discriminator is an OpenAPI hint, not a JSON Schema keyword.
        schema.pop("discriminator", None)
        docs = generate(schema, count)
        lines = "\n".join(json.dumps(d) for d in docs) + "\n"
        run = subprocess.run([binary, direction], input=lines, text=True, capture_output=True)
        print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr)
        if run.returncode != 0:
            print(run.stdout[-4000:])
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
