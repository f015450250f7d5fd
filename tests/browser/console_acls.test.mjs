// The console acts as the logged-in principal (issue 15): with Kafka's
// StandardAuthorizer on, a SCRAM user added with `moldau user` and given ACLs with
// `moldau acl` sees only the topics it may describe, reads what it may read, and gets
// 403 naming the missing permission for everything else; the configured token acts
// as a super user. HTTP only (no page), against the real binary. Run through
// tests/browser/run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const moldauBin = process.env.MOLDAU_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "moldau");
const TOKEN = "console-acl-token";
const WAIT_MS = 30_000;

let broker, dataDir, consoleUrl, kafka;
// bob's session: cookie header and CSRF token.
let bob;

function startBroker() {
  dataDir = mkdtempSync(path.join(tmpdir(), "moldau-console-acls-"));
  const set = (kv) => ["--set", kv];
  broker = spawn(moldauBin, ["serve", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--data-dir", dataDir,
    ...set("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
    // The CLI below administers over the PLAINTEXT listener, whose principal is ANONYMOUS.
    ...set("super.users=User:ANONYMOUS"),
    ...set("console.auth.enabled=true"),
    ...set(`console.auth.token=${TOKEN}`)],
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

async function cli(args) {
  const child = spawn(moldauBin, ["-b", kafka, ...args], { stdio: "inherit" });
  const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_MS);
  const code = await new Promise((r) => child.on("exit", r));
  clearTimeout(timer);
  assert.equal(code, 0, `moldau ${args.join(" ")}`);
}

async function call(method, p, body, headers) {
  const h = { ...headers };
  if (body) h["Content-Type"] = "application/json";
  const res = await fetch(consoleUrl + "/api/v1" + p, { method, headers: h, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const asToken = (method, p, body) => call(method, p, body, { Authorization: `Bearer ${TOKEN}` });
const asBob = (method, p, body) => call(method, p, body, { Cookie: bob.cookie, "X-CSRF-Token": bob.csrf });

// Polls `probe` until it returns true (metadata changes apply asynchronously).
async function eventually(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  await startBroker();
  for (const name of ["acl-visible", "acl-hidden"]) {
    const created = await asToken("POST", "/topics", { name, partitions: 1, confirm: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
  await cli(["user", "add", "bob", "--password", "bob-secret", "--mechanism", "SCRAM-SHA-256"]);
  await cli(["acl", "add", "--allow-principal", "User:bob", "--operation", "Describe", "--operation", "Read", "--topic", "acl-visible"]);
  await eventually("bob and his ACLs", async () => {
    const users = await asToken("GET", "/users");
    const acls = await asToken("GET", "/acls");
    return users.body.some?.((u) => u.user === "bob") && acls.body.acls?.filter((a) => a.principal === "User:bob").length === 2;
  });
  const login = await call("POST", "/login", { user: "bob", password: "bob-secret" });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.principal, "User:bob");
  const cookie = login.headers.get("set-cookie").split(";")[0];
  bob = { cookie, csrf: login.body.csrf_token };
});

after(async () => {
  if (broker && broker.exitCode === null) {
    broker.kill("SIGTERM");
    await new Promise((r) => broker.once("exit", r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("the topic list shows only the topics the user may describe; the token sees all", async () => {
  const mine = await asBob("GET", "/topics");
  assert.equal(mine.status, 200, JSON.stringify(mine.body));
  assert.deepEqual(mine.body.map((t) => t.name), ["acl-visible"]);
  const all = (await asToken("GET", "/topics")).body.map((t) => t.name);
  assert.ok(all.includes("acl-visible") && all.includes("acl-hidden"), all.join(","));
});

test("a topic without DELETE is not deleted: 403 naming the permission", async () => {
  const r = await asBob("DELETE", "/topics/acl-visible?confirm=acl-visible");
  assert.equal(r.status, 403, JSON.stringify(r.body));
  assert.equal(r.body.error, "forbidden");
  assert.match(r.body.message, /User:bob/);
  assert.match(r.body.message, /DELETE on TOPIC 'acl-visible'/);
  assert.equal((await asToken("GET", "/topics/acl-visible")).status, 200, "the topic is still there");
});

test("reading needs READ, producing needs WRITE, describing needs DESCRIBE", async () => {
  assert.equal((await asBob("GET", "/topics/acl-visible")).status, 200);
  assert.equal((await asBob("GET", "/topics/acl-visible/records")).status, 200);
  const produce = await asBob("POST", "/topics/acl-visible/records", { value: "from bob", confirm: true });
  assert.equal(produce.status, 403, JSON.stringify(produce.body));
  assert.match(produce.body.message, /WRITE on TOPIC 'acl-visible'/);
  const hidden = await asBob("GET", "/topics/acl-hidden");
  assert.equal(hidden.status, 403);
  assert.match(hidden.body.message, /DESCRIBE on TOPIC 'acl-hidden'/);
  assert.equal((await asBob("GET", "/topics/acl-hidden/records")).status, 403);
  const create = await asBob("POST", "/topics", { name: "acl-new", partitions: 1, confirm: true });
  assert.equal(create.status, 403);
  assert.match(create.body.message, /CREATE on TOPIC 'acl-new'/);
});

test("ACL, user and broker-config pages need cluster permissions", async () => {
  for (const p of ["/acls", "/users"]) {
    const r = await asBob("GET", p);
    assert.equal(r.status, 403, `${p}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.message, /DESCRIBE on CLUSTER/);
  }
  const abort = await asBob("POST", "/transactions/abort", { topic: "acl-visible", partition: 0, start_offset: 0, confirm: true });
  assert.equal(abort.status, 403);
  assert.match(abort.body.message, /ALTER on CLUSTER/);
});

test("a new ACL applies to the next console request", async () => {
  await cli(["acl", "add", "--allow-principal", "User:bob", "--operation", "Write", "--topic", "acl-visible"]);
  await eventually("bob may write", async () => (await asBob("POST", "/topics/acl-visible/records", { value: "from bob", confirm: true })).status === 200);
});

// A group that committed offsets on both topics, and READ on it for bob.
async function groupOnBothTopics(group) {
  for (const topic of ["acl-visible", "acl-hidden"]) {
    const r = await asToken("POST", `/groups/${group}/offsets/reset`, { topic, to: "earliest", confirm: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  await cli(["acl", "add", "--allow-principal", "User:bob", "--operation", "Read", "--group", group]);
  await eventually("bob may describe the group", async () => (await asBob("GET", `/groups/${group}`)).status === 200);
}

test("an offset reset needs READ on every topic reset, not only on the group", async () => {
  await groupOnBothTopics("acl-reset-group");
  const named = await asBob("POST", "/groups/acl-reset-group/offsets/reset", { topic: "acl-hidden", to: "latest", confirm: true });
  assert.equal(named.status, 403, JSON.stringify(named.body));
  assert.match(named.body.message, /READ on TOPIC 'acl-hidden'/);
  // Every committed topic: the one bob may not describe is not part of the plan.
  const all = await asBob("POST", "/groups/acl-reset-group/offsets/reset", { to: "latest", dry_run: true });
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual(all.body.plan.map((e) => e.topic), ["acl-visible"]);
  const applied = await asBob("POST", "/groups/acl-reset-group/offsets/reset", { topic: "acl-visible", to: "latest", confirm: true });
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
});

test("group lag, metrics and charts show only what the user may describe", async () => {
  await groupOnBothTopics("acl-lag-group");
  const list = await asBob("GET", "/groups");
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const row = list.body.find((g) => g.group_id === "acl-lag-group");
  assert.ok(row, JSON.stringify(list.body));
  assert.deepEqual(row.topics, ["acl-visible"]);
  const detail = await asBob("GET", "/groups/acl-lag-group");
  assert.equal(detail.status, 200, JSON.stringify(detail.body));
  assert.deepEqual([...new Set(detail.body.partitions.map((p) => p.topic))], ["acl-visible"]);
  assert.deepEqual(detail.body.lag_history, [], "the total would count the hidden topic");
  const tokenDetail = await asToken("GET", "/groups/acl-lag-group");
  assert.deepEqual([...new Set(tokenDetail.body.partitions.map((p) => p.topic))].sort(), ["acl-hidden", "acl-visible"]);

  const metrics = await (await fetch(consoleUrl + "/metrics", { headers: { Cookie: bob.cookie } })).text();
  assert.match(metrics, /moldau_partition_log_end_offset\{topic="acl-visible"\}/);
  assert.match(metrics, /moldau_consumer_group_committed_offset\{group="acl-lag-group",topic="acl-visible"\}/);
  assert.doesNotMatch(metrics, /acl-hidden/);
  assert.doesNotMatch(metrics, /^moldau_broker_info\{/m, "cluster-wide series need cluster DESCRIBE");
  const all = await (await fetch(consoleUrl + "/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  assert.match(all, /acl-hidden/);
  assert.match(all, /^moldau_broker_info\{/m);

  const overview = await asBob("GET", "/cluster");
  assert.equal(overview.status, 200, JSON.stringify(overview.body));
  assert.equal(overview.body.topics, 1);
  assert.equal(overview.body.internal_topics, 0);
  assert.deepEqual(overview.body.quorum.voters, []);
  const chart = await asBob("GET", "/cluster/throughput");
  assert.deepEqual(chart.body.samples, [], "the cluster-wide chart needs cluster DESCRIBE");
  const brokers = await asBob("GET", "/brokers");
  assert.ok(brokers.body.every((b) => b.log_dirs === null), JSON.stringify(brokers.body));
});
