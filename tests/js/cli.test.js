// The command line, run as a child process: help, exit codes, output lines, stdin, EVENTS formats,
// progress, simulate. Servers only on 127.0.0.1, each closed after its test.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import http from "node:http";
import { createSimulator } from "../../pkg/simulator.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";

const CLI = fileURLToPath(new URL("../../pkg/cli.js", import.meta.url));

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "zd-cli-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args, { input, onStdout } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      onStdout?.(stdout, child);
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, lines: stdout.split("\n").filter(Boolean) }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

function file(name, content) {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

const settingsFor = (url, extra = {}) => ({ subdomain: "acme", email: "agent@acme.test/token", password: "x", baseUrl: url, events: ["Order Completed"], ...extra });
const identify = (n, extra = {}) => ({ type: "identify", messageId: `m${n}`, userId: `u-${n}`, traits: { name: `User ${n}`, email: `user${n}@example.com` }, ...extra });

async function withServer(options, fn) {
  const server = await startSimulatorServer(options);
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

describe("help and usage", () => {
  test("--help for the program and for each command", async () => {
    const top = await run(["--help"]);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: zendesk-destination <command>/);
    for (const name of ["plan", "send", "simulate"]) assert.match(top.stdout, new RegExp(`\\n  ${name} `));
    for (const [name, pattern] of [
      ["plan", /Usage: zendesk-destination plan --settings FILE/],
      ["send", /Usage: zendesk-destination send --settings FILE/],
      ["simulate", /Usage: zendesk-destination simulate \[--port N\] \[--rate-limit N\] \[--faults P\] \[--time-scale K\] \[--role R\]/],
    ]) {
      const result = await run([name, "--help"]);
      assert.equal(result.code, 0, name);
      assert.match(result.stdout, pattern);
      assert.equal(result.stderr, "");
      const viaHelp = await run(["help", name]);
      assert.equal(viaHelp.stdout, result.stdout);
    }
  });

  test("no command, an unknown command or option: exit 2 with a message", async () => {
    assert.equal((await run([])).code, 2);
    const unknown = await run(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'zendesk-destination: unknown command "frobnicate"; the commands are plan, send, simulate, serve, work, queue (see zendesk-destination --help)\n');
    const option = await run(["send", "--settings", "x.json", "--bogus"]);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /^zendesk-destination: send: Unknown option '--bogus'\.\n$/);
    const missing = await run(["send", "-"], { input: "{}" });
    assert.equal(missing.stderr, "zendesk-destination: send needs --settings FILE\n");
    const count = await run(["send", "--settings", "x.json", "--concurrency", "0", "-"], { input: "{}" });
    assert.equal(count.stderr, 'zendesk-destination: --concurrency must be a whole number ≥ 1, got "0"\n');
  });
});

