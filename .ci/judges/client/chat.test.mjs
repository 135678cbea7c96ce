// The generated client of the chat protocol (examples/chat/schema/chat.client.js) in Node 20,
// with the `ws` package as its WebSocket, against a real chat-server on 127.0.0.1:0 behind a
// loopback TCP proxy (to cut connections, refuse them, drop requests, inject frames).
//
// Env: CHAT_SERVER_BIN (the chat-server binary), CHAT_SCHEMA_DIR (default examples/chat/schema).
// Run: node --test .ci/judges/client/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";
import WebSocket from "ws";
import { ChatServer, Events, Proxy, STEP_MS, loadClient, within } from "./helpers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SERVER_BIN = process.env.CHAT_SERVER_BIN || path.join(ROOT, "target/debug/chat-server");
const SCHEMA_DIR = process.env.CHAT_SCHEMA_DIR || path.join(ROOT, "examples/chat/schema");

const { connect, ClientError, ProtocolError } = await loadClient(SCHEMA_DIR, "chat");

/** @type {ChatServer} */
let server;
const cleanup = [];
let rooms = 0;
const freshRoom = () => `room-${++rooms}`;

before(async () => {
  server = await ChatServer.start(SERVER_BIN);
});

after(async () => {
  for (const f of cleanup.reverse()) await f();
  await server.stop();
});

async function proxyTo(s) {
  const p = await new Proxy(s).start();
  cleanup.push(() => p.close());
  return p;
}

/**
 * A client as `user` through `proxy`, with every callback recorded; `rooms` are joined at once
 * (the join waits in the client until the connection opens), and the client joins them again
 * after every reconnect by itself (`join` is the chat's stream-joining message).
 */
function user(name, proxy, { options = {}, rooms = [] } = {}) {
  const status = new Events();
  const invalid = new Events();
  const errors = new Events();
  const pushes = new Events();
  const history = [];
  const c = connect(`${proxy.url}?user=${name}`, {
    WebSocket,
    reconnect: { minDelay: 20, maxDelay: 200 },
    onStatus: (s, detail) => {
      history.push(s);
      status.push({ s, ...detail });
    },
    onInvalid: (f) => invalid.push(f),
    onError: (e) => errors.push(e),
    ...options,
  });
  const push = (msg) => pushes.push(msg);
  c.handle({ joined: push, presence: push, message: push, read: push, typing: push });
  for (const room of rooms) c.send({ type: "join", room });
  cleanup.push(() => c.close());
  return { c, status, invalid, errors, pushes, history };
}

const untilStatus = (u, s) => u.status.until((e) => e.s === s, `status ${s}`);
const untilPush = (u, type, pred = () => true) =>
  u.pushes.until((m) => m.type === type && pred(m), `a ${type} push`).then((r) => r.item);

async function joined(u, room) {
  u.c.send({ type: "join", room });
  return untilPush(u, "joined", (m) => m.room === room);
}

test("request: the reply resolves with its type; ids come from the client; others get the push", async () => {
  const proxy = await proxyTo(server);
  const alice = user("alice", proxy);
  const bob = user("bob", proxy);
  const room = freshRoom();
  await untilStatus(alice, "open");
  await untilStatus(bob, "open");
  await joined(alice, room);
  await joined(bob, room);
  const ids = [];
  alice.c.on("sent", (m) => ids.push(m.id));
  const first = await alice.c.request({ type: "message", room, text: "one" });
  const second = await alice.c.request({ type: "message", room, text: "two" });
  assert.equal(first.type, "sent");
  assert.equal(typeof first.messageId, "string");
  assert.notEqual(first.messageId, second.messageId);
  assert.equal(ids.length, 2);
  assert.ok(Number.isInteger(ids[0]) && ids[1] > ids[0], `ids ${ids}`);
  assert.deepEqual([first.id, second.id], ids);
  const got = [await untilPush(bob, "message"), await untilPush(bob, "message")];
  assert.deepEqual(got.map((m) => [m.messageId, m.from, m.text, m.room]), [
    [first.messageId, "alice", "one", room],
    [second.messageId, "alice", "two", room],
  ]);
  // A read receipt reaches the author's `read` handler.
  bob.c.send({ type: "read", messageId: first.messageId });
  const read = await untilPush(alice, "read");
  assert.deepEqual([read.messageId, read.by], [first.messageId, "bob"]);
  // Presence and typing reach theirs.
  bob.c.send({ type: "typing", room, active: true });
  const typing = await untilPush(alice, "typing");
  assert.deepEqual([typing.user, typing.active], ["bob", true]);
  bob.c.send({ type: "leave", room });
  const presence = await untilPush(alice, "presence", (m) => m.user === "bob");
  assert.equal(presence.online, false);
});

