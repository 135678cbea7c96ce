
// ---- The client (the same for every protocol; what is above is this protocol's). ----

/** Thrown by `send` and rejected by `request` for reasons on this side of the wire. */
export class ClientError extends Error {
  /**
   * @param {"timeout" | "disconnected" | "queue_full" | "closed"} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.name = "ClientError";
    this.kind = kind;
  }
}

/** A request answered by the protocol's error reply. */
export class ProtocolError extends Error {
  /** @param {any} reply */
  constructor(reply) {
    super(String(reply.message ?? reply.code ?? "error reply"));
    this.name = "ProtocolError";
    this.code = String(reply.code ?? "");
    this.pointer = typeof reply.pointer === "string" ? reply.pointer : null;
    this.id = typeof reply[SERVER_ID] === "number" ? reply[SERVER_ID] : null;
    this.reply = reply;
  }
}

const KNOWN = new Set(ServerGuards.TYPES);
const OPEN = 1; // WebSocket.OPEN, the same in browsers and in the `ws` package

// Room streams. The field names are fixed by the framework (protocol-core checks them on the
// variants that declare a stream role); the roles come from STREAMS above.
const ROOM = "room";
const SINCE = "since";
const OFFSET = "offset";
const EPOCH = "epoch";
const RECOVERED = "recovered";
const JOINS = new Map(Object.entries(STREAMS.joins));
const ANNOUNCES = new Set([...JOINS.values()].filter((a) => a !== null));
const LEAVES = new Set(STREAMS.leaves);
const PUBLISHES = new Set(STREAMS.publishes);
const STREAM_MESSAGES = new Set(STREAMS.messages);
/** Offsets seen above a gap that are kept; past this many the gap is taken as lost (the app
 * still gets every message, and a reconnect resumes after the newest contiguous one). */
const AHEAD_LIMIT = 1024;

/** An offset as the wire carries it: a non-negative integer JSON can hold exactly. */
const isOffset = (v) => Number.isSafeInteger(v) && v >= 0;

/**
 * One room the app joined: the app's last join message (to send again after a reconnect, with
 * `since`), and once a join was announced, where the client is in the room's stream: the epoch
 * and the highest offset up to which every message was seen, plus the offsets seen above a gap
 * (a reply's offset can come before an earlier offset published on another node).
 */
class Place {
  /** @param {object} join */
  constructor(join) {
    this.join = join;
    /** @type {string | null} null until a join is announced */
    this.epoch = null;
    this.offset = 0;
    /** @type {Set<number>} */
    this.ahead = new Set();
    /** The position sent with `since` on this connection, until its announcement comes. */
    this.resuming = null;
  }

  seen(offset) {
    return offset <= this.offset || this.ahead.has(offset);
  }

  mark(offset) {
    if (offset <= this.offset) return;
    this.ahead.add(offset);
    if (this.ahead.size > AHEAD_LIMIT) this.offset = Math.min(...this.ahead) - 1;
    while (this.ahead.delete(this.offset + 1)) this.offset += 1;
  }

  /** The stream stands at `offset` in `epoch` (an announcement): everything up to it is had,
   * in this epoch; a new epoch starts over. */
  at(epoch, offset) {
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.offset = offset;
      this.ahead.clear();
      return;
    }
    if (offset > this.offset) this.offset = offset;
    for (const o of this.ahead) if (o <= this.offset) this.ahead.delete(o);
    while (this.ahead.delete(this.offset + 1)) this.offset += 1;
  }

  /** The join to send after a reconnect: the app's, with `since` once there is a position. */
  rejoin() {
    return this.epoch === null ? this.join : { ...this.join, [SINCE]: { [EPOCH]: this.epoch, [OFFSET]: this.offset } };
  }
}

/** The JSON type of `v`, with integers apart from other numbers. */
function jsonType(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

function equal(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && equal(a[k], b[k]));
}

const patterns = new Map();
function matches(pattern, s) {
  let re = patterns.get(pattern);
  if (!re) patterns.set(pattern, (re = new RegExp(pattern, "u")));
  return re.test(s);
}