describe("exit 2 and nothing sent", () => {
  test("settings: missing file, not JSON, invalid (naming the key)", async () => {
    await withServer({}, async (server) => {
      const events = file("ok.ndjson", JSON.stringify(identify(1)));
      const absent = await run(["send", "--settings", "nope.json", events]);
      assert.equal(absent.code, 2);
      assert.equal(absent.stderr, "zendesk-destination: cannot read settings file nope.json: no such file\n");
      const notJson = await run(["send", "--settings", file("bad.json", "{subdomain:"), events]);
      assert.equal(notJson.code, 2);
      assert.match(notJson.stderr, /^zendesk-destination: settings file .*bad\.json is not valid JSON: .*\n$/);
      const invalid = await run(["send", "--settings", file("invalid.json", { email: "agent@acme.test/token", password: "x", baseUrl: server.url }), events]);
      assert.equal(invalid.code, 2);
      assert.match(invalid.stderr, /^zendesk-destination: invalid settings: subdomain is required[^\n]*\n$/);
      const notObject = await run(["send", "--settings", file("array.json", "[1]"), events]);
      assert.equal(notObject.code, 2);
      assert.equal(notObject.stderr, "zendesk-destination: invalid settings: settings must be a JSON object\n");
      for (const result of [absent, notJson, invalid, notObject]) assert.equal(result.stdout, "");
      assert.equal(server.simulator.log().length, 0);
    });
  });

  test("a settings or --oauth file that is not JSON: one line naming the place, never the text (it holds secrets)", async () => {
    await withServer({}, async (server) => {
      const events = file("ok2.ndjson", JSON.stringify(identify(1)));
      const good = file("good.json", settingsFor(server.url));
      for (const [args, name] of [
        [["--settings", file("s1.json", `{"subdomain":"acme","email":"a@b.c","password":hunter2-secret}`)], "s1.json"],
        [["--settings", file("s2.json", "hunter2-secret\n")], "s2.json"],
        [["--settings", good, "--oauth", file("o1.json", `{"refreshToken":"r","clientId":"c","clientSecret":hunter2-secret}`)], "o1.json"],
      ]) {
        const result = await run(["send", ...args, events]);
        assert.equal(result.code, 2);
        assert.doesNotMatch(result.stderr, /hunter2/);
        assert.match(result.stderr, new RegExp(`^zendesk-destination: (settings|oauth) file .*${name.replace(".", "\\.")} is not valid JSON: unexpected character at line \\d+, column \\d+\\n$`));
      }
      const planned = await run(["plan", "--settings", file("s3.json", "hunter2-secret"), events]);
      assert.equal(planned.code, 2);
      assert.doesNotMatch(planned.stderr, /hunter2/);
      assert.equal(server.simulator.log().length, 0);
    });
  });

  test("serve and work read their settings and --oauth files through the same reader: never the text", async () => {
    const good = file("good-sw.json", settingsFor("http://127.0.0.1:9"));
    const secretSettings = file("sw1.json", `{"subdomain":"acme","email":"a@b.c","password":hunter2-secret}`);
    const secretOauth = file("sw2.json", `{"clientId":"c","clientSecret":hunter2-secret}`);
    const commands = [
      ["serve", "--write-key", "k", "--port", "0"],
      // Settings are read before Redis is reached: no server is needed for this refusal.
      ["work", "--redis", "redis://127.0.0.1:9"],
    ];
    for (const command of commands) {
      for (const [args, what, name] of [
        [["--settings", secretSettings], "settings", "sw1.json"],
        [["--settings", good, "--oauth", secretOauth], "oauth", "sw2.json"],
      ]) {
        const result = await run([...command, ...args]);
        assert.equal(result.code, 2, `${command[0]}: ${result.stderr}`);
        assert.doesNotMatch(result.stderr, /hunter2/);
        assert.match(result.stderr, new RegExp(`${what} file .*${name.replace(".", "\\.")} is not valid JSON: unexpected character at line \\d+, column \\d+\\n$`));
      }
      const missingKey = await run([...command, "--settings", good, "--oauth", file("sw3.json", { clientId: "c" })]);
      assert.equal(missingKey.code, 2);
      assert.match(missingKey.stderr, /oauth file .*sw3\.json: "clientSecret" is required\n$/);
    }
  });

  test("unreadable events: the line is named, exit 2; input is streamed, so the events before it were handled, none after", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const broken = await run(["send", "--settings", settings, "-"], { input: `${JSON.stringify(identify(1))}\n{"type":"identify",\n}\n${JSON.stringify(identify(2))}\n` });
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /^zendesk-destination: standard input: the events are not valid JSON: expected a property name at line 3, column 1\n$/);
      assert.deepEqual(broken.lines.map((line) => JSON.parse(line).status), ["delivered"]);
      assert.deepEqual(server.simulator.state().users.map((user) => user.external_id), ["u-1"]);
      server.simulator.reset();
      const empty = await run(["send", "--settings", settings], { input: "" });
      assert.equal(empty.code, 2);
      assert.equal(empty.stderr, "zendesk-destination: standard input: no events in the input\n");
      const noFile = await run(["send", "--settings", settings, "missing.ndjson"]);
      assert.equal(noFile.stderr, "zendesk-destination: cannot read events file missing.ndjson: no such file\n");
      assert.equal(server.simulator.log().length, 0);
    });
  });
});

