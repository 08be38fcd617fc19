// Shared by the edge and serve tests: a simulator's account as the tests compare it, with users and
// organizations named by external_id so that the simulator's ids don't matter.

/** The parts of the account the tests compare exactly. */
export function account(simulator) {
  const state = simulator.state();
  const users = new Map(state.users.map((u) => [u.id, u.external_id]));
  const orgs = new Map(state.organizations.map((o) => [o.id, o.external_id]));
  return {
    users: state.users.map((u) => ({ name: u.name, email: u.email, external_id: u.external_id })),
    organizations: state.organizations.map((o) => ({ name: o.name, external_id: o.external_id })),
    memberships: state.memberships.map((m) => ({ user: users.get(m.user_id), organization: orgs.get(m.organization_id) })),
    events: state.events.map((e) => ({ user: users.get(e.user_id), type: e.type, properties: e.properties })),
  };
}