test("error replies reject with ProtocolError (code, message, pointer, id); unanswered ones go to onError", async () => {
  const proxy = await proxyTo(server);
  const alice = user("alice", proxy);
  const room = freshRoom();
  await untilStatus(alice, "open");
  const notIn = await alice.c.request({ type: "message", room, text: "hi" }).then(
    () => assert.fail("a message to a room not joined resolved"),
    (e) => e,
  );
  assert.ok(notIn instanceof ProtocolError, `${notIn}`);
  assert.equal(notIn.code, "not_in_room");
  assert.equal(typeof notIn.message, "string");
  assert.ok(Number.isInteger(notIn.id) && notIn.id > 0);
  assert.equal(notIn.reply.type, "error");
  assert.equal(notIn.reply.id, notIn.id);
  await joined(alice, room);
  const empty = await alice.c.request({ type: "message", room, text: "" }).then(
    () => assert.fail("an empty message resolved"),
    (e) => e,
  );
  assert.ok(empty instanceof ProtocolError);
  assert.deepEqual([empty.code, empty.pointer], ["invalid_message", "/text"]);
  assert.ok(empty.id > notIn.id, "a fresh id per request");
  // An error to a plain send answers no request: onError.
  alice.c.send({ type: "read", messageId: "no-such-message" });
  const e = await alice.errors.next("onError");
  assert.equal(e.code, "unknown_message");
  assert.equal(e.id, undefined);
  // A request of a message that declares no reply is refused before anything is sent.
  await assert.rejects(() => alice.c.request(/** @type {any} */ ({ type: "join", room })), TypeError);
});

test("timeout: a request the server never sees rejects with ClientError timeout, and is forgotten", async () => {
  const proxy = await proxyTo(server);
  const alice = user("alice", proxy);
  const room = freshRoom();
  await untilStatus(alice, "open");
  await joined(alice, room);
  proxy.blackhole = true;
  const err = await alice.c.request({ type: "message", room, text: "lost" }, { timeout: 200 }).then(
    () => assert.fail("resolved without a server"),
    (e) => e,
  );
  assert.ok(err instanceof ClientError);
  assert.equal(err.kind, "timeout");
  proxy.blackhole = false;
  const ok = await alice.c.request({ type: "message", room, text: "found" });
  assert.equal(ok.type, "sent");
});

