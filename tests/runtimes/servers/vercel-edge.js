// Vercel's edge runtime: the function as Vercel builds it. The .wasm is imported with "?module", which
// Vercel's bundler turns into a WebAssembly.Module (the edge runtime compiles no WebAssembly from bytes);
// the settings come from the environment. The test bundles this file with esbuild in Vercel's place.
import { createHandler } from "zendesk-destination/edge";
import wasm from "zendesk-destination/wasm/zendesk_destination_bg.wasm?module";

const handler = createHandler({ ...JSON.parse(process.env.ZENDESK_HANDLER_OPTIONS), wasm });

addEventListener("fetch", (event) => event.respondWith(handler(event.request, event)));
