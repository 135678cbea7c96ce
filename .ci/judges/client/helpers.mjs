// Shared parts of the generated-client tests: a real chat-server process, a loopback TCP proxy
// that can cut, refuse, black-hole and inject WebSocket frames, loading an export's client, and
// bounded waits. Nothing here sleeps for a fixed time: every wait is on an event, with a bound.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const STEP_MS = 10_000;

/** Resolves with the value of `promise`, or rejects naming `what` after `ms`. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A queue of events of one kind: `push` them as they come, `next(what)` waits (bounded) for the
 * next one, in order.
 */
export class Events {
  #items = [];
  #waiters = [];
  push(item) {
    const w = this.#waiters.shift();
    if (w) w(item);
    else this.#items.push(item);
  }
  next(what, ms = STEP_MS) {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    return within(ms, what, new Promise((resolve) => this.#waiters.push(resolve)));
  }
  /** Waits for the next item that satisfies `pred`, skipping (and returning) the others. */
  async until(pred, what, max = 100) {
    const skipped = [];
    for (let i = 0; i < max; i++) {
      const item = await this.next(what);
      if (pred(item)) return { item, skipped };
      skipped.push(item);
    }
    throw new Error(`${what}: not among the next ${max} events`);
  }
  get pending() {
    return [...this.#items];
  }
}

/**
 * Copies an export's guards and client into a fresh directory marked as ES modules, and imports
 * the client from there (the export directory itself has no package.json).
 */
export async function loadClient(dir, name) {
  const work = mkdtempSync(path.join(os.tmpdir(), `client-${name}-`));
  for (const f of [`${name}.js`, `${name}.client.js`]) copyFileSync(path.join(dir, f), path.join(work, f));
  writeFileSync(path.join(work, "package.json"), '{ "type": "module" }\n');
  return import(pathToFileURL(path.join(work, `${name}.client.js`)).href);
}

/** A chat-server child process on 127.0.0.1:0; `addr` once it printed `listening on`. */
export class ChatServer {
  log = "";
  static async start(bin, args = []) {
    const s = new ChatServer();
    s.child = spawn(bin, ["--listen", "127.0.0.1:0", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
    });
    s.child.stderr.setEncoding("utf8");
    s.child.stderr.on("data", (c) => { s.log += c; });
    const exited = new Promise((resolve) => s.child.once("exit", resolve));
    s.exited = exited;
    const listening = new Promise((resolve, reject) => {
      s.child.once("error", (e) => reject(new Error(`cannot start ${bin}: ${e.message}`)));
      exited.then((code) => reject(new Error(`chat-server exited (${code}) before listening\n${s.log}`)));
      createInterface({ input: s.child.stdout }).on("line", (line) => {
        const m = /^listening on http:\/\/(\S+?)\/?$/.exec(line);
        if (m) resolve(m[1]);
      });
    });
    s.addr = await within(30_000, "chat-server listening", listening);
    const [host, port] = [s.addr.slice(0, s.addr.lastIndexOf(":")), Number(s.addr.slice(s.addr.lastIndexOf(":") + 1))];
    s.host = host;
    s.port = port;
    return s;
  }
  /** SIGTERM (the server closes its connections with 1001), SIGKILL if it is still there. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    try {
      await within(STEP_MS, "chat-server exit after SIGTERM", this.exited);
    } catch {
      this.child.kill("SIGKILL");
      await within(STEP_MS, "chat-server exit after SIGKILL", this.exited);
    }
  }
}

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/**
 * A TCP proxy on 127.0.0.1:0 in front of `target` ({host, port}, changeable). Server-to-client
 * bytes are forwarded a whole WebSocket frame at a time, so `inject` can put a frame of its own
 * between two of the server's.
 */
export class Proxy {
  target;
  /** false: new connections are closed at once (the server looks down). */
  accepting = true;
  /** true: client-to-server bytes are dropped (requests never reach the server). */
  blackhole = false;
  connections = new Set();
  accepted = 0;
  /** Which side ended each connection that ended by itself (not by `cut`): "client" or "server". */
  closedBy = [];
  /** null, or a function of a server-to-client text frame's payload: true drops the frame (it
   * never reaches the client, as if lost before a cut); `onDrop` hears of each one. */
  drop = null;
  onDrop = () => {};

  constructor(target) {
    this.target = target;
  }

  async start() {
    this.server = net.createServer((client) => this.#accept(client));
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = this.server.address().port;
    return this;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  #accept(client) {
    this.accepted += 1;
    if (!this.accepting) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target.port, this.target.host);
    const conn = { client, upstream, open: false, buf: Buffer.alloc(0) };
    this.connections.add(conn);
    const end = (side) => () => {
      if (this.connections.delete(conn)) this.closedBy.push(side);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end("client")).on("close", end("client"));
    upstream.on("error", end("server")).on("close", end("server"));
    client.on("data", (d) => { if (!this.blackhole) upstream.write(d); });
    upstream.on("data", (d) => {
      conn.buf = Buffer.concat([conn.buf, d]);
      if (!conn.open) {
        const headEnd = conn.buf.indexOf("\r\n\r\n");
        if (headEnd < 0) return;
        client.write(conn.buf.subarray(0, headEnd + 4));
        conn.buf = conn.buf.subarray(headEnd + 4);
        conn.open = true;
      }
      for (;;) {
        const b = conn.buf;
        if (b.length < 2) return;
        let len = b[1] & 0x7f;
        let head = 2;
        if (len === 126) {
          if (b.length < 4) return;
          len = b.readUInt16BE(2);
          head = 4;
        } else if (len === 127) {
          if (b.length < 10) return;
          len = Number(b.readBigUInt64BE(2));
          head = 10;
        }
        if (b[1] & 0x80) head += 4;
        if (b.length < head + len) return;
        // A whole unmasked text frame (server frames are never masked) can be read and dropped.
        const text = (b[0] & 0x0f) === 0x1 && (b[0] & 0x80) && !(b[1] & 0x80) ? b.subarray(head, head + len).toString("utf8") : null;
        if (text !== null && this.drop && this.drop(text)) this.onDrop(text);
        else client.write(b.subarray(0, head + len));
        conn.buf = b.subarray(head + len);
      }
    });
  }

  /** Sends a text frame (or binary, with `binary`) to every client as if the server had. */
  inject(payload, { binary = false } = {}) {
    const f = frame(binary ? 0x2 : 0x1, Buffer.from(payload));
    let n = 0;
    for (const c of this.connections) {
      if (c.open) {
        c.client.write(f);
        n += 1;
      }
    }
    if (n === 0) throw new Error("inject: no open connection through the proxy");
  }

  /** Cuts one connection (a TCP reset to the client): the client sees 1006. */
  cut(conn) {
    conn.client.resetAndDestroy();
    conn.upstream.destroy();
    this.connections.delete(conn);
  }

  /** Cuts every connection. */
  cutAll() {
    for (const c of [...this.connections]) this.cut(c);
  }

  async close() {
    this.cutAll();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
