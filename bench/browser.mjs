// Start-up and memory in Chromium: a fresh headless browser per sample opens a blank page served from
// 127.0.0.1, then times `import("/pkg/engine.js")` and `loadEngine()` inside the page (the module fetched
// over HTTP and instantiated from its streaming response, as a browser app does). Memory is the
// renderer process's RSS (from /proc, the pid from the DevTools protocol) after the load minus before it.
// `import()` of the two modules and `loadEngine()` (fetch and compile the .wasm) are timed separately,
// and the .wasm's fetch inside `loadEngine()` is read from the page's resource timing. Files are served
// from memory, read once, as a static host's cache serves them: reading 370 KB from disk per request, in
// the same Node process that drives the browser, added 2-5 ms of this harness's own to every load.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../scripts/browser.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const BLANK = "<!doctype html><meta charset=utf-8><title>bench</title>";

function serve() {
  const files = new Map();
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (path === "/") {
      res.writeHead(200, { "content-type": TYPES[".html"] }).end(BLANK);
      return;
    }
    if (!path.startsWith("/pkg/")) {
      res.writeHead(404).end();
      return;
    }
    try {
      if (!files.has(path)) files.set(path, await readFile(join(root, path)));
      const body = files.get(path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function rendererRss(browser) {
  const session = await browser.newBrowserCDPSession();
  const { processInfo } = await session.send("SystemInfo.getProcessInfo");
  await session.detach();
  let total = 0;
  for (const { type, id } of processInfo) {
    if (type !== "renderer") continue;
    const status = await readFile(`/proc/${id}/status`, "utf8").catch(() => "");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    total += kb * 1024;
  }
  return total;
}

const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Medians over `samples` fresh browsers: `{importMs, loadMs, fetchMs, rssMiB}` (fetchMs: the .wasm's fetch, part of loadMs). */
export async function measureInChromium(samples) {
  const server = await serve();
  const url = `http://127.0.0.1:${server.address().port}/`;
  const imports = [];
  const loads = [];
  const fetches = [];
  const deltas = [];
  try {
    for (let i = 0; i < samples; i++) {
      const browser = await launchBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(url);
        await settle(300);
        // The page's first module import costs the renderer ~20-40 ms and ~25-30 MB whatever the module
        // (measured with this 1 KB one): an app has paid it before it loads the engine, so it is paid here
        // first and not counted.
        await page.evaluate(() => import("/pkg/host/redact.js"));
        // The server reads each file once; this first load only fills its memory (not measured).
        await page.evaluate(() => fetch("/pkg/wasm/zendesk_destination_bg.wasm?warm").then((r) => r.arrayBuffer()));
        await settle(300);
        const before = await rendererRss(browser);
        const { importMs, loadMs, fetchMs } = await page.evaluate(async () => {
          const t0 = performance.now();
          const { loadEngine } = await import("/pkg/engine.js");
          const t1 = performance.now();
          await loadEngine();
          const loadMs = performance.now() - t1;
          const wasm = performance.getEntriesByType("resource").find((e) => /_bg\.wasm$/.test(e.name));
          return { importMs: t1 - t0, loadMs, fetchMs: wasm ? wasm.responseEnd - wasm.startTime : NaN };
        });
        await settle(300);
        const after = await rendererRss(browser);
        imports.push(importMs);
        loads.push(loadMs);
        fetches.push(fetchMs);
        deltas.push((after - before) / 1048576);
      } finally {
        await browser.close();
      }
    }
  } finally {
    server.close();
  }
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
  return { importMs: median(imports), loadMs: median(loads), fetchMs: median(fetches), rssMiB: median(deltas) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await measureInChromium(Number(process.argv[2] ?? 3))));
}
