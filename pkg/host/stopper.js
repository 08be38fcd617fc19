// A stop switch that any number of waits can watch. One AbortSignal shared by thousands of waits would
// collect thousands of listeners (and Node warns past ten); each wait here gets its own short-lived one.

export class Stopper {
  #callbacks = new Set();
  aborted = false;
  reason = undefined;

  abort(reason) {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const callbacks = [...this.#callbacks];
    this.#callbacks.clear();
    for (const callback of callbacks) callback(reason);
  }

  /** Calls `callback(reason)` on abort (at once if already aborted); returns the unsubscribe function. */
  subscribe(callback) {
    if (this.aborted) {
      callback(this.reason);
      return () => {};
    }
    this.#callbacks.add(callback);
    return () => this.#callbacks.delete(callback);
  }

  /** A fresh AbortSignal that aborts with this stopper; call `release()` when the wait is over. */
  link() {
    const controller = new AbortController();
    const release = this.subscribe((reason) => controller.abort(reason));
    return { signal: controller.signal, release };
  }

  /** Settles like `promise`, or rejects with the reason as soon as this stopper aborts. */
  race(promise) {
    if (this.aborted) return Promise.reject(this.reason);
    return new Promise((resolve, reject) => {
      const release = this.subscribe(reject);
      promise.then(
        (value) => {
          release();
          resolve(value);
        },
        (error) => {
          release();
          reject(error);
        },
      );
    });
  }
}
