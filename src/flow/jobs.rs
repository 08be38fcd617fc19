//! Zendesk's background jobs (every `*_many` write): submit at most 30 at once per account, poll them
//! together with `GET /job_statuses/show_many?ids=` backing off, resubmit a job that fails whole (like
//! a 5xx), and map each result back to the item it belongs to.
//!
//! Correlation is defensive: Zendesk documents only `{action, id, status, success}` per result and no
//! order. A result is attributed to an item only when every identifying field it carries (`id` for
//! updates, `external_id`, `email`, `user_id` + `organization_id`, `index`) points at that one item; a
//! result that names nothing or contradicts itself is attributed to nobody. Items left without a
//! result are re-read by the caller (never guessed); when a job also reports a failure that cannot be
//! attributed, its unattributed items fail as retryable instead (which of them failed is unknown).

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};

use super::tasks::{join_all, Task};
use super::Flow;
use crate::outcome::{Code, Outcome};
use crate::request::RequestDescriptor;

/// Zendesk: at most 30 queued or running jobs per account.
pub const MAX_JOBS: usize = 30;
/// Items per `*_many` request, and ids per `show_many` read.
pub const MAX_ITEMS: usize = 100;
/// Attempts for a job that fails whole.
const JOB_ATTEMPTS: u32 = 3;
/// Polls in a row that do not mention a job before it is given up as unknown.
const MAX_MISSES: u32 = 5;
/// Polls of one job before it is given up (about 20 minutes at the longest backoff).
const MAX_POLLS: u32 = 150;
const FIRST_POLL_MS: u32 = 500;
const STEADY_POLL_MS: u32 = 1000;
const LONGEST_POLL_MS: u32 = 8000;

/// The wait before a poll, after `quiet` polls in which no job finished: half a second, then every
/// second for ten seconds (a job of 100 records usually finishes within that), then doubling to 8 s.
/// One poll reads up to 100 jobs, so this costs at most one request a second per batch.
pub fn poll_delay(quiet: u32) -> u32 {
    match quiet {
        0 => FIRST_POLL_MS,
        1..=10 => STEADY_POLL_MS,
        _ => STEADY_POLL_MS.saturating_mul(1 << (quiet - 10).min(3)).min(LONGEST_POLL_MS),
    }
}

/// What identifies a job item, for correlation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ItemKey {
    pub id: Option<u64>,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub membership: Option<(u64, u64)>,
}

/// One `*_many` request: `{wrapper: items}` to `path`.
pub struct JobSpec {
    pub path: &'static str,
    pub update: bool,
    pub wrapper: &'static str,
    pub items: Vec<Value>,
    pub keys: Vec<ItemKey>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemResult {
    Succeeded {
        id: Option<u64>,
        created: bool,
    },
    Failed {
        detail: String,
    },
    /// No result could be attributed to this item: the caller re-reads it.
    Unattributed,
    /// The whole job (or its submission) failed: this outcome for every item in it.
    JobFailed(Outcome),
    /// The endpoint answered 403 (bulk import off): the caller falls back to single writes.
    Refused,
}

/// The jobs one `run_jobs` holds against the destination's count of jobs in flight.
struct Held {
    cache: std::rc::Rc<std::cell::RefCell<crate::cache::Cache>>,
    count: std::cell::Cell<usize>,
}

impl Held {
    fn get(&self) -> usize {
        self.count.get()
    }

