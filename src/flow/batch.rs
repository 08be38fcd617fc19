//! Batch conversations: a list of events planned together, each still ending with its own outcome.
//!
//! Events are put in rounds so that two events touching the same user or organization (by `userId`,
//! email, `groupId` or `traits.company.id`) never share a round: the later one goes in a later round,
//! so Zendesk sees them in order. A round runs: plans and unchanged-skips → batched lookups
//! (`/users/show_many?external_ids=`, email searches only for users those don't resolve, none for
//! users this destination already knows, `/organizations/show_many?external_ids=`) → custom fields
//! (created once per new key) → user and organization jobs (`update_many` for known ids,
//! `create_or_update_many` / `create_many` for the rest; a new organization's name is looked up only
//! when its `create_many` item does not succeed) → membership jobs and removals.
//! Track events run beside the rounds, each as its own conversation; one waits only for the rounds
//! that write its user earlier in the batch.

use serde::Serialize;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::ended::{Ended, Ledger};
use super::jobs::{ItemKey, ItemResult, JobSpec, MAX_ITEMS};
use super::tasks::{join_all, Signal, Task};
use super::unchanged::{group_digests, user_digest, GroupDigests, WriteDigest};
use super::zendesk::{unreadable, written_id};
use super::{run, with_report, Channel, Flow, PendingRequest};
use crate::cache::FieldKind;
use crate::event::{Call, Event};
use crate::json_writer::Wrapped;
use crate::mapping::group::{organization_plan, OrganizationPlan};
use crate::mapping::identify::{user_plan, UserPlan};
use crate::outcome::{Code, Outcome};

/// What the host does next with a batch.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BatchStep {
    /// `requests` are new since the previous step (each is listed once); `waiting` counts every request
    /// handed out and not yet answered; `ended` are the events whose outcome became final since the
    /// previous step (the same outcome `Done` gives them), so a host can record them before the batch ends.
    Requests { requests: Vec<PendingRequest>, waiting: usize, ended: Vec<Ended> },
    /// One outcome per event, in input order; `notices` are for the host's log (said once per
    /// destination, such as a bulk endpoint the account refused); `jobs` say which events went in
    /// which background job (the preview's batch plan).
    Done { outcomes: Vec<Outcome>, notices: Vec<String>, jobs: Vec<JobReport> },
}

/// A background job of the batch: its endpoint and the events (input positions) whose records it holds.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct JobReport {
    pub path: &'static str,
    pub events: Vec<usize>,
}

/// Several events' conversation with Zendesk; several requests may be in flight at once.
pub struct Batch {
    future: Option<Pin<Box<dyn Future<Output = ()>>>>,
    outcomes: Outcomes,
    channel: Rc<RefCell<Channel>>,
    notices: Rc<RefCell<Vec<String>>>,
    jobs: Rc<RefCell<Vec<JobReport>>>,
    waiting: HashSet<u32>,
    step: BatchStep,
}

impl Batch {
    pub(super) fn start(flow: Flow, events: Vec<Value>) -> Batch {
        let channel = flow.exchange.0.clone();
        let notices = flow.notices.clone();
        let jobs = flow.jobs.clone();
        let outcomes: Outcomes = Rc::new(RefCell::new(Ledger::new(events.len())));
        let future: Pin<Box<dyn Future<Output = ()>>> = Box::pin(run_batch(flow, events, outcomes.clone()));
        let mut batch = Batch {
            future: Some(future),
            outcomes,
            channel,
            notices,
            jobs,
            waiting: HashSet::new(),
            step: BatchStep::Requests { requests: Vec::new(), waiting: 0, ended: Vec::new() },
        };
        batch.advance();
        batch
    }

    pub fn step(&self) -> &BatchStep {
        &self.step
    }

    /// Takes the response to request `id`. An id that is not waiting (unknown, or answered already)
    /// changes nothing: the step lists no new request.
    pub fn respond(&mut self, id: u32, response: crate::response::Response) -> &BatchStep {
        if self.future.is_some() {
            if self.waiting.remove(&id) {
                self.channel.borrow_mut().incoming.insert(id, response);
                self.advance();
            } else {
                self.step =
                    BatchStep::Requests { requests: Vec::new(), waiting: self.waiting.len(), ended: Vec::new() };
            }
        }
        &self.step
    }

    fn advance(&mut self) {
        let Some(future) = self.future.as_mut() else { return };
        let mut context = Context::from_waker(Waker::noop());
        let mut requests = Vec::new();
        loop {
            self.channel.borrow_mut().progress = false;
            match future.as_mut().poll(&mut context) {
                Poll::Ready(()) => {
                    self.future = None;
                    let outcomes = self.outcomes.borrow_mut().finish("internal: the event got no outcome");
                    let notices = std::mem::take(&mut *self.notices.borrow_mut());
                    let jobs = std::mem::take(&mut *self.jobs.borrow_mut());
                    self.step = BatchStep::Done { outcomes, notices, jobs };
                    return;
                }
                Poll::Pending => {
                    let mut channel = self.channel.borrow_mut();
                    for pending in channel.outgoing.drain(..) {
                        self.waiting.insert(pending.id);
                        requests.push(pending);
                    }
                    if !channel.progress {
                        break;
                    }
                }
            }
        }
        if self.waiting.is_empty() {
            self.future = None;
            // Events that ended already keep the outcome they were reported with.
            let outcomes = self.outcomes.borrow_mut().finish("internal: the batch stopped without a request");
            self.step = BatchStep::Done { outcomes, notices: Vec::new(), jobs: Vec::new() };
            return;
        }
        let ended = self.outcomes.borrow_mut().take_fresh();
        self.step = BatchStep::Requests { requests, waiting: self.waiting.len(), ended };
    }
}

/// The users and organizations an event touches, as in the host's `eventKeys`.
fn event_keys(value: &Value) -> Vec<String> {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(crate::json::number_text(n)),
        _ => None,
    };
    let mut keys = Vec::new();
    if let Some(user) = text(value.get("userId")) {
        keys.push(format!("user:{user}"));
    }
    for email in [
        value.get("traits").and_then(|t| t.get("email")),
        value.get("context").and_then(|c| c.get("traits")).and_then(|t| t.get("email")),
        value.get("properties").and_then(|p| p.get("email")),
    ] {
        if let Some(email) = text(email) {
            keys.push(format!("email:{}", email.to_ascii_lowercase()));
        }
    }
    if let Some(group) = text(value.get("groupId")) {
        keys.push(format!("org:{group}"));
    }
    if let Some(company) = text(value.get("traits").and_then(|t| t.get("company")).and_then(|c| c.get("id"))) {
        keys.push(format!("org:{company}"));
    }
    keys
}

type Outcomes = Rc<RefCell<Ledger>>;

