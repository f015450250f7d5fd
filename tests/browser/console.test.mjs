// End-to-end tests of the web console: a real `moldau serve`, Debian's Chromium
// driven by Playwright, a real librdkafka consumer. Screenshots of every page go to
// test-artifacts/console/. Run through tests/browser/run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const artifacts = path.join(root, "test-artifacts", "console");
const moldauBin = process.env.MOLDAU_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "moldau");
const python = process.env.PYTHON || path.join(root, ".venv", "bin", "python");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT_MS = 20_000;

let broker, dataDir, consoleUrl, kafka, browser, page;
const pageErrors = [];

// Starts moldau and resolves once both listening lines are printed.
function startBroker() {
  dataDir = mkdtempSync(path.join(tmpdir(), "moldau-browser-"));
  broker = spawn(moldauBin, ["serve", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--data-dir", dataDir],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: process.env.MOLDAU_TEST_LOG || "warn" } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("moldau did not start")), 60_000);
    broker.on("exit", (code) => reject(new Error(`moldau exited with ${code}`)));
    readline.createInterface({ input: broker.stdout }).on("line", (line) => {
      const c = line.match(/^moldau listening console=(.+)$/);
      if (c) consoleUrl = "http://" + c[1];
      const k = line.match(/^moldau listening kafka=(.+)$/);
      if (k) {
        kafka = k[1];
        clearTimeout(timer);
        if (!consoleUrl) reject(new Error("no console line before the kafka line"));
        else resolve();
      }
    });
  });
}

// Runs kafka_helper.py; `onLine` sees its progress lines.
function helper(args, onLine) {
  const child = spawn(python, [path.join(here, "kafka_helper.py"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  if (onLine) readline.createInterface({ input: child.stdout }).on("line", onLine);
  const done = new Promise((resolve, reject) => child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`kafka_helper ${args[0]} exited with ${code}`)))));
  return { child, done };
}