test("handle() needs every handler; invalid frames go to onInvalid, never to a handler", async () => {
  const proxy = await proxyTo(server);
  const alice = user("alice", proxy);
  assert.throws(
    () => alice.c.handle(/** @type {any} */ ({ joined() {}, presence() {}, message() {}, read() {} })),
    /missing handlers for "typing"/,
  );
  await untilStatus(alice, "open");
  const room = freshRoom();
  await joined(alice, room);
  const bad = [
    ["not json", "not JSON", ""],
    ["[1,2]", "not a JSON object", ""],
    ['{"room":"x"}', 'no "type" string', "/type"],
    ['{"type":"gossip","room":"x"}', 'unknown message type "gossip"', "/type"],
    ['{"type":"message","messageId":"m","offset":1,"room":"x","from":"eve"}', 'missing field "text"', "/text"],
    ['{"type":"joined","room":"x","members":["a",1],"epoch":"e","offset":0}', "expected string, found integer", "/members/1"],
    ['{"type":"presence","room":"x","user":"eve","online":"yes"}', "expected boolean, found string", "/online"],
    ['{"type":"sent","id":-1,"messageId":"m","offset":1}', "below the minimum 0", "/id"],
  ];
  for (const [frame] of bad) proxy.inject(frame);
  proxy.inject("\u0001\u0002", { binary: true });
  for (const [frame, reason, pointer] of bad) {
    const f = await alice.invalid.next(`onInvalid for ${frame}`);
    assert.equal(f.data, frame);
    assert.ok(f.reason.includes(reason), `${frame}: reason ${JSON.stringify(f.reason)} should say ${reason}`);
    assert.equal(f.pointer, pointer, `${frame}: pointer`);
  }
  const binary = await alice.invalid.next("onInvalid for a binary frame");
  assert.match(binary.reason, /binary/);
  // A valid frame after them all still reaches its handler, and it is the first push since.
  proxy.inject('{"type":"presence","room":"x","user":"eve","online":true}');
  const next = await alice.pushes.next("the valid presence");
  assert.deepEqual([next.type, next.user], ["presence", "eve"]);
  assert.deepEqual(alice.pushes.pending, [], "no invalid frame reached a handler");
});

test("validate: false lets a malformed but typed frame through (so validate is what stops them)", async () => {
  const proxy = await proxyTo(server);
  const alice = user("alice", proxy, { options: { validate: false } });
  await untilStatus(alice, "open");
  proxy.inject('{"type":"message","messageId":"m","room":"x","from":"eve"}');
  proxy.inject('{"type":"gossip"}');
  const m = await alice.pushes.next("the unvalidated message");
  assert.deepEqual([m.type, m.text], ["message", undefined]);
  const f = await alice.invalid.next("the unknown type, still refused");
  assert.match(f.reason, /unknown message type "gossip"/);
});

test("reconnect after the server closes the socket (1009); the room is joined again, requests work", async () => {
  const proxy = await proxyTo(server);
  const room = freshRoom();
  const alice = user("alice", proxy, { rooms: [room] });
  await untilStatus(alice, "open");
  await untilPush(alice, "joined", (m) => m.room === room);
  // Over the server's message size limit: it closes the connection with 1009.
  alice.c.send({ type: "message", room, text: "x".repeat(70_000) });
  const lost = await untilStatus(alice, "reconnecting");
  // The server closes with 1009; its close frame may not get through while the client is still
  // writing (then the client sees a reset: 1006). Either way, the server ended it.
  assert.ok([1009, 1006].includes(lost.item.code), `close code ${lost.item.code}, ${proxy.closedBy}`);
  assert.equal(proxy.closedBy.length, 1, "the connection ended by itself (the proxy did not cut it)");
  assert.equal(lost.item.attempt, 1);
  const back = await untilStatus(alice, "open");
  assert.equal(back.item.reconnected, true);
  assert.deepEqual(back.item.resuming, [room], "the client joined the room again by itself");
  await untilPush(alice, "joined", (m) => m.room === room);
  const sent = await alice.c.request({ type: "message", room, text: "after" });
  assert.equal(sent.type, "sent");
  assert.deepEqual(alice.history, ["connecting", "open", "reconnecting", "open"]);
});

test("a cut connection rejects the request in flight with ClientError disconnected, then reconnects", async () => {
  const proxy = await proxyTo(server);
  const room = freshRoom();
  const alice = user("alice", proxy, { rooms: [room] });
  await untilStatus(alice, "open");
  await untilPush(alice, "joined", (m) => m.room === room);
  proxy.blackhole = true;
  const inFlight = alice.c.request({ type: "message", room, text: "in flight" });
  // It is on the wire (written to the proxy) once request() returned with the socket open.
  proxy.blackhole = false;
  proxy.cutAll();
  const err = await inFlight.then(() => assert.fail("resolved"), (e) => e);
  assert.ok(err instanceof ClientError);
  assert.equal(err.kind, "disconnected");
  const lost = await untilStatus(alice, "reconnecting");
  assert.equal(lost.item.code, 1006);
  await untilStatus(alice, "open");
  await untilPush(alice, "joined", (m) => m.room === room);
});