async fn run_batch(flow: Flow, events: Vec<Value>, outcomes: Outcomes) {
    let mut rounds: Vec<Vec<(usize, Event)>> = Vec::new();
    let mut tracks: Vec<(usize, Event, usize)> = Vec::new();
    // Per key: the last round that holds it, and whether a group put it there (groups for one
    // organization share a round: their writes are merged in order).
    let mut last_round: HashMap<String, (usize, bool)> = HashMap::new();
    // Per user key: the last identify's digest and position, to recognise an exact repeat.
    let mut last_identify: HashMap<String, (u64, (usize, usize))> = HashMap::new();
    for (index, value) in events.iter().enumerate() {
        let event = match Event::parse(value) {
            Ok(event) => event,
            Err(outcome) => {
                outcomes.borrow_mut().end(index, outcome);
                continue;
            }
        };
        let keys = event_keys(value);
        let is_group = matches!(event.call, Call::Group { .. });
        let after = keys
            .iter()
            .filter_map(|k| {
                let (round, by_group) = *last_round.get(k)?;
                Some(if is_group && by_group && k.starts_with("org:") { round } else { round + 1 })
            })
            .max()
            .unwrap_or(0);
        match &event.call {
            Call::Track { .. } => {
                // A track waits for the rounds that write its user; it holds nobody back.
                tracks.push((index, event, after));
                continue;
            }
            Call::Identify { traits } => {
                // The same identify again, with nothing about this user in between: it ends as the
                // first one does, with no round of its own (analytics.js repeats identify on page loads).
                let settings = &flow.settings;
                let plan = user_plan(
                    traits,
                    event.user_id.as_deref(),
                    settings.verified,
                    settings.remove_users_from_organizations,
                );
                if let Some(written) = plan.ok().and_then(|plan| user_digest(&plan, event.user_id.as_deref())) {
                    let untouched = |at: usize| keys.iter().all(|k| last_round.get(k).is_none_or(|(r, _)| *r <= at));
                    match last_identify.get(&written.key) {
                        Some((digest, (first, round))) if *digest == written.digest && untouched(*round) => {
                            outcomes.borrow_mut().echo(index, *first);
                            continue;
                        }
                        _ => {
                            last_identify.insert(written.key, (written.digest, (index, after)));
                        }
                    }
                }
            }
            Call::Group { .. } => {}
        }
        for key in keys {
            let by_group = is_group && key.starts_with("org:");
            last_round.insert(key, (after, by_group));
        }
        if rounds.len() <= after {
            rounds.resize_with(after + 1, Vec::new);
        }
        rounds[after].push((index, event));
    }

    let finished: Vec<Signal> = rounds.iter().map(|_| Signal::default()).collect();
    let known = Signal::default();
    let mut tasks: Vec<Task<'_, ()>> = Vec::new();
    {
        let (flow, outcomes, finished) = (&flow, outcomes.clone(), &finished);
        tasks.push(Box::pin(async move {
            for (round, signal) in rounds.into_iter().zip(finished) {
                run_round(flow, round, &outcomes).await;
                signal.raise(&flow.exchange);
            }
        }));
    }
    // The users of tracks that wait for no round are read together (100 per request) first, so each
    // such track costs its one POST.
    {
        let wanted = distinct(
            tracks
                .iter()
                .filter(|(_, _, after)| *after == 0)
                .filter_map(|(_, event, _)| event.user_id.clone())
                .filter(|id| flow.cache.borrow().user_by_external_id(id).is_none()),
        );
        let (flow, known) = (&flow, known.clone());
        tasks.push(Box::pin(async move {
            if wanted.len() > 1 {
                for (key, found) in flow.users_by_external_ids(wanted).await {
                    if let Ok(ids) = found {
                        if let [id] = ids.as_slice() {
                            flow.cache.borrow_mut().remember_user(*id, None, Some(&key));
                        }
                    }
                }
            }
            known.raise(&flow.exchange);
        }));
    }
    for (index, event, after) in tracks {
        let (flow, outcomes, finished, known) = (&flow, outcomes.clone(), &finished, known.clone());
        tasks.push(Box::pin(async move {
            if after > 0 {
                finished[after - 1].wait().await;
            } else {
                known.wait().await;
            }
            let outcome = run(flow.clone(), event).await;
            outcomes.borrow_mut().end(index, outcome);
        }));
    }
    join_all(tasks).await;
}

/// One identify on its way through a round.
struct UserWrite {
    index: usize,
    user_id: Option<String>,
    plan: UserPlan,
    written: Option<WriteDigest>,
    /// The Zendesk user, when known before the write.
    id: Option<u64>,
    leaving: Option<u64>,
    end: Option<Outcome>,
    message: String,
    /// Zendesk's detail when its job refused the item (it may be retried without organizationId).
    rejected: Option<String>,
    /// Written otherwise than the event asked (without an organizationId): a repeat is not skipped.
    altered: bool,
}

/// One group on its way through a round.
struct OrganizationWrite {
    index: usize,
    user_id: Option<String>,
    plan: OrganizationPlan,
    digests: GroupDigests,
    id: Option<u64>,
    /// The organization is as last written: only the membership is sent.
    unchanged: bool,
    /// Another group of this round for the same organization carries this one's traits (merged in
    /// order) and its write; this one adds its membership.
    follows: Option<usize>,
    /// This one carries later groups' traits too.
    merged: bool,
    /// What became of the membership, once tried.
    joined: Option<Joined>,
    /// Its `create_many` item did not succeed: the name may be taken (see `names_taken`).
    create_failed: bool,
    /// Where a warning about its name goes in its report (where the name lookup used to stand).
    name_warning_at: usize,
    member: Option<u64>,
    end: Option<Outcome>,
    message: String,
}

