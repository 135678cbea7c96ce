// Resume in the generated client of the chat (examples/chat/schema/chat.client.js) in Node 20,
// against real chat-server processes on 127.0.0.1:0 behind loopback TCP proxies that cut the
// receiver's connection, drop frames or refuse connections.
//
// The client keeps each stream room's epoch and contiguous offset, joins again with `since`
// after a reconnect, drops stored messages it already had, and reports each resume to
// `onResume`; when a resume does not recover, the app fills the gap with `history` (here the
// same steps as the chat page's, in `Timeline` and `recover`).
//
// Env: CHAT_SERVER_BIN (the chat-server binary), CHAT_SCHEMA_DIR (default examples/chat/schema).
// Run: node --test .ci/judges/client/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { ChatServer, Events, Proxy, STEP_MS, loadClient, within } from "./helpers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const SERVER_BIN = process.env.CHAT_SERVER_BIN || path.join(ROOT, "target/debug/chat-server");
const SCHEMA_DIR = process.env.CHAT_SCHEMA_DIR || path.join(ROOT, "examples/chat/schema");

const { connect } = await loadClient(SCHEMA_DIR, "chat");

/** @type {ChatServer} */
let server;
const cleanup = [];
let rooms = 0;
const freshRoom = () => `resume-${++rooms}`;

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

/** `ws`'s WebSocket, counting the `message` frames that reach the socket (before the client
 * drops any), so a test can tell the wire from what the app was given. */
function countingWebSocket(counter) {
  return class extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener("message", (ev) => {
        if (typeof ev.data === "string" && ev.data.startsWith('{"type":"message"')) counter.frames += 1;
      });
    }
  };
}

/**
 * A chat user through `proxy`, in `room` (joined once; the client joins again by itself), with
 * what its app is given recorded: `messages` (the `message` handler), `joined`, `resumes`
 * (`onResume`), `status`.
 */
function member(name, proxy, room, options = {}) {
  const wire = { frames: 0 };
  const messages = [];
  const arrived = new Events();
  const joined = new Events();
  const resumes = [];
  const resumed = new Events();
  const status = new Events();
  const c = connect(`${proxy.url}?user=${name}`, {
    WebSocket: countingWebSocket(wire),
    reconnect: { minDelay: 10, maxDelay: 100 },
    requestTimeout: 30_000,
    onStatus: (s, d) => status.push({ s, ...d }),
    onResume: (r) => { resumes.push(r); resumed.push(r); },
    ...options,
  });
  c.handle({
    joined: (m) => joined.push(m),
    presence() {},
    message: (m) => { messages.push(m); arrived.push(m); },
    read() {},
    typing() {},
  });
  c.send({ type: "join", room });
  cleanup.push(() => c.close());
  return { c, wire, messages, arrived, joined, resumes, resumed, status };
}

/** Waits (bounded) until the app was given a message with `text`. */
async function untilText(u, text, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!u.messages.some((m) => m.text === text)) {
    await u.arrived.next(`the message ${JSON.stringify(text)}`, Math.max(1, deadline - Date.now()));
  }
}

