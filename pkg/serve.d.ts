// Types for ./serve.js: the edge handler on node:http, and the `serve` command.
import type { Server } from "node:http";
import type { HandlerOptions, Handler } from "./edge.js";

export interface ServerOptions extends Omit<HandlerOptions, "writeKeys"> {
  /** Accepted write keys (one or several). */
  writeKeys?: string | string[];
  writeKey?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** One line per request (never a credential); default: standard error; false: none. */
  logger?: ((line: string) => void) | false;
  /** Overrides of CONNECTION_LIMITS. */
  connectionLimits?: Partial<ConnectionLimits>;
}

export interface ConnectionLimits {
  /** The request line and headers must arrive within this (default 10 000 ms; else 408). */
  headersTimeoutMs: number;
  /** The whole request, body included (default 30 000 ms; else 408). */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this (default 5 000 ms). */
  keepAliveTimeoutMs: number;
  /** Open connections; beyond it new ones are closed at once (default 512). */
  maxConnections: number;
  /** After close(), kept-alive connections still get 503 + Retry-After this long (default 1 000 ms). */
  shutdownLingerMs: number;
}

export declare const CONNECTION_LIMITS: Readonly<ConnectionLimits>;

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  handler: Handler;
  /** Resolves once every event accepted so far has its outcome. */
  drain(): Promise<void>;
  /** Stops accepting, drains (up to timeoutMs), closes. */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

/** Starts the server; rejects with the SettingsError when the settings are bad (nothing listens then). */
export declare function startServer(options: ServerOptions): Promise<RunningServer>;

/** `zendesk-destination serve …`: resolves to the exit status. */
export declare function serveCommand(argv: string[], io?: unknown): Promise<number>;
export declare const serveUsage: string;
export declare const serveSummary: string;