async fn run_round(flow: &Flow, round: Vec<(usize, Event)>, outcomes: &Outcomes) {
    let settings = &flow.settings;
    let mut users: Vec<UserWrite> = Vec::new();
    let mut organizations: Vec<OrganizationWrite> = Vec::new();
    let finish = |index: usize, outcome: Outcome| outcomes.borrow_mut().end(index, outcome);

    // 1. Plans; unchanged writes end here.
    for (index, event) in round {
        match event.call {
            Call::Identify { ref traits } => {
                let plan = match user_plan(
                    traits,
                    event.user_id.as_deref(),
                    settings.verified,
                    settings.remove_users_from_organizations,
                ) {
                    Ok(plan) => plan,
                    Err(outcome) => {
                        finish(index, outcome);
                        continue;
                    }
                };
                if plan.email.is_none() && event.user_id.is_none() {
                    let outcome = Outcome::new(
                        Code::MissingUserId,
                        "identify needs `traits.email` or a `userId` to match a Zendesk user; nothing was sent",
                    );
                    finish(index, with_report(outcome, plan.report));
                    continue;
                }
                let written = user_digest(&plan, event.user_id.as_deref());
                if let Some(outcome) = flow.unchanged(written.as_ref(), "user") {
                    finish(index, with_report(outcome, plan.report));
                    continue;
                }
                users.push(UserWrite {
                    index,
                    user_id: event.user_id.clone(),
                    plan,
                    written,
                    id: None,
                    leaving: None,
                    end: None,
                    message: String::new(),
                    rejected: None,
                    altered: false,
                });
            }
            Call::Group { ref group_id, ref traits } => {
                if event.user_id.is_none() && !settings.allow_group_without_user_id {
                    finish(
                        index,
                        Outcome::new(
                            Code::MissingUserId,
                            "group calls without a userId are sent only with the allowGroupWithoutUserId setting",
                        ),
                    );
                    continue;
                }
                let plan = organization_plan(group_id, traits);
                let digests = group_digests(&plan, event.user_id.as_deref());
                if let Some(outcome) = flow.group_unchanged(&digests) {
                    finish(index, with_report(outcome, plan.report));
                    continue;
                }
                organizations.push(OrganizationWrite {
                    index,
                    user_id: event.user_id.clone(),
                    plan,
                    digests,
                    id: None,
                    unchanged: false,
                    follows: None,
                    merged: false,
                    joined: None,
                    create_failed: false,
                    name_warning_at: 0,
                    member: None,
                    end: None,
                    message: String::new(),
                });
            }
            Call::Track { .. } => {}
        }
    }
    if users.is_empty() && organizations.is_empty() {
        return;
    }

    // Groups of this round for one organization: one write, their traits merged in order (later wins).
    let mut carriers: HashMap<String, usize> = HashMap::new();
    for n in 0..organizations.len() {
        let key = organizations[n].plan.external_id.to_ascii_lowercase();
        let Some(&c) = carriers.get(&key) else {
            carriers.insert(key, n);
            continue;
        };
        let (attributes, custom) = (organizations[n].plan.attributes.clone(), organizations[n].plan.custom.clone());
        let carrier = &mut organizations[c];
        carrier.plan.attributes.extend(attributes);
        for value in custom {
            match carrier.plan.custom.iter_mut().find(|v| v.key == value.key) {
                Some(slot) => *slot = value,
                None => carrier.plan.custom.push(value),
            }
        }
        carrier.merged = true;
        organizations[n].follows = Some(c);
    }

    // 2. Lookups, batched.
    resolve(flow, &mut users, &mut organizations).await;

    // 3. Custom fields: the catalog is read once and each missing key created once (the cache is shared).
    for user in users.iter_mut().filter(|u| u.end.is_none()) {
        let custom = std::mem::take(&mut user.plan.custom);
        match flow.custom_fields(FieldKind::User, custom, &mut user.plan.report).await {
            Ok(fields) if !fields.is_empty() => {
                user.plan.attributes.insert("user_fields".into(), Value::Object(fields));
            }
            Ok(_) => {}
            Err(outcome) => user.end = Some(outcome),
        }
    }
    for organization in organizations.iter_mut().filter(|o| o.end.is_none()) {
        let custom = std::mem::take(&mut organization.plan.custom);
        // A follower's values were merged into its carrier's write; this only reports where they went.
        match flow.custom_fields(FieldKind::Organization, custom, &mut organization.plan.report).await {
            Ok(_) if organization.follows.is_some() => {}
            Ok(fields) if !fields.is_empty() => {
                organization.plan.attributes.insert("organization_fields".into(), Value::Object(fields));
            }
            Ok(_) => {}
            Err(outcome) => organization.end = Some(outcome),
        }
    }

    // 4. Users and organizations, together; in the same jobs' polls, the memberships of organizations and
    // users that exist already.
    let early = membership_items(flow, &mut organizations, true);
    report_memberships(flow, &organizations, &early);
    let joined = write_all(flow, &mut users, &mut organizations, early).await;
    settle_memberships(&mut organizations, joined);
    for n in 0..organizations.len() {
        let Some(c) = organizations[n].follows else { continue };
        let (id, end, message) = (organizations[c].id, organizations[c].end.clone(), organizations[c].message.clone());
        let follower = &mut organizations[n];
        follower.id = id;
        follower.message = message;
        if follower.end.is_none() {
            follower.end = end;
        }
    }

    // 5. The other memberships (new organizations), and removals.
    let late = membership_items(flow, &mut organizations, false);
    report_memberships(flow, &organizations, &late);
    let joined = add_memberships(flow, late).await;
    settle_memberships(&mut organizations, joined);
    removals(flow, &mut users).await;

    for user in users {
        let outcome = match user.end {
            Some(outcome) => outcome,
            None => {
                if !user.altered {
                    flow.remember_written(user.written.as_ref());
                }
                Outcome::delivered(user.message)
            }
        };
        finish(user.index, with_report(outcome, user.plan.report));
    }
    for mut organization in organizations {
        // Nothing ended it before its membership: its write went through (or it was as last written),
        // so its digest counts whatever becomes of the membership (as for a single group).
        let written = organization.end.is_none() && organization.id.is_some();
        let outcome = match group_outcome(&mut organization) {
            Some(outcome) => {
                if written {
                    flow.remember_written(Some(&organization.digests.organization));
                }
                outcome
            }
            None => {
                flow.remember_written(Some(&organization.digests.organization));
                flow.remember_written(organization.digests.membership.as_ref());
                Outcome::delivered(organization.message)
            }
        };
        finish(organization.index, with_report(outcome, organization.plan.report));
    }
}

/// Splits `ids` into reads of at most 100 (an id with a comma cannot be asked for in a list).
fn chunks(ids: Vec<String>) -> (Vec<Vec<String>>, Vec<String>) {
    let (listable, single): (Vec<String>, Vec<String>) = ids.into_iter().partition(|id| !id.contains(','));
    (listable.chunks(MAX_ITEMS).map(<[String]>::to_vec).collect(), single)
}

type Found = HashMap<String, Result<Vec<u64>, Outcome>>;
/// A read of up to 100 external ids, and Zendesk's answer.
type Read = (Vec<String>, Result<Value, Outcome>);
/// Job items: the owner's position, the item's body, what identifies it.
type Items = Vec<(usize, Value, ItemKey)>;

impl Flow {
    /// Active users by external_id (lowercased), exact database reads.
    async fn users_by_external_ids(&self, ids: Vec<String>) -> Found {
        let (lists, single) = chunks(ids);
        let mut found = Found::new();
        let reads: Vec<Task<'_, Read>> = lists
            .into_iter()
            .map(|list| {
                Box::pin(async move {
                    let request = self.api.get("/users/show_many", &[("external_ids", &list.join(","))]);
                    let body = self.call(request, "looking users up by external_id").await;
                    (list, body)
                }) as Task<'_, _>
            })
            .collect();
        for (list, body) in join_all(reads).await {
            let mut by_id: HashMap<String, Vec<u64>> = HashMap::new();
            let read = body.and_then(|body| {
                let users = body.get("users").and_then(Value::as_array).ok_or_else(|| unreadable("users"))?;
                for user in users {
                    if user.get("active") == Some(&Value::Bool(false)) {
                        continue;
                    }
                    let id = user.get("id").and_then(Value::as_u64).ok_or_else(|| unreadable("users"))?;
                    if let Some(external_id) = user.get("external_id").and_then(Value::as_str) {
                        by_id.entry(external_id.to_ascii_lowercase()).or_default().push(id);
                    }
                }
                Ok(())
            });
            for id in list {
                let key = id.to_ascii_lowercase();
                let result = match &read {
                    Ok(()) => Ok(by_id.get(&key).cloned().unwrap_or_default()),
                    Err(outcome) => Err(outcome.clone()),
                };
                found.insert(key, result);
            }
        }
        for id in single {
            let result = self.users_by_external_id(&id).await.map(|users| users.iter().map(|u| u.id).collect());
            found.insert(id.to_ascii_lowercase(), result);
        }
        found
    }

