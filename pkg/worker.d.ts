// Types for ./worker.js: the edge handler as a ready Cloudflare Worker (see docs/edge.md).
import type { HandlerOptions } from "./edge.js";

/** The Worker's environment: secrets, vars and the Durable Object binding (wrangler.toml). */
export interface WorkerEnv {
  /** The destination's settings as JSON (a secret). */
  ZENDESK_SETTINGS: string;
  /** Accepted write keys, separated by commas or white space (a secret). */
  SEGMENT_WRITE_KEYS: string;
  /** createHandler options as JSON (optional): mode, concurrency, dedupe, timeouts, retry, pacing, basePath, cors, … */
  HANDLER_OPTIONS?: string;
  /** The Durable Object namespace of class ZendeskAccount. */
  ZENDESK_ACCOUNT: {
    idFromName(name: string): unknown;
    get(id: unknown): { fetch(request: Request): Promise<Response> };
  };
}

/** The Worker's configuration read from its environment; throws with what is wrong. */
export declare function configFromEnv(env: Partial<WorkerEnv>): { settings: Record<string, unknown>; writeKeys: string[]; options: Omit<HandlerOptions, "settings" | "writeKeys"> };

/** The Durable Object's name for these settings: one object per Zendesk account. */
export declare function accountName(settings: Record<string, unknown>): string;

/** The Durable Object class (export it from the Worker): runs the handler, keeps the messageId window in storage. */
export declare class ZendeskAccount {
  constructor(state: unknown, env: WorkerEnv);
  fetch(request: Request): Promise<Response>;
}

/** The Worker: answers a wrong key in the header and a bad configuration itself, forwards the rest. */
declare const worker: { fetch(request: Request, env: WorkerEnv): Promise<Response> };
export default worker;
