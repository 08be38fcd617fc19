// Types for the simulator's node:http server (./simulator-server.js).
import type { Simulator, SimulatorOptions } from "./simulator.js";

export interface SimulatorServerOptions extends SimulatorOptions {
  /** Default 0: an ephemeral port. */
  port?: number;
  /** Default "127.0.0.1". */
  host?: string;
  /** Serve this simulator instead of creating one from the other options. */
  simulator?: Simulator;
}

export interface SimulatorServer {
  /** e.g. "http://127.0.0.1:53211"; Zendesk paths live under `${url}/api/v2`. */
  url: string;
  port: number;
  simulator: Simulator;
  /**
   * Also answer requests whose Host names `port` (a server on this machine that forwards to this one).
   * Otherwise a Host that does not name this server, or a request from a page outside loopback, gets 403.
   */
  allowPort(port: number): void;
  /** Stops listening, drops open connections and pending delayed answers. */
  close(): Promise<void>;
}

/**
 * Starts the simulator on node:http, answering only this machine (loopback Host and page origins).
 * Besides the Zendesk paths it serves, without auth and with CORS for loopback pages:
 * GET /__simulator/state (exact-id JSON), GET /__simulator/log, POST /__simulator/reset,
 * POST /__simulator/seed (body as for seed()).
 */
export function startSimulatorServer(options?: SimulatorServerOptions): Promise<SimulatorServer>;
