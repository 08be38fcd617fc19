// Deno: the edge handler behind Deno.serve, imported by package name (the `deno` condition picks its
// engine entry). Argument: the createHandler options as JSON. Prints its URL as the first line.
import { createHandler } from "zendesk-destination/edge";

const handler = createHandler(JSON.parse(Deno.args[0]));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ hostname, port }) => console.log(`http://${hostname}:${port}`) }, (request) => handler(request));