    /// Organizations by external_id (lowercased).
    async fn organizations_by_external_ids(&self, ids: Vec<String>) -> Found {
        let (lists, single) = chunks(ids);
        let mut found = Found::new();
        let reads: Vec<Task<'_, Read>> = lists
            .into_iter()
            .map(|list| {
                Box::pin(async move {
                    let request = self.api.get("/organizations/show_many", &[("external_ids", &list.join(","))]);
                    let body = self.call(request, "looking organizations up by external_id").await;
                    (list, body)
                }) as Task<'_, _>
            })
            .collect();
        for (list, body) in join_all(reads).await {
            let mut by_id: HashMap<String, Vec<u64>> = HashMap::new();
            let read = body.and_then(|body| {
                let list =
                    body.get("organizations").and_then(Value::as_array).ok_or_else(|| unreadable("organizations"))?;
                for organization in list {
                    let id =
                        organization.get("id").and_then(Value::as_u64).ok_or_else(|| unreadable("organizations"))?;
                    if let Some(external_id) = organization.get("external_id").and_then(Value::as_str) {
                        by_id.entry(external_id.to_ascii_lowercase()).or_default().push(id);
                    }
                }
                Ok(())
            });
            for id in list {
                let key = id.to_ascii_lowercase();
                let result = match &read {
                    Ok(()) => Ok(by_id.get(&key).cloned().unwrap_or_default()),
                    Err(outcome) => Err(outcome.clone()),
                };
                found.insert(key, result);
            }
        }
        for id in single {
            found.insert(id.to_ascii_lowercase(), self.organizations_by_external_id(&id).await);
        }
        found
    }
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(v.to_ascii_lowercase())).collect()
}

/// Fills in known ids: cache first, then one batched read per kind, then email searches.
async fn resolve(flow: &Flow, users: &mut [UserWrite], organizations: &mut [OrganizationWrite]) {
    // Users by external_id (identifies and the members of groups).
    let cached_user = |id: &str| flow.cache.borrow().user_by_external_id(id);
    let wanted = distinct(
        users
            .iter()
            .filter_map(|u| u.user_id.clone())
            .chain(organizations.iter().filter_map(|o| o.user_id.clone()))
            .filter(|id| cached_user(id).is_none()),
    );
    // Organizations (the groups' and the ones identifies remove users from) are read at the same time.
    let cached_organization = |id: &str| flow.cache.borrow().organization_by_external_id(id);
    let organizations_wanted = distinct(
        organizations
            .iter()
            .filter(|o| o.follows.is_none())
            .map(|o| o.plan.external_id.clone())
            .chain(users.iter().filter_map(|u| u.plan.removal.clone()))
            .filter(|id| cached_organization(id).is_none()),
    );
    let reads: Vec<Task<'_, Found>> = vec![
        Box::pin(async move {
            if wanted.is_empty() {
                Found::new()
            } else {
                flow.users_by_external_ids(wanted).await
            }
        }),
        Box::pin(async move {
            if organizations_wanted.is_empty() {
                Found::new()
            } else {
                flow.organizations_by_external_ids(organizations_wanted).await
            }
        }),
    ];
    let mut reads = join_all(reads).await;
    let found = reads.pop().unwrap_or_default();
    let by_external_id = reads.pop().unwrap_or_default();
    for (key, result) in &by_external_id {
        if let Ok(ids) = result {
            if let [id] = ids.as_slice() {
                flow.cache.borrow_mut().remember_user(*id, None, Some(key));
            }
        }
    }
    for user in users.iter_mut() {
        let Some(user_id) = user.user_id.as_deref() else { continue };
        if let Some(id) = cached_user(user_id) {
            user.id = Some(id);
            continue;
        }
        match by_external_id.get(&user_id.to_ascii_lowercase()) {
            Some(Err(outcome)) => user.end = Some(outcome.clone()),
            Some(Ok(ids)) if ids.len() > 1 => {
                user.end = Some(Outcome::new(
                    Code::AmbiguousUser,
                    format!("{} Zendesk users have external_id {user_id}; nothing was updated", ids.len()),
                ))
            }
            _ => {}
        }
    }
    for organization in organizations.iter_mut() {
        if let Some(user_id) = organization.user_id.as_deref() {
            organization.member = cached_user(user_id);
        }
    }

    // Users by email: only those the external_id did not resolve.
    let unresolved = |u: &UserWrite| u.end.is_none() && u.id.is_none() && u.plan.email.is_some();
    let emails = distinct(users.iter().filter(|u| unresolved(u)).filter_map(|u| u.plan.email.clone()));
    type Search = (String, Result<Vec<u64>, Outcome>);
    let searches: Vec<Task<'_, Search>> = emails
        .into_iter()
        .map(|email| {
            Box::pin(async move {
                let cached = flow.cache.borrow().user_by_email(&email);
                let found = match cached {
                    Some(id) => Ok(vec![id]),
                    None => flow.users_by_email(&email).await.map(|users| users.iter().map(|u| u.id).collect()),
                };
                (email.to_ascii_lowercase(), found)
            }) as Task<'_, _>
        })
        .collect();
    let by_email: Found = join_all(searches).await.into_iter().collect();
    for user in users.iter_mut().filter(|u| unresolved(u)) {
        let email = user.plan.email.clone().unwrap_or_default();
        match by_email.get(&email.to_ascii_lowercase()) {
            Some(Err(outcome)) => user.end = Some(outcome.clone()),
            Some(Ok(ids)) if ids.len() > 1 => {
                user.end = Some(Outcome::new(
                    Code::AmbiguousUser,
                    format!("{} Zendesk users have the email {email}; nothing was updated", ids.len()),
                ))
            }
            Some(Ok(ids)) if ids.len() == 1 => {
                user.id = Some(ids[0]);
                flow.cache.borrow_mut().remember_user(ids[0], Some(&email), None);
            }
            _ => {}
        }
    }

    // Organizations, as read above.
    let lookup = |id: &str| -> Result<Vec<u64>, Outcome> {
        if let Some(known) = cached_organization(id) {
            return Ok(vec![known]);
        }
        found.get(&id.to_ascii_lowercase()).cloned().unwrap_or(Ok(Vec::new()))
    };
    for organization in organizations.iter_mut().filter(|o| o.follows.is_none()) {
        let external_id = organization.plan.external_id.clone();
        match lookup(&external_id) {
            Err(outcome) => organization.end = Some(outcome),
            Ok(ids) if ids.len() > 1 => {
                organization.end = Some(Outcome::new(
                    Code::AmbiguousOrganization,
                    format!("{} Zendesk organizations have external_id {external_id}; nothing was written", ids.len()),
                ))
            }
            Ok(ids) if ids.len() == 1 => {
                organization.id = Some(ids[0]);
                flow.cache.borrow_mut().remember_organization(ids[0], &external_id);
                if !organization.merged && flow.written_at(&organization.digests.organization).is_some() {
                    organization.unchanged = true;
                    organization.message = format!("organization {} unchanged", ids[0]);
                }
            }
            Ok(_) => {
                if !organization.plan.attributes.contains_key("name") {
                    organization.plan.attributes.insert("name".into(), Value::String(external_id.clone()));
                    organization.plan.report.warn(format!(
                        "the new organization has no `name` trait; it is named after its groupId `{external_id}`"
                    ));
                }
                organization.name_warning_at = organization.plan.report.warnings.len();
            }
        }
    }
    for user in users.iter_mut().filter(|u| u.end.is_none()) {
        let Some(company_id) = user.plan.removal.clone() else { continue };
        match lookup(&company_id) {
            Err(outcome) => user.end = Some(outcome),
            Ok(ids) if ids.len() > 1 => {
                user.end = Some(Outcome::new(
                    Code::AmbiguousOrganization,
                    format!("{} Zendesk organizations match company id {company_id}; nothing was updated", ids.len()),
                ))
            }
            Ok(ids) => {
                let org = match ids.first() {
                    Some(id) => {
                        flow.cache.borrow_mut().remember_organization(*id, &company_id);
                        Some(*id)
                    }
                    None => company_id.parse::<u64>().ok(),
                };
                match org {
                    Some(org) => {
                        let plan = &mut user.plan;
                        let same = plan.organization_id == Some(org)
                            || plan.attributes.get("organization_id").map(|v| v.to_string()).as_deref()
                                == Some(company_id.as_str());
                        if same && plan.attributes.remove("organization_id").is_some() {
                            plan.report.warn(format!(
                                "organizationId {org} was not written: this identify removes the user from that organization"
                            ));
                        }
                        user.leaving = Some(org);
                    }
                    None => user
                        .plan
                        .report
                        .warn(format!("no Zendesk organization has external_id {company_id}: no membership to remove")),
                }
            }
        }
    }
}

