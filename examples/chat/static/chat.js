// @ts-check
// The chat page, on the generated client (../schema/chat.client.js): the socket, the ids, the
// replies, reconnecting and checking every frame are the client's; the page only says what each
// message does. `tsc --checkJs` in CI checks it against ../schema/chat.client.d.ts: a handler
// missing for a message the server can send, or a request of a message without a reply, does
// not type-check.

import { connect, ProtocolError } from "../schema/chat.client.js";

/** @typedef {import("../schema/chat.client.js").Client} Client */
/** @typedef {import("../schema/chat.client.js").Status} Status */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const nameInput = /** @type {HTMLInputElement} */ ($("name"));
const roomInput = /** @type {HTMLInputElement} */ ($("room"));
const tokenInput = /** @type {HTMLInputElement} */ ($("token"));
const textInput = /** @type {HTMLInputElement} */ ($("text"));
const sendButton = /** @type {HTMLButtonElement} */ ($("send"));
const messages = $("messages");
const members = $("members");
const typing = $("typing");
const status = $("status");
const errorLine = $("error");

// A signed token in the page's own URL (`/?token=JWT`) is used instead of `?user=NAME`.
tokenInput.value = new URLSearchParams(location.search).get("token") ?? "";
const syncNameRequired = () => { nameInput.required = !tokenInput.value; };
syncNameRequired();
tokenInput.addEventListener("input", syncNameRequired);

/** @type {Client | null} */
let client = null;
let me = "";
let room = "";
/** @type {Map<string, ReturnType<typeof setTimeout>>} */
const typers = new Map();
/** @type {Set<string>} */
const online = new Set();
/** @type {Map<string, Set<string>>} read receipts that arrived before their `sent` */
const earlyReads = new Map();
let typingSent = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let typingTimer;

function renderMembers() {
  members.replaceChildren(...[...online].sort().map((u) => {
    const li = document.createElement("li");
    li.className = "online";
    li.dataset.user = u;
    li.textContent = u;
    return li;
  }));
}

function renderTyping() {
  const names = [...typers.keys()];
  typing.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing...` : "";
}

/** @param {string} text */
function system(text) {
  const li = document.createElement("li");
  li.className = "system";
  li.textContent = text;
  messages.append(li);
}

/**
 * @param {string} from
 * @param {string} text
 * @param {string | undefined} id
 * @param {boolean} mine
 */
function addMessage(from, text, id, mine) {
  const li = document.createElement("li");
  li.className = mine ? "msg mine" : "msg";
  if (id) li.dataset.id = id;
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(who, body);
  messages.append(li);
  messages.scrollTop = messages.scrollHeight;
  return li;
}

/**
 * @param {Element} li
 * @param {string} by
 */
function addReceipt(li, by) {
  if (li.querySelector(`.receipt[data-by="${CSS.escape(by)}"]`)) return;
  const r = document.createElement("span");
  r.className = "receipt";
  r.dataset.by = by;
  r.textContent = `read by ${by}`;
  li.append(r);
}

/**
 * Typing indicators are worth sending only while connected; they are not queued.
 * @param {boolean} active
 */
function sendTyping(active) {
  if (client && client.status === "open") client.send({ type: "typing", room, active });
}

/**
 * The status line, and `data-history` (the last transitions, for tests and the curious).
 * @param {Status} s
 * @param {import("../schema/chat.client.js").StatusDetail} detail
 */
function showStatus(s, detail) {
  status.dataset.state = s;
  status.dataset.history = [...(status.dataset.history ?? "").split(" ").filter(Boolean), s].slice(-20).join(" ");
  const ended = detail.code ? ` (${detail.code}${detail.reason ? ": " + detail.reason : ""})` : "";
  const texts = {
    connecting: "connecting...",
    open: `online as ${me}`,
    reconnecting: `reconnecting${ended}, attempt ${detail.attempt}...`,
    closed: `offline${ended}`,
  };
  status.textContent = texts[s];
  // While reconnecting, messages wait in the client's queue.
  textInput.disabled = s === "closed";
  sendButton.disabled = s === "closed";
  if (s === "open") {
    errorLine.textContent = "";
    // The server forgets a connection's rooms when it closes: join (again) first; what was
    // written while disconnected is sent after this.
    client?.send({ type: "join", room });
  }
}

/** Whether this login already joined once (the next `joined` follows a reconnect). */
let rejoined = false;

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  me = nameInput.value.trim() || "you";
  room = roomInput.value.trim();
  rejoined = false;
  client?.close(1000, "logging in again");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const token = tokenInput.value.trim();
  const query = token ? `token=${encodeURIComponent(token)}` : `user=${encodeURIComponent(me)}`;
  const c = connect(`${proto}://${location.host}/ws?${query}`, {
    onStatus: (s, detail) => { if (client === c) showStatus(s, detail); },
    onError: (e) => { errorLine.textContent = `${e.code}: ${e.message}`; },
    onInvalid: (f) => { console.warn(`invalid frame from the server: ${f.reason} at ${f.pointer || "/"}`); },
  });
  client = c;
  c.handle({
    joined: (msg) => {
      online.clear();
      for (const m of msg.members) online.add(m);
      renderMembers();
      system(rejoined ? `you are back in ${msg.room}` : `you joined ${msg.room}`);
      rejoined = true;
    },
    presence: (msg) => {
      if (msg.online) online.add(msg.user); else online.delete(msg.user);
      if (!msg.online) { typers.delete(msg.user); renderTyping(); }
      renderMembers();
      system(`${msg.user} is ${msg.online ? "online" : "offline"}`);
    },
    message: (msg) => {
      addMessage(msg.from, msg.text, msg.messageId, false);
      typers.delete(msg.from);
      renderTyping();
      // The message is on screen now: tell its author.
      c.send({ type: "read", messageId: msg.messageId });
    },
    read: (msg) => {
      const li = messages.querySelector(`li[data-id="${CSS.escape(msg.messageId)}"]`);
      if (li) addReceipt(li, msg.by);
      else earlyReads.set(msg.messageId, (earlyReads.get(msg.messageId) ?? new Set()).add(msg.by));
    },
    typing: (msg) => {
      const old = typers.get(msg.user);
      if (old) clearTimeout(old);
      if (msg.active) typers.set(msg.user, setTimeout(() => { typers.delete(msg.user); renderTyping(); }, 5000));
      else typers.delete(msg.user);
      renderTyping();
    },
  });
});

// `typing` goes out when typing starts and again every 3 s while it goes on (receivers drop
// the indicator after 5 s of silence); `active: false` 2 s after the last key.
textInput.addEventListener("input", () => {
  const now = Date.now();
  if (now - typingSent > 3000) { sendTyping(true); typingSent = now; }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { sendTyping(false); typingSent = 0; }, 2000);
});

$("compose").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = textInput.value;
  if (!text || !client) return;
  const li = addMessage(me, text, undefined, true);
  client.request({ type: "message", room, text }).then(
    (sent) => {
      li.dataset.id = sent.messageId;
      for (const by of earlyReads.get(sent.messageId) ?? []) addReceipt(li, by);
      earlyReads.delete(sent.messageId);
    },
    (e) => {
      li.classList.add("failed");
      errorLine.textContent = e instanceof ProtocolError ? `${e.code}: ${e.message}` : `not sent: ${e.message}`;
    },
  );
  textInput.value = "";
  clearTimeout(typingTimer);
  if (typingSent) { sendTyping(false); typingSent = 0; }
});