describe("send", () => {
  test("one JSON line per event in input order; exit 0 when nothing failed; events from stdin", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const events = [identify(1), identify(2), { type: "track", messageId: "t1", userId: "u-1", event: "Order Completed", properties: { n: 1 } }, { type: "track", messageId: "t2", userId: "u-2", event: "Not Listed" }];
      // One at a time so that ids are predictable (concurrent events get ids in arrival order).
      const result = await run(["send", "--settings", settings, "--concurrency", "1"], { input: events.map((e) => JSON.stringify(e)).join("\n") });
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(
        result.lines.map((l) => JSON.parse(l)),
        [
          { messageId: "m1", type: "identify", status: "delivered", code: "delivered", message: "user 10000000000001 created", warnings: ["created the text field `user_id` in Zendesk's user_fields for `userId`"] },
          { messageId: "m2", type: "identify", status: "delivered", code: "delivered", message: "user 10000000000002 created", warnings: [] },
          { messageId: "t1", type: "track", status: "delivered", code: "delivered", message: "event recorded on user 10000000000001", warnings: [] },
          { messageId: "t2", type: "track", status: "skipped", code: "event_not_enabled", message: "`Not Listed` is not in the `events` setting", warnings: [] },
        ],
      );
      assert.equal(server.simulator.state().users.length, 2);
    });
  });

  test("--oauth with a client id and secret only: the client_credentials grant, no oauthToken in the settings", async () => {
    const client = { clientId: "fleet", clientSecret: "fleet-secret" };
    await withServer({ auth: { basic: [], bearer: [] }, oauthClients: [{ ...client, refreshToken: "unused" }] }, async (server) => {
      const settings = file("cc-settings.json", { subdomain: "acme", baseUrl: server.url, events: ["Order Completed"] });
      const oauth = file("cc-oauth.json", client);
      const result = await run(["send", "--settings", settings, "--oauth", oauth], { input: JSON.stringify(identify(1)) });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.lines[0]).status, "delivered");
      assert.deepEqual(server.simulator.log().map((e) => `${e.path} ${e.status}`).slice(0, 2), ["/oauth/tokens 201", "/api/v2/users/search 200"]);
      assert.deepEqual(JSON.parse(readFileSync(oauth, "utf8")), client, "the file is not rewritten");
    });
  });

  test("serve --oauth with a client id and secret only: a fleet gets tokens with client_credentials, nothing stored", async () => {
    const client = { clientId: "fleet", clientSecret: "fleet-secret", scope: "users:write" };
    await withServer({ auth: { basic: [], bearer: [] }, oauthClients: [{ clientId: client.clientId, clientSecret: client.clientSecret, refreshToken: "unused" }] }, async (server) => {
      const settings = file("serve-cc-settings.json", { subdomain: "acme", baseUrl: server.url });
      const oauth = file("serve-cc-oauth.json", client);
      const child = spawn(process.execPath, [CLI, "serve", "--settings", settings, "--oauth", oauth, "--write-key", "wk", "--port", "0", "--batch-window", "0"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      try {
        const url = await new Promise((resolve, reject) => {
          let stdout = "";
          child.stdout.on("data", (d) => {
            stdout += d;
            if (stdout.includes("\n")) resolve(stdout.split("\n")[0]);
          });
          child.on("exit", () => reject(new Error(`serve exited: ${stderr}`)));
        });
        const response = await fetch(`${url}/v1/identify`, {
          method: "POST",
          headers: { authorization: `Basic ${btoa("wk:")}`, "content-type": "application/json" },
          body: JSON.stringify(identify(1)),
        });
        assert.equal(response.status, 200);
        assert.equal((await response.json()).events[0].status, "delivered");
        const tokenRequest = server.simulator.log().find((e) => e.path === "/oauth/tokens");
        assert.equal(tokenRequest?.status, 201);
        assert.deepEqual(server.simulator.state().users.map((user) => user.external_id), ["u-1"]);
        assert.deepEqual(JSON.parse(readFileSync(oauth, "utf8")), client, "the file is not rewritten");
        assert.doesNotMatch(stderr, /fleet-secret/);
      } finally {
        child.kill("SIGKILL");
      }
    });
  });

  test("exit 1 when an event failed or was invalid", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const invalid = await run(["send", "--settings", settings, "-"], { input: JSON.stringify({ type: "identify", messageId: "x", userId: "u", traits: { email: "n@e.com" } }) });
      assert.equal(invalid.code, 1);
      assert.equal(JSON.parse(invalid.lines[0]).status, "invalid");
      const failed = await run(["send", "--settings", settings, "-"], { input: JSON.stringify({ type: "track", messageId: "y", userId: "nobody", event: "Order Completed" }) });
      assert.equal(failed.code, 1);
      assert.deepEqual([JSON.parse(failed.lines[0]).status, JSON.parse(failed.lines[0]).code], ["failed", "user_not_found"]);
    });
  });

  test("EVENTS formats: one event, a JSON array, NDJSON, a batch with top-level context and integrations", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const one = await run(["send", "--settings", settings, file("one.json", JSON.stringify(identify(1), null, 2))]);
      assert.deepEqual(one.lines.map((l) => JSON.parse(l).messageId), ["m1"]);
      const array = await run(["send", "--settings", settings, file("array.json", [identify(2), identify(3)])]);
      assert.deepEqual(array.lines.map((l) => JSON.parse(l).messageId), ["m2", "m3"]);
      const ndjson = await run(["send", "--settings", settings, file("events.ndjson", `${JSON.stringify(identify(4))}\n\n${JSON.stringify(identify(5))}\n`)]);
      assert.deepEqual(ndjson.lines.map((l) => JSON.parse(l).messageId), ["m4", "m5"]);
      const batch = await run(["send", "--settings", settings, "-"], {
        input: JSON.stringify({
          batch: [identify(6), identify(7, { integrations: { Zendesk: true } })],
          integrations: { All: true, Zendesk: false },
          context: { library: { name: "analytics-node" } },
          writeKey: "wk",
        }),
      });
      assert.deepEqual(
        batch.lines.map((l) => JSON.parse(l)).map((l) => [l.messageId, l.status, l.code]),
        [
          ["m6", "skipped", "disabled_by_integrations"],
          ["m7", "delivered", "delivered"],
        ],
      );
      const external = server.simulator.state().users.map((u) => u.external_id).sort();
      assert.deepEqual(external, ["u-1", "u-2", "u-3", "u-4", "u-5", "u-7"]);
    });
  });

  test("integers beyond 2^53 in events reach Zendesk exact", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const input = '{"type":"identify","messageId":"big","userId":"u-big","traits":{"name":"Big","email":"big@e.com","accountNumber":12345678901234567891}}';
      const result = await run(["send", "--settings", settings, "-"], { input });
      assert.equal(JSON.parse(result.lines[0]).status, "delivered");
      const write = server.simulator.log().find((e) => e.method === "POST" && e.path.endsWith("/users/create_or_update"));
      assert.match(write.body, /12345678901234567891/);
    });
  });

  test("input is streamed: plan and send answer the first events while standard input is still open (issue 13, item 11)", { timeout: 30_000 }, async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      for (const command of ["plan", "send"]) {
        const child = spawn(process.execPath, [CLI, command, "--settings", settings, "-"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        const firstLine = new Promise((resolve) => child.stdout.on("data", (d) => {
          stdout += d;
          if (stdout.includes("\n")) resolve();
        }));
        const exited = new Promise((resolve) => child.on("close", resolve));
        // One event of an array, then one NDJSON line: each is answered before the input ends.
        child.stdin.write(`[${JSON.stringify(identify(10))}`);
        await firstLine;
        assert.equal(JSON.parse(stdout.split("\n")[0]).messageId, "m10", command);
        child.stdin.write(`, ${JSON.stringify(identify(11))}]\n${JSON.stringify(identify(12))}\n`);
        while (stdout.split("\n").filter(Boolean).length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(child.exitCode, null, "still running: standard input is open");
        child.stdin.end();
        assert.equal(await exited, 0);
        assert.deepEqual(stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line).messageId), ["m10", "m11", "m12"]);
      }
      assert.equal(server.simulator.state().users.length, 3);
    });
  });

  test("streaming from an input that never ends: Ctrl-C twice stops reading and exits with the lines so far", { timeout: 30_000 }, async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      const child = spawn(process.execPath, [CLI, "send", "--settings", settings, "-"], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      const firstLine = new Promise((resolve) => child.stdout.on("data", (d) => {
        stdout += d;
        if (stdout.includes("\n")) resolve();
      }));
      const exited = new Promise((resolve) => child.on("close", resolve));
      child.stdin.write(`${JSON.stringify(identify(20))}\n`); // and standard input stays open
      await firstLine;
      child.kill("SIGINT");
      await new Promise((resolve) => setTimeout(resolve, 100));
      child.kill("SIGINT");
      assert.equal(await exited, 0);
      assert.deepEqual(stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line).status), ["delivered"]);
      child.stdin.destroy();
    });
  });

  test("a progress line on stderr: events done, rate, retries, ETA", async () => {
    await withServer({}, async (server) => {
      const settings = file("s.json", settingsFor(server.url));
      server.simulator.failNext("500", "503");
      const result = await run(["send", "--settings", settings, "--progress", "-"], { input: [1, 2, 3].map((n) => JSON.stringify(identify(n))).join("\n") });
      assert.equal(result.code, 0);
      const progress = result.stderr.split("\n").filter(Boolean);
      assert.match(progress[0], /^0\/3 events \(0%\), [\d.]+ events\/s, 0 retries, ETA –$/);
      assert.match(progress.at(-1), /^3\/3 events \(100%\), [\d.]+ events\/s, 2 retries, done$/);
      const quiet = await run(["send", "--settings", settings, "--no-progress", "-"], { input: JSON.stringify(identify(4)) });
      assert.equal(quiet.stderr, "");
    });
  });

  test("Ctrl-C: every event still gets its line; those not sent are cancelled", async () => {
    // A slow account: the simulator behind a server that answers each request 100 ms late.
    const simulator = createSimulator();
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        setTimeout(() => {
          const answer = simulator.handle({ method: req.method, url: `http://127.0.0.1${req.url}`, headers: req.headers, body: body || null });
          res.writeHead(answer.status, answer.headers).end(answer.body);
        }, 100);
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const settings = file("slow.json", settingsFor(`http://127.0.0.1:${server.address().port}`));
      const events = Array.from({ length: 30 }, (_, i) => JSON.stringify(identify(i + 1))).join("\n");
      let interrupted = false;
      // Batches of 5, two at a time: Ctrl-C after the first batch's lines leaves later batches unsent.
      const result = await run(["send", "--settings", settings, "--concurrency", "1", "--batch-size", "5", "-"], {
        input: events,
        onStdout: (out, child) => {
          if (!interrupted && out.includes("\n")) {
            interrupted = true;
            child.kill("SIGINT");
          }
        },
      });
      assert.equal(result.code, 1);
      const lines = result.lines.map((l) => JSON.parse(l));
      assert.equal(lines.length, 30);
      assert.deepEqual(lines.map((l) => l.messageId), Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
      const delivered = lines.filter((l) => l.status === "delivered");
      const cancelled = lines.filter((l) => l.code === "cancelled");
      assert.ok(delivered.length >= 1 && cancelled.length >= 1);
      assert.equal(delivered.length + cancelled.length, 30);
      for (const line of cancelled) assert.equal(line.status, "failed");
      // Delivered ones first (in order, one at a time), then the cancelled rest: nothing in between dropped.
      assert.deepEqual(lines.slice(0, delivered.length), delivered);
      assert.equal(simulator.state().users.length, delivered.length);
      assert.match(result.stderr, /stopping/);
    } finally {
      server.close();
    }
  });
});

