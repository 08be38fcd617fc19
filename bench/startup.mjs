// One fresh process of the start-up benchmark: the time to import pkg/engine.js and await loadEngine(),
// and the process's RSS after it. `--empty` measures a Node process that loads nothing (the baseline).
// Prints one JSON line.
const t0 = performance.now();
if (!process.argv.includes("--empty")) {
  const { loadEngine } = await import("../pkg/engine.js");
  await loadEngine();
}
const loadMs = performance.now() - t0;
console.log(JSON.stringify({ loadMs, rssBytes: process.memoryUsage().rss }));