/// Which of the five bulk endpoints a job uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bulk {
    UpdateUsers,
    UpsertUsers,
    UpdateOrganizations,
    CreateOrganizations,
    Memberships,
}

impl Bulk {
    fn path(self) -> &'static str {
        match self {
            Bulk::UpdateUsers => "/users/update_many",
            Bulk::UpsertUsers => "/users/create_or_update_many",
            Bulk::UpdateOrganizations => "/organizations/update_many",
            Bulk::CreateOrganizations => "/organizations/create_many",
            Bulk::Memberships => "/organization_memberships/create_many",
        }
    }

    fn wrapper(self) -> &'static str {
        match self {
            Bulk::UpdateUsers | Bulk::UpsertUsers => "users",
            Bulk::UpdateOrganizations | Bulk::CreateOrganizations => "organizations",
            Bulk::Memberships => "organization_memberships",
        }
    }

    fn update(self) -> bool {
        matches!(self, Bulk::UpdateUsers | Bulk::UpdateOrganizations)
    }
}

/// Jobs of ≤100 items in which no Zendesk id appears twice. `items`: (owner, body, key).
fn job_specs(bulk: Bulk, items: Items) -> Vec<(JobSpec, Vec<usize>)> {
    let mut jobs: Vec<(JobSpec, Vec<usize>)> = Vec::new();
    for (owner, body, key) in items {
        let slot = jobs.iter().position(|(spec, _)| {
            spec.items.len() < MAX_ITEMS && (key.id.is_none() || !spec.keys.iter().any(|k| k.id == key.id))
        });
        let slot = slot.unwrap_or_else(|| {
            jobs.push((
                JobSpec {
                    path: bulk.path(),
                    update: bulk.update(),
                    wrapper: bulk.wrapper(),
                    items: Vec::new(),
                    keys: Vec::new(),
                },
                Vec::new(),
            ));
            jobs.len() - 1
        });
        jobs[slot].0.items.push(body);
        jobs[slot].0.keys.push(key);
        jobs[slot].1.push(owner);
    }
    jobs
}

/// A result of the user and organization writes, for its owner.
enum Owner {
    User(usize),
    Organization(usize),
}

/// Writes users and organizations in waves; `early` memberships go in the first wave's jobs, so one poll
/// reads them all. Returns what became of those memberships.
async fn write_all(
    flow: &Flow,
    users: &mut [UserWrite],
    organizations: &mut [OrganizationWrite],
    early: Items,
) -> Joins {
    let mut by_bulk: Vec<(Bulk, Items)> =
        [Bulk::UpdateUsers, Bulk::UpsertUsers, Bulk::UpdateOrganizations, Bulk::CreateOrganizations]
            .into_iter()
            .map(|b| (b, Vec::new()))
            .collect();
    for (n, user) in users.iter().enumerate().filter(|(_, u)| u.end.is_none()) {
        let (bulk, item) = user_item(n, user);
        if let Some((_, list)) = by_bulk.iter_mut().find(|(b, _)| *b == bulk) {
            list.push(item);
        }
    }
    for (n, organization) in
        organizations.iter().enumerate().filter(|(_, o)| o.end.is_none() && !o.unchanged && o.follows.is_none())
    {
        let (bulk, item) = organization_item(n, organization);
        if let Some((_, list)) = by_bulk.iter_mut().find(|(b, _)| *b == bulk) {
            list.push(item);
        }
    }

    // Two events of this round that turned out to be the same Zendesk user (one named by userId, one
    // by email) go in successive waves, in input order.
    let mut waves: Vec<Vec<(Bulk, Items)>> = Vec::new();
    for (bulk, items) in by_bulk {
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for item in items {
            let wave = match item.2.id {
                Some(id) => {
                    let count = seen.entry(id).or_insert(0);
                    *count += 1;
                    *count - 1
                }
                None => 0,
            };
            if waves.len() <= wave {
                waves.resize_with(wave + 1, Vec::new);
            }
            match waves[wave].iter_mut().find(|(b, _)| *b == bulk) {
                Some((_, list)) => list.push(item),
                None => waves[wave].push((bulk, vec![item])),
            }
        }
    }
    if waves.is_empty() {
        waves.push(Vec::new());
    }
    let mut memberships = Some(membership_jobs(flow, early));
    let mut joined: Joins = (Vec::new(), Vec::new());
    for wave in waves {
        let (added, warn) = write_wave(flow, users, organizations, wave, memberships.take().unwrap_or_default()).await;
        joined.0.extend(added);
        joined.1.extend(warn);
    }

    // New organizations whose create did not succeed, their name perhaps taken: adopted ones are updated
    // in the same jobs as the users below.
    let adopted = names_taken(flow, organizations).await;
    let mut again: Vec<(Bulk, Items)> = Vec::new();
    if !adopted.is_empty() {
        again.push((Bulk::UpdateOrganizations, adopted));
    }
    // An organizationId Zendesk does not know fails the whole item (404 RecordNotFound, as for one
    // write): those users are written again without it, as one event's flow does.
    for (n, user) in users.iter_mut().enumerate() {
        let Some(detail) = user.rejected.take() else { continue };
        if !(detail.contains("RecordNotFound") || detail.contains("organization")) {
            continue;
        }
        let Some(organization) = user.plan.attributes.remove("organization_id") else { continue };
        user.end = None;
        user.altered = true;
        user.plan.report.warn(format!(
            "organizationId {organization} is not a Zendesk organization (Zendesk's job answered {detail}); the user was written without it"
        ));
        let (bulk, item) = user_item(n, user);
        match again.iter_mut().find(|(b, _)| *b == bulk) {
            Some((_, list)) => list.push(item),
            None => again.push((bulk, vec![item])),
        }
    }
    if !again.is_empty() {
        write_wave(flow, users, organizations, again, MembershipJobs::default()).await;
    }
    joined
}