describe("plan", () => {
  test("one line per event with the requests, Authorization redacted; against a seeded account with --account", async () => {
    const settings = file("plan.json", settingsFor("http://127.0.0.1:9"));
    const track = { type: "track", messageId: "t", userId: "known", event: "Order Completed", properties: { a: 1 } };
    const empty = await run(["plan", "--settings", settings, "-"], { input: JSON.stringify(track) });
    assert.equal(empty.code, 1);
    const line = JSON.parse(empty.lines[0]);
    assert.deepEqual(Object.keys(line), ["messageId", "type", "status", "code", "message", "warnings", "requests"]);
    assert.equal(line.code, "user_not_found");
    assert.ok(line.requests.length >= 1);
    for (const { request, response } of line.requests) {
      assert.equal(request.headers.Authorization, "Basic [redacted]");
      assert.equal(typeof response.status, "number");
    }
    const account = file("account.json", { users: [{ name: "Known", email: "known@e.com", external_id: "known" }] });
    const seeded = await run(["plan", "--settings", settings, "--account", account, "-"], { input: JSON.stringify(track) });
    assert.equal(seeded.code, 0);
    const seededLine = JSON.parse(seeded.lines[0]);
    assert.equal(seededLine.status, "delivered");
    const post = seededLine.requests.at(-1);
    assert.equal(post.request.method, "POST");
    assert.match(post.request.url, /^http:\/\/127\.0\.0\.1:9\/api\/v2\/(user_profiles|users\/\d+)\/events$/);
    assert.equal(post.response.status, 202);
  });
});

