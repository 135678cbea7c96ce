// Real-browser end-to-end test of the chat example: two headless Chromium pages (alice and bob)
// against a real chat-server. Run with `node --test tests/browser/` (see .ci/browser.sh).
//
// Env:
//   CHAT_SERVER_BIN  the chat-server binary (default /work/main/target/debug/chat-server)
//   CHROMIUM_PATH    the browser (default /usr/bin/chromium, Debian's; no browser download)
//   ARTIFACTS_DIR    where failure screenshots and logs go (default /work/main/ci-artifacts/browser)
//
// Every wait is bounded: Playwright's auto-waiting `locator.waitFor` with an explicit timeout,
// never a fixed sleep.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";

const SERVER_BIN = process.env.CHAT_SERVER_BIN || "/work/main/target/debug/chat-server";
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARTIFACTS = process.env.ARTIFACTS_DIR || "/work/main/ci-artifacts/browser";

const SERVER_START_MS = 30_000; // until "listening on"
const LAUNCH_MS = 60_000; // browser start
const NAV_MS = 20_000; // page load
const STEP_MS = 15_000; // each UI expectation
const CLOSE_MS = 10_000; // browser / server shutdown

/** @type {import("node:child_process").ChildProcess | undefined} */
let server;
/** Every chat-server process still running (the shared one and any a test starts). */
const servers = new Set();
let serverLog = "";
/** @type {string} */
let baseURL = "";
/** @type {import("playwright-core").Browser | undefined} */
let browser;

/**
 * Starts a chat-server on a free port; resolves with `{ child, url }` once it says where it
 * listens. Its output goes to `serverLog`, prefixed with `tag`.
 */
function startServerProcess(tag = "", extraArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(SERVER_BIN, ["--listen", "127.0.0.1:0", ...extraArgs], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "info" },
    });
    servers.add(child);
    let settled = false;
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(value);
    };
    const timer = setTimeout(
      () => settle(reject, new Error(`chat-server did not print "listening on" within ${SERVER_START_MS} ms\n${serverLog}`)),
      SERVER_START_MS,
    );
    child.on("error", (e) => settle(reject, new Error(`cannot start ${SERVER_BIN}: ${e.message}`)));
    child.on("exit", (code, signal) => {
      servers.delete(child);
      serverLog += `${tag}[chat-server exited: code ${code}, signal ${signal}]\n`;
      settle(reject, new Error(`chat-server exited before listening (code ${code}, signal ${signal})\n${serverLog}`));
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => { serverLog += tag ? chunk.replace(/^/gm, tag) : chunk; });
    createInterface({ input: child.stdout }).on("line", (line) => {
      serverLog += `${tag}[stdout] ${line}\n`;
      const m = /^listening on (http:\/\/\S+)/.exec(line);
      if (m) settle(resolve, { child, url: m[1].replace(/\/$/, "") });
    });
  });
}

/** Starts the shared chat-server; resolves with its base URL. */
async function startServer() {
  const started = await startServerProcess();
  server = started.child;
  return started.url;
}

/** Ends a server: SIGTERM, then SIGKILL if it is still there after CLOSE_MS. */
async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  let timer;
  const gaveUp = new Promise((resolve) => { timer = setTimeout(() => resolve("timeout"), CLOSE_MS); });
  if ((await Promise.race([exited, gaveUp])) === "timeout") {
    child.kill("SIGKILL");
    await Promise.race([exited, new Promise((r) => setTimeout(r, CLOSE_MS))]);
  }
  clearTimeout(timer);
}

/** Ends the shared server. */
async function stopServer() {
  await stopProcess(server);
}

/**
 * A TCP proxy on 127.0.0.1:0 in front of `target` (a base URL, changeable): a page loaded
 * through it has its WebSocket through it too, so the test can cut that socket (Chromium's
 * offline emulation does not close an open WebSocket), refuse new ones, or move them to another
 * server.
 */