/// An organization's job item: `update_many` with its id when known, else `create_many`.
fn organization_item(n: usize, organization: &OrganizationWrite) -> (Bulk, (usize, Value, ItemKey)) {
    let key =
        ItemKey { id: organization.id, external_id: Some(organization.plan.external_id.clone()), ..ItemKey::default() };
    job_item(n, &organization.plan.attributes, key, Bulk::UpdateOrganizations, Bulk::CreateOrganizations)
}

/// A job item for `key`'s record: in `update` with its id when it is known, else in `create`.
fn job_item(
    n: usize,
    attributes: &Map<String, Value>,
    key: ItemKey,
    update: Bulk,
    create: Bulk,
) -> (Bulk, (usize, Value, ItemKey)) {
    let mut body = attributes.clone();
    let bulk = match key.id {
        Some(id) => {
            body.insert("id".into(), json!(id));
            update
        }
        None => create,
    };
    (bulk, (n, Value::Object(body), key))
}

/// New groupIds are created with `create_many` without looking their names up first; a name is looked
/// up only when its item does not succeed (failed, or its job failed or answered nothing for it), then
/// the seed's name rules apply as in one event's flow (`adopt_by_name`): one organization with that
/// name and no external_id is adopted (returned here, to be updated), several → skipped, one with
/// another external_id → failed; else the item's own failure stands. Names are unique in Zendesk, so an item whose name is taken never succeeds, and one that
/// succeeds had a free name: the outcomes are those of looking first, except that a custom field the
/// write needed is now created before a skipped or failed group learns its name is taken (its
/// outcome's warnings say so, as the field exists).
/// Sources: Zendesk's reference ("Organizations", ref "Organizations") gives a single create's answer
/// for a taken name, 422 `name` DuplicateValue "has already been taken"; what a `create_many` job item
/// says for it is not documented (the simulator repeats the single create's error and words: an
/// assumption). So any item that did not succeed is checked, whatever Zendesk said.
async fn names_taken(flow: &Flow, organizations: &mut [OrganizationWrite]) -> Items {
    type Lookup = (usize, Result<Option<u64>, Outcome>, crate::mapping::Report);
    let lookups: Vec<Task<'_, Lookup>> = organizations
        .iter_mut()
        .enumerate()
        .filter_map(|(n, o)| {
            std::mem::take(&mut o.create_failed).then(|| (n, o.plan.external_id.clone(), o.plan.attributes.clone()))
        })
        .map(|(n, external_id, attributes)| {
            Box::pin(async move {
                let mut report = crate::mapping::Report::default();
                let adopted = super::group::adopt_by_name(flow, &external_id, &attributes, &mut report).await;
                (n, adopted, report)
            }) as Task<'_, _>
        })
        .collect();
    let mut items = Vec::new();
    for (n, adopted, report) in join_all(lookups).await {
        let organization = &mut organizations[n];
        let warnings = &mut organization.plan.report.warnings;
        let at = organization.name_warning_at.min(warnings.len());
        warnings.splice(at..at, report.warnings);
        match adopted {
            Ok(Some(id)) => {
                organization.end = None;
                organization.id = Some(id);
                items.push(organization_item(n, organization).1);
            }
            Ok(None) => {}
            Err(outcome) => organization.end = Some(outcome),
        }
    }
    items
}

/// A user's job item: `update_many` with its id when known, else `create_or_update_many`.
fn user_item(n: usize, user: &UserWrite) -> (Bulk, (usize, Value, ItemKey)) {
    let key =
        ItemKey { id: user.id, external_id: user.user_id.clone(), email: user.plan.email.clone(), membership: None };
    job_item(n, &user.plan.attributes, key, Bulk::UpdateUsers, Bulk::UpsertUsers)
}

async fn write_wave(
    flow: &Flow,
    users: &mut [UserWrite],
    organizations: &mut [OrganizationWrite],
    by_bulk: Vec<(Bulk, Items)>,
    mut memberships: MembershipJobs,
) -> Joins {
    let mut specs = Vec::new();
    let mut owners: Vec<(Bulk, Vec<Owner>)> = Vec::new();
    let mut singles: Vec<(Bulk, Owner, Value)> = Vec::new();
    for (bulk, items) in by_bulk {
        let is_user = matches!(bulk, Bulk::UpdateUsers | Bulk::UpsertUsers);
        let owner = |n: usize| if is_user { Owner::User(n) } else { Owner::Organization(n) };
        if flow.cache.borrow().bulk_refused(bulk.path()) {
            singles.extend(items.into_iter().map(|(n, body, _)| (bulk, owner(n), body)));
            continue;
        }
        for (spec, members) in job_specs(bulk, items) {
            let events =
                members.iter().map(|n| if is_user { users[*n].index } else { organizations[*n].index }).collect();
            flow.jobs.borrow_mut().push(JobReport { path: bulk.path(), events });
            owners.push((bulk, members.into_iter().map(owner).collect()));
            specs.push(spec);
        }
    }
    // The membership jobs ride along: one poll reads every job of the wave.
    let writes = specs.len();
    specs.append(&mut memberships.specs);
    let mut results = flow.run_jobs(&specs).await;
    memberships.specs = specs.split_off(writes);
    let joined = results.split_off(writes);
    let mut unattributed: Vec<(Bulk, Owner)> = Vec::new();
    for ((bulk, members), (spec, results)) in owners.into_iter().zip(specs.iter().zip(results)) {
        let refused = results.contains(&ItemResult::Refused);
        let news = refused && flow.cache.borrow_mut().refuse_bulk(bulk.path());
        if news {
            flow.notices.borrow_mut().push(refusal_notice(bulk));
        }
        for ((owner, result), body) in members.into_iter().zip(results).zip(spec.items.iter()) {
            match result {
                ItemResult::Refused => {
                    if news {
                        warn(users, organizations, &owner, refusal_notice(bulk));
                    }
                    singles.push((bulk, owner, body.clone()));
                }
                ItemResult::Unattributed => unattributed.push((bulk, owner)),
                other => settle(flow, users, organizations, &owner, other),
            }
        }
    }
    // Items no result could be attributed to: re-read, never guessed.
    for (bulk, owner) in unattributed {
        let result = reread(flow, users, organizations, &owner).await;
        if let ItemResult::Succeeded { .. } = result {
            warn(
                users,
                organizations,
                &owner,
                format!(
                    "Zendesk's {} job returned no result for this event; re-reading showed it was written",
                    bulk.path()
                ),
            );
        }
        settle(flow, users, organizations, &owner, result);
    }
    // Single writes where the account refused the bulk endpoint, one at a time (the host paces them).
    for (bulk, owner, body) in singles {
        let result = single_write(flow, bulk, body).await;
        settle(flow, users, organizations, &owner, result);
    }
    memberships_joined(flow, memberships, joined).await
}

