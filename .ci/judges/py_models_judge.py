"""The Python models (<name>.py) as an outside judge: they must read frames as the Rust decoder
does. Every sample the decoder accepts must parse, every sample it rejects must fail, in both
directions; what the models write back (`encode`) from each frame they read must decode in
Rust; and documents hypothesis-jsonschema generates from the exported schemas are sent to
the Rust decoder (`DECODE_CMD client|server`, one verdict a line) and to the models, which must
give the same verdict on each.

usage: py_models_judge.py EXPORT_DIR SAMPLES_DIR CLIENT_PREFIX SERVER_PREFIX EXAMPLES DECODE_CMD...
SAMPLES_DIR holds valid/<prefix>-N.json and invalid/<prefix>-N.json (judge-fixtures' layout).
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis_jsonschema import from_schema
from pydantic import ValidationError


def load_module(export_dir: pathlib.Path):
    [path] = [p for p in export_dir.glob("*.py")]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return path.stem, module


def parsers(module):
    found = sorted(n for n in dir(module) if n.startswith("parse_"))
    if len(found) != 2:
        raise SystemExit(f"expected two parse_ functions in {module.__name__}, found {found}")
    # Declaration order in the module: client first.
    found.sort(key=lambda n: getattr(module, n).__code__.co_firstlineno)
    return getattr(module, found[0]), getattr(module, found[1])


def decode_verdicts(decode_cmd, direction, lines):
    run = subprocess.run(decode_cmd + [direction], input="\n".join(lines) + "\n",
                         text=True, capture_output=True, timeout=120)
    if run.returncode != 0:
        raise SystemExit(f"decoder failed: {run.stderr}")
    verdicts = run.stdout.splitlines()
    if len(verdicts) != len(lines):
        raise SystemExit(f"decoder gave {len(verdicts)} verdicts for {len(lines)} documents")
    return verdicts


def accepts(parse, text: str) -> tuple[bool, str]:
    try:
        parse(text)
        return True, ""
    except ValidationError as e:
        return False, str(e).splitlines()[0]


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
    export_dir = pathlib.Path(sys.argv[1])
    samples = pathlib.Path(sys.argv[2])
    prefixes = (sys.argv[3], sys.argv[4])
    count = int(sys.argv[5])
    decode_cmd = sys.argv[6:]
    name, module = load_module(export_dir)
    parse = dict(zip(("client", "server"), parsers(module)))
    failures = checked = 0
    # What the models write back (encode) from every frame they read, for the decoder to judge.
    written = {"client": [], "server": []}
    for direction, prefix in zip(("client", "server"), prefixes):
        for expect, sub in ((True, "valid"), (False, "invalid")):
            for sample in sorted((samples / sub).glob(f"{prefix}-*.json")):
                text = sample.read_text()
                ok, why = accepts(parse[direction], text)
                checked += 1
                if ok != expect:
                    failures += 1
                    verdict = "rejects" if expect else "accepts"
                    print(f"FAIL {sample}: the decoder {'accepts' if expect else 'rejects'} it, {name}.py {verdict} it {why}")
                if ok and "Unknown" not in type(parse[direction](text)).__name__:
                    written[direction].append(module.encode(parse[direction](text)))
    print(f"{name}.py on the sample corpus: {checked - failures} agree, {failures} disagree")
    if decode_cmd:
        bad = total = 0
        for direction, lines in written.items():
            if not lines:
                continue
            for line, verdict in zip(lines, decode_verdicts(decode_cmd, direction, lines)):
                total += 1
                if verdict != "ok":
                    bad += 1
                    print(f"FAIL {direction}: {name}.encode wrote {line}, which the Rust decoder rejects: {verdict}")
        failures += bad
        print(f"{name}.encode of every frame read: {total - bad} decode in Rust, {bad} do not")
    hyp_failures = hyp_checked = 0
    if decode_cmd and count > 0:
        for direction in ("client", "server"):
            schema = json.loads((export_dir / f"{name}.{direction}.schema.json").read_text())
            schema.pop("discriminator", None)
            docs = generate(schema, count)
            lines = [json.dumps(d) for d in docs]
            verdicts = decode_verdicts(decode_cmd, direction, lines)
            for line, verdict in zip(lines, verdicts):
                rust_ok = verdict == "ok"
                py_ok, why = accepts(parse[direction], line)
                hyp_checked += 1
                if rust_ok != py_ok:
                    hyp_failures += 1
                    print(f"FAIL {direction} {line}: Rust {verdict!r}, {name}.py {'accepts' if py_ok else 'rejects: ' + why}")
        print(f"{name}.py on hypothesis-jsonschema documents: {hyp_checked - hyp_failures} agree with the Rust decoder, {hyp_failures} disagree")
    return 1 if failures or hyp_failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
