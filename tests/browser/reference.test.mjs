// The chat's committed protocol reference (examples/chat/schema/chat.html) in real headless
// Chromium, offline: every message type of both directions has its section, every sequence
// diagram rendered as a drawing with its arrows, no request left the page, nothing logged an
// error. A full-page screenshot is kept in ARTIFACTS_DIR. Run with `node --test tests/browser/`.
//
// Env: CHROMIUM_PATH (default /usr/bin/chromium), ARTIFACTS_DIR (default ci-artifacts/browser).

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCHEMA_DIR = path.join(ROOT, "examples/chat/schema");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARTIFACTS = process.env.ARTIFACTS_DIR || path.join(ROOT, "ci-artifacts/browser");
const LAUNCH_MS = 60_000;
const NAV_MS = 20_000;

/** The wire names of a direction's messages, read from its committed schema. */
function tags(direction) {
  const schema = JSON.parse(readFileSync(path.join(SCHEMA_DIR, `chat.${direction}.schema.json`), "utf8"));
  const tag = schema.discriminator?.propertyName ?? "type";
  return schema.oneOf.map((v) => v.properties[tag].const ?? v.properties[tag].enum[0]);
}

test("the HTML protocol reference renders offline with a section per message and every diagram drawn", async () => {
  const client = tags("client");
  const server = tags("server");
  assert.ok(client.length > 0 && server.length > 0);
  const browser = await chromium.launch({ executablePath: CHROMIUM, timeout: LAUNCH_MS, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    const requests = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(path.join(SCHEMA_DIR, "chat.html")).href, { timeout: NAV_MS, waitUntil: "load" });

    for (const [direction, names] of [["client", client], ["server", server]]) {
      for (const name of names) {
        const section = page.locator(`section.message#${direction}-${name}`);
        assert.equal(await section.count(), 1, `no section for ${direction} message ${name}`);
        assert.ok(await section.isVisible(), `section ${direction}-${name} is not visible`);
        const heading = await section.locator("h3").innerText();
        assert.ok(heading.startsWith(name), `section ${direction}-${name} is headed ${JSON.stringify(heading)}`);
        assert.equal(await section.locator("pre code.language-json").count(), 1, `${direction}-${name} has no example frame`);
      }
    }

    // Every diagram: a drawn SVG (non-empty box), its participants and arrows laid out, and no
    // error box of any renderer.
    const diagrams = await page.locator("figure.diagram").evaluateAll((figures) =>
      figures.map((f) => {
        const svg = f.querySelector("svg");
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        const arrows = svg ? [...svg.querySelectorAll(".msg")].map((a) => a.getBBox().width) : [];
        const labels = svg ? [...svg.querySelectorAll("text")].filter((t) => t.getBBox().width > 0).length : 0;
        return {
          id: f.id,
          width: box.width,
          height: box.height,
          arrows,
          labels,
          participants: svg ? svg.querySelectorAll(".participant").length : 0,
          errors: f.querySelectorAll(".error, [aria-roledescription=error]").length + (/syntax error/i.test(f.textContent) ? 1 : 0),
        };
      }),
    );
    assert.equal(diagrams.length, client.length, "one diagram per client message");
    for (const name of client) {
      assert.ok(diagrams.some((d) => d.id === `diagram-client-${name}`), `no diagram for ${name}`);
    }
    for (const d of diagrams) {
      assert.ok(d.width > 100 && d.height > 100, `${d.id} is not drawn: ${d.width}x${d.height}`);
      assert.ok(d.arrows.length >= 2 && d.arrows.every((w) => w > 0), `${d.id} arrows: ${d.arrows}`);
      assert.ok(d.participants >= 4, `${d.id} has ${d.participants} participant boxes`);
      assert.ok(d.labels > d.arrows.length, `${d.id} has ${d.labels} visible labels`);
      assert.equal(d.errors, 0, `${d.id} shows an error`);
    }

    assert.deepEqual(requests, [], "the page must not load anything from the network");
    assert.deepEqual(problems, []);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "chat-reference.png"), fullPage: true });
    console.log(`chat.html: ${client.length} + ${server.length} message sections, ${diagrams.length} diagrams drawn; screenshot in ${ARTIFACTS}`);
  } finally {
    await browser.close();
  }
});
