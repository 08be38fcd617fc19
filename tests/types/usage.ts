// Compiled with `tsc --noEmit` by tests/js/types.test.js: the package's declarations must type-check
// and describe how the package is used.
import { createDestination, validateSettings, type Outcome, type Settings } from "../../pkg/index.js";
import { createSimulator } from "../../pkg/simulator.js";
import { startSimulatorServer } from "../../pkg/simulator-server.js";
import { createHandler } from "../../pkg/edge.js";
import { startServer } from "../../pkg/serve.js";
import { loadEngine, type Step, type RequestDescriptor } from "../../pkg/engine.js";

const settings: Settings = { subdomain: "acme", oauthToken: "t", events: ["Signed Up"] };

export async function usage(): Promise<void> {
  const destination = await createDestination(settings, { timeoutMs: 5_000, retry: { maxAttempts: 3 } });
  const outcome: Outcome = await destination.deliver({ type: "identify", userId: "u", traits: { name: "N" } });
  const code: string = outcome.code;
  const all: Outcome[] = await destination.deliverAll([{ type: "track", userId: "u", event: "Signed Up" }], { concurrency: 2 });
  const plan = await destination.plan({ type: "group", groupId: "g", userId: "u" });
  const batched: Outcome[] = await destination.deliverAll([{ type: "identify", userId: "u" }], { batch: true, batchSize: 100, onEnded: (index: number, early: Outcome) => void [index, early.code] });
  const batchPlan = await destination.planBatch([{ type: "identify", userId: "u" }]);
  const jobEvents: number[][] = batchPlan.jobs.map((job) => job.events);
  void batched;
  void jobEvents;
  const first: RequestDescriptor | undefined = plan.requests[0]?.request as RequestDescriptor | undefined;
  await destination.close();
  const errors = await validateSettings({ subdomain: "acme.zendesk.com", oauthToken: "t" });

  const simulator = createSimulator({ rateLimitPerMinute: 100 });
  const response = simulator.handle({ method: "GET", url: "https://acme.zendesk.com/api/v2/user_fields", headers: {}, body: null });
  const status: number = response.status;
  const server = await startSimulatorServer({ port: 0 });
  await server.close();

  const handler = createHandler({ settings, writeKeys: ["wk"] });
  const answer: Response = await handler(new Request("http://127.0.0.1/v1/t", { method: "POST", body: "{}" }));
  const running = await startServer({ settings, writeKeys: "wk", port: 0 });
  await running.close();

  const engine = await loadEngine();
  const conversation = new engine.Destination(settings).begin({ type: "page" }, Date.now());
  const step: Step = conversation.step();
  if (step.kind === "done") {
    const codes: string[] = step.outcomes.map((o) => o.code);
    void codes;
  }
  const batchStep = new engine.Destination(settings).beginBatch([{ type: "page" }], Date.now()).step();
  if (batchStep.kind === "requests") {
    const ended: [number, string][] = batchStep.ended.map(({ index, outcome }) => [index, outcome.code]);
    void ended;
  }
  void [code, all, first, errors, status, answer];
}

// The Worker entry and the engine sources (docs/edge.md).
import worker, { ZendeskAccount, configFromEnv } from "../../pkg/worker.js";
export const workerFetch: (request: Request, env: Parameters<typeof worker.fetch>[1]) => Promise<Response> = worker.fetch;
export const objectClass: typeof ZendeskAccount = ZendeskAccount;
export const writeKeys: string[] = configFromEnv({ ZENDESK_SETTINGS: "{}", SEGMENT_WRITE_KEYS: "k" }).writeKeys;
export async function fromBytes(bytes: Uint8Array): Promise<void> {
  await createDestination(settings, { wasm: bytes });
  await createDestination(settings, { wasm: new URL("https://cdn.example/engine.wasm") });
}
