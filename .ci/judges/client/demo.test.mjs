// The generated client of the demo protocol (schema/tests/protocols: a catch-all variant, a
// newtype variant, an error reply without the chat's codes), so that nothing the client does is
// chat-specific. The demo protocol has no server of its own: a `ws` WebSocketServer on
// 127.0.0.1:0 in this file answers as one would.
//
// Env: DEMO_SCHEMA_DIR (an export of `cargo run -p protocol-schema --example demo-schema -- export`).
// Run: node --test .ci/judges/client/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket, { WebSocketServer } from "ws";
import { Events, loadClient } from "./helpers.mjs";

const DIR = process.env.DEMO_SCHEMA_DIR;
if (!DIR) throw new Error("set DEMO_SCHEMA_DIR to an export of the demo-schema example");
const { connect, ProtocolError } = await loadClient(DIR, "demo");

/** @type {WebSocketServer} */
let wss;
let url = "";

before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  url = `ws://127.0.0.1:${wss.address().port}/ws`;
  wss.on("connection", (ws) => {
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data));
      if (msg.type === "message" && msg.text === "fail") {
        ws.send(JSON.stringify({ type: "error", id: msg.id, code: "nope", message: "refused", pointer: "/text" }));
      } else if (msg.type === "message") {
        ws.send(JSON.stringify({ type: "message", messageId: `m${msg.id}`, room: msg.room, from: "me", text: msg.text }));
        ws.send(JSON.stringify({ type: "sent", id: msg.id, messageId: `m${msg.id}` }));
      } else if (msg.type === "ping") {
        ws.send('{"type":"moved","x":1,"y":-2,"label":null}');
        ws.send('{"type":"wave","hand":"left"}');
        ws.send('{"type":"moved","x":4294967296,"y":0}');
        ws.send('{"type":"moved","x":1}');
        ws.send('{"type":"joined","room":"r","members":["me"]}');
      }
    });
  });
});

after(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise((resolve) => wss.close(resolve));
});

test("demo protocol: request/reply, error reply, handlers including the catch-all, invalid frames", async () => {
  const pushes = new Events();
  const invalid = new Events();
  const status = new Events();
  const c = connect(url, {
    WebSocket,
    onStatus: (s) => status.push(s),
    onInvalid: (f) => invalid.push(f),
  });
  const push = (m) => pushes.push(m);
  c.handle({ joined: push, message: push, moved: push, "*": push });
  try {
    assert.equal((await status.until((s) => s === "open", "open")).item, "open");
    const sent = await c.request({ type: "message", room: "r", text: "hello" });
    assert.equal(sent.type, "sent");
    assert.equal(sent.messageId, `m${sent.id}`);
    const echoed = await pushes.next("the message push");
    assert.deepEqual([echoed.type, echoed.text, echoed.messageId], ["message", "hello", sent.messageId]);

    const err = await c.request({ type: "message", room: "r", text: "fail" }).then(() => null, (e) => e);
    assert.ok(err instanceof ProtocolError, `${err}`);
    assert.deepEqual([err.code, err.message, err.pointer, err.id], ["nope", "refused", "/text", sent.id + 1]);

    c.send({ type: "ping" });
    const moved = await pushes.next("moved");
    assert.deepEqual([moved.type, moved.x, moved.y, moved.label], ["moved", 1, -2, null]);
    const wave = await pushes.next("the catch-all");
    assert.deepEqual(wave, { type: "wave", hand: "left" });
    const big = await invalid.next("x out of i32 range");
    assert.equal(big.pointer, "/x");
    assert.match(big.reason, /above the maximum 2147483647/);
    const missing = await invalid.next("y missing");
    assert.deepEqual([missing.pointer, missing.reason], ["/y", 'missing field "y"']);
    const joined = await pushes.next("joined after the invalid ones");
    assert.deepEqual([joined.type, joined.members], ["joined", ["me"]]);
    assert.deepEqual(pushes.pending, []);
  } finally {
    c.close();
  }
});