describe("simulate", () => {
  test("prints its URL, serves the simulator with the given limits, stops on SIGINT", async () => {
    let url = null;
    let checked = null;
    const result = await run(["simulate", "--port", "0", "--rate-limit", "2", "--faults", "0%", "--time-scale", "1"], {
      onStdout: (out, child) => {
        if (url || !out.includes("\n")) return;
        url = out.split("\n")[0];
        checked = (async () => {
          const auth = { Authorization: `Basic ${Buffer.from("a@b.c/token:t").toString("base64")}` };
          const statuses = [];
          for (let i = 0; i < 3; i++) statuses.push((await fetch(`${url}/api/v2/users/search?external_id=x`, { headers: auth })).status);
          const state = await (await fetch(`${url}/__simulator/state`)).json();
          child.kill("SIGINT");
          return { statuses, state };
        })();
      },
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const { statuses, state } = await checked;
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.deepEqual(state.users, []);
    assert.equal(result.code, 0);
  });

  // Each flag, seen through HTTP: flags on in one simulator, the defaults in another.
  const simulateWith = (args, probe) => {
    let checked = null;
    let url = null;
    const result = run(["simulate", ...args], {
      onStdout: (out, child) => {
        if (url || !out.includes("\n")) return;
        url = out.split("\n")[0];
        checked = probe(url).finally(() => child.kill("SIGINT"));
      },
    });
    return result.then(async (done) => ({ code: done.code, seen: await checked }));
  };
  const probeFlags = async (url) => {
    const headers = { Authorization: `Basic ${Buffer.from("a@b.c/token:t").toString("base64")}`, "content-type": "application/json" };
    const call = async (method, path, body) => (await fetch(`${url}/api/v2/${path}`, { method, headers, body: body && JSON.stringify(body) })).status;
    const field = await call("POST", "user_fields", { user_field: { type: "text", key: "plan", title: "Plan" } });
    const first = await call("POST", "users/create_or_update", { user: { name: "A", external_id: "a1" } });
    const second = await call("POST", "users/create_or_update", { user: { name: "B", external_id: "b1" } });
    const found = (await (await fetch(`${url}/api/v2/users/search?external_id=a1`, { headers })).json()).users?.length ?? 0;
    const bulk = await call("POST", "users/create_or_update_many", { users: [{ name: "C", external_id: "c1" }] });
    return { field, writes: [first, second], foundBySearch: found, bulk };
  };

  // Six updates of one organization in a row: the sixth is the one over 5 a minute.
  const probeOrganization = async (url) => {
    const headers = { Authorization: `Basic ${Buffer.from("a@b.c/token:t").toString("base64")}`, "content-type": "application/json" };
    const created = await (await fetch(`${url}/api/v2/organizations`, { method: "POST", headers, body: JSON.stringify({ organization: { name: "Acme" } }) })).json();
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const body = JSON.stringify({ organization: { notes: `update ${i}` } });
      statuses.push((await fetch(`${url}/api/v2/organizations/${created.organization.id}`, { method: "PUT", headers, body })).status);
    }
    return statuses;
  };

  test("--role, --search-lag, --user-write-limit, --org-update-limit and --no-bulk-import set the account's rules", async () => {
    const flagged = await simulateWith(["--role", "agent", "--search-lag", "0", "--user-write-limit", "--no-bulk-import"], probeFlags);
    assert.equal(flagged.code, 0);
    assert.deepEqual(flagged.seen, { field: 403, writes: [201, 429], foundBySearch: 1, bulk: 403 });
    const defaults = await simulateWith([], probeFlags);
    assert.deepEqual(defaults.seen, { field: 201, writes: [201, 201], foundBySearch: 0, bulk: 200 });
    assert.deepEqual((await simulateWith(["--org-update-limit"], probeOrganization)).seen, [200, 200, 200, 200, 200, 429]);
    assert.deepEqual((await simulateWith([], probeOrganization)).seen, [200, 200, 200, 200, 200, 200]);
  });

  test("bad options: exit 2", async () => {
    for (const [args, message] of [
      [["--role", "owner"], /--role must be admin or agent/],
      [["--search-lag", "1.5"], /--search-lag must be a whole number of milliseconds/],
      [["--faults", "2"], /--faults must be between 0 and 1/],
      [["--time-scale", "0"], /--time-scale must be a positive number/],
      [["--rate-limit", "x"], /--rate-limit must be a whole number/],
      [["--port", "99999"], /--port must be a port number/],
    ]) {
      const result = await run(["simulate", ...args]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
    }
  });
});
