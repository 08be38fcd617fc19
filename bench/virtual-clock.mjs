// A virtual clock for the benchmark: time moves only when everything is waiting. The host's `now` and
// `sleep` and the simulator's clock all read it, and the simulator answers in-process, so simulated
// minutes count Zendesk's limits and the job and pacing waits, never this machine's CPU time (a scaled
// real clock would charge CPU time, multiplied by the scale, to the slower side).

export function virtualClock(start = Date.UTC(2026, 0, 5, 9, 0, 0)) {
  let now = start;
  let sequence = 0;
  const timers = [];
  let driving = false;
  let idle = 0;

  function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: now + Math.max(0, Number(ms) || 0), seq: sequence++, resolve, signal, onAbort: null };
      if (signal) {
        timer.onAbort = () => {
          const at = timers.indexOf(timer);
          if (at >= 0) timers.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener("abort", timer.onAbort, { once: true });
      }
      timers.push(timer);
      drive();
    });
  }

  function drive() {
    if (driving) return;
    driving = true;
    setImmediate(tick);
  }

  // Two macrotask turns with nothing but timers pending: everyone waits; wake the earliest.
  function tick() {
    if (timers.length === 0) {
      driving = false;
      idle = 0;
      return;
    }
    if (++idle < 2) return setImmediate(tick);
    idle = 0;
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const timer = timers.shift();
    now = Math.max(now, timer.at);
    timer.signal?.removeEventListener("abort", timer.onAbort);
    timer.resolve();
    setImmediate(tick);
  }

  return { now: () => now, sleep };
}

/** A fetch over `simulator.handle`, answered within the same turn (no macrotask): see virtualClock. */
export function inProcessFetch(simulator) {
  return async (url, init = {}) => {
    const headers = {};
    new Headers(init.headers ?? {}).forEach((value, name) => (headers[name] = value));
    const answer = simulator.handle({ method: init.method ?? "GET", url: String(url), headers, body: init.body ?? null });
    const body = answer.body ?? "";
    return { status: answer.status, headers: new Headers(answer.headers ?? {}), text: async () => body };
  };
}
