// The generated client's `validate` against an outside judge: for the chat and the demo exports,
// documents built from the server messages' schema and mutated field by field (dropped,
// retyped, out of range, an unknown field added) must be accepted by the client's checker
// (`validateServerMessage`) exactly when ajv (draft 2020-12, strict) accepts them against
// NAME.server.schema.json.
//
// Env: CHAT_SCHEMA_DIR (default examples/chat/schema), DEMO_SCHEMA_DIR (a demo-schema export).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadClient } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const Ajv2020 = require("ajv/dist/2020").default;
const discriminator = require("../ajv-discriminator.js");

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const EXPORTS = [
  ["chat", process.env.CHAT_SCHEMA_DIR || path.join(ROOT, "examples/chat/schema")],
  ["demo", process.env.DEMO_SCHEMA_DIR],
];

/** A document the schema `s` describes (or close to it: the verdicts are compared, not assumed). */
function sample(s, root, depth = 0) {
  if (s === true || s === undefined || depth > 6) return "x";
  if (s === false) return null;
  if (s.$ref) return sample(s.$ref === "#" ? { const: "none" } : root.$defs[s.$ref.slice("#/$defs/".length)], root, depth + 1);
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  const alt = s.oneOf ?? s.anyOf;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (!type && alt) return sample(alt[0], root, depth + 1);
  switch (type ?? (s.properties ? "object" : undefined)) {
    case "string": return "s";
    case "boolean": return true;
    case "null": return null;
    case "integer": return s.minimum ?? 0;
    case "number": return 1.5;
    case "array":
      return s.prefixItems ? s.prefixItems.map((p) => sample(p, root, depth + 1)) : [sample(s.items, root, depth + 1)];
    case "object": {
      const out = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = sample(v, root, depth + 1);
      if (alt) Object.assign(out, sample(alt[0], root, depth + 1));
      return out;
    }
    default: return "x";
  }
}

const WRONG = [null, 0, -1, 1.5, 2 ** 31, 2 ** 53, "x", "", true, [], [1], {}, { a: 1 }];

/** The sample, and for every field (and every field of a nested object) each wrong value, the
 * field dropped, and an unknown field added. */
function* documents(base) {
  yield base;
  yield { ...base, zzUnknown: 1 };
  for (const key of Object.keys(base)) {
    const { [key]: _, ...dropped } = base;
    yield dropped;
    for (const w of WRONG) yield { ...base, [key]: w };
    const inner = base[key];
    if (inner && typeof inner === "object" && !Array.isArray(inner)) {
      for (const k of Object.keys(inner)) {
        const { [k]: __, ...innerDropped } = inner;
        yield { ...base, [key]: innerDropped };
        for (const w of WRONG) yield { ...base, [key]: { ...inner, [k]: w } };
      }
    }
  }
}

for (const [name, dir] of EXPORTS) {
  test(`${name}: the client's validate agrees with ajv on every document`, { skip: dir ? false : "DEMO_SCHEMA_DIR not set" }, async () => {
    const schema = JSON.parse(readFileSync(path.join(dir, `${name}.server.schema.json`), "utf8"));
    const ajv = new Ajv2020({ strict: true, allErrors: false });
    discriminator(ajv);
    const judge = ajv.compile(schema);
    const { validateServerMessage } = await loadClient(dir, name);
    const tag = schema.discriminator?.propertyName ?? "type";
    let accepted = 0;
    let rejected = 0;
    const disagreements = [];
    const variants = [...schema.oneOf, { properties: { [tag]: { const: "no-such-type" } } }];
    for (const variant of variants) {
      for (const doc of documents(sample(variant, schema))) {
        const ours = validateServerMessage(doc);
        const theirs = judge(doc);
        if ((ours === null) !== theirs) disagreements.push({ doc, ours, ajv: judge.errors?.[0] });
        if (theirs) accepted += 1;
        else rejected += 1;
      }
    }
    assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
    // Not vacuous: both verdicts occur, many times.
    assert.ok(accepted >= 10 && rejected >= 50, `accepted ${accepted}, rejected ${rejected}`);
    console.log(`${name}: ${accepted + rejected} documents, ${accepted} valid, ${rejected} invalid, the same verdict each`);
  });
}
