// @ts-check
// The chat page. Types come from the exported protocol (../schema/chat.d.ts), checked by
// `tsc --checkJs` in CI: a message the server cannot send does not type-check here.

/** @typedef {import("../schema/chat").ServerMsg} ServerMsg */
/** @typedef {import("../schema/chat").ClientMsg} ClientMsg */

(() => {
  const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
  const nameInput = /** @type {HTMLInputElement} */ ($("name"));
  const roomInput = /** @type {HTMLInputElement} */ ($("room"));
  const textInput = /** @type {HTMLInputElement} */ ($("text"));
  const sendButton = /** @type {HTMLButtonElement} */ ($("send"));
  const messages = $("messages");
  const members = $("members");
  const typing = $("typing");
  const status = $("status");
  const errorLine = $("error");

  /** @type {WebSocket | null} */
  let ws = null;
  let me = "";
  let room = "";
  let nextId = 1;
  /** @type {Map<string, ReturnType<typeof setTimeout>>} */
  const typers = new Map();
  /** @type {Set<string>} */
  const online = new Set();
  /** @type {Map<number, HTMLLIElement>} messages of mine waiting for their `sent` */
  const pending = new Map();
  /** @type {Map<string, Set<string>>} read receipts that arrived before their `sent` */
  const earlyReads = new Map();
  let typingSent = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let typingTimer;

  /** @param {ClientMsg} msg */
  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

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
   */
  function addMessage(from, text, id) {
    const li = document.createElement("li");
    li.className = from === me ? "msg mine" : "msg";
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

  /** @param {ServerMsg} msg */
  function onMessage(msg) {
    switch (msg.type) {
      case "joined":
        online.clear();
        for (const m of msg.members) online.add(m);
        renderMembers();
        system(`you joined ${msg.room}`);
        break;
      case "presence":
        if (msg.online) online.add(msg.user); else online.delete(msg.user);
        if (!msg.online) { typers.delete(msg.user); renderTyping(); }
        renderMembers();
        system(`${msg.user} is ${msg.online ? "online" : "offline"}`);
        break;
      case "sent": {
        const li = msg.id === undefined ? undefined : pending.get(msg.id);
        if (li && msg.id !== undefined) {
          li.dataset.id = msg.messageId;
          pending.delete(msg.id);
          for (const by of earlyReads.get(msg.messageId) ?? []) addReceipt(li, by);
          earlyReads.delete(msg.messageId);
        }
        break;
      }
      case "message":
        addMessage(msg.from, msg.text, msg.messageId);
        typers.delete(msg.from);
        renderTyping();
        // The message is on screen now: tell its author.
        send({ type: "read", messageId: msg.messageId });
        break;
      case "read": {
        const li = messages.querySelector(`li[data-id="${CSS.escape(msg.messageId)}"]`);
        if (li) addReceipt(li, msg.by);
        else earlyReads.set(msg.messageId, (earlyReads.get(msg.messageId) ?? new Set()).add(msg.by));
        break;
      }
      case "typing": {
        const old = typers.get(msg.user);
        if (old) clearTimeout(old);
        if (msg.active) typers.set(msg.user, setTimeout(() => { typers.delete(msg.user); renderTyping(); }, 5000));
        else typers.delete(msg.user);
        renderTyping();
        break;
      }
      case "error":
        errorLine.textContent = `${msg.code}: ${msg.message}`;
        if (msg.id !== undefined) pending.delete(msg.id);
        break;
    }
  }

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    me = nameInput.value.trim();
    room = roomInput.value.trim();
    if (ws) ws.close(1000, "reconnecting");
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${proto}://${location.host}/ws?user=${encodeURIComponent(me)}`);
    ws = socket;
    status.textContent = "connecting...";
    socket.addEventListener("open", () => {
      status.textContent = `online as ${me}`;
      textInput.disabled = false;
      sendButton.disabled = false;
      errorLine.textContent = "";
      send({ type: "join", room });
    });
    socket.addEventListener("message", (ev) => onMessage(/** @type {ServerMsg} */ (JSON.parse(String(ev.data)))));
    socket.addEventListener("close", (ev) => {
      if (ws !== socket) return;
      status.textContent = `offline (${ev.code}${ev.reason ? ": " + ev.reason : ""})`;
      textInput.disabled = true;
      sendButton.disabled = true;
    });
  });

  // `typing` goes out when typing starts and again every 3 s while it goes on (receivers drop
  // the indicator after 5 s of silence); `active: false` 2 s after the last key.
  textInput.addEventListener("input", () => {
    const now = Date.now();
    if (now - typingSent > 3000) { send({ type: "typing", room, active: true }); typingSent = now; }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { send({ type: "typing", room, active: false }); typingSent = 0; }, 2000);
  });

  $("compose").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = textInput.value;
    if (!text) return;
    const id = nextId++;
    pending.set(id, addMessage(me, text, undefined));
    send({ type: "message", id, room, text });
    textInput.value = "";
    clearTimeout(typingTimer);
    if (typingSent) { send({ type: "typing", room, active: false }); typingSent = 0; }
  });
})();