class TcpProxy {
  accepting = true;
  sockets = new Set();
  constructor(target) {
    this.target = new URL(target);
  }
  async start() {
    this.server = net.createServer((client) => {
      if (!this.accepting) { client.destroy(); return; }
      const upstream = net.connect(Number(this.target.port), this.target.hostname);
      const pair = { client, upstream };
      this.sockets.add(pair);
      const end = () => { this.sockets.delete(pair); client.destroy(); upstream.destroy(); };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }
  /** Resets every connection through the proxy (the page's socket closes with 1006). */
  cutAll() {
    for (const { client, upstream } of [...this.sockets]) { client.resetAndDestroy(); upstream.destroy(); }
    this.sockets.clear();
  }
  async close() {
    this.cutAll();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Rejects after `ms` unless `promise` settles first. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits (Playwright auto-waiting, bounded) for `locator` to reach `state`; on timeout the error
 * says what was expected, on which page.
 */
async function expectState(who, locator, state, what, timeout = STEP_MS) {
  try {
    await locator.waitFor({ state, timeout });
  } catch (e) {
    const detail = String(e && e.message).replace(/\x1b\[[0-9;]*m/g, ""); // Playwright colours its call log
    throw new Error(`${who}: expected ${what} (${state}) within ${timeout} ms: ${detail}`);
  }
}

/** A page in its own browser context, with its console and WebSocket frames recorded. */
async function openPage(name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(STEP_MS);
  context.setDefaultNavigationTimeout(NAV_MS);
  const page = await context.newPage();
  const log = [];
  const stamp = () => new Date().toISOString().slice(11, 23);
  page.on("console", (m) => log.push(`${stamp()} console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`${stamp()} pageerror: ${e.message}`));
  page.on("websocket", (ws) => {
    log.push(`${stamp()} ws open ${ws.url()}`);
    ws.on("framesent", (f) => log.push(`${stamp()} ws -> ${f.payload}`));
    ws.on("framereceived", (f) => log.push(`${stamp()} ws <- ${f.payload}`));
    ws.on("close", () => log.push(`${stamp()} ws closed`));
    ws.on("socketerror", (e) => log.push(`${stamp()} ws error ${e}`));
  });
  return { name, context, page, log };
}

/** Logs in as `user` to room `general` and waits until the page says it is online there. */
async function join(p, url = baseURL) {
  const { page, name } = p;
  await page.goto(`${url}/`, { timeout: NAV_MS });
  await page.locator("#name").fill(name, { timeout: STEP_MS });
  assert.equal(await page.locator("#room").inputValue({ timeout: STEP_MS }), "general", `${name}: default room`);
  await page.locator("#connect").click({ timeout: STEP_MS });
  await expectState(name, page.locator("#status", { hasText: `online as ${name}` }), "visible", `#status "online as ${name}"`);
  await expectState(name, page.locator("#messages li.system", { hasText: "you joined general" }), "visible", '"you joined general"');
  await expectState(name, page.locator(`#members li[data-user="${name}"]`), "visible", `${name} in #members`);
}

/** On failure: screenshots of every page still open, its recorded log, and the server's log. */
async function saveArtifacts(pages, error) {
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(path.join(ARTIFACTS, "error.txt"), `${error && error.stack ? error.stack : error}\n`);
    writeFileSync(path.join(ARTIFACTS, "chat-server.log"), serverLog);
    for (const p of pages) {
      writeFileSync(path.join(ARTIFACTS, `${p.name}.log`), `${p.log.join("\n")}\n`);
      if (p.page.isClosed()) {
        writeFileSync(path.join(ARTIFACTS, `${p.name}.png.txt`), "page already closed by the test: no screenshot\n");
        continue;
      }
      try {
        await p.page.screenshot({ path: path.join(ARTIFACTS, `${p.name}.png`), fullPage: true, timeout: CLOSE_MS });
      } catch (e) {
        writeFileSync(path.join(ARTIFACTS, `${p.name}.png.txt`), `screenshot failed: ${e.message}\n`);
      }
    }
    console.error(`browser test failed: screenshots and logs in ${ARTIFACTS}`);
  } catch (e) {
    console.error(`could not save artifacts to ${ARTIFACTS}: ${e.message}`);
  }
}

before(async () => {
  baseURL = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: LAUNCH_MS,
    // Playwright gives the browser a fresh --user-data-dir of its own.
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  try {
    if (browser) await within(CLOSE_MS, "closing the browser", browser.close()).catch((e) => console.error(e.message));
  } finally {
    await stopServer();
  }
});

// Last resort if the runner is torn down abruptly: never leave the server behind.
process.on("exit", () => {
  for (const child of servers) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

test("chat page: join, typing, message, read receipt, presence", { timeout: 150_000 }, async () => {
  const alice = await openPage("alice");
  const bob = await openPage("bob");
  const pages = [alice, bob];
  try {
    // Both join "general"; alice, already there, sees bob arrive.
    await join(alice);
    await join(bob);
    await expectState("alice", alice.page.locator('#members li[data-user="bob"]'), "visible", "bob in #members");
    await expectState("alice", alice.page.locator("#messages li.system", { hasText: "bob is online" }), "visible", '"bob is online"');
    await expectState("bob", bob.page.locator('#members li[data-user="alice"]'), "visible", "alice in #members");

    // alice types: bob sees the indicator. The page sends typing:false 2 s after the last key, so
    // bob's wait is started before alice types, and alice types key by key (real input events).
    const bobTyping = bob.page.locator("#typing", { hasText: "alice is typing..." });
    const seenTyping = expectState("bob", bobTyping, "visible", '"alice is typing..."');
    seenTyping.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
    await alice.page.locator("#text").pressSequentially("hello", { delay: 40, timeout: STEP_MS });
    await seenTyping;

    // alice sends; her own line gets the server's message id from `sent`.
    await alice.page.locator("#send").click({ timeout: STEP_MS });
    const mine = alice.page.locator("#messages li.msg.mine[data-id]", { hasText: "hello" });
    await expectState("alice", mine, "visible", 'her own "hello" with a data-id');
    assert.equal(await mine.count(), 1, "alice: exactly one own message");
    const messageId = await mine.getAttribute("data-id", { timeout: STEP_MS });
    assert.ok(messageId, "alice: message id");
    assert.equal(await alice.page.locator("#text").inputValue(), "", "alice: #text cleared after send");

    // bob sees the message, with the same id, from alice; his typing line clears.
    const bobMsg = bob.page.locator(`#messages li.msg[data-id="${messageId}"]`);
    await expectState("bob", bobMsg, "visible", `message ${messageId}`);
    assert.equal(await bobMsg.locator(".from").textContent({ timeout: STEP_MS }), "alice", "bob: .from");
    assert.equal(await bobMsg.locator(".text").textContent({ timeout: STEP_MS }), "hello", "bob: .text");
    await expectState("bob", bobTyping, "hidden", 'no "alice is typing..." after her message');

    // bob's page displayed it, so alice's message shows "read by bob".
    const receipt = mine.locator('span.receipt[data-by="bob"]');
    await expectState("alice", receipt, "visible", `"read by bob" on message ${messageId}`);
    assert.equal(await receipt.textContent({ timeout: STEP_MS }), "read by bob", "alice: receipt text");

    // bob closes his page: alice sees him go offline.
    await within(CLOSE_MS, "closing bob's page", bob.page.close());
    await expectState("alice", alice.page.locator('#members li[data-user="bob"]'), "detached", "bob gone from #members");
    await expectState("alice", alice.page.locator("#messages li.system", { hasText: "bob is offline" }), "visible", '"bob is offline"');
    await expectState("alice", alice.page.locator('#members li[data-user="alice"]'), "visible", "alice still in #members");
    await expectState("alice", alice.page.locator("#status", { hasText: "online as alice" }), "visible", "alice still online");
  } catch (e) {
    await saveArtifacts(pages, e);
    throw e;
  } finally {
    for (const p of pages) await within(CLOSE_MS, `closing ${p.name}'s context`, p.context.close()).catch(() => {});
  }
});

/** The texts of the chat lines on a page, in order. */
const texts = (p) => p.page.locator("#messages li.msg .text").allTextContents({ timeout: STEP_MS });

/** alice sends `text` and waits for the server's id on her own line. */
async function post(alice, text) {
  await alice.page.locator("#text").fill(text, { timeout: STEP_MS });
  await alice.page.locator("#send").click({ timeout: STEP_MS });
  await expectState("alice", alice.page.locator("#messages li.msg.mine[data-id]", { hasText: text }), "visible", `her own "${text}" with a data-id`);
}

/** Waits until the page's status is `state`; returns its recorded transitions. */
async function statusIs(p, state, timeout = STEP_MS) {
  await expectState(p.name, p.page.locator(`#status[data-state="${state}"]`), "attached", `#status ${state}`, timeout);
  return (await p.page.locator("#status").getAttribute("data-history", { timeout: STEP_MS })) ?? "";
}

test("chat page: resumes after its socket is cut (every message once, in order) and after a server restart", { timeout: 170_000 }, async () => {
  let own = await startServerProcess("[own] ");
  const proxyA = await new TcpProxy(own.url).start();
  const proxyB = await new TcpProxy(own.url).start();
  const alice = await openPage("alice");
  const bob = await openPage("bob");
  const pages = [alice, bob];
  try {
    await join(alice, proxyA.url);
    await join(bob, proxyB.url);
    await expectState("alice", alice.page.locator('#members li[data-user="bob"]'), "visible", "bob in #members");
    await post(alice, "before the cut");
    await expectState("bob", bob.page.locator("#messages li.msg", { hasText: "before the cut" }), "visible", '"before the cut"');

    // bob's socket is cut and new ones are refused for a while; the page says it is reconnecting.
    proxyB.accepting = false;
    proxyB.cutAll();
    await statusIs(bob, "reconnecting");
    await expectState("alice", alice.page.locator("#messages li.system", { hasText: "bob is offline" }), "visible", '"bob is offline"');
    // alice keeps posting while bob is away; bob writes too (his message waits in the queue).
    const away = ["while bob is away", "away 2", "away 3"];
    for (const text of away) await post(alice, text);
    await bob.page.locator("#text").fill("queued by bob", { timeout: STEP_MS });
    await bob.page.locator("#send").click({ timeout: STEP_MS });

    proxyB.accepting = true;
    const afterCut = await statusIs(bob, "open");
    assert.match(afterCut, /^connecting open (reconnecting )+open$/, `bob's status went reconnecting -> open: ${afterCut}`);
    await expectState("bob", bob.page.locator("#status", { hasText: "online as bob" }), "visible", "online as bob again");
    await expectState("bob", bob.page.locator("#messages li.system", { hasText: "you are back in general" }), "visible", '"you are back in general"');
    // The client resumed the room: what alice posted while bob was away is replayed to him.
    for (const text of away) {
      await expectState("bob", bob.page.locator("#messages li.msg", { hasText: text }), "visible", `"${text}", posted while he was away`);
    }
    await expectState("alice", alice.page.locator("#messages li.system", { hasText: "bob is online" }).nth(1), "visible", 'a second "bob is online"');
    // The queued message went out after the re-join: alice gets it, and bob's line its id.
    await expectState("alice", alice.page.locator("#messages li.msg", { hasText: "queued by bob" }), "visible", '"queued by bob"');
    await expectState("bob", bob.page.locator("#messages li.msg.mine[data-id]", { hasText: "queued by bob" }), "visible", "his queued message with a data-id");
    await post(alice, "after the cut");
    await expectState("bob", bob.page.locator("#messages li.msg", { hasText: "after the cut" }), "visible", '"after the cut"');
    const cutOrder = ["before the cut", ...away, "queued by bob", "after the cut"];
    assert.deepEqual(await texts(bob), cutOrder, "bob: every message once, in the room's order, after the cut");
    assert.equal(await bob.page.locator("#messages li.gap").count(), 0, "bob: the resume recovered, nothing reported missing");
    mkdirSync(ARTIFACTS, { recursive: true });
    await bob.page.screenshot({ path: path.join(ARTIFACTS, "bob-resumed.png"), fullPage: true, timeout: CLOSE_MS });

    // The server restarts under both pages: a new process, on another port behind the proxies.
    proxyA.accepting = false;
    proxyB.accepting = false;
    await stopProcess(own.child);
    await statusIs(alice, "reconnecting");
    await statusIs(bob, "reconnecting");
    own = await startServerProcess("[own, restarted] ");
    proxyA.target = new URL(own.url);
    proxyB.target = new URL(own.url);
    proxyA.accepting = true;
    proxyB.accepting = true;
    // Backoff: attempts about 0.5, 1, 2, 4 s apart; the restart takes well under that.
    const afterRestartA = await statusIs(alice, "open", 3 * STEP_MS);
    const afterRestartB = await statusIs(bob, "open", 3 * STEP_MS);
    assert.match(afterRestartA, /open (reconnecting )+open$/, `alice: ${afterRestartA}`);
    assert.match(afterRestartB, /open (reconnecting )+open (reconnecting )+open$/, `bob: ${afterRestartB}`);
    await expectState("alice", alice.page.locator('#members li[data-user="bob"]'), "visible", "bob in #members after the restart");
    await expectState("bob", bob.page.locator('#members li[data-user="alice"]'), "visible", "alice in #members after the restart");
    await post(alice, "after the restart");
    await expectState("bob", bob.page.locator("#messages li.msg", { hasText: "after the restart" }), "visible", '"after the restart"');

    // Every message is there once, in order, on both pages, what was posted while bob was away
    // included. The restarted server lost the room's history (a new epoch): both pages say that
    // messages may be missing, rather than pretending to be complete.
    const all = [...cutOrder, "after the restart"];
    assert.deepEqual(await texts(bob), all);
    assert.deepEqual(await texts(alice), all);
    for (const p of [alice, bob]) {
      await expectState(p.name, p.page.locator("#messages li.gap", { hasText: "may be missing" }), "visible", "a note that the history was lost");
      assert.equal(await p.page.locator("#messages li.gap").count(), 1, `${p.name}: one note`);
    }
    await bob.page.screenshot({ path: path.join(ARTIFACTS, "bob-after-restart.png"), fullPage: true, timeout: CLOSE_MS });
  } catch (e) {
    await saveArtifacts(pages, e);
    throw e;
  } finally {
    for (const p of pages) await within(CLOSE_MS, `closing ${p.name}'s context`, p.context.close()).catch(() => {});
    await proxyA.close();
    await proxyB.close();
    await stopProcess(own.child);
  }
});

test("chat page: a ?token= in the page's URL signs it in on a server that requires tokens", { timeout: 60_000 }, async () => {
  const secret = "browser-test-secret-of-32-bytes!";
  const own = await startServerProcess("[auth] ", ["--auth-secret", secret]);
  const carol = await openPage("carol");
  try {
    const minted = spawnSync(SERVER_BIN, ["--auth-secret", secret, "token", "carol", "--ttl", "1h"], { encoding: "utf8" });
    assert.equal(minted.status, 0, minted.stderr);
    const token = minted.stdout.trim();
    const socket = carol.page.waitForEvent("websocket", { timeout: STEP_MS });
    await carol.page.goto(`${own.url}/?token=${token}`, { timeout: NAV_MS });
    assert.equal(await carol.page.locator("#token").inputValue({ timeout: STEP_MS }), token);
    await carol.page.locator("#connect").click({ timeout: STEP_MS });
    const url = new URL((await socket).url());
    assert.equal(url.pathname, "/ws");
    assert.deepEqual([...url.searchParams], [["token", token]]);
    // The server verified the token: the page is open and carol (the token's sub) is a member.
    await statusIs(carol, "open");
    await expectState("carol", carol.page.locator('#members li[data-user="carol"]'), "visible", "carol in #members");
  } catch (e) {
    await saveArtifacts([carol], e);
    throw e;
  } finally {
    await within(CLOSE_MS, "closing carol's context", carol.context.close()).catch(() => {});
    await stopProcess(own.child);
  }
});