fn refusal_notice(bulk: Bulk) -> String {
    format!(
        "Zendesk refused {} (403: bulk import is off until the account owner has Zendesk enable it); this destination writes those records one at a time from now on, at the single-write pace",
        bulk.path()
    )
}

fn warn(users: &mut [UserWrite], organizations: &mut [OrganizationWrite], owner: &Owner, warning: String) {
    match owner {
        Owner::User(n) => users[*n].plan.report.warn(warning),
        Owner::Organization(n) => organizations[*n].plan.report.warn(warning),
    }
}

/// Records an item's result on its owner.
fn settle(
    flow: &Flow,
    users: &mut [UserWrite],
    organizations: &mut [OrganizationWrite],
    owner: &Owner,
    result: ItemResult,
) {
    match owner {
        Owner::User(n) => {
            let user = &mut users[*n];
            match result {
                ItemResult::Succeeded { id, created } => match id.or(user.id) {
                    Some(id) => {
                        user.id = Some(id);
                        flow.cache.borrow_mut().remember_user(id, user.plan.email.as_deref(), user.user_id.as_deref());
                        user.message = format!("user {id} {}", if created { "created" } else { "updated" });
                    }
                    None => user.end = Some(unreadable("results.id")),
                },
                ItemResult::Failed { detail } => {
                    user.end = Some(Outcome::new(
                        Code::ZendeskRejected,
                        format!("Zendesk's job rejected this user: {detail}"),
                    ));
                    user.rejected = Some(detail);
                }
                ItemResult::JobFailed(outcome) => user.end = Some(outcome),
                ItemResult::Unattributed | ItemResult::Refused => {
                    user.end = Some(Outcome::new(Code::UnexpectedResponse, "internal: the user's write has no result"))
                }
            }
        }
        Owner::Organization(n) => {
            let organization = &mut organizations[*n];
            // A create that did not succeed, whatever the reason: its name may be taken (`names_taken`).
            organization.create_failed = organization.id.is_none() && !matches!(result, ItemResult::Succeeded { .. });
            match result {
                ItemResult::Succeeded { id, created } => match id.or(organization.id) {
                    Some(id) => {
                        let created = created || organization.id.is_none();
                        organization.id = Some(id);
                        flow.cache.borrow_mut().remember_organization(id, &organization.plan.external_id);
                        organization.message =
                            format!("organization {id} {}", if created { "created" } else { "updated" });
                    }
                    None => organization.end = Some(unreadable("results.id")),
                },
                ItemResult::Failed { detail } => {
                    organization.end = Some(Outcome::new(
                        Code::ZendeskRejected,
                        format!("Zendesk's job rejected this organization: {detail}"),
                    ))
                }
                ItemResult::JobFailed(outcome) => organization.end = Some(outcome),
                ItemResult::Unattributed | ItemResult::Refused => {
                    organization.end =
                        Some(Outcome::new(Code::UnexpectedResponse, "internal: the organization's write has no result"))
                }
            }
        }
    }
}

/// Looks a written item up again: it exists → written (its id), else a retryable failure.
async fn reread(flow: &Flow, users: &[UserWrite], organizations: &[OrganizationWrite], owner: &Owner) -> ItemResult {
    let missing = |what: String| {
        ItemResult::JobFailed(
            Outcome::new(
                Code::ZendeskUnavailable,
                format!("Zendesk's job returned no result for this {what}, and re-reading did not find it; sending it again is safe"),
            )
            .retryable(true),
        )
    };
    let found = match owner {
        Owner::User(n) => {
            let user = &users[*n];
            match (&user.user_id, &user.plan.email, user.id) {
                (Some(external_id), _, _) => flow
                    .users_by_external_ids(vec![external_id.clone()])
                    .await
                    .remove(&external_id.to_ascii_lowercase())
                    .unwrap_or(Ok(Vec::new())),
                (None, Some(email), _) => flow.users_by_email(email).await.map(|u| u.iter().map(|u| u.id).collect()),
                (None, None, Some(id)) => Ok(vec![id]),
                (None, None, None) => Ok(Vec::new()),
            }
        }
        Owner::Organization(n) => {
            let external_id = organizations[*n].plan.external_id.clone();
            flow.organizations_by_external_ids(vec![external_id.clone()])
                .await
                .remove(&external_id.to_ascii_lowercase())
                .unwrap_or(Ok(Vec::new()))
        }
    };
    match found {
        Ok(ids) if ids.len() == 1 => ItemResult::Succeeded { id: Some(ids[0]), created: false },
        Ok(_) => missing(if matches!(owner, Owner::User(_)) { "user".into() } else { "organization".into() }),
        Err(outcome) => ItemResult::JobFailed(outcome),
    }
}

/// The one-record write a refused bulk endpoint falls back to.
async fn single_write(flow: &Flow, bulk: Bulk, mut body: Value) -> ItemResult {
    let (request, wrapper, doing) = match bulk {
        Bulk::UpdateUsers => {
            let id = body.as_object_mut().and_then(|b| b.remove("id")).and_then(|v| v.as_u64()).unwrap_or_default();
            (
                flow.api.put(&format!("/users/{id}"), &Wrapped { name: "user", value: &body }),
                "user",
                "updating the user",
            )
        }
        Bulk::UpsertUsers => (
            flow.api.post("/users/create_or_update", &Wrapped { name: "user", value: &body }),
            "user",
            "creating or updating the user",
        ),
        Bulk::UpdateOrganizations | Bulk::CreateOrganizations => {
            if let Some(b) = body.as_object_mut() {
                b.remove("id");
            }
            (
                flow.api.post("/organizations/create_or_update", &Wrapped { name: "organization", value: &body }),
                "organization",
                "creating or updating the organization",
            )
        }
        Bulk::Memberships => (
            flow.api.post("/organization_memberships", &Wrapped { name: "organization_membership", value: &body }),
            "organization_membership",
            "adding the user to the organization",
        ),
    };
    let response = flow.exchange.send(request).await;
    if bulk == Bulk::Memberships
        && response.status == 422
        && response.body.as_deref().is_some_and(|b| b.to_ascii_lowercase().contains("already"))
    {
        return ItemResult::Succeeded { id: None, created: false };
    }
    match written_id(&response, doing, wrapper) {
        Ok(id) => ItemResult::Succeeded { id: Some(id), created: response.status == 201 },
        Err(outcome) => ItemResult::JobFailed(outcome),
    }
}

/// What became of each group's membership, and the groups to warn about a refusal seen first.
type Joins = (Vec<(usize, Joined)>, Vec<usize>);

