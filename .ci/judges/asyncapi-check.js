#!/usr/bin/env node
// Parse an AsyncAPI document with @asyncapi/parser (the reference parser, which also runs the
// AsyncAPI Spectral rules) and fail on any error-level diagnostic.
// Usage: node asyncapi-check.js FILE.asyncapi.json
"use strict";

const fs = require("fs");
const { Parser, DiagnosticSeverity } = require("@asyncapi/parser");

const SEVERITY = ["error", "warning", "info", "hint"];

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error("usage: node asyncapi-check.js FILE.asyncapi.json");
    return 2;
  }
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    console.error(`asyncapi: cannot read ${file}: ${e.message}`);
    return 2;
  }
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, { source: file });
  let errors = 0;
  for (const d of diagnostics) {
    const where = d.path && d.path.length ? d.path.join("/") : "(document)";
    console.log(`asyncapi: ${SEVERITY[d.severity] || d.severity}: ${d.code}: ${d.message} at ${where}`);
    if (d.severity === DiagnosticSeverity.Error) errors++;
  }
  if (!document || errors > 0) {
    console.error(`asyncapi: ${file}: ${errors} error(s)`);
    return 1;
  }
  // Read back what the schema tooling promises: messages in both directions, send and receive
  // operations, and a reply for every request operation.
  const ops = document.operations().all();
  const actions = new Set(ops.map((o) => o.action()));
  const messages = document.allMessages().all().length;
  const replies = ops.filter((o) => o.reply() !== undefined);
  for (const op of replies) {
    const replyMessages = op.reply().messages().all();
    if (replyMessages.length === 0) {
      console.error(`asyncapi: operation ${op.id()} has a reply without messages`);
      return 1;
    }
  }
  if (!actions.has("send") || !actions.has("receive")) {
    console.error(`asyncapi: expected send and receive operations, found: ${[...actions].join(", ")}`);
    return 1;
  }
  console.log(
    `asyncapi: ${file}: valid AsyncAPI ${document.version()}, ${messages} messages, ` +
      `${ops.length} operations (${replies.length} with a reply), ${diagnostics.length} diagnostics`
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`asyncapi: ${e && e.stack ? e.stack : e}`);
    process.exit(2);
  }
);
