"""Python jsonschema as an outside judge of exported schemas and sample messages.

usage: py_judge.py DIR
DIR holds <name>.schema.json files and valid/<name>-N.json, invalid/<name>-N.json samples, as
written by the `judge-fixtures` binary. Every schema must be a valid 2020-12 schema, every
valid sample must validate and every invalid sample must not. Exit 1 on any disagreement.
"""

import json
import pathlib
import sys

from jsonschema import Draft202012Validator


def main(root: pathlib.Path) -> int:
    failures = 0
    checked = 0
    for schema_path in sorted(root.glob("*.schema.json")):
        name = schema_path.name[: -len(".schema.json")]
        schema = json.loads(schema_path.read_text())
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        for expect_valid, sub in ((True, "valid"), (False, "invalid")):
            for sample in sorted((root / sub).glob(f"{name}-*.json")):
                doc = json.loads(sample.read_text())
                errors = list(validator.iter_errors(doc))
                checked += 1
                if expect_valid and errors:
                    failures += 1
                    for e in errors:
                        print(f"FAIL {sample}: {e.json_path}: {e.message}")
                elif not expect_valid and not errors:
                    failures += 1
                    print(f"FAIL {sample}: the decoder rejects it but the schema accepts it")
    print("python jsonschema judged every sample")
    print(f"jsonschema: {checked - failures} passed, {failures} failed")
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1])))