/// What became of a group's membership.
enum Joined {
    Added,
    Already,
    Failed(String),
    Ended(Outcome),
}

/// Membership items for the groups that can be joined now: `early`, before the organizations are
/// written (their organization and user already exist); else after, when a missing user ends the group.
fn membership_items(flow: &Flow, organizations: &mut [OrganizationWrite], early: bool) -> Items {
    let mut items = Vec::new();
    for n in 0..organizations.len() {
        let carrier = organizations[n].follows.unwrap_or(n);
        let org = organizations[carrier].id;
        let organization = &mut organizations[n];
        let (Some(user_id), None, None, Some(org)) =
            (organization.user_id.clone(), &organization.end, &organization.joined, org)
        else {
            continue;
        };
        let member = organization.member.or_else(|| flow.cache.borrow().user_by_external_id(&user_id));
        let Some(member) = member else {
            if !early {
                organization.joined = Some(Joined::Ended(Outcome::new(
                    Code::UserNotFound,
                    format!(
                        "no Zendesk user has external_id {user_id}; {}, but the user was not added to it (identify the user first)",
                        organization.message
                    ),
                )));
            }
            continue;
        };
        organization.member = Some(member);
        let key = ItemKey { membership: Some((member, org)), ..ItemKey::default() };
        items.push((n, json!({"user_id": member, "organization_id": org}), key));
    }
    items
}

/// Notes the membership jobs `items` will make, for the batch plan.
fn report_memberships(flow: &Flow, organizations: &[OrganizationWrite], items: &Items) {
    if flow.cache.borrow().bulk_refused(Bulk::Memberships.path()) {
        return;
    }
    for chunk in items.chunks(MAX_ITEMS) {
        let events = chunk.iter().map(|(n, _, _)| organizations[*n].index).collect();
        flow.jobs.borrow_mut().push(JobReport { path: Bulk::Memberships.path(), events });
    }
}

/// Membership items as `organization_memberships/create_many` jobs of 100, or as single adds where
/// the account refused them.
#[derive(Default)]
struct MembershipJobs {
    specs: Vec<JobSpec>,
    owners: Vec<Vec<usize>>,
    singles: Items,
}

fn membership_jobs(flow: &Flow, items: Items) -> MembershipJobs {
    if flow.cache.borrow().bulk_refused(Bulk::Memberships.path()) {
        return MembershipJobs { singles: items, ..MembershipJobs::default() };
    }
    let (specs, owners) = job_specs(Bulk::Memberships, items).into_iter().unzip();
    MembershipJobs { specs, owners, singles: Vec::new() }
}

/// Adds memberships in jobs of their own. Returns what became of each, and the owners to warn about a
/// refusal seen first here.
async fn add_memberships(flow: &Flow, items: Items) -> Joins {
    let jobs = membership_jobs(flow, items);
    let outcomes = flow.run_jobs(&jobs.specs).await;
    memberships_joined(flow, jobs, outcomes).await
}

/// What became of each membership, from its job's results (`outcomes`, one list per spec); single adds
/// for the refused and the unattributed.
async fn memberships_joined(flow: &Flow, jobs: MembershipJobs, outcomes: Vec<Vec<ItemResult>>) -> Joins {
    let MembershipJobs { specs, owners, singles } = jobs;
    let mut results: Vec<(usize, ItemResult, Value)> =
        singles.into_iter().map(|(n, body, _)| (n, ItemResult::Refused, body)).collect();
    let mut warn = Vec::new();
    let refused = outcomes.iter().flatten().any(|r| *r == ItemResult::Refused);
    if refused && flow.cache.borrow_mut().refuse_bulk(Bulk::Memberships.path()) {
        flow.notices.borrow_mut().push(refusal_notice(Bulk::Memberships));
        warn.extend(owners.iter().flatten().copied());
    }
    for ((spec, owners), list) in specs.into_iter().zip(owners).zip(outcomes) {
        for ((n, result), body) in owners.into_iter().zip(list).zip(spec.items) {
            results.push((n, result, body));
        }
    }
    let mut joined = Vec::new();
    for (n, result, body) in results {
        // A result that names no event is settled by adding the membership alone: being a member already is success.
        let result = match result {
            ItemResult::Refused | ItemResult::Unattributed => single_write(flow, Bulk::Memberships, body).await,
            other => other,
        };
        joined.push((
            n,
            match result {
                ItemResult::Succeeded { .. } => Joined::Added,
                ItemResult::Failed { detail } if detail.to_ascii_lowercase().contains("already") => Joined::Already,
                ItemResult::Failed { detail } => Joined::Failed(detail),
                ItemResult::JobFailed(outcome) => Joined::Ended(outcome),
                ItemResult::Unattributed | ItemResult::Refused => Joined::Added,
            },
        ));
    }
    (joined, warn)
}

fn settle_memberships(organizations: &mut [OrganizationWrite], (joined, warn): Joins) {
    for n in warn {
        organizations[n].plan.report.warn(refusal_notice(Bulk::Memberships));
    }
    for (n, result) in joined {
        organizations[n].joined = Some(result);
    }
}

/// The group's outcome: its organization's write, then its membership.
fn group_outcome(organization: &mut OrganizationWrite) -> Option<Outcome> {
    if let Some(end) = organization.end.take() {
        return Some(end);
    }
    let member = organization.member.unwrap_or_default();
    match organization.joined.take() {
        None => {}
        Some(Joined::Added) => organization.message.push_str(&format!("; user {member} added to it")),
        Some(Joined::Already) => organization.message.push_str(&format!("; user {member} already a member")),
        Some(Joined::Failed(detail)) => {
            return Some(Outcome::new(
                Code::ZendeskRejected,
                format!("{}, but Zendesk's job did not add user {member} to it: {detail}", organization.message),
            ))
        }
        Some(Joined::Ended(outcome)) => return Some(outcome),
    }
    None
}

/// `DELETE /users/{id}/organizations/{org}` for each identify that removes its user, all at once.
async fn removals(flow: &Flow, users: &mut [UserWrite]) {
    let deletes: Vec<Task<'_, (usize, crate::response::Response)>> = users
        .iter()
        .enumerate()
        .filter_map(|(n, user)| match (&user.end, user.id, user.leaving) {
            (None, Some(id), Some(org)) => Some(Box::pin(async move {
                (n, flow.exchange.send(flow.api.delete(&format!("/users/{id}/organizations/{org}"))).await)
            }) as Task<'_, _>),
            _ => None,
        })
        .collect();
    for (n, response) in join_all(deletes).await {
        let user = &mut users[n];
        let (id, org) = (user.id.unwrap_or_default(), user.leaving.unwrap_or_default());
        match response.status {
            200..=299 => {
                if let Some(user_id) = user.user_id.as_deref() {
                    flow.forget_memberships_of(user_id);
                }
                user.message.push_str(&format!("; removed from organization {org}"));
            }
            404 => {
                user.plan.report.warn(format!("user {id} was not a member of organization {org}: nothing to remove"))
            }
            _ => user.end = Some(response.failure(&format!("removing user {id} from organization {org}"))),
        }
    }
}