    fn set(&self, n: usize) {
        self.count.set(n);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(mut cache) = self.cache.try_borrow_mut() {
            cache.jobs_in_flight = cache.jobs_in_flight.saturating_sub(self.count.get());
        }
    }
}

struct Running {
    id: String,
    spec: usize,
    attempt: u32,
    polls: u32,
    misses: u32,
}

impl Flow {
    /// Runs every job; one result list per spec, one result per item.
    pub(super) async fn run_jobs(&self, specs: &[JobSpec]) -> Vec<Vec<ItemResult>> {
        let mut results: Vec<Option<Vec<ItemResult>>> = specs.iter().map(|_| None).collect();
        let mut queue: VecDeque<(usize, u32)> = (0..specs.len()).map(|i| (i, 1)).collect();
        let mut running: Vec<Running> = Vec::new();
        let mut quiet_polls = 0u32;
        // Jobs this call counts as in flight; given back if the batch is dropped half-way (the host
        // freed it: cancelled), so the destination's count never leaks.
        let held = Held { cache: self.cache.clone(), count: std::cell::Cell::new(0) };
        loop {
            // Submit what the account's job budget allows; a batch with nothing running always submits
            // one (another batch may hold the budget; Zendesk's 429 TooManyJobs then paces it).
            let taken = self.cache.borrow().jobs_in_flight;
            let mut room = MAX_JOBS.saturating_sub(taken);
            if room == 0 && running.is_empty() {
                room = 1;
            }
            let mut submitting = Vec::new();
            while submitting.len() < room {
                match queue.pop_front() {
                    Some(next) => submitting.push(next),
                    None => break,
                }
            }
            if !submitting.is_empty() {
                self.cache.borrow_mut().jobs_in_flight += submitting.len();
                held.set(held.get() + submitting.len());
                let submissions: Vec<Task<'_, _>> =
                    submitting.iter().map(|(spec, _)| Box::pin(self.submit(&specs[*spec])) as Task<'_, _>).collect();
                for ((spec, attempt), submitted) in submitting.into_iter().zip(join_all(submissions).await) {
                    match submitted {
                        Ok(id) => running.push(Running { id, spec, attempt, polls: 0, misses: 0 }),
                        Err(result) => {
                            self.job_finished(&held);
                            results[spec] = Some(vec![result; specs[spec].items.len()]);
                        }
                    }
                }
            }
            if running.is_empty() {
                if queue.is_empty() {
                    break;
                }
                continue;
            }

            // Poll every running job in one read (≤100 ids), backing off while nothing finishes.
            let delay = poll_delay(quiet_polls);
            let ids: Vec<&str> = running.iter().take(MAX_ITEMS).map(|r| r.id.as_str()).collect();
            let request = self.api.get("/job_statuses/show_many", &[("ids", &ids.join(","))]);
            let response = self.exchange.send_after(request, delay).await;
            let statuses = match super::zendesk::expect_json(&response, "polling the background jobs") {
                Ok(body) => body.get("job_statuses").and_then(Value::as_array).cloned().unwrap_or_default(),
                Err(failure) => {
                    // The host already retried; jobs whose state cannot be read end as retryable failures.
                    for job in running.drain(..) {
                        self.job_finished(&held);
                        results[job.spec] = Some(vec![
                            ItemResult::JobFailed(failure.clone().retryable(true));
                            specs[job.spec].items.len()
                        ]);
                    }
                    continue;
                }
            };
            let by_id: HashMap<String, &Value> =
                statuses.iter().filter_map(|s| Some((id_text(s.get("id")?)?, s))).collect();
            let mut progressed = false;
            let mut still = Vec::new();
            let polled = ids.len();
            for (n, mut job) in running.drain(..).enumerate() {
                if n >= polled {
                    still.push(job);
                    continue;
                }
                job.polls += 1;
                let spec = &specs[job.spec];
                let state = by_id.get(&job.id).map(|s| s.get("status").and_then(Value::as_str).unwrap_or(""));
                match state {
                    Some("completed") => {
                        progressed = true;
                        self.job_finished(&held);
                        let list = by_id[&job.id].get("results").and_then(Value::as_array).cloned().unwrap_or_default();
                        results[job.spec] = Some(correlate(spec, &list));
                    }
                    Some("failed") | Some("killed") => {
                        progressed = true;
                        self.job_finished(&held);
                        let message = by_id[&job.id].get("message").and_then(Value::as_str).unwrap_or("no message");
                        if job.attempt < JOB_ATTEMPTS {
                            queue.push_back((job.spec, job.attempt + 1));
                        } else {
                            let failure = Outcome::new(
                                Code::ZendeskUnavailable,
                                format!(
                                    "Zendesk's background job for {} failed {} times: {}",
                                    spec.path,
                                    job.attempt,
                                    message.chars().take(200).collect::<String>()
                                ),
                            )
                            .retryable(true);
                            results[job.spec] = Some(vec![ItemResult::JobFailed(failure); spec.items.len()]);
                        }
                    }
                    other => {
                        job.misses = if other.is_none() { job.misses + 1 } else { 0 };
                        if job.misses >= MAX_MISSES || job.polls >= MAX_POLLS {
                            progressed = true;
                            self.job_finished(&held);
                            let why = if job.misses >= MAX_MISSES { "no longer knows" } else { "has not finished" };
                            let failure = Outcome::new(
                                Code::ZendeskUnavailable,
                                format!(
                                    "Zendesk {why} background job {} ({}); its result is unknown",
                                    job.id, spec.path
                                ),
                            )
                            .retryable(true);
                            results[job.spec] = Some(vec![ItemResult::JobFailed(failure); spec.items.len()]);
                        } else {
                            still.push(job);
                        }
                    }
                }
            }
            running = still;
            quiet_polls = if progressed { 0 } else { quiet_polls + 1 };
        }
        results.into_iter().map(Option::unwrap_or_default).collect()
    }

    fn job_finished(&self, held: &Held) {
        held.set(held.get().saturating_sub(1));
        let mut cache = self.cache.borrow_mut();
        cache.jobs_in_flight = cache.jobs_in_flight.saturating_sub(1);
    }

    /// The job's id, or the result every item gets.
    async fn submit(&self, spec: &JobSpec) -> Result<String, ItemResult> {
        let body = json!({ spec.wrapper: spec.items });
        let request: RequestDescriptor =
            if spec.update { self.api.put(spec.path, &body) } else { self.api.post(spec.path, &body) };
        let response = self.exchange.send(request).await;
        if response.status == 403 {
            // Only user import has a documented switch (bulk import, off by default); a 403 elsewhere
            // is the credentials' role: organizations and memberships need an administrator.
            return Err(match spec.path {
                "/users/create_or_update_many" => ItemResult::Refused,
                "/users/update_many" => ItemResult::JobFailed(response.failure(&format!("submitting {}", spec.path))),
                _ => ItemResult::JobFailed(super::group::needs_administrator(
                    &response,
                    &format!("submitting {}", spec.path),
                )),
            });
        }
        let body = super::zendesk::expect_json(&response, &format!("submitting {}", spec.path))
            .map_err(ItemResult::JobFailed)?;
        body.get("job_status")
            .and_then(|s| s.get("id"))
            .and_then(id_text)
            .ok_or_else(|| ItemResult::JobFailed(super::zendesk::unreadable("job_status.id")))
    }
}

/// Job ids are strings (hex); a number is taken as its text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() && !s.contains(',') => Some(s.clone()),
        Value::Number(n) => Some(crate::json::number_text(n)),
        _ => None,
    }
}