function pointerTo(base, key) {
  return `${base}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;
}

/**
 * Checks `v` against the subset of JSON Schema 2020-12 the exported schemas use (the keywords
 * kept in SCHEMA). Returns null, or the first failure as `{ pointer, reason }`.
 */
function check(s, v, at) {
  if (s === true) return null;
  if (s === false) return { pointer: at, reason: "no value is allowed here" };
  if (s.$ref !== undefined) {
    const e = s.$ref === "#" ? checkMessage(v, at) : check(SCHEMA.defs[s.$ref] ?? false, v, at);
    if (e) return e;
  }
  const t = jsonType(v);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((x) => x === t || (x === "number" && t === "integer"))) {
      return { pointer: at, reason: `expected ${types.join(" or ")}, found ${t}` };
    }
  }
  if (s.const !== undefined && !equal(s.const, v)) return { pointer: at, reason: `expected ${JSON.stringify(s.const)}` };
  if (s.enum !== undefined && !s.enum.some((x) => equal(x, v))) {
    return { pointer: at, reason: `expected one of ${s.enum.map((x) => JSON.stringify(x)).join(", ")}` };
  }
  if (t === "integer" || t === "number") {
    if (s.minimum !== undefined && v < s.minimum) return { pointer: at, reason: `below the minimum ${s.minimum}` };
    if (s.maximum !== undefined && v > s.maximum) return { pointer: at, reason: `above the maximum ${s.maximum}` };
    if (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) return { pointer: at, reason: `not above ${s.exclusiveMinimum}` };
    if (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum) return { pointer: at, reason: `not below ${s.exclusiveMaximum}` };
    if (s.multipleOf !== undefined && !Number.isInteger(v / s.multipleOf)) return { pointer: at, reason: `not a multiple of ${s.multipleOf}` };
  }
  if (t === "string") {
    const length = [...v].length; // code points, as JSON Schema counts
    if (s.minLength !== undefined && length < s.minLength) return { pointer: at, reason: `shorter than ${s.minLength} characters` };
    if (s.maxLength !== undefined && length > s.maxLength) return { pointer: at, reason: `longer than ${s.maxLength} characters` };
    if (s.pattern !== undefined && !matches(s.pattern, v)) return { pointer: at, reason: `does not match ${s.pattern}` };
  }
  if (t === "array") {
    if (s.minItems !== undefined && v.length < s.minItems) return { pointer: at, reason: `fewer than ${s.minItems} items` };
    if (s.maxItems !== undefined && v.length > s.maxItems) return { pointer: at, reason: `more than ${s.maxItems} items` };
    const prefix = s.prefixItems ?? [];
    for (let i = 0; i < v.length; i++) {
      const item = i < prefix.length ? prefix[i] : s.items;
      const e = item === undefined ? null : check(item, v[i], `${at}/${i}`);
      if (e) return e;
    }
    if (s.uniqueItems === true) {
      for (let i = 0; i < v.length; i++) {
        for (let j = 0; j < i; j++) {
          if (equal(v[i], v[j])) return { pointer: `${at}/${i}`, reason: `the same as item ${j}` };
        }
      }
    }
  }
  if (t === "object") {
    const keys = Object.keys(v);
    if (s.minProperties !== undefined && keys.length < s.minProperties) return { pointer: at, reason: `fewer than ${s.minProperties} fields` };
    if (s.maxProperties !== undefined && keys.length > s.maxProperties) return { pointer: at, reason: `more than ${s.maxProperties} fields` };
    for (const name of s.required ?? []) {
      if (!Object.prototype.hasOwnProperty.call(v, name)) return { pointer: pointerTo(at, name), reason: `missing field "${name}"` };
    }
    const props = s.properties ?? {};
    const pattern = s.patternProperties ?? {};
    for (const key of keys) {
      let seen = false;
      if (Object.prototype.hasOwnProperty.call(props, key)) {
        seen = true;
        const e = check(props[key], v[key], pointerTo(at, key));
        if (e) return e;
      }
      for (const [re, sub] of Object.entries(pattern)) {
        if (!matches(re, key)) continue;
        seen = true;
        const e = check(sub, v[key], pointerTo(at, key));
        if (e) return e;
      }
      if (!seen && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false) return { pointer: pointerTo(at, key), reason: `unknown field "${key}"` };
        const e = check(s.additionalProperties, v[key], pointerTo(at, key));
        if (e) return e;
      }
    }
  }
  for (const sub of s.allOf ?? []) {
    const e = check(sub, v, at);
    if (e) return e;
  }
  if (s.anyOf !== undefined && !s.anyOf.some((sub) => check(sub, v, at) === null)) {
    return { pointer: at, reason: "matches none of the allowed shapes (anyOf)" };
  }
  if (s.oneOf !== undefined) {
    const n = s.oneOf.filter((sub) => check(sub, v, at) === null).length;
    if (n !== 1) return { pointer: at, reason: n === 0 ? "matches none of the allowed shapes (oneOf)" : "matches more than one shape (oneOf)" };
  }
  if (s.not !== undefined && check(s.not, v, at) === null) return { pointer: at, reason: "matches a shape that is not allowed (not)" };
  return null;
}

/** A whole server message: the root's own rules, then the variant its tag names. */
function checkMessage(v, at = "") {
  const e = check(SCHEMA.root, v, at);
  if (e) return e;
  const tag = v[SERVER_TAG];
  const variant = KNOWN.has(tag) ? SCHEMA.variants[tag] : SCHEMA.catchAll;
  if (variant === null || variant === undefined) {
    return { pointer: pointerTo(at, SERVER_TAG), reason: `unknown message type ${JSON.stringify(tag)}; expected one of: ${[...KNOWN].join(", ")}` };
  }
  return check(variant, v, at);
}

/**
 * Checks a parsed server message as `validate` does: null when it is valid, else the first
 * failure as `{ pointer, reason }`.
 */
export function validateServerMessage(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { pointer: "", reason: `not a JSON object but ${jsonType(value)}` };
  }
  return checkMessage(value);
}

/** Reports an error thrown by application code without breaking the client's own state. */
function report(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else queueMicrotask(() => { throw error; });
}

const DEFAULTS = {
  requestTimeout: 10_000,
  queueLimit: 100,
  minDelay: 500,
  maxDelay: 30_000,
  maxAttempts: Infinity,
};

/**
 * Opens a client: the connection starts at once and is kept up (see `ConnectOptions`).
 * `url` may be a function, called before every attempt (to put a fresh token in it).
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

class Client {
  #url;
  #options;
  #Impl;
  #ws = null;
  #status = "connecting";
  #attempt = 0;
  #retryTimer = undefined;
  #nextId = 1;
  /** Requests by correlation id: `{ reply, resolve, reject, timer, sent }`. */
  #pending = new Map();
  /** Frames written while disconnected: `{ text, request, msg }`, flushed in order on open. */
  #queue = [];
  #handlers = null;
  #listeners = new Map();
  #refreshTimer = undefined;
  /** Rooms joined through a stream-joining message, by name: `Place`s. */
  #rooms = new Map();

  constructor(url, options) {
    this.#url = url;
    this.#options = options;
    this.#Impl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#Impl !== "function") {
      throw new TypeError("no WebSocket implementation: pass options.WebSocket (in Node 20, the `ws` package's WebSocket)");
    }
    // A bad URL throws here, to the caller, rather than turning into endless reconnects.
    this.#open(true);
    // Reported after connect() has returned, so onStatus may use the client.
    queueMicrotask(() => {
      if (this.#status === "connecting") this.#setStatus("connecting", { attempt: 0 });
    });
  }

  get status() {
    return this.#status;
  }

  send(msg) {
    if (this.#track(msg, null)) this.#write(JSON.stringify(msg), null, msg);
  }

  positions() {
    const out = [];
    for (const [room, p] of this.#rooms) {
      if (p.epoch !== null) out.push({ room, epoch: p.epoch, offset: p.offset });
    }
    return out;
  }

  request(msg, options = {}) {
    const type = msg?.[CLIENT_TAG];
    if (!Object.prototype.hasOwnProperty.call(REPLIES, type)) {
      return Promise.reject(new TypeError(`${JSON.stringify(type)} declares no reply: use send()`));
    }
    const id = this.#nextId++;
    const timeout = options.timeout ?? this.#options.requestTimeout ?? DEFAULTS.requestTimeout;
    return new Promise((resolve, reject) => {
      const entry = { id, reply: REPLIES[type], resolve, reject, timer: undefined, sent: false, publishes: null };
      if (PUBLISHES.has(type) && typeof msg[ROOM] === "string") entry.publishes = msg[ROOM];
      entry.timer = setTimeout(() => {
        this.#settle(id);
        const queued = this.#queue.findIndex((q) => q.request === entry);
        if (queued >= 0) this.#queue.splice(queued, 1);
        reject(new ClientError("timeout", `no reply to ${JSON.stringify(type)} (id ${id}) within ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, entry);
      try {
        const frame = { ...msg, [CLIENT_ID]: id };
        if (this.#track(msg, entry)) this.#write(JSON.stringify(frame), entry, frame);
      } catch (e) {
        this.#settle(id);
        reject(e);
      }
    });
  }

  handle(handlers) {
    const missing = HANDLED.filter((t) => typeof handlers?.[t] !== "function");
    if (missing.length) throw new TypeError(`handle(): missing handlers for ${missing.map((t) => JSON.stringify(t)).join(", ")}`);
    this.#handlers = handlers;
  }

  on(type, listener) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    const entry = { listener };
    set.add(entry);
    return () => set.delete(entry);
  }

  close(code = 1000, reason = "") {
    if (this.#status === "closed") return;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#refreshTimer);
    const ws = this.#ws;
    this.#ws = null;
    this.#fail(new ClientError("closed", "the client was closed"), true);
    this.#setStatus("closed", { attempt: this.#attempt, code, reason });
    // Last: a code the WebSocket refuses throws to the caller, with the client closed already.
    if (ws) ws.close(code, reason);
  }

  #setStatus(status, detail) {
    this.#status = status;
    if (this.#options.onStatus) {
      try { this.#options.onStatus(status, detail); } catch (e) { report(e); }
    }
  }

  #open(first) {
    let ws;
    try {
      ws = new this.#Impl(typeof this.#url === "function" ? this.#url() : this.#url);
    } catch (e) {
      if (first) throw e;
      this.#lost(null, { code: 1006, reason: String(e && e.message) });
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#attempt = 0;
      // The rooms first: each remembered join goes out again, with `since` where the client has
      // a position, so the server replays what was missed before anything else happens. Joins
      // made while disconnected were not queued: they are among these.
      const resuming = [];
      const queuedJoin = (room) => this.#queue.find((q) => q.msg && JOINS.has(q.msg[CLIENT_TAG]) && q.msg[ROOM] === room);
      for (const [room, place] of this.#rooms) {
        resuming.push(room);
        // A join sent as a request while disconnected waits in the queue: that one goes, with
        // `since`, in its turn.
        const queued = queuedJoin(room);
        if (queued) {
          if (place.epoch !== null) {
            place.resuming = place.rejoin()[SINCE];
            queued.text = JSON.stringify({ ...queued.msg, [SINCE]: place.resuming });
          }
          continue;
        }
        const frame = place.rejoin();
        place.resuming = frame === place.join ? null : frame[SINCE];
        ws.send(JSON.stringify(frame));
      }
      // Sends made in onStatus("open") go out after the joins and before the queue.
      this.#setStatus("open", { attempt: 0, reconnected: !first, resuming });
      if (this.#ws !== ws) return;
      this.#startRefresh(ws);
      const queue = this.#queue;
      this.#queue = [];
      for (const q of queue) {
        if (q.request) q.request.sent = true;
        ws.send(q.text);
      }
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#receive(ev.data);
    };
    ws.onclose = (ev) => this.#lost(ws, { code: ev.code, reason: ev.reason });
    // An error is always followed by close; the close event carries what there is to know.
    ws.onerror = () => {};
  }

  /** While `ws` is open, send `options.refresh.request()` every `options.refresh.every` ms
   * (a signed token renewed before it expires); a refusal goes to `onError`. */
  #startRefresh(ws) {
    clearInterval(this.#refreshTimer);
    const refresh = this.#options.refresh;
    if (!refresh) return;
    this.#refreshTimer = setInterval(() => {
      if (this.#ws !== ws) { clearInterval(this.#refreshTimer); return; }
      let msg;
      try { msg = refresh.request(); } catch (e) { report(e); return; }
      if (!msg) return;
      this.request(msg).catch((e) => {
        if (e instanceof ProtocolError && this.#options.onError) this.#options.onError(e.reply);
        else if (!(e instanceof ClientError)) report(e);
      });
    }, Math.max(10, refresh.every));
  }

  /** The socket is gone (or could not be made): fail what was in flight, then try again. */
  #lost(ws, { code, reason }) {
    if (this.#ws !== ws || this.#status === "closed") return;
    clearInterval(this.#refreshTimer);
    this.#ws = null;
    for (const place of this.#rooms.values()) place.resuming = null;
    this.#fail(new ClientError("disconnected", `the connection closed (${code}${reason ? ": " + reason : ""}) before the reply came`), false);
    const r = this.#options.reconnect ?? true;
    const opts = typeof r === "object" ? r : {};
    const max = opts.maxAttempts ?? DEFAULTS.maxAttempts;
    if (r === false || this.#attempt >= max) {
      this.#fail(new ClientError("closed", `the connection closed (${code}) and the client gave up`), true);
      this.#setStatus("closed", { attempt: this.#attempt, code, reason });
      return;
    }
    this.#attempt += 1;
    const min = opts.minDelay ?? DEFAULTS.minDelay;
    const cap = Math.min(opts.maxDelay ?? DEFAULTS.maxDelay, min * 2 ** (this.#attempt - 1));
    // Half fixed, half random: clients cut off together do not come back together.
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.#setStatus("reconnecting", { attempt: this.#attempt, delay, code, reason });
    this.#retryTimer = setTimeout(() => {
      if (this.#status === "reconnecting") this.#open(false);
    }, delay);
  }

  /** Rejects the requests already on the wire (all of them, queued ones too, when `all`). */
  #fail(error, all) {
    for (const [id, entry] of this.#pending) {
      if (!all && !entry.sent) continue;
      this.#settle(id);
      entry.reject(error);
    }
    if (all) this.#queue = [];
  }

  #settle(id) {
    const entry = this.#pending.get(id);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.#pending.delete(id);
    return entry;
  }

  /**
   * Keeps the room streams' bookkeeping of an outgoing message; false when the message must
   * not go out now: a join while disconnected (remembered, it is sent on open, before the
   * queue) or a leave of a room the server already forgot with the lost connection.
   */
  #track(msg, request) {
    const type = msg?.[CLIENT_TAG];
    const room = msg?.[ROOM];
    if (typeof room !== "string" || this.#status === "closed") return true; // #write throws
    const connected = this.#ws !== null && this.#ws.readyState === OPEN;
    if (JOINS.has(type)) {
      const join = { ...msg };
      delete join[CLIENT_ID];
      const place = this.#rooms.get(room);
      if (place) place.join = join;
      else this.#rooms.set(room, new Place(join));
      return connected || request !== null;
    }
    if (LEAVES.has(type) && this.#rooms.delete(room)) return connected || request !== null;
    return true;
  }

  #write(text, request, msg = null) {
    if (this.#status === "closed") throw new ClientError("closed", "the client is closed");
    const ws = this.#ws;
    if (ws && ws.readyState === OPEN) {
      if (request) request.sent = true;
      ws.send(text);
      return;
    }
    const limit = this.#options.queueLimit ?? DEFAULTS.queueLimit;
    if (this.#queue.length >= limit) {
      throw new ClientError("queue_full", `not connected and ${limit} messages are already waiting`);
    }
    this.#queue.push({ text, request, msg });
  }

  #invalid(data, reason, pointer) {
    const frame = { data, reason, pointer };
    const onInvalid = this.#options.onInvalid;
    try {
      if (onInvalid) onInvalid(frame);
      else console.warn(`protocol client: invalid frame dropped: ${reason}${pointer ? " at " + pointer : ""}`);
    } catch (e) {
      report(e);
    }
  }

  #receive(data) {
    if (typeof data !== "string") return this.#invalid(data, "a binary frame; messages are JSON text", "");
    let msg;
    try {
      msg = JSON.parse(data);
    } catch (e) {
      return this.#invalid(data, `not JSON: ${e.message}`, "");
    }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
      return this.#invalid(data, `not a JSON object but ${jsonType(msg)}`, "");
    }
    const tag = msg[SERVER_TAG];
    if (typeof tag !== "string") return this.#invalid(data, `no ${JSON.stringify(SERVER_TAG)} string`, pointerTo("", SERVER_TAG));
    const known = KNOWN.has(tag);
    if (!known && SCHEMA.catchAll === null) {
      return this.#invalid(data, `unknown message type ${JSON.stringify(tag)}; expected one of: ${[...KNOWN].join(", ")}`, pointerTo("", SERVER_TAG));
    }
    if (this.#options.validate ?? true) {
      const e = checkMessage(msg);
      if (e) return this.#invalid(data, e.reason, e.pointer);
    }
    // A stored message already seen in this epoch (a replay's overlap, or the app's own
    // published message coming back in a replay) is dropped, for handlers and listeners alike.
    const place = STREAM_MESSAGES.has(tag) || ANNOUNCES.has(tag) ? this.#rooms.get(msg[ROOM]) : undefined;
    let resumed = null;
    if (place && STREAM_MESSAGES.has(tag) && place.epoch !== null && isOffset(msg[OFFSET])) {
      if (place.seen(msg[OFFSET])) return;
      place.mark(msg[OFFSET]);
    }
    if (place && ANNOUNCES.has(tag) && JOINS.get(place.join[CLIENT_TAG]) === tag
        && typeof msg[EPOCH] === "string" && isOffset(msg[OFFSET])) {
      const since = place.resuming;
      place.resuming = null;
      place.at(msg[EPOCH], msg[OFFSET]);
      if (since) resumed = { room: msg[ROOM], recovered: msg[RECOVERED] === true && since[EPOCH] === msg[EPOCH], epoch: msg[EPOCH], offset: msg[OFFSET], since };
    }
    const id = msg[SERVER_ID];
    const entry = typeof id === "number" ? this.#pending.get(id) : undefined;
    let answered = false;
    if (entry && entry.sent && (tag === entry.reply || tag === ERROR_TYPE)) {
      this.#settle(id);
      if (tag !== ERROR_TYPE && entry.publishes !== null && isOffset(msg[OFFSET])) {
        const own = this.#rooms.get(entry.publishes);
        if (own && own.epoch !== null) own.mark(msg[OFFSET]);
      }
      if (tag === ERROR_TYPE) entry.reject(new ProtocolError(msg));
      else entry.resolve(msg);
      answered = true;
    } else if (tag === ERROR_TYPE) {
      const onError = this.#options.onError;
      try {
        if (onError) onError(msg);
        else console.warn(`protocol client: error from the server: ${msg.code}: ${msg.message}`);
      } catch (e) {
        report(e);
      }
      answered = true;
    }
    for (const { listener } of this.#listeners.get(known ? tag : "*") ?? []) {
      try { listener(msg); } catch (e) { report(e); }
    }
    if (!answered && HANDLED_SET.has(known ? tag : "*")) {
      const handler = this.#handlers?.[known ? tag : "*"];
      if (!handler) this.#invalid(data, `no handler for ${JSON.stringify(tag)}: call client.handle() right after connect()`, "");
      else try { handler(msg); } catch (e) { report(e); }
    }
    if (resumed && this.#options.onResume) {
      try { this.#options.onResume(resumed); } catch (e) { report(e); }
    }
  }
}
