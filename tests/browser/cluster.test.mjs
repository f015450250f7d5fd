// The console of a three-node cluster (three combined broker+controller `moldau
// serve` processes): a topic with three replicas; one broker killed; its console
// peers highlight the under-replicated partitions on the overview and the topic's
// partitions tab, and show the broker fenced. Screenshots go to
// test-artifacts/console/cluster-*.png. Run through tests/browser/run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const artifacts = path.join(root, "test-artifacts", "console");
const moldauBin = process.env.MOLDAU_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "moldau");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const NODES = 3;
const CLUSTER_ID = "Y29uc29sZS1jbHVzdGVyMQ";
// Short heartbeats and sessions, so the killed broker is fenced within seconds.
const SETTINGS = ["--set", "broker.heartbeat.interval.ms=500", "--set", "broker.session.timeout.ms=4000"];
const STEP_TIMEOUT_MS = 20_000;
// Upper bound of any wait for the cluster (elections, fencing on a loaded machine).
const CLUSTER_WAIT_MS = 90_000;
const TOPIC = "replicated-orders";

let dataDir, browser, page;
const nodes = []; // {id, child, console, kafka}
const pageErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts node `id`; resolves once its console and Kafka listeners are printed.
function startNode(id, controllerPort, voters) {
  const dir = path.join(dataDir, `node-${id}`);
  const child = spawn(moldauBin, ["serve", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--data-dir", dir,
    "--node-id", String(id), "--controller", `127.0.0.1:${controllerPort}`, "--voters", voters, "--cluster-id", CLUSTER_ID, ...SETTINGS],
  { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: process.env.MOLDAU_TEST_LOG || "warn" } });
  const node = { id, child };
  nodes.push(node);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not start`)), CLUSTER_WAIT_MS);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${id} exited with ${code}`));
    });
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const c = line.match(/^moldau listening console=(.+)$/);
      if (c) node.console = "http://" + c[1];
      const k = line.match(/^moldau listening kafka=(.+)$/);
      if (k) {
        node.kafka = k[1];
        clearTimeout(timer);
        resolve(node);
      }
    });
  });
}

async function api(node, method, p, body) {
  const res = await fetch(node.console + "/api/v1" + p, {
    method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

// Polls `probe` (an async function returning a truthy value when done) until done.
async function until(what, probe) {
  const deadline = Date.now() + CLUSTER_WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), "moldau-browser-cluster-"));
  const ports = [];
  for (let i = 0; i < NODES; i++) ports.push(await freePort());
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p}`).join(",");
  // Started together: a node's start-up waits for a quorum leader.
  await Promise.all(ports.map((p, i) => startNode(i + 1, p, voters)));
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
  for (const n of nodes) {
    if (n.child.exitCode === null && n.child.signalCode === null) {
      n.child.kill("SIGKILL");
      await new Promise((r) => n.child.once("exit", r));
    }
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a killed broker: under-replicated partitions highlighted, the broker shown fenced", async () => {
  const [first, , victim] = nodes;
  await until("three serving brokers", async () => {
    const b = (await api(first, "GET", "/brokers")).body;
    return Array.isArray(b) && b.length === NODES && b.every((x) => !x.fenced);
  });
  const created = await until("the topic created", async () => {
    const r = await api(first, "POST", "/topics", { name: TOPIC, partitions: 3, replication_factor: 3, confirm: true });
    return r.status === 201 ? r : null;
  });
  assert.equal(created.body.replication_factor, 3, JSON.stringify(created.body));
  await until("every replica in sync", async () => {
    const t = (await api(first, "GET", `/topics/${TOPIC}`)).body;
    return t.partition_details?.length === 3 && t.partition_details.every((p) => p.isr.length === 3);
  });

  // Healthy: nothing to highlight.
  await page.goto(first.console + "/#/");
  await page.locator("#under-replicated-count", { hasText: "0" }).waitFor();
  assert.equal(await page.locator("#overview-brokers tr[data-broker]").count(), NODES);

  victim.child.kill("SIGKILL");
  await new Promise((r) => victim.child.once("exit", r));
  // Fenced after its session times out; the controller takes it out of every ISR.
  await until("the killed broker fenced and out of the ISRs", async () => {
    const o = (await api(first, "GET", "/cluster")).body;
    const ours = o.problem_partitions.filter((p) => p.topic === TOPIC && p.problem === "under_replicated");
    return o.brokers.find((b) => b.id === victim.id)?.fenced && ours.length === 3;
  });

  // (Internal topics with three replicas, if any, are under-replicated too.)
  await page.reload();
  await page.waitForFunction(() => Number(document.querySelector("#under-replicated-count")?.textContent) >= 3);
  assert.match(await page.locator("#overview-cards .card.alert").first().textContent(), /Under-replicated/);
  const problems = page.locator("#problem-partitions tbody tr.warn", { hasText: TOPIC });
  await problems.nth(2).waitFor();
  assert.equal(await problems.count(), 3);
  for (const row of await problems.all()) assert.match(await row.textContent(), /under-replicated/);
  // With no traffic the bytes axis still reads 0, 1, 2 … B, each tick once.
  await page.locator("#chart-bytes .y-tick").first().waitFor();
  const ticks = await page.locator("#chart-bytes .y-tick").allTextContents();
  assert.deepEqual(ticks, [...new Set(ticks)], `bytes ticks ${ticks}`);
  const fencedRow = page.locator(`#overview-brokers tr[data-broker='${victim.id}']`);
  assert.match(await fencedRow.textContent(), /fenced/);
  assert.match(await fencedRow.getAttribute("class"), /bad/);
  await shot("cluster-overview-under-replicated");

  // The topic's partitions tab: each partition marked, the ISR without the victim.
  await page.goto(`${first.console}/#/topics/${TOPIC}/partitions`);
  const marked = page.locator("#partitions tbody tr.warn");
  await marked.nth(2).waitFor();
  assert.equal(await marked.count(), 3);
  for (const row of await marked.all()) {
    const isr = await row.locator("td").nth(3).textContent();
    assert.match(isr, /under-replicated/);
    assert.doesNotMatch(isr.replace(/\(.*\)/, ""), new RegExp(`\\b${victim.id}\\b`));
  }
  await shot("cluster-topic-under-replicated");

  // The brokers page: the victim's panel marked fenced, the others serving.
  await page.goto(`${first.console}/#/brokers`);
  const panel = page.locator(`#brokers .panel.fenced[data-broker='${victim.id}']`);
  await panel.waitFor();
  assert.match(await panel.locator("h2").textContent(), /\(fenced\)/);
  assert.equal(await page.locator("#brokers .panel.fenced").count(), 1);
  await page.locator("#reassignments-none").waitFor();
  await shot("cluster-brokers-fenced");
  assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
});