async function api(method, p, body) {
  const res = await fetch(consoleUrl + "/api/v1" + p, {
    method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
// Opens a page afresh (navigating to the URL already shown would not re-render it).
const go = async (hash) => {
  const url = consoleUrl + "/" + hash;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const number = (text) => Number(String(text).replace(/[^0-9-]/g, ""));

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  await startBroker();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  if (broker && broker.exitCode === null) {
    broker.kill("SIGTERM");
    await new Promise((r) => broker.once("exit", r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("overview shows the cluster and its live throughput chart", async () => {
  await go("#/");
  const id = await page.locator("#cluster-id").textContent();
  const cluster = (await api("GET", "/cluster")).body;
  assert.equal(id, cluster.cluster_id);
  assert.equal(await page.locator("#under-replicated-count").textContent(), "0");
  assert.equal(await page.locator("#offline-count").textContent(), "0");
  await page.locator("#chart-bytes svg").waitFor();
  await shot("overview");
});

// Every card value on one line, whole, at the widths operators use.
async function assertCardsFit(width) {
  await page.setViewportSize({ width, height: 900 });
  await go("#/");
  await page.locator("#records-out").waitFor();
  const bad = await page.evaluate(() => [...document.querySelectorAll("#overview-cards .card .value, #overview-cards .card .label")]
    .filter((el) => el.scrollWidth > el.clientWidth + 1 || el.getClientRects().length !== 1 || el.offsetHeight > 2 * parseFloat(getComputedStyle(el).fontSize))
    .map((el) => `${el.className} "${el.textContent}" ${el.scrollWidth}>${el.clientWidth} h=${el.offsetHeight}`));
  assert.deepEqual(bad, [], `cards at ${width}px`);
}

test("overview cards fit on one line from 1280 to 1920 px", async () => {
  for (const width of [1280, 1600, 1920]) await assertCardsFit(width);
  await shot("overview-1920");
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("create a topic in the UI, with confirmation", async () => {
  await go("#/topics");
  await page.click("#create-topic-toggle");
  await page.fill("#new-topic-name", "browser-orders");
  await page.fill("#new-topic-partitions", "3");
  await page.fill("#new-topic-configs", "retention.ms=86400000");
  await page.click("#create-topic-submit");
  // The dialog shows what will happen; nothing exists before confirming.
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.match(await page.locator("#confirm-body").textContent(), /browser-orders.*3 partition/);
  assert.equal((await api("GET", "/topics/browser-orders")).status, 404);
  await shot("topic-create-confirm");
  await page.click("#confirm-ok");
  await page.locator("#topic-name", { hasText: "browser-orders" }).waitFor();
  const t = (await api("GET", "/topics/browser-orders")).body;
  assert.equal(t.partitions, 3);
  assert.equal(t.configs.find((c) => c.name === "retention.ms").value, "86400000");
  await go("#/topics");
  await page.locator("#topics a", { hasText: "browser-orders" }).waitFor();
  await page.fill("#topic-search", "orders");
  await shot("topics");
});

test("produce a record in the UI and see it in the message browser", async () => {
  await go("#/topics/browser-orders");
  await page.click("#tab-produce");
  assert.match(page.url(), /#\/topics\/browser-orders\/produce$/);
  await page.selectOption("#produce-partition", "1");
  await page.fill("#produce-key", "customer-7");
  // Keys not in alphabetical order: the browser must keep them as written.
  await page.fill("#produce-value", '{"qty":2,"item":"kettle","addr":{"zip":"11000","city":"Praha"}}');
  await page.fill("#produce-headers", "trace-id=abc123");
  await shot("topic-produce");
  // One record needs no confirmation dialog.
  await page.click("#produce-submit");
  await page.locator("#produce-result .message.ok").waitFor();
  assert.equal(await page.locator("#confirm-dialog[open]").count(), 0);
  await page.click("#tab-messages");
  const row = page.locator("#messages tbody tr", { hasText: "kettle" });
  await row.waitFor();
  assert.match(await row.textContent(), /customer-7/);
  assert.equal(await row.getAttribute("data-partition"), "1");
  // A compact one-line row, keys in their original order.
  assert.equal(await row.locator("td.value").textContent(), '{ "qty": 2, "item": "kettle", "addr": { "zip": "11000", "city": "Praha" } }');
  const rowBox = await row.boundingBox();
  assert.ok(rowBox.height < 60, `row height ${rowBox.height}`);
  await shot("topic-messages");

  // The detail drawer: pretty value as written, headers, copy buttons.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: consoleUrl });
  await row.click();
  await page.locator("#msg-drawer:not(.hidden)").waitFor();
  assert.equal(await page.locator("#drawer-value").textContent(),
    '{\n  "qty": 2,\n  "item": "kettle",\n  "addr": {\n    "zip": "11000",\n    "city": "Praha"\n  }\n}');
  assert.match(await page.locator("#drawer-headers").textContent(), /trace-id\s*abc123/);
  await page.click("#copy-value");
  await page.locator("#copy-value", { hasText: "Copied" }).waitFor();
  assert.match(await page.evaluate(() => navigator.clipboard.readText()), /^\{\n {2}"qty": 2,/);
  await shot("topic-message-drawer");
  await page.click("#msg-drawer-close");
  await page.locator("#msg-drawer.hidden").waitFor({ state: "attached" });

  // Live tail follows a record produced elsewhere.
  await page.click("#msg-tail");
  await api("POST", "/topics/browser-orders/records", { partition: 2, value: "tailed-record", confirm: true });
  await page.locator("#messages tbody tr", { hasText: "tailed-record" }).waitFor();
  await page.click("#msg-tail");

  // Filters: a value substring as the drawer shows it, a field path, offset and time ranges.
  await page.fill("#msg-value", '"item": "kettle"');
  await page.click("#msg-load");
  await page.waitForFunction(() => document.querySelectorAll("#messages tbody tr").length === 1);
  await page.fill("#msg-value", "");
  await page.fill("#msg-field", 'addr.city = "Praha"');
  await page.click("#msg-load");
  await page.waitForFunction(() => document.querySelectorAll("#messages tbody tr").length === 1);
  await page.fill("#msg-field", "qty > 2");
  await page.click("#msg-load");
  await page.locator("#msg-status", { hasText: "No records" }).waitFor();
  await page.fill("#msg-field", "");
  await page.fill("#msg-partitions", "2");
  await page.fill("#msg-offset-min", "0");
  await page.fill("#msg-offset-max", "0");
  await page.click("#msg-load");
  await page.waitForFunction(() => document.querySelectorAll("#messages tbody tr").length === 1);
  assert.match(await page.locator("#messages tbody tr").first().textContent(), /tailed-record/);
  await shot("topic-messages-filtered");
  await page.fill("#msg-offset-min", "");
  await page.fill("#msg-offset-max", "");
  await page.fill("#msg-partitions", "");
  await page.fill("#msg-time-min", "2000-01-01T00:00:00");
  await page.fill("#msg-time-max", "2000-01-02T00:00:00");
  await page.click("#msg-load");
  await page.locator("#msg-status", { hasText: "No records" }).waitFor();
  assert.equal(await page.locator("#messages tbody tr").count(), 0);
});

// Listeners of `type` on the document, as Chromium's DevTools count them.
async function documentListeners(type) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { result } = await cdp.send("Runtime.evaluate", { expression: "document" });
    const { listeners } = await cdp.send("DOMDebugger.getEventListeners", { objectId: result.objectId });
    return listeners.filter((l) => l.type === type).length;
  } finally {
    await cdp.detach();
  }
}

test("the record drawer keeps one Escape listener however often the topic opens", async () => {
  await go("#/topics/browser-orders");
  await page.locator("#messages tbody tr").first().waitFor();
  const first = await documentListeners("keydown");
  // In-page navigation (no reload): each visit builds the messages tab afresh.
  for (let i = 0; i < 3; i++) {
    await go("#/topics");
    await page.locator("#topics a", { hasText: "browser-orders" }).waitFor();
    await go("#/topics/browser-orders");
    await page.locator("#messages tbody tr").first().waitFor();
  }
  assert.equal(await documentListeners("keydown"), first, "a keydown listener per visit");
  // Escape still closes the drawer.
  await page.locator("#messages tbody tr").first().click();
  await page.locator("#msg-drawer:not(.hidden)").waitFor();
  await page.keyboard.press("Escape");
  await page.locator("#msg-drawer.hidden").waitFor({ state: "attached" });
});

test("topic tabs are links; configs search, human values and one Save; unknown topic page", async () => {
  // A tab's own address opens it directly.
  await go("#/topics/browser-orders/partitions");
  await page.locator("#partitions tbody tr").nth(2).waitFor();
  assert.ok(await page.locator("#pane-partitions").isVisible());
  assert.ok(!(await page.locator("#pane-messages").isVisible()));
  await shot("topic-partitions");
  // "Delete topic…" lives on the configs tab only.
  assert.equal(await page.locator("#delete-topic").isVisible(), false);
  await page.click("#tab-configs");
  assert.match(page.url(), /#\/topics\/browser-orders\/configs$/);
  assert.ok(await page.locator("#delete-topic").isVisible());
  await page.locator("#configs input[data-config='retention.ms']").waitFor();
  const hint = (n) => page.locator(`#configs tr[data-config-row='${n}'] .human`).textContent();
  assert.equal(await hint("retention.ms"), "1 day");
  assert.equal(await hint("retention.bytes"), "unlimited");
  await page.check("#config-overrides");
  assert.equal(await page.locator("#configs tbody tr").count(), 1);
  await page.uncheck("#config-overrides");
  await page.fill("#config-search", "segment");
  assert.ok((await page.locator("#configs tbody tr").count()) >= 2);
  assert.equal(await page.locator("#configs tbody tr", { hasText: "retention.ms" }).count(), 0);
  await page.fill("#config-search", "");
  // Two edits, one Save, one confirmation, both applied.
  await page.fill("#configs input[data-config='retention.ms']", "604800000");
  assert.equal(await hint("retention.ms"), "7 days");
  await page.fill("#configs input[data-config='segment.bytes']", "10485760");
  assert.equal(await page.locator("#configs-save").textContent(), "Save 2 changes…");
  await shot("topic-configs");
  await page.click("#configs-save");
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.match(await page.locator("#configs-plan").textContent(), /retention\.ms = 604800000 \(7 days\)\nsegment\.bytes = 10485760 \(10\.0 MiB\)/);
  await page.click("#confirm-ok");
  await page.locator("#configs-result .message.ok").waitFor();
  const t = (await api("GET", "/topics/browser-orders")).body;
  const cfg = (n) => t.configs.find((c) => c.name === n);
  assert.equal(cfg("retention.ms").value, "604800000");
  assert.equal(cfg("segment.bytes").value, "10485760");
  assert.equal(cfg("segment.bytes").is_default, false);
  // Back through the tabs follows the address.
  await page.goBack();
  await page.locator("#pane-partitions:not(.hidden)").waitFor();
  await go("#/topics/no-such-topic");
  await page.locator("h1", { hasText: "Topic not found" }).waitFor();
  assert.match(await page.locator("main").textContent(), /no-such-topic' does not exist/);
  await shot("topic-unknown");
});

test("a group's lag shrinks as its consumer catches up; resets are refused while it is active", async () => {
  await helper(["produce", kafka, "browser-orders", "200"]).done;
  // Everything in the topic, the records produced in the UI included.
  const records = (await api("GET", "/topics/browser-orders")).body.records;
  // Give the new group committed offsets on every partition first (a reset works on
  // a group that does not exist yet), so its total lag counts all of them from the
  // start: lag only counts partitions with a committed offset.
  const preset = await api("POST", "/groups/browser-group/offsets/reset",
    { topic: "browser-orders", to: "earliest", confirm: true });
  assert.equal(preset.status, 200, JSON.stringify(preset.body));
  assert.equal(preset.body.plan.length, 3);
  let firstCommit;
  const committed = new Promise((r) => (firstCommit = r));
  const consumer = helper(["consume", kafka, "browser-orders", "browser-group", String(records), "20", "1.5"],
    (line) => line.startsWith("consumed") && firstCommit());
  await committed;
  await go("#/groups/browser-group");
  await page.locator("#group-total-lag").waitFor();
  const seen = [];
  const watch = (async () => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const text = await page.locator("#group-total-lag").textContent();
      const lag = number(text);
      if (seen[seen.length - 1] !== lag) seen.push(lag);
      if (lag === 0) return;
      await sleep(500);
    }
    throw new Error(`lag did not reach 0: ${seen.join(" -> ")}`);
  })();

  // While the consumer is a member, a reset is refused, preview included.
  await page.selectOption("#reset-to", "earliest");
  await page.click("#reset-preview-button");
  await page.locator("#reset-result .message.error", { hasText: "inactive" }).waitFor();
  await shot("group-active-reset-refused");

  await watch;
  await consumer.done;
  assert.ok(seen.length >= 3, `lag should shrink in steps, saw ${seen.join(" -> ")}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] < seen[i - 1], `lag went up: ${seen.join(" -> ")}`);
  assert.equal(seen[seen.length - 1], 0);
  await shot("group");
});

test("reset offsets with a preview and a confirmation", async () => {
  await go("#/groups/browser-group");
  await page.locator(".badge.Empty").first().waitFor();
  await page.selectOption("#reset-to", "earliest");
  await page.click("#reset-preview-button");
  await page.locator("#reset-preview tbody tr").first().waitFor();
  // Previewing changes nothing.
  assert.equal((await api("GET", "/groups/browser-group")).body.total_lag, 0);
  await shot("group-reset-preview");
  // Cancelling changes nothing either.
  await page.click("#reset-apply");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-cancel");
  await page.locator("#reset-result .message.info").waitFor();
  assert.equal((await api("GET", "/groups/browser-group")).body.total_lag, 0);
  await page.click("#reset-preview-button");
  await page.locator("#reset-preview tbody tr").first().waitFor();
  await page.click("#reset-apply");
  await page.locator("#confirm-dialog[open]").waitFor();
  await shot("group-reset-confirm");
  await page.click("#confirm-ok");
  await page.locator("#reset-result .message.ok").waitFor();
  const total = (await api("GET", "/topics/browser-orders")).body.records;
  await page.waitForFunction((want) => Number(document.querySelector("#group-total-lag").textContent.replace(/[^0-9]/g, "")) === want, total);
  await shot("group-after-reset");
});

test("groups and brokers pages, unknown group, phone layout", async () => {
  await go("#/groups");
  await page.locator("#groups a", { hasText: "browser-group" }).waitFor();
  await page.click("#groups th[data-key='total_lag']");
  await shot("groups");
  await go("#/groups/nobody-here");
  await page.locator("h1", { hasText: "Group not found" }).waitFor();
  await go("#/brokers");
  await page.locator("#brokers .panel").first().waitFor();
  // Broker configs: static ones read-only, a dynamic one changed for the cluster.
  await page.locator("#configs input[data-config='log.retention.ms']").waitFor();
  assert.ok(await page.locator("#configs input[data-config='node.id']").isDisabled());
  await page.fill("#configs input[data-config='log.retention.ms']", "259200000");
  assert.equal(await page.locator("#configs tr[data-config-row='log.retention.ms'] .human").textContent(), "3 days");
  await page.click("#configs-save");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-ok");
  await page.locator("#configs-result .message.ok").waitFor();
  const retention = (await api("GET", "/broker-configs")).body.find((c) => c.name === "log.retention.ms");
  assert.deepEqual([retention.value, retention.source], ["259200000", "DYNAMIC_DEFAULT_BROKER_CONFIG"]);
  await shot("brokers");
  await go("#/");
  await page.locator("#chart-bytes polyline").first().waitFor();
  await shot("overview-with-traffic");
  await page.setViewportSize({ width: 390, height: 844 });
  await go("#/topics/browser-orders");
  await page.locator("#messages tbody tr").first().waitFor();
  await page.screenshot({ path: path.join(artifacts, "phone-topic.png") });
  await go("#/groups/browser-group");
  await page.locator("#group-lag tbody tr").first().waitFor();
  await page.screenshot({ path: path.join(artifacts, "phone-group.png") });
  await page.setViewportSize({ width: 1280, height: 900 });
});

test("chart tooltips show the values under the pointer", async () => {
  await go("#/");
  const chart = page.locator("#chart-records svg");
  await page.locator("#chart-records polyline").first().waitFor();
  await chart.scrollIntoViewIfNeeded();
  const box = await chart.boundingBox();
  await chart.hover({ position: { x: box.width * 0.9, y: box.height * 0.5 } });
  const tip = page.locator("#chart-records .chart-tip:not(.hidden)");
  await tip.waitFor();
  assert.match(await tip.textContent(), /records in\/s.*records out\/s/);
  assert.ok((await page.locator("#chart-records .x-tick").count()) >= 2, "time ticks");
  await shot("overview-tooltip");
});

test("partition operations: add partitions, delete records", async () => {
  await go("#/topics/browser-orders/partitions");
  await page.locator("#partitions tbody tr").nth(2).waitFor();
  await page.fill("#add-partitions-count", "4");
  await page.click("#add-partitions-submit");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-ok");
  await page.locator("#partitions-result .message.ok").waitFor();
  await page.locator("#partitions tbody tr").nth(3).waitFor();
  assert.equal((await api("GET", "/topics/browser-orders")).body.partitions, 4);
  // Partition 2 holds the tailed record and the helper's records: delete below 1.
  const before = (await api("GET", "/topics/browser-orders")).body.partition_details.find((p) => p.partition === 2);
  assert.ok(before.high_watermark >= 2);
  await page.click("#partitions button[data-delete-records='2']");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.fill("#delete-records-offset", "1");
  await shot("topic-delete-records-confirm");
  await page.click("#confirm-ok");
  await page.locator("#partitions-result .message.ok", { hasText: "starts at offset 1" }).waitFor();
  const after = (await api("GET", "/topics/browser-orders")).body.partition_details.find((p) => p.partition === 2);
  assert.equal(after.log_start_offset, 1);
  await shot("topic-partitions-after");
});

test("group: reset one partition by a shift, the decoded offsets log, delete the group", async () => {
  await go("#/groups/browser-group");
  await page.locator(".badge.Empty").first().waitFor();
  const before = (await api("GET", "/groups/browser-group")).body.partitions.find((p) => p.partition === 0);
  await page.selectOption("#reset-topic", "browser-orders");
  await page.fill("#reset-partitions", "0");
  await page.selectOption("#reset-to", "shift");
  await page.fill("#reset-shift", "-1");
  await page.click("#reset-preview-button");
  await page.locator("#reset-preview tbody tr").first().waitFor();
  assert.equal(await page.locator("#reset-preview tbody tr").count(), 1);
  await page.click("#reset-apply");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-ok");
  await page.locator("#reset-result .message.ok").waitFor();
  const after = (await api("GET", "/groups/browser-group")).body.partitions.find((p) => p.partition === 0);
  assert.equal(after.committed_offset, Math.max(0, before.committed_offset - 1));
  // The group's own records in __consumer_offsets, newest first.
  await page.click("#offsets-log-refresh");
  const newest = page.locator("#offsets-log tbody tr", { hasText: "browser-orders-0" }).first();
  await newest.waitFor();
  assert.match(await newest.textContent(), new RegExp(`offset ${after.committed_offset},`));
  await shot("group-offsets-log");
  await page.click("#delete-group");
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.ok(await page.locator("#confirm-ok").isDisabled());
  await page.fill("#confirm-typed", "browser-group");
  await shot("group-delete-confirm");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => location.hash === "#/groups");
  assert.equal((await api("GET", "/groups")).body.some((g) => g.group_id === "browser-group"), false);
  assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
});

test("a KIP-848 consumer group shows epochs and current vs target assignments", async () => {
  const created = await api("POST", "/topics", { name: "browser-848", partitions: 2, confirm: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  let assigned;
  const owns = new Promise((r) => (assigned = r));
  const member = helper(["hold848", kafka, "browser-848", "browser-848-group", "40"], (line) => line.startsWith("assigned") && assigned());
  try {
    await owns;
    await go("#/groups/browser-848-group");
    const row = page.locator("#group-consumer-members tbody tr").first();
    await row.waitFor();
    assert.ok(Number(await row.locator(".member-epoch").textContent()) >= 1);
    await page.waitForFunction(() => {
      const cell = document.querySelector("#group-consumer-members tbody tr td.current");
      return cell && /browser-848: 0, 1/.test(cell.textContent);
    });
    assert.match(await row.locator("td.target").textContent(), /browser-848: 0, 1/);
    assert.ok(Number(await page.locator("#group-epoch").textContent()) >= 1);
    assert.equal(await page.locator("#group-type").textContent(), "consumer");
    await shot("group-kip848");
    // The list tells the two protocols apart.
    await go("#/groups");
    const listed = page.locator("#groups tr", { hasText: "browser-848-group" });
    await listed.waitFor();
    assert.match(await listed.textContent(), /consumer/);
    await shot("groups-both-protocols");
    assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
  } finally {
    member.child.kill("SIGTERM");
    await member.done.catch(() => {});
  }
});

// Polls the group's consumer_protocol view until `ok` holds for it (bounded).
async function until848(group, what, ok, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const cp = (await api("GET", "/groups/" + group)).body.consumer_protocol;
    if (cp && ok(cp)) return cp;
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(cp)}`);
    await sleep(200);
  }
}

test("a KIP-848 member waiting for a partition names the member that has not revoked it yet", async () => {
  const created = await api("POST", "/topics", { name: "browser-revoke", partitions: 2, confirm: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const group = "browser-revoke-group";
  const count = (list) => list.reduce((n, a) => n + a.partitions.length, 0);
  // The first member owns both partitions; its rebalance callback then holds a
  // revocation for 25 s, so the newcomer visibly waits on it.
  let revoking;
  const revokeStarted = new Promise((r) => (revoking = r));
  const slow = helper(["hold848", kafka, "browser-revoke", group, "120", "25"], (line) => line.startsWith("revoking") && revoking());
  let quick;
  try {
    const alone = await until848(group, "the first member owning both partitions",
      (cp) => cp.members.length === 1 && count(cp.members[0].current) === 2);
    const holderId = alone.members[0].member_id;
    assert.equal(alone.members[0].member_type, "consumer");
    quick = helper(["hold848", kafka, "browser-revoke", group, "120"]);
    await revokeStarted;
    const cp = await until848(group, "the newcomer waiting on the holder",
      (cp) => cp.members.some((m) => m.waiting_on.length > 0), 20_000);
    const waiter = cp.members.find((m) => m.waiting_on.length > 0);
    const holder = cp.members.find((m) => m.member_id === holderId);
    const moving = waiter.waiting_on[0];
    assert.equal(moving.owner, holderId);
    assert.notEqual(waiter.member_id, holderId);
    assert.deepEqual(holder.revoking, [{ topic: "browser-revoke", partitions: [moving.partition] }]);
    assert.deepEqual(waiter.awaiting, [{ topic: "browser-revoke", partitions: [moving.partition] }]);
    assert.ok(cp.assignment_epoch >= 2 && cp.assignment_epoch <= cp.group_epoch, JSON.stringify(cp));
    assert.ok(cp.members.every((m) => m.member_type === "consumer"), JSON.stringify(cp));
    assert.ok(["uniform", "range"].includes(cp.assignor), cp.assignor);
    // The page shows the same, while the revocation is still held.
    await go("#/groups/" + group);
    await page.waitForFunction(([id, owner, p]) => {
      const row = document.querySelector(`#group-consumer-members tr[data-member="${id}"]`);
      return row && row.querySelector("td.awaiting").textContent.includes(`browser-revoke: ${p} (held by ${owner})`);
    }, [waiter.member_id, holderId, moving.partition], { timeout: 20_000 });
    const holderRow = page.locator(`#group-consumer-members tr[data-member="${holderId}"]`);
    assert.equal(await holderRow.locator("td.revoking").textContent(), `browser-revoke: ${moving.partition}`);
    assert.equal(await holderRow.locator("td.member-type").textContent(), "consumer");
    assert.equal(Number(await page.locator("#assignment-epoch").textContent()), cp.assignment_epoch);
    assert.equal(await page.locator("#group-assignor").textContent(), cp.assignor);
    await shot("group-kip848-waiting-on-revocation");
    // Once the holder acknowledges, the partition moves and nobody waits.
    const settled = await until848(group, "the partition handed over",
      (cp) => cp.members.length === 2 && cp.members.every((m) => m.waiting_on.length === 0 && m.revoking.length === 0 && count(m.current) === 1));
    assert.deepEqual(settled.members.find((m) => m.member_id === waiter.member_id).current,
      [{ topic: "browser-revoke", partitions: [moving.partition] }]);
    await page.waitForFunction((id) => {
      const row = document.querySelector(`#group-consumer-members tr[data-member="${id}"]`);
      return row && row.querySelector("td.awaiting").textContent === "–";
    }, waiter.member_id, { timeout: 20_000 });
    assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
  } finally {
    for (const m of [slow, quick].filter(Boolean)) {
      m.child.kill("SIGTERM");
      await m.done.catch(() => {});
    }
  }
});

test("transactions, SCRAM users and ACLs pages", async () => {
  let opened;
  const isOpen = new Promise((r) => (opened = r));
  const txn = helper(["txn-open", kafka, "browser-848", "browser-txn", "30"], (line) => line === "open" && opened());
  try {
    await isOpen;
    await go("#/transactions");
    const row = page.locator("#transactions-table tr[data-txn='browser-txn']");
    await row.waitFor();
    assert.match(await row.textContent(), /Ongoing/);
    assert.match(await row.textContent(), /browser-848-[01]/);
    await shot("transactions");
  } finally {
    txn.child.kill("SIGTERM");
    await txn.done.catch(() => {});
  }
  // A SCRAM user added with the CLI, as an operator would.
  const add = spawn(moldauBin, ["-b", kafka, "user", "add", "browser-alice", "--password", "s3cret-pw", "--mechanism", "SCRAM-SHA-512"], { stdio: "inherit" });
  assert.equal(await new Promise((r) => add.on("exit", r)), 0);
  await go("#/users");
  const user = page.locator("#users-table tr[data-user='browser-alice']");
  await user.waitFor();
  assert.match(await user.textContent(), /SCRAM-SHA-512/);
  assert.doesNotMatch(await page.locator("main").textContent(), /s3cret/);
  await shot("users");
  // An ACL added with the CLI; this broker has no authorizer, and the page says so.
  const acl = spawn(moldauBin, ["-b", kafka, "acl", "add", "--deny-principal", "User:browser-alice", "--operation", "Write", "--topic", "browser-acl-", "--resource-pattern-type", "prefixed"], { stdio: "inherit" });
  assert.equal(await new Promise((r) => acl.on("exit", r)), 0);
  await go("#/acls");
  const entry = page.locator("#acls-table tr[data-principal='User:browser-alice'][data-resource='browser-acl-']");
  await entry.waitFor();
  const text = await entry.textContent();
  for (const part of ["TOPIC", "PREFIXED", "WRITE", "DENY"]) assert.match(text, new RegExp(part));
  assert.match(await page.locator("#acls").textContent(), /Not enforced/);
  await shot("acls");
  assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
});

test("a hanging transaction is aborted from the transactions page; read_committed moves past it", async () => {
  const created = await api("POST", "/topics", { name: "browser-hang", partitions: 1, confirm: true });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // A transactional record an hour old whose producer no coordinator knows: the
  // transaction never ends by itself.
  let start;
  await helper(["hang", kafka, "browser-hang", "0", "987654", "3600"], (line) => {
    const m = line.match(/^start (\d+)$/);
    if (m) start = Number(m[1]);
  }).done;
  assert.equal(start, 1);
  const readCommitted = async (seconds) => {
    let values;
    await helper(["read-committed", kafka, "browser-hang", "0", "2", String(seconds)], (line) => {
      if (line.startsWith("values ")) values = JSON.parse(line.slice("values ".length));
    }).done;
    return values;
  };
  // The open transaction holds the last stable offset: "after" stays out of reach.
  assert.deepEqual(await readCommitted(15), ["before"]);

  await go("#/transactions");
  const key = "browser-hang-0@1";
  const row = page.locator(`#hanging-table tr[data-hanging='${key}']`);
  await row.waitFor();
  assert.match(await row.textContent(), /987654/);
  // The API refuses without confirmation, changing nothing.
  const unconfirmed = await api("POST", "/transactions/abort", { topic: "browser-hang", partition: 0, start_offset: 1 });
  assert.equal(unconfirmed.status, 400);
  assert.equal(unconfirmed.body.error, "confirmation_required");
  await shot("transactions-hanging");
  // Cancelling changes nothing either.
  await page.click(`button[data-abort='${key}']`);
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-cancel");
  assert.equal((await api("GET", "/transactions/hanging")).body.count, 1);
  await page.click(`button[data-abort='${key}']`);
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.match(await page.locator("#confirm-body").textContent(), /browser-hang-0.*987654/);
  await shot("transactions-abort-confirm");
  await page.click("#confirm-ok");
  await page.locator("#hanging-result .message.ok").waitFor();
  await page.locator("#hanging-none").waitFor();
  await shot("transactions-after-abort");

  // The ABORT marker moved the last stable offset past the records: a read_committed
  // consumer gets "after", and never the aborted record.
  assert.deepEqual(await readCommitted(30), ["before", "after"]);
  const again = await api("POST", "/transactions/abort", { topic: "browser-hang", partition: 0, start_offset: 1, confirm: true });
  assert.equal(again.status, 409);
  assert.match(again.body.message, /no open transaction starts at offset 1/);
  assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
});