/** A tiny seeded generator (xorshift32), so a failing run can be repeated. */
function random(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

test("a receiver cut again and again while a sender posts: every message once, in order", { timeout: 120_000 }, async (t) => {
  const N = 300;
  const seed = Number(process.env.RESUME_SEED || 14);
  const rand = random(seed);
  const room = freshRoom();
  const proxyR = await proxyTo(server);
  const proxyS = await proxyTo(server);
  const rita = member("rita", proxyR, room);
  await rita.joined.next("rita joined");
  const sam = member("sam", proxyS, room);
  await sam.joined.next("sam joined");

  // Sam posts N messages at about 40 a second (the server allows 50 per connection) while
  // rita's connection is reset every 50 to 400 ms, wherever its frames are at that moment (a
  // bounded number of times: the cutter stops with the posting).
  let posting = true;
  let cuts = 0;
  const cutter = (async () => {
    while (posting && cuts < 10 * N) {
      await pause(50 + Math.floor(rand() * 350));
      if (posting) { proxyR.cutAll(); cuts += 1; }
    }
  })();
  const sent = [];
  try {
    for (let i = 0; i < N; i++) {
      sent.push(await sam.c.request({ type: "message", room, text: `m${i}` }));
      await pause(25);
    }
  } finally {
    posting = false;
    await cutter;
  }
  await sam.c.request({ type: "message", room, text: "end" });
  await untilText(rita, "end", 60_000);

  const texts = rita.messages.map((m) => m.text);
  const expected = [...sent.map((_, i) => `m${i}`), "end"];
  const delivered = new Set(texts).size;
  t.diagnostic(`seed ${seed}: ${cuts} cuts, ${rita.resumes.length} resumes; delivered ${delivered - 1}/${N} ` +
    `(each once: ${texts.length === delivered}); ${rita.wire.frames} message frames on the wire for ${texts.length} given to the app`);
  assert.deepEqual(texts, expected, "every message once, in order");
  assert.deepEqual(rita.messages.map((m) => m.offset), sent.map((s) => s.offset).concat(sent.at(-1).offset + 1));
  assert.ok(cuts >= 10, `${cuts} cuts`);
  assert.ok(rita.resumes.length >= 1, "at least one resume was announced");
  for (const r of rita.resumes) assert.equal(r.recovered, true, `resume ${JSON.stringify(r)}`);
  const [pos] = rita.c.positions();
  assert.deepEqual(pos, { room, epoch: rita.resumes[0].epoch, offset: N + 1 });
});

test("own messages and duplicates that come back in a replay are dropped; the position stays contiguous", { timeout: 60_000 }, async () => {
  const room = freshRoom();
  const proxyA = await proxyTo(server);
  const proxyB = await proxyTo(server);
  const ann = member("ann", proxyA, room);
  const first = await ann.joined.next("ann joined");
  const bo = member("bo", proxyB, room);
  await bo.joined.next("bo joined");

  // Bo's message never reaches ann (lost on the way); ann then publishes hers: her reply's
  // offset (2) is above the gap, so her position stays at 0.
  const lost = new Events();
  proxyA.drop = (text) => text.includes('"text":"lost on the way"');
  proxyA.onDrop = (text) => lost.push(text);
  const one = await bo.c.request({ type: "message", room, text: "lost on the way" });
  await lost.next("the dropped frame");
  proxyA.drop = null;
  const mine = await ann.c.request({ type: "message", room, text: "ann's own" });
  assert.deepEqual([one.offset, mine.offset], [1, 2]);
  assert.deepEqual(ann.c.positions(), [{ room, epoch: first.epoch, offset: 0 }], "2 is above the gap at 1");

  // Cut: the resume asks for everything after 0; the replay brings 1 and 2, and 2 is ann's own.
  proxyA.cutAll();
  const r = await ann.resumed.next("ann's resume");
  assert.deepEqual(r, { room, recovered: true, epoch: first.epoch, offset: 2, since: { epoch: first.epoch, offset: 0 } });
  assert.deepEqual(ann.messages.map((m) => [m.offset, m.text]), [[1, "lost on the way"]], "her own message is not given back to her");
  assert.deepEqual(ann.c.positions(), [{ room, epoch: first.epoch, offset: 2 }]);

  // A stored message delivered twice (here injected) reaches neither handlers nor listeners.
  const heard = [];
  ann.c.on("message", (m) => heard.push(m.offset));
  proxyA.inject(JSON.stringify({ type: "message", messageId: one.messageId, offset: 1, room, from: "bo", text: "lost on the way" }));
  await bo.c.request({ type: "message", room, text: "after" });
  await untilText(ann, "after");
  assert.deepEqual(ann.messages.map((m) => m.text), ["lost on the way", "after"]);
  assert.deepEqual(heard, [3]);

  // Leaving forgets the room: no position, and no join after the next reconnect.
  ann.c.send({ type: "leave", room });
  assert.deepEqual(ann.c.positions(), []);
  for (let n = ann.status.pending.length; n > 0; n--) await ann.status.next("an earlier status");
  proxyA.cutAll();
  const back = await ann.status.until((e) => e.s === "open" && e.reconnected, "ann open again");
  assert.deepEqual(back.item.resuming, []);
});

test("out of order: an offset above a gap is kept, the position moves when the gap fills, repeats are dropped", { timeout: 60_000 }, async () => {
  const room = freshRoom();
  const proxy = await proxyTo(server);
  const cy = member("cy", proxy, room);
  const j = await cy.joined.next("cy joined");
  assert.deepEqual(cy.c.positions(), [{ room, epoch: j.epoch, offset: 0 }]);
  // Frames as another node might deliver them: 2 before 1, then both again.
  const frame = (offset) => JSON.stringify({ type: "message", messageId: `x-${offset}`, offset, room, from: "node2", text: `o${offset}` });
  proxy.inject(frame(2));
  await untilText(cy, "o2");
  assert.deepEqual(cy.c.positions(), [{ room, epoch: j.epoch, offset: 0 }], "2 is above the gap at 1");
  for (const o of [1, 2, 1]) proxy.inject(frame(o));
  // A message of another room the client does not track passes through untouched.
  proxy.inject(JSON.stringify({ type: "message", messageId: "y", offset: 1, room: "not-joined", from: "z", text: "other room" }));
  await untilText(cy, "other room");
  assert.deepEqual(cy.messages.map((m) => m.text), ["o2", "o1", "other room"]);
  assert.deepEqual(cy.c.positions(), [{ room, epoch: j.epoch, offset: 2 }]);
});

/**
 * The chat page's view, without the DOM: messages once each (by `messageId`), ordered by epoch
 * (in the order the page met them) and offset, and the notes it shows when it could not
 * recover everything.
 */
class Timeline {
  epochs = [];
  lines = [];
  ids = new Set();
  notes = [];

  add(epoch, m) {
    if (this.ids.has(m.messageId)) return;
    this.ids.add(m.messageId);
    if (!this.epochs.includes(epoch)) this.epochs.push(epoch);
    const key = (l) => [this.epochs.indexOf(l.epoch), l.offset];
    const line = { epoch, offset: m.offset, messageId: m.messageId, text: m.text };
    const [e, o] = key(line);
    const at = this.lines.findIndex((l) => { const [le, lo] = key(l); return le > e || (le === e && lo > o); });
    if (at < 0) this.lines.push(line);
    else this.lines.splice(at, 0, line);
  }

  get texts() {
    return this.lines.map((l) => l.text);
  }
}

/** Pages of history the page reads back at most, 100 messages each. */
const MAX_PAGES = 12;

/**
 * What the page does when a resume did not recover: read `history` back from the newest until
 * it reaches what it had (`since`, in the same epoch) or the start of the new epoch, and say
 * honestly what could not be had.
 */
async function recover(c, tl, { room, epoch, since }) {
  const target = epoch === since.epoch ? since.offset + 1 : 1;
  let before;
  let oldest = Infinity;
  for (let page = 0; page < MAX_PAGES; page++) {
    const h = await c.request({ type: "history", room, limit: 100, ...(before === undefined ? {} : { before }) });
    for (const m of h.messages) tl.add(h.epoch, m);
    if (h.messages.length === 0) break;
    oldest = h.messages[0].offset;
    if (oldest <= target) break;
    before = oldest;
  }
  if (epoch !== since.epoch) tl.notes.push("history reset: messages sent before the server lost it may be missing");
  const missing = Number.isFinite(oldest) ? oldest - target : 0;
  if (missing > 0) tl.notes.push(`${missing} messages could not be recovered`);
}

/** A member whose app is the page's: every message into a Timeline, history when a resume
 * does not recover. */
function pageMember(name, proxy, room) {
  const tl = new Timeline();
  const epochOf = new Map();
  const recoveries = [];
  const u = member(name, proxy, room, {
    onResume: (r) => {
      u.resumes.push(r);
      u.resumed.push(r);
      if (!r.recovered) recoveries.push(recover(u.c, tl, r));
    },
  });
  const [handlerJoined] = [u.joined];
  u.c.handle({
    joined: (m) => { epochOf.set(m.room, m.epoch); handlerJoined.push(m); },
    presence() {},
    message: (m) => { tl.add(epochOf.get(m.room), m); u.messages.push(m); u.arrived.push(m); },
    read() {},
    typing() {},
  });
  return { ...u, tl, recoveries };
}

test("recovered: false after a server restart (new epoch): history fills the view, nothing twice", { timeout: 90_000 }, async () => {
  let own = await ChatServer.start(SERVER_BIN);
  const room = freshRoom();
  const proxyR = await proxyTo(own);
  const proxyS = await proxyTo(own);
  try {
    const rita = pageMember("rita", proxyR, room);
    const e1 = (await rita.joined.next("rita joined")).epoch;
    const sam = member("sam", proxyS, room);
    await sam.joined.next("sam joined");
    for (const text of ["a1", "a2", "a3"]) await sam.c.request({ type: "message", room, text });
    await untilText(rita, "a3");

    // Rita is away (her proxy refuses) while the server restarts with its history lost; sam
    // comes back first and posts into the new epoch.
    proxyR.accepting = false;
    proxyS.accepting = false;
    await own.stop();
    own = await ChatServer.start(SERVER_BIN);
    proxyR.target = own;
    proxyS.target = own;
    proxyS.accepting = true;
    const samBack = await sam.resumed.next("sam's resume");
    assert.equal(samBack.recovered, false);
    for (const text of ["b1", "b2"]) await sam.c.request({ type: "message", room, text });

    proxyR.accepting = true;
    const r = await rita.resumed.next("rita's resume");
    assert.equal(r.recovered, false);
    assert.notEqual(r.epoch, e1);
    assert.deepEqual(r.since, { epoch: e1, offset: 3 });
    assert.equal(r.offset, 2);
    // A live message may arrive before or after the history reply: shown once either way.
    await sam.c.request({ type: "message", room, text: "b3" });
    await within(STEP_MS, "the page's history read", Promise.all(rita.recoveries));
    await untilText(rita, "b3");
    assert.deepEqual(rita.tl.texts, ["a1", "a2", "a3", "b1", "b2", "b3"]);
    assert.deepEqual(rita.tl.notes, ["history reset: messages sent before the server lost it may be missing"]);
    assert.deepEqual(rita.c.positions(), [{ room, epoch: r.epoch, offset: 3 }]);
  } finally {
    await own.stop();
  }
});

test("recovered: false when the history no longer reaches back (same epoch): the page reads back and counts what is lost", { timeout: 120_000 }, async () => {
  // The default history keeps 1,000 messages a room; the rate limit is lifted so that 1,010
  // can be posted quickly.
  const own = await ChatServer.start(SERVER_BIN, ["--rate-per-second", "1000000", "--rate-burst", "1000000"]);
  cleanup.push(() => own.stop());
  const room = freshRoom();
  const proxyR = await proxyTo(own);
  const proxyS = await proxyTo(own);
  const rita = pageMember("rita", proxyR, room);
  const e1 = (await rita.joined.next("rita joined")).epoch;
  const sam = member("sam", proxyS, room);
  await sam.joined.next("sam joined");
  await sam.c.request({ type: "message", room, text: "seen" });
  await untilText(rita, "seen");

  proxyR.accepting = false;
  proxyR.cutAll();
  await rita.status.until((e) => e.s === "reconnecting", "rita reconnecting");
  const N = 1010;
  const replies = [];
  for (let i = 0; i < N; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 100); j++) batch.push(sam.c.request({ type: "message", room, text: `x${j}` }));
    replies.push(...(await within(30_000, "a batch of replies", Promise.all(batch))));
  }
  assert.equal(replies.at(-1).offset, N + 1);

  proxyR.accepting = true;
  const r = await rita.resumed.next("rita's resume");
  assert.deepEqual(r, { room, recovered: false, epoch: e1, offset: N + 1, since: { epoch: e1, offset: 1 } });
  await within(30_000, "the page's history read", Promise.all(rita.recoveries));
  // Offsets 2..11 fell out of the 1,000 kept; 12..1011 came back from history.
  assert.deepEqual(rita.tl.notes, ["10 messages could not be recovered"]);
  assert.equal(rita.tl.lines.length, 1 + 1000);
  assert.deepEqual(rita.tl.texts.slice(0, 3), ["seen", "x10", "x11"]);
  assert.equal(rita.tl.texts.at(-1), `x${N - 1}`);
  assert.equal(new Set(rita.tl.texts).size, rita.tl.texts.length, "nothing twice");
});
