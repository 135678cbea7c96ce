// The chat wire contract (../shared/ARCHITECTURE.md, "Chat example: wire contract") on Node.js and
// the `ws` package, written the way its users write it: JSON.parse, `if (msg.type === ...)`,
// Maps of rooms. A peer for `ratios peers`; checked by bench/tests/peers.rs.
//
//   node bench/peers/node/server.js --listen 127.0.0.1:0   # prints "listening on http://ADDR"
"use strict";

const http = require("node:http");
const { WebSocketServer } = require("ws");

const USER = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_TEXT = 4000;
const KEEP_AUTHORS = 10000;

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
      if (!rooms.has(room)) rooms.set(room, new Map());
      const members = rooms.get(room);
      if (!ws.rooms.has(room)) {
        ws.rooms.add(room);
        const first = !members.has(ws.user);
        if (first) members.set(ws.user, new Set());
        members.get(ws.user).add(ws);
        if (first) toRoom(room, { type: "presence", room, user: ws.user, online: true }, ws);
      }
      send(ws, { type: "joined", room, members: [...members.keys()].sort() });
    } else if (msg.type === "message") {
      if (typeof room !== "string") return error(ws, "invalid_message", "room must be a string", id, "/room");
      if (typeof msg.text !== "string") return error(ws, "invalid_message", "text must be a string", id, "/text");
      if (!isMember(ws, room)) return error(ws, "not_in_room", "join the room first", id, "/room");
      const length = [...msg.text].length;
      if (length === 0 || length > MAX_TEXT) {
        return error(ws, "invalid_message", "text must be 1 to 4000 characters", id, "/text");
      }
      const messageId = String(nextId++);
      authors.set(messageId, { room, author: ws.user });
      if (authors.size > KEEP_AUTHORS) authors.delete(authors.keys().next().value);
      const sent = { type: "sent", messageId };
      if (id !== undefined) sent.id = id;
      send(ws, sent);
      toRoom(room, { type: "message", messageId, room, from: ws.user, text: msg.text }, ws);
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
