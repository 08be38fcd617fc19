// One fresh process of the start-up benchmark: the time to import pkg/engine-node.js (the Node entry), then to await
// loadEngine() (read, compile and instantiate the .wasm), and the process's RSS after it. `--empty`
// measures a Node process that loads nothing (the baseline). Prints one JSON line.
let importMs = 0;
let loadMs = 0;
if (!process.argv.includes("--empty")) {
  const t0 = performance.now();
  const { loadEngine } = await import("../pkg/engine-node.js");
  const t1 = performance.now();
  await loadEngine();
  importMs = t1 - t0;
  loadMs = performance.now() - t1;
}
console.log(JSON.stringify({ importMs, loadMs, rssBytes: process.memoryUsage().rss }));
