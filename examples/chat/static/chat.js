// @ts-check
// The chat page, on the generated client (../schema/chat.client.js): the socket, the ids, the
// replies, reconnecting, resuming the room after a reconnect (`since`, replayed messages, none
// twice) and checking every frame are the client's; the page only says what each message does,
// and fills the view with `history` when it opens the room or a resume could not recover. `tsc --checkJs` in CI checks it against ../schema/chat.client.d.ts: a handler
// missing for a message the server can send, or a request of a message without a reply, does
// not type-check.

import { connect, ProtocolError } from "../schema/chat.client.js";

/** @typedef {import("../schema/chat.client.js").Client} Client */
/** @typedef {import("../schema/chat.client.js").Status} Status */
/** @typedef {import("../schema/chat.client.js").ResumeResult} ResumeResult */

/** History is read 100 messages at a time, at most this many pages after a failed resume. */
const HISTORY_PAGES = 10;

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
/** @type {Map<string, HTMLElement>} stored messages on screen, by id (from the server, or the page's own once `sent` came) */
const shown = new Map();
/** @type {string[]} the room's epochs in the order the page met them: lines sort by (epoch, offset) */
const epochs = [];
/** The room's epoch as last announced. */
let epoch = "";
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

/** @param {Element} li */
function orderOf(li) {
  return [epochs.indexOf(/** @type {HTMLElement} */ (li).dataset.epoch ?? ""), Number(/** @type {HTMLElement} */ (li).dataset.offset)];
}

/**
 * Puts a stored message's line where its room position says, among the other stored lines
 * (lines still waiting for their `sent` stay where they were written).
 * @param {HTMLElement} li
 * @param {string} e the epoch
 * @param {number} offset
 */
function place(li, e, offset) {
  if (!epochs.includes(e)) epochs.push(e);
  li.dataset.epoch = e;
  li.dataset.offset = String(offset);
  const [me, mo] = orderOf(li);
  /** @type {Element | null} */
  let last = null;
  for (const other of messages.querySelectorAll("li.msg[data-offset]")) {
    if (other === li) continue;
    const [oe, oo] = orderOf(other);
    if (oe > me || (oe === me && oo > mo)) {
      messages.insertBefore(li, other);
      return;
    }
    last = other;
  }
  if (!li.isConnected) messages.append(li);
  else if (last && li.compareDocumentPosition(last) & Node.DOCUMENT_POSITION_FOLLOWING) last.after(li);
}

/**
 * A stored message (pushed, replayed or from history), once: false when it is on screen already.
 * @param {string} e the epoch it belongs to
 * @param {{ messageId: string, offset: number, from: string, text: string }} msg
 */
function addStored(e, msg) {
  if (shown.has(msg.messageId)) return false;
  const li = addMessage(msg.from, msg.text, msg.messageId, msg.from === me);
  shown.set(msg.messageId, li);
  place(li, e, msg.offset);
  messages.scrollTop = messages.scrollHeight;
  return true;
}

/**
 * Fills the view from `history`: the latest page when the room opens; after a resume that did
 * not recover, back from the newest until what the page had (`since`, in the same epoch) or
 * the start of the new epoch. Says honestly what it could not get.
 * @param {Client} c
 * @param {string} r the room
 * @param {ResumeResult | null} resume
 */
async function fillFromHistory(c, r, resume) {
  const target = resume === null ? Infinity : resume.epoch === resume.since.epoch ? resume.since.offset + 1 : 1;
  /** @type {number | undefined} */
  let before;
  let oldest = Infinity;
  try {
    for (let page = 0; page < (resume === null ? 1 : HISTORY_PAGES); page++) {
      const h = await c.request({ type: "history", room: r, limit: resume === null ? 50 : 100, ...(before === undefined ? {} : { before }) });
      if (client !== c || r !== room) return;
      for (const m of h.messages) addStored(h.epoch, m);
      if (h.messages.length === 0) break;
      oldest = h.messages[0].offset;
      if (oldest <= target) break;
      before = oldest;
    }
  } catch (e) {
    gap(`could not read the history: ${e instanceof ProtocolError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : e}`);
    return;
  }
  if (resume === null) return;
  if (resume.epoch !== resume.since.epoch) {
    gap("the server lost this room's history: messages sent while you were away may be missing");
  }
  const missing = Number.isFinite(oldest) ? oldest - target : 0;
  if (missing > 0) gap(`${missing} message${missing > 1 ? "s" : ""} sent while you were away could not be recovered`);
}

/**
 * A line saying what could not be shown, and the count of them on `#messages` (for tests).
 * @param {string} text
 */
function gap(text) {
  const li = document.createElement("li");
  li.className = "system gap";
  li.textContent = text;
  messages.append(li);
  messages.dataset.gaps = String(Number(messages.dataset.gaps ?? 0) + 1);
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
  // The client joins the room again by itself (resuming it) before what was written while
  // disconnected is sent.
  if (s === "open") errorLine.textContent = "";
}

/** Whether this login already joined once (the next `joined` follows a reconnect). */
let rejoined = false;

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  me = nameInput.value.trim() || "you";
  room = roomInput.value.trim();
  rejoined = false;
  client?.close(1000, "logging in again");
  shown.clear();
  epochs.length = 0;
  messages.replaceChildren();
  delete messages.dataset.gaps;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const token = tokenInput.value.trim();
  const query = token ? `token=${encodeURIComponent(token)}` : `user=${encodeURIComponent(me)}`;
  const c = connect(`${proto}://${location.host}/ws?${query}`, {
    onStatus: (s, detail) => { if (client === c) showStatus(s, detail); },
    onError: (e) => { errorLine.textContent = `${e.code}: ${e.message}`; },
    onInvalid: (f) => { console.warn(`invalid frame from the server: ${f.reason} at ${f.pointer || "/"}`); },
    // Everything after `since` was replayed, or the page reads what it can from history.
    onResume: (r) => { if (client === c && !r.recovered) void fillFromHistory(c, r.room, r); },
  });
  client = c;
  c.handle({
    joined: (msg) => {
      online.clear();
      for (const m of msg.members) online.add(m);
      renderMembers();
      epoch = msg.epoch;
      system(rejoined ? `you are back in ${msg.room}` : `you joined ${msg.room}`);
      // Opening the room: the latest messages. (A resume that did not recover fills from
      // history in onResume.)
      if (!rejoined) void fillFromHistory(c, msg.room, null);
      rejoined = true;
    },
    presence: (msg) => {
      if (msg.online) online.add(msg.user); else online.delete(msg.user);
      if (!msg.online) { typers.delete(msg.user); renderTyping(); }
      renderMembers();
      system(`${msg.user} is ${msg.online ? "online" : "offline"}`);
    },
    message: (msg) => {
      // Replayed messages come before the announcement of the resume: still `epoch`'s.
      addStored(epoch, msg);
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
  // Sent when the connection opens; after a reconnect the client joins again with `since`.
  c.send({ type: "join", room });
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
      // History may have shown it first (it was read while this reply was on its way).
      shown.get(sent.messageId)?.remove();
      shown.set(sent.messageId, li);
      place(li, epoch, sent.offset);
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
