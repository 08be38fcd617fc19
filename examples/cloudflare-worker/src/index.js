// The Worker: zendesk-destination's ready entry. It checks and forwards; the Durable Object class
// ZendeskAccount (one object per Zendesk account) delivers. Both must be exported from the Worker.
export { default, ZendeskAccount } from "zendesk-destination/worker";