test("the send queue: bounded while disconnected (queue_full), flushed in order after reconnect", async () => {
  const proxy = await proxyTo(server);
  const room = freshRoom();
  const bob = user("bob", proxy);
  await untilStatus(bob, "open");
  await joined(bob, room);
  const alice = user("alice", proxy, { rooms: [room], options: { queueLimit: 3 } });
  await untilStatus(alice, "open");
  await untilPush(alice, "joined", (m) => m.room === room);
  await untilPush(bob, "presence", (m) => m.user === "alice" && m.online);
  // The server is "down" for alice: her connection (the newest) is cut and new ones are
  // refused, while bob stays connected to watch.
  proxy.accepting = false;
  proxy.cut([...proxy.connections].at(-1));
  await untilStatus(alice, "reconnecting");
  assert.equal(alice.c.status, "reconnecting");
  const replies = [
    alice.c.request({ type: "message", room, text: "q1" }),
    alice.c.request({ type: "message", room, text: "q2" }),
    alice.c.request({ type: "message", room, text: "q3" }),
  ];
  assert.throws(() => alice.c.send({ type: "message", room, text: "q4" }), (e) => e instanceof ClientError && e.kind === "queue_full");
  const full = await alice.c.request({ type: "message", room, text: "q5" }).then(() => null, (e) => e);
  assert.ok(full instanceof ClientError && full.kind === "queue_full", `${full}`);
  // Attempts keep failing while refused; then the server is back.
  await alice.status.until((e) => e.s === "reconnecting" && e.attempt >= 2, "a second attempt");
  proxy.accepting = true;
  await untilStatus(alice, "open");
  const sent = await within(STEP_MS, "the queued requests' replies", Promise.all(replies));
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await untilPush(bob, "message"));
  assert.deepEqual(got.map((m) => m.text), ["q1", "q2", "q3"], "flushed in order, after the re-join");
  assert.deepEqual(got.map((m) => m.messageId), sent.map((s) => s.messageId));
});

test("server restart: reconnecting -> open on the new process; url() is called per attempt", async () => {
  let own = await ChatServer.start(SERVER_BIN);
  const proxy = await proxyTo(own);
  const room = freshRoom();
  let urls = 0;
  const status = new Events();
  const pushes = new Events();
  const history = [];
  const resumes = new Events();
  const c = connect(() => `${proxy.url}?user=carol&n=${++urls}`, {
    WebSocket,
    reconnect: { minDelay: 20, maxDelay: 100 },
    onStatus: (s, d) => {
      history.push(s);
      status.push({ s, ...d });
    },
    onResume: (r) => resumes.push(r),
  });
  cleanup.push(() => c.close());
  const push = (m) => pushes.push(m);
  c.handle({ joined: push, presence: push, message: push, read: push, typing: push });
  c.send({ type: "join", room });
  try {
    await status.until((e) => e.s === "open", "open");
    const first = await pushes.until((m) => m.type === "joined", "joined");
    assert.deepEqual(c.positions(), [{ room, epoch: first.item.epoch, offset: 0 }]);
    proxy.accepting = false;
    await own.stop();
    const lost = await status.until((e) => e.s === "reconnecting", "reconnecting");
    assert.ok([1001, 1006].includes(lost.item.code), `close code ${lost.item.code}`);
    own = await ChatServer.start(SERVER_BIN);
    proxy.target = own;
    proxy.accepting = true;
    await status.until((e) => e.s === "open", "open again");
    const again = await pushes.until((m) => m.type === "joined", "joined on the new server");
    assert.deepEqual(again.item.members, ["carol"]);
    // The new process has a new epoch: the client's resume could not recover, and says so.
    const resumed = await resumes.next("onResume on the new server");
    assert.equal(resumed.recovered, false);
    assert.notEqual(resumed.epoch, first.item.epoch);
    assert.deepEqual(resumed.since, { epoch: first.item.epoch, offset: 0 });
    assert.equal(again.item.recovered, false);
    const sent = await c.request({ type: "message", room, text: "still here" });
    assert.equal(sent.type, "sent");
    assert.ok(urls >= 2, `url() called ${urls} times`);
    assert.equal(history[0], "connecting");
    assert.deepEqual(history.slice(1).filter((s, i, a) => s !== a[i - 1]), ["open", "reconnecting", "open"]);
  } finally {
    c.close();
    await own.stop();
  }
});

