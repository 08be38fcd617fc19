// The benchmark's traffic: identifies, groups and tracks interleaved, as the issue describes, from a
// seeded generator (the same mix on every run).
//
// For `identifies` identifies:
// - half are for users Zendesk already has (seeded into the account before the run), half for new ones;
// - a fifth carry a trait never seen before: a custom field key that no earlier event used (a new key
//   every 25 such events, so ~80 new fields in 10,000 identifies; one new key per event would mean
//   thousands of custom fields, which no Zendesk account has);
// - a third repeat an earlier identify of the same user unchanged, as analytics.js does on page loads.
// `groups` groups put users into `organizations` organizations (hot ones: 10 users each on average);
// `tracks` tracks are for users that exist by then (seeded, or identified earlier in the stream).
import { seededRandom } from "../pkg/simulator/util.js";

export const TRACK_EVENT = "Order Completed";

/** `{account, events, expected}`: the seed account, the events in order, and what they should leave. */
export function benchmarkMix({ identifies = 10_000, groups = 2_000, tracks = 5_000, organizations = 200, seed = 7 } = {}) {
  const random = seededRandom(seed);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const users = Math.ceil((identifies * 2) / 3); // a third of identifies are repeats
  const existing = Math.floor(users / 2);
  const account = { users: [], organizations: [] };
  for (let i = 0; i < existing; i++) account.users.push({ name: `Existing ${i}`, email: `existing${i}@example.com`, external_id: `user-${i}` });

  // The identify stream: each user identified at least once; repeats copy an earlier identify exactly.
  const lastTraits = new Map(); // userId -> traits of its last identify
  const identified = new Set(); // users a track or group may name (existing ones from the start)
  const identifiedList = [];
  const identify = (userId) => {
    if (!identified.has(userId)) {
      identified.add(userId);
      identifiedList.push(userId);
    }
  };
  for (let i = 0; i < existing; i++) identify(`user-${i}`);
  let newKeys = 0;
  let novel = 0;
  const identifyEvents = [];
  for (let i = 0; i < users; i++) {
    const userId = `user-${i}`;
    const traits = { name: `User ${i}`, email: i < existing ? `existing${i}@example.com` : `new${i}@example.com`, plan: pick(["free", "pro", "enterprise"]), logins: 1 + Math.floor(random() * 50) };
    identifyEvents.push({ userId, traits });
  }
  // Shuffle first identifies, then insert repeats after their original.
  for (let i = identifyEvents.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [identifyEvents[i], identifyEvents[j]] = [identifyEvents[j], identifyEvents[i]];
  }
  const stream = [];
  let repeats = identifies - users;
  for (const first of identifyEvents) {
    stream.push({ kind: "identify", ...first });
    if (repeats > 0 && random() < (identifies - users) / users + 0.01) {
      repeats--;
      stream.push({ kind: "repeat", userId: first.userId });
    }
  }
  while (repeats-- > 0) stream.push({ kind: "repeat", userId: pick(identifyEvents).userId });

  // Groups and tracks go between the identifies.
  const others = [];
  for (let i = 0; i < groups; i++) others.push({ kind: "group" });
  for (let i = 0; i < tracks; i++) others.push({ kind: "track" });
  for (let i = others.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [others[i], others[j]] = [others[j], others[i]];
  }
  const merged = [];
  const every = stream.length / Math.max(1, others.length);
  let next = 0;
  for (let i = 0; i < stream.length; i++) {
    merged.push(stream[i]);
    while (next < others.length && next < (i + 1) / every) merged.push(others[next++]);
  }
  while (next < others.length) merged.push(others[next++]);

  const events = [];
  const expected = { users: new Map(), memberships: new Set(), organizations: new Map(), tracks: 0 };
  let identifyCount = 0;
  for (const item of merged) {
    if (item.kind === "identify") {
      const traits = { ...item.traits };
      identifyCount++;
      if (identifyCount % 5 === 0) {
        traits[`trait_${Math.floor(novel++ / 25)}`] = `v${novel}`;
        newKeys = Math.floor((novel - 1) / 25) + 1;
      }
      lastTraits.set(item.userId, traits);
      identify(item.userId);
      expected.users.set(item.userId, traits);
      events.push({ type: "identify", userId: item.userId, traits });
    } else if (item.kind === "repeat") {
      events.push({ type: "identify", userId: item.userId, traits: { ...lastTraits.get(item.userId) } });
    } else if (item.kind === "group") {
      const userId = pick(identifiedList);
      const groupId = `org-${Math.floor(random() * organizations)}`;
      const traits = { name: `Organization ${groupId.slice(4)}`, industry: pick(["Software", "Retail", "Health"]) };
      expected.organizations.set(groupId, traits);
      expected.memberships.add(`${userId}@${groupId}`);
      events.push({ type: "group", userId, groupId, traits });
    } else {
      const userId = pick(identifiedList);
      expected.tracks++;
      events.push({ type: "track", userId, event: TRACK_EVENT, properties: { total: Math.round(random() * 10_000) / 100 } });
    }
  }
  return { account, events, expected, newUsers: users - existing, newKeys };
}