fn text_eq(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// The one item `result` belongs to, or `None`. An item is a candidate when no field of the result
/// contradicts it (a field the item does not carry cannot: Zendesk's user may hold an email the event
/// did not send) and at least one field names it positively.
fn attribute(spec: &JobSpec, result: &Value) -> Option<usize> {
    let id = if spec.update { result.get("id").and_then(Value::as_u64) } else { None };
    let external_id = result.get("external_id").and_then(Value::as_str);
    let email = result.get("email").and_then(Value::as_str);
    let membership =
        match (result.get("user_id").and_then(Value::as_u64), result.get("organization_id").and_then(Value::as_u64)) {
            (Some(user), Some(organization)) => Some((user, organization)),
            _ => None,
        };
    let index = result.get("index").and_then(Value::as_u64);
    let mut found = None;
    for (i, key) in spec.keys.iter().enumerate() {
        let mut named = false;
        let mut check = |mine: bool, theirs: bool, equal: bool| -> bool {
            if mine && theirs {
                named |= equal;
                equal
            } else {
                true
            }
        };
        let consistent = check(key.id.is_some(), id.is_some(), key.id == id)
            && check(
                key.external_id.is_some(),
                external_id.is_some(),
                text_eq(key.external_id.as_deref(), external_id),
            )
            && check(key.email.is_some(), email.is_some(), text_eq(key.email.as_deref(), email))
            && check(key.membership.is_some(), membership.is_some(), key.membership == membership)
            && check(true, index.is_some(), index == Some(i as u64));
        if consistent && named {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

fn is_failure(result: &Value) -> bool {
    result.get("success") == Some(&Value::Bool(false))
        || result.get("status").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("failed"))
        || result.get("error").is_some_and(|e| !e.is_null())
}

/// Zendesk's words about a failed item, bounded.
pub fn detail(result: &Value) -> String {
    let mut parts = Vec::new();
    for key in ["error", "details", "message"] {
        match result.get(key) {
            Some(Value::String(s)) => parts.push(s.clone()),
            Some(Value::Null) | None => {}
            Some(other) => parts.push(other.to_string()),
        }
    }
    let text: String = parts.join(": ").chars().filter(|c| !c.is_control()).take(300).collect();
    if text.is_empty() {
        "no details given".into()
    } else {
        text
    }
}

/// One result per item.
fn correlate(spec: &JobSpec, list: &[Value]) -> Vec<ItemResult> {
    let mut out = vec![ItemResult::Unattributed; spec.items.len()];
    let mut claims = vec![0u32; spec.items.len()];
    let mut stray_failures = Vec::new();
    for result in list {
        let claimed = attribute(spec, result);
        if let Some(i) = claimed {
            claims[i] += 1;
        }
        match claimed {
            Some(i) if claims[i] == 1 => {
                out[i] = if is_failure(result) {
                    ItemResult::Failed { detail: detail(result) }
                } else {
                    let created = result.get("action").and_then(Value::as_str) == Some("create")
                        || result
                            .get("status")
                            .and_then(Value::as_str)
                            .is_some_and(|s| s.eq_ignore_ascii_case("created"));
                    ItemResult::Succeeded { id: result.get("id").and_then(Value::as_u64), created }
                };
            }
            // Two results claim one item: neither can be trusted.
            Some(i) => {
                if is_failure(result) {
                    stray_failures.push(detail(result));
                }
                out[i] = ItemResult::Unattributed;
            }
            None if is_failure(result) => stray_failures.push(detail(result)),
            None => {}
        }
    }
    if !stray_failures.is_empty() {
        let failure = Outcome::new(
            Code::ZendeskRejected,
            format!(
                "Zendesk's job for {} reported {} failure(s) that name no event ({}); this event may be one of them, and sending it again is safe",
                spec.path,
                stray_failures.len(),
                stray_failures.join("; ").chars().take(300).collect::<String>()
            ),
        )
        .retryable(true);
        for item in out.iter_mut().filter(|r| **r == ItemResult::Unattributed) {
            *item = ItemResult::JobFailed(failure.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(update: bool, keys: Vec<ItemKey>) -> JobSpec {
        JobSpec { path: "/users/update_many", update, wrapper: "users", items: vec![json!({}); keys.len()], keys }
    }

    fn key(id: Option<u64>, external_id: &str) -> ItemKey {
        ItemKey { id, external_id: Some(external_id.into()), ..ItemKey::default() }
    }

    #[test]
    fn polls_back_off_after_ten_seconds() {
        let delays: Vec<u32> = (0..16).map(poll_delay).collect();
        assert_eq!(
            delays,
            [500, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 2000, 4000, 8000, 8000, 8000]
        );
    }

    #[test]
    fn results_in_any_order_go_to_their_own_items() {
        let s = spec(true, vec![key(Some(1), "a"), key(Some(2), "b")]);
        let results = [json!({"id": 2, "status": "Updated", "success": true}), json!({"id": 1, "status": "Updated"})];
        assert_eq!(
            correlate(&s, &results),
            vec![
                ItemResult::Succeeded { id: Some(1), created: false },
                ItemResult::Succeeded { id: Some(2), created: false }
            ]
        );
    }

    #[test]
    fn an_index_that_contradicts_the_external_id_attributes_nothing() {
        let s = spec(false, vec![key(None, "a"), key(None, "b")]);
        let results = [json!({"index": 0, "external_id": "b", "id": 9, "status": "Created"})];
        assert_eq!(correlate(&s, &results), vec![ItemResult::Unattributed, ItemResult::Unattributed]);
    }

    #[test]
    fn an_unattributable_failure_fails_the_unattributed_items_retryably() {
        let s = spec(false, vec![key(None, "a"), key(None, "b")]);
        let results = [
            json!({"external_id": "a", "id": 7, "status": "Created"}),
            json!({"status": "Failed", "error": "RecordInvalid", "details": "Email is invalid"}),
        ];
        let out = correlate(&s, &results);
        assert_eq!(out[0], ItemResult::Succeeded { id: Some(7), created: true });
        match &out[1] {
            ItemResult::JobFailed(o) => assert!(o.retryable && o.message.contains("RecordInvalid: Email is invalid")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn two_results_for_one_item_are_trusted_for_neither() {
        let s = spec(false, vec![key(None, "a")]);
        let results =
            [json!({"index": 0, "id": 7, "status": "Created"}), json!({"index": 0, "id": 8, "status": "Created"})];
        assert_eq!(correlate(&s, &results), vec![ItemResult::Unattributed]);
    }
}
