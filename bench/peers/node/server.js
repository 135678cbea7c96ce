// The chat wire contract (../shared/ARCHITECTURE.md, "Chat example: wire contract") on Node.js and
// the `ws` package, written the way its users write it: JSON.parse, `if (msg.type === ...)`,
// Maps of rooms, and per room a plain array of its last 1,000 messages (24 h) with a counter for
// their offsets, for resume (`join` with `since`) and `history` ("Resume and history").
// A peer for `ratios peers`; checked by bench/tests/peers.rs.
//
//   node bench/peers/node/server.js --listen 127.0.0.1:0   # prints "listening on http://ADDR"
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const { WebSocketServer } = require("ws");

const USER = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_TEXT = 4000;
const KEEP_AUTHORS = 10000;
const KEEP_MESSAGES = 1000;
const KEEP_MS = 24 * 60 * 60 * 1000;
const MAX_HISTORY = 100;
const DEFAULT_HISTORY = 50;

const listenAt = process.argv.indexOf("--listen");
const listen = listenAt > 0 ? process.argv[listenAt + 1] : "127.0.0.1:8080";
const colon = listen.lastIndexOf(":");
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

// room -> Map(user -> Set(ws))
const rooms = new Map();
// user -> Set(ws)
const users = new Map();
// messageId -> { room, author }
const authors = new Map();
// room -> { offset, messages: [{ messageId, offset, from, text, at }] }, oldest first
const streams = new Map();
// The history lives in this process only: a restart loses it, so the epoch is drawn at start.
// Message ids carry it too, so they never repeat across restarts.
const epoch = crypto.randomUUID().slice(0, 8);
let nextId = 1;

function send(ws, msg) {
  ws.send(JSON.stringify(msg));
}

function error(ws, code, message, id, pointer) {
  const e = { type: "error", code, message };
  if (id !== undefined) e.id = id;
  if (pointer !== undefined) e.pointer = pointer;
  send(ws, e);
}

function toRoom(room, msg, except) {
  const members = rooms.get(room);
  if (!members) return;
  const data = JSON.stringify(msg);
  for (const conns of members.values()) {
    for (const c of conns) {
      if (c !== except) c.send(data);
    }
  }
}

function streamOf(room) {
  let stream = streams.get(room);
  if (!stream) {
    stream = { offset: 0, messages: [] };
    streams.set(room, stream);
  }
  // Forget what is older than a day.
  const old = Date.now() - KEEP_MS;
  while (stream.messages.length > 0 && stream.messages[0].at < old) stream.messages.shift();
  return stream;
}

function pushOf(room, m) {
  return { type: "message", messageId: m.messageId, offset: m.offset, room, from: m.from, text: m.text };
}

function isMember(ws, room) {
  return ws.rooms.has(room);
}

function leave(ws, room) {
  const members = rooms.get(room);
  if (!members || !ws.rooms.has(room)) return;
  ws.rooms.delete(room);
  const conns = members.get(ws.user);
  conns.delete(ws);
  if (conns.size === 0) {
    members.delete(ws.user);
    if (members.size === 0) rooms.delete(room);
    else toRoom(room, { type: "presence", room, user: ws.user, online: false });
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://localhost");
  const user = url.searchParams.get("user");
  if (url.pathname !== "/ws" || !user || !USER.test(user)) {
    socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.user = user;
    ws.rooms = new Set();
    wss.emit("connection", ws, req);
  });
});