test("give up after maxAttempts; close() rejects what waits and stops for good", async () => {
  const proxy = await proxyTo(server);
  proxy.accepting = false;
  const status = new Events();
  const c = connect(`${proxy.url}?user=dave`, {
    WebSocket,
    reconnect: { minDelay: 10, maxDelay: 20, maxAttempts: 2 },
    onStatus: (s, d) => status.push({ s, ...d }),
  });
  c.handle({ joined() {}, presence() {}, message() {}, read() {}, typing() {} });
  const queued = c.request({ type: "message", room: "r", text: "never" });
  const closed = await status.until((e) => e.s === "closed", "closed after giving up");
  assert.equal(closed.item.attempt, 2);
  assert.deepEqual(closed.skipped.map((e) => e.s), ["connecting", "reconnecting", "reconnecting"]);
  const err = await queued.then(() => null, (e) => e);
  assert.ok(err instanceof ClientError && err.kind === "closed", `${err}`);
  assert.throws(() => c.send({ type: "join", room: "r" }), (e) => e instanceof ClientError && e.kind === "closed");
  assert.equal(proxy.accepted, 3, "one first attempt and two more");

  proxy.accepting = true;
  const eve = user("eve", proxy);
  await untilStatus(eve, "open");
  const room = freshRoom();
  await joined(eve, room);
  proxy.blackhole = true;
  const pending = eve.c.request({ type: "message", room, text: "pending" });
  eve.c.close(1000, "bye");
  assert.equal(eve.c.status, "closed");
  const e2 = await pending.then(() => null, (e) => e);
  assert.ok(e2 instanceof ClientError && e2.kind === "closed", `${e2}`);
  const last = await untilStatus(eve, "closed");
  assert.deepEqual([last.item.code, last.item.reason], [1000, "bye"]);
});

test("refresh: a signed token is renewed while connected; without it the server closes at exp", { timeout: 60_000 }, async () => {
  const secret = "node-test-secret-of-32-bytes-len";
  const authed = await ChatServer.start(SERVER_BIN, ["--auth-secret", secret]);
  cleanup.push(() => authed.stop());
  const token = (name, ttl) => {
    const out = spawnSync(SERVER_BIN, ["--auth-secret", secret, "token", name, "--ttl", ttl], { encoding: "utf8" });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim();
  };
  const url = (t) => `ws://${authed.addr}/ws?token=${t}`;
  const statuses = { kept: [], dropped: [] };
  const kept = connect(url(token("kim", "2s")), {
    WebSocket, reconnect: false,
    refresh: { every: 500, request: () => ({ type: "refresh", token: token("kim", "1h") }) },
    onStatus: (s, d) => statuses.kept.push([s, d.code]),
  });
  const dropped = connect(url(token("lee", "2s")), {
    WebSocket, reconnect: false,
    onStatus: (s, d) => statuses.dropped.push([s, d.code]),
  });
  cleanup.push(async () => { kept.close(); dropped.close(); });
  await within(STEP_MS, "both open", (async () => {
    while (kept.status !== "open" || dropped.status !== "open") await new Promise((r) => setTimeout(r, 20));
  })());
  await new Promise((r) => setTimeout(r, 3_500));
  assert.equal(kept.status, "open", JSON.stringify(statuses.kept));
  const reply = await kept.request({ type: "refresh", token: token("kim", "1h") });
  assert.equal(reply.type, "refreshed");
  // Lee did not renew: closed by the server with 3000 when the token expired.
  assert.equal(dropped.status, "closed");
  assert.deepEqual(statuses.dropped.at(-1), ["closed", 3000]);
});
