// The chat wire contract (../shared/ARCHITECTURE.md, "Chat example: wire contract") on Bun.serve
// (uWebSockets inside) and its topic pub/sub, written the way its users write it: a topic per room
// and one per user (for read receipts to every device), `if (msg.type === ...)` routing, and per
// room a plain array of its last 1,000 messages (24 h) with a counter for their offsets, for
// resume (`join` with `since`) and `history` ("Resume and history").
// A peer for `ratios peers`; checked by bench/tests/peers.rs.
//
//   bun bench/peers/bun/server.js --listen 127.0.0.1:0   # prints "listening on http://ADDR"

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

// room -> Map(user -> number of that user's connections in the room)
const rooms = new Map();
// messageId -> { room, author }
const authors = new Map();
// room -> { offset, messages: [{ messageId, offset, from, text, at }] }, oldest first
const streams = new Map();
// The history lives in this process only: a restart loses it, so the epoch is drawn at start.
// Message ids carry it too, so they never repeat across restarts.
const epoch = crypto.randomUUID().slice(0, 8);
let nextId = 1;

function error(ws, code, message, id, pointer) {
  const e = { type: "error", code, message };
  if (id !== undefined) e.id = id;
  if (pointer !== undefined) e.pointer = pointer;
  ws.send(JSON.stringify(e));
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

function leave(ws, room) {
  if (!ws.data.rooms.has(room)) return;
  ws.data.rooms.delete(room);
  ws.unsubscribe("room:" + room);
  const members = rooms.get(room);
  const left = members.get(ws.data.user) - 1;
  if (left > 0) {
    members.set(ws.data.user, left);
    return;
  }
  members.delete(ws.data.user);
  if (members.size === 0) rooms.delete(room);
  else server.publish("room:" + room, JSON.stringify({ type: "presence", room, user: ws.data.user, online: false }));
}

const server = Bun.serve({
  hostname: listen.slice(0, colon),
  port: Number(listen.slice(colon + 1)),
  fetch(req, server) {
    const url = new URL(req.url);
    const user = url.searchParams.get("user");
    if (url.pathname !== "/ws" || !user || !USER.test(user)) {
      return new Response("a user name ([A-Za-z0-9_-]{1,32}) is required", { status: 401 });
    }
    if (server.upgrade(req, { data: { user, rooms: new Set() } })) return;
    return new Response("expected a WebSocket upgrade", { status: 400 });
  },
  websocket: {
    maxPayloadLength: 64 * 1024,
    open(ws) {
      ws.subscribe("user:" + ws.data.user);
    },
    message(ws, data) {
      if (typeof data !== "string") {
        ws.close(1003, "binary frames are not accepted");
        return;
      }
      let msg;
      try {
        msg = JSON.parse(data);
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
      const user = ws.data.user;

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
        if (!ws.data.rooms.has(room)) {
          ws.data.rooms.add(room);
          const count = members.get(user) || 0;
          members.set(user, count + 1);
          if (count === 0) ws.publish("room:" + room, JSON.stringify({ type: "presence", room, user, online: true }));
          ws.subscribe("room:" + room);
        }
        const joined = { type: "joined", room, members: [...members.keys()].sort(), epoch, offset: stream.offset };
        if (since !== undefined) {
          // Recovered when every message after since.offset is still stored.
          const first = stream.messages.length > 0 ? stream.messages[0].offset : stream.offset + 1;
          joined.recovered = since.epoch === epoch && since.offset + 1 >= first;
          if (joined.recovered) {
            for (const m of stream.messages) if (m.offset > since.offset) ws.send(JSON.stringify(pushOf(room, m)));
          }
        }
        ws.send(JSON.stringify(joined));
      } else if (msg.type === "message") {
        if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
        if (typeof msg.text !== "string") return error(ws, "invalid_message", "text must be a string", id, "/text");
        if (!ws.data.rooms.has(room)) return error(ws, "not_in_room", "join the room first", id, "/room");
        const length = [...msg.text].length;
        if (length === 0 || length > MAX_TEXT) {
          return error(ws, "invalid_message", "text must be 1 to 4000 characters", id, "/text");
        }
        const messageId = epoch + "-" + nextId++;
        authors.set(messageId, { room, author: user });
        if (authors.size > KEEP_AUTHORS) authors.delete(authors.keys().next().value);
        const stream = streamOf(room);
        const stored = { messageId, offset: ++stream.offset, from: user, text: msg.text, at: Date.now() };
        stream.messages.push(stored);
        if (stream.messages.length > KEEP_MESSAGES) stream.messages.shift();
        const sent = { type: "sent", messageId, offset: stored.offset };
        if (id !== undefined) sent.id = id;
        ws.send(JSON.stringify(sent));
        ws.publish("room:" + room, JSON.stringify(pushOf(room, stored)));
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
        if (!ws.data.rooms.has(room)) return error(ws, "not_in_room", "join the room first", id, "/room");
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
        ws.send(JSON.stringify(reply));
      } else if (msg.type === "read") {
        if (typeof msg.messageId !== "string") {
          return error(ws, "invalid_message", "messageId must be a string", id, "/messageId");
        }
        const written = authors.get(msg.messageId);
        if (!written || !ws.data.rooms.has(written.room)) {
          return error(ws, "unknown_message", "no such message", id, "/messageId");
        }
        server.publish("user:" + written.author, JSON.stringify({ type: "read", messageId: msg.messageId, by: user }));
      } else if (msg.type === "typing") {
        if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
        if (typeof msg.active !== "boolean") {
          return error(ws, "invalid_message", "active must be a boolean", id, "/active");
        }
        if (!ws.data.rooms.has(room)) return error(ws, "not_in_room", "join the room first", id, "/room");
        ws.publish("room:" + room, JSON.stringify({ type: "typing", room, user, active: msg.active }));
      } else if (msg.type === "leave") {
        if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
        leave(ws, room);
      } else {
        error(ws, "unknown_type", "unknown message type", id, "/type");
      }
    },
    close(ws) {
      for (const room of [...ws.data.rooms]) leave(ws, room);
    },
  },
});

console.log(`listening on http://${server.hostname}:${server.port}`);