wss.on("connection", (ws) => {
  if (!users.has(ws.user)) users.set(ws.user, new Set());
  users.get(ws.user).add(ws);

  ws.on("error", console.error);

  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, "binary frames are not accepted");
      return;
    }
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch (e) {
      error(ws, "invalid_json", "not JSON: " + e.message);
      return;
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      error(ws, "invalid_message", "expected an object");
      return;
    }
    const id = typeof msg.id === "number" ? msg.id : undefined;
    const room = msg.room;

    if (msg.type === "join") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      const since = msg.since ?? undefined;
      if (since !== undefined) {
        if (typeof since !== "object" || Array.isArray(since)) {
          return error(ws, "invalid_message", "since must be {epoch, offset}", id, "/since");
        }
        if (typeof since.epoch !== "string") return error(ws, "invalid_message", "epoch must be a string", id, "/since/epoch");
        if (!Number.isInteger(since.offset) || since.offset < 0) {
          return error(ws, "invalid_message", "offset must be a whole number", id, "/since/offset");
        }
      }
      const stream = streamOf(room);
      if (since !== undefined && since.epoch === epoch && since.offset > stream.offset) {
        return error(ws, "invalid_message", `offset ${since.offset} is past the room's latest ${stream.offset}`, id, "/since/offset");
      }
      if (!rooms.has(room)) rooms.set(room, new Map());
      const members = rooms.get(room);
      if (!ws.rooms.has(room)) {
        ws.rooms.add(room);
        const first = !members.has(ws.user);
        if (first) members.set(ws.user, new Set());
        members.get(ws.user).add(ws);
        if (first) toRoom(room, { type: "presence", room, user: ws.user, online: true }, ws);
      }
      const joined = { type: "joined", room, members: [...members.keys()].sort(), epoch, offset: stream.offset };
      if (since !== undefined) {
        // Recovered when every message after since.offset is still stored.
        const first = stream.messages.length > 0 ? stream.messages[0].offset : stream.offset + 1;
        joined.recovered = since.epoch === epoch && since.offset + 1 >= first;
        if (joined.recovered) {
          for (const m of stream.messages) if (m.offset > since.offset) send(ws, pushOf(room, m));
        }
      }
      send(ws, joined);
    } else if (msg.type === "message") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      if (typeof msg.text !== "string") return error(ws, "invalid_message", "text must be a string", id, "/text");
      if (!isMember(ws, room)) return error(ws, "not_in_room", "join the room first", id, "/room");
      const length = [...msg.text].length;
      if (length === 0 || length > MAX_TEXT) {
        return error(ws, "invalid_message", "text must be 1 to 4000 characters", id, "/text");
      }
      const messageId = epoch + "-" + nextId++;
      authors.set(messageId, { room, author: ws.user });
      if (authors.size > KEEP_AUTHORS) authors.delete(authors.keys().next().value);
      const stream = streamOf(room);
      const stored = { messageId, offset: ++stream.offset, from: ws.user, text: msg.text, at: Date.now() };
      stream.messages.push(stored);
      if (stream.messages.length > KEEP_MESSAGES) stream.messages.shift();
      const sent = { type: "sent", messageId, offset: stored.offset };
      if (id !== undefined) sent.id = id;
      send(ws, sent);
      toRoom(room, pushOf(room, stored), ws);
    } else if (msg.type === "history") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      const limit = msg.limit ?? DEFAULT_HISTORY;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY) {
        return error(ws, "invalid_message", "limit must be 1 to 100", id, "/limit");
      }
      const before = msg.before ?? undefined;
      if (before !== undefined && (!Number.isInteger(before) || before < 1)) {
        return error(ws, "invalid_message", "before must be an offset, 1 or more", id, "/before");
      }
      if (!isMember(ws, room)) return error(ws, "not_in_room", "join the room first", id, "/room");
      const stream = streamOf(room);
      if (before !== undefined && before > stream.offset + 1) {
        return error(ws, "invalid_message", `before ${before} is past the room's next offset`, id, "/before");
      }
      const page = stream.messages.filter((m) => before === undefined || m.offset < before).slice(-limit);
      const reply = {
        type: "history",
        room,
        epoch,
        messages: page.map((m) => ({ messageId: m.messageId, offset: m.offset, from: m.from, text: m.text })),
      };
      if (id !== undefined) reply.id = id;
      send(ws, reply);
    } else if (msg.type === "read") {
      if (typeof msg.messageId !== "string") {
        return error(ws, "invalid_message", "messageId must be a string", id, "/messageId");
      }
      const written = authors.get(msg.messageId);
      if (!written || !isMember(ws, written.room)) {
        return error(ws, "unknown_message", "no such message", id, "/messageId");
      }
      const receipt = JSON.stringify({ type: "read", messageId: msg.messageId, by: ws.user });
      for (const c of users.get(written.author) || []) c.send(receipt);
    } else if (msg.type === "typing") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      if (typeof msg.active !== "boolean") {
        return error(ws, "invalid_message", "active must be a boolean", id, "/active");
      }
      if (!isMember(ws, room)) return error(ws, "not_in_room", "join the room first", id, "/room");
      toRoom(room, { type: "typing", room, user: ws.user, active: msg.active }, ws);
    } else if (msg.type === "leave") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      leave(ws, room);
    } else {
      error(ws, "unknown_type", "unknown message type", id, "/type");
    }
  });

  ws.on("close", () => {
    for (const room of [...ws.rooms]) leave(ws, room);
    const conns = users.get(ws.user);
    conns.delete(ws);
    if (conns.size === 0) users.delete(ws.user);
  });
});

server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});
