// Bun: the edge handler behind Bun.serve, imported by package name (the `bun` condition picks its engine
// entry). Argument: the createHandler options as JSON. Prints its URL as the first line.
import { createHandler } from "zendesk-destination/edge";

const handler = createHandler(JSON.parse(process.argv[2]));
// idleTimeout (seconds) above the handler's longest answer (responseTimeoutMs, 8 s by default).
const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 30, fetch: (request) => handler(request) });
console.log(`http://127.0.0.1:${server.port}`);
