//! Batch conversations: exact requests (which go out together), per-event outcomes, job correlation,
//! fallbacks and failures, against a small scripted account.

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use support::*;
use zendesk_destination::{Code, Method, Status};

/// A scripted Zendesk account for batches. Job results are made by `results` (default: every item
/// succeeds, results in reverse order, each naming its item by `index` and what Zendesk knows); a
/// `create_many` item whose name `organizations_by_name` holds fails with `name_taken`.
struct Fake {
    users_by_external_id: HashMap<String, u64>,
    users_by_email: HashMap<String, Vec<u64>>,
    organizations_by_external_id: HashMap<String, u64>,
    /// name → [(id, external_id)]
    organizations_by_name: HashMap<String, Vec<(u64, Option<String>)>>,
    /// A taken name's failed item, beside `index`, `id` and `success` (Zendesk does not document it).
    name_taken: Value,
    user_fields: Vec<(&'static str, &'static str)>,
    organization_fields: Vec<(&'static str, &'static str)>,
    refuse: Vec<&'static str>,
    jobs: Vec<(String, Vec<Value>)>,
    whole_failures: usize,
    next_id: u64,
    results: fn(&str, &[Value], &mut u64) -> Vec<Value>,
}

fn default_results(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    let mut out: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let id = item.get("id").and_then(Value::as_u64).unwrap_or_else(|| {
                *next_id += 1;
                *next_id
            });
            let created = !path.ends_with("/update_many") && item.get("id").is_none();
            let mut result =
                json!({"index": index, "id": id, "status": if created {"Created"} else {"Updated"}, "success": true});
            if let Some(external_id) = item.get("external_id") {
                result["external_id"] = external_id.clone();
            }
            result
        })
        .collect();
    out.reverse();
    out
}

impl Fake {
    fn new() -> Fake {
        Fake {
            users_by_external_id: HashMap::new(),
            users_by_email: HashMap::new(),
            organizations_by_external_id: HashMap::new(),
            organizations_by_name: HashMap::new(),
            name_taken: json!({"status": "Failed", "error": "DuplicateValue", "details": "Name: has already been taken"}),
            user_fields: vec![("user_id", "text")],
            organization_fields: vec![],
            refuse: vec![],
            jobs: vec![],
            whole_failures: 0,
            next_id: 700,
            results: default_results,
        }
    }

    fn fail_taken_names(&self, items: &[Value], results: &mut [Value]) {
        for result in results.iter_mut() {
            let index = result["index"].as_u64().unwrap() as usize;
            let name = items[index]["name"].as_str().unwrap_or_default();
            if self.organizations_by_name.contains_key(name) {
                let mut failed = json!({"index": index, "id": null, "success": false});
                failed.as_object_mut().unwrap().extend(self.name_taken.as_object().unwrap().clone());
                *result = failed;
            }
        }
    }

    fn list(path: &str, key: &str) -> Vec<String> {
        let query = path.split_once(&format!("{key}=")).map(|(_, q)| q).unwrap_or("");
        query.split("%2C").map(str::to_string).collect()
    }

    fn answer(&mut self, sent: &Sent) -> (u16, Value) {
        let path = sent.path.as_str();
        match (sent.method, path) {
            (Method::Get, p) if p.starts_with("/users/show_many?external_ids=") => {
                let users: Vec<Value> = Self::list(p, "external_ids")
                    .iter()
                    .filter_map(|e| {
                        self.users_by_external_id.get(e).map(|id| json!({"id": id, "external_id": e, "active": true}))
                    })
                    .collect();
                (200, json!({"users": users, "count": users.len()}))
            }
            (Method::Get, p) if p.starts_with("/users?external_id=") => {
                let external_id = p.trim_start_matches("/users?external_id=");
                let list: Vec<(u64, &str)> =
                    self.users_by_external_id.get(external_id).map(|id| vec![(*id, "")]).unwrap_or_default();
                (200, users(&list))
            }
            (Method::Get, p) if p.starts_with("/users/search?query=") => {
                let ids = self.users_by_email.iter().find(|(email, _)| email_search(email) == p);
                let list: Vec<(u64, &str)> =
                    ids.map(|(email, ids)| ids.iter().map(|id| (*id, email.as_str())).collect()).unwrap_or_default();
                (200, users(&list))
            }
            (Method::Get, p) if p.starts_with("/organizations/show_many?external_ids=") => {
                let list: Vec<Value> = Self::list(p, "external_ids")
                    .iter()
                    .filter_map(|e| {
                        self.organizations_by_external_id.get(e).map(|id| json!({"id": id, "external_id": e}))
                    })
                    .collect();
                (200, json!({"organizations": list, "count": list.len()}))
            }
            (Method::Get, p) if p.starts_with("/organizations/search?name=") => {
                let name = p.trim_start_matches("/organizations/search?name=");
                let list: Vec<Value> = self
                    .organizations_by_name
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|(id, external_id)| json!({"id": id, "name": name, "external_id": external_id}))
                    .collect();
                (200, json!({"organizations": list, "count": list.len()}))
            }
            (Method::Get, "/user_fields") => (200, fields("user_fields", &self.user_fields)),
            (Method::Get, "/organization_fields") => (200, fields("organization_fields", &self.organization_fields)),
            (Method::Post, "/user_fields") => (201, json!({"user_field": {"id": 1}})),
            (Method::Post, "/organization_fields") => (201, json!({"organization_field": {"id": 1}})),
            (_, p) if p.ends_with("_many") => {
                if self.refuse.contains(&p) {
                    return (403, json!({"error": "Forbidden", "description": "Bulk import is not enabled"}));
                }
                let body = sent.body.clone().unwrap_or_default();
                let items = body
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                self.jobs.push((p.to_string(), items));
                (200, json!({"job_status": {"id": format!("j{}", self.jobs.len()), "status": "queued"}}))
            }
            (Method::Get, p) if p.starts_with("/job_statuses/show_many?ids=") => {
                let mut statuses = Vec::new();
                for id in Self::list(p, "ids") {
                    let n: usize = id[1..].parse().unwrap();
                    let (job_path, items) = self.jobs[n - 1].clone();
                    if self.whole_failures > 0 {
                        self.whole_failures -= 1;
                        statuses.push(json!({"id": id, "status": "failed", "message": "internal error"}));
                    } else {
                        let mut results = (self.results)(&job_path, &items, &mut self.next_id);
                        if job_path == "/organizations/create_many" {
                            self.fail_taken_names(&items, &mut results);
                        }
                        statuses.push(json!({"id": id, "status": "completed", "results": results}));
                    }
                }
                (200, json!({"job_statuses": statuses}))
            }
            (Method::Post, "/users/create_or_update") => {
                self.next_id += 1;
                (201, json!({"user": {"id": self.next_id}}))
            }
            (Method::Post, "/organization_memberships") => (201, json!({"organization_membership": {"id": 5}})),
            (Method::Delete, _) => (204, Value::Null),
            (Method::Post, p) if p.ends_with("/events") => (202, json!({"status": "received"})),
            _ => panic!("unexpected request {:?} {path}", sent.method),
        }
    }
}

fn identify(user_id: Option<&str>, traits: Value) -> Value {
    match user_id {
        Some(id) => json!({"type": "identify", "userId": id, "traits": traits}),
        None => json!({"type": "identify", "traits": traits}),
    }
}

fn messages(run: &BatchRun) -> Vec<(Status, Code, String)> {
    run.outcomes.iter().map(|o| (o.status, o.code, o.message.clone())).collect()
}

#[test]
fn lookups_go_out_together_and_users_are_written_in_jobs() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("k1".into(), 10);
    zendesk.users_by_email.insert("c@x.com".into(), vec![30]);
    let run = run_batch(
        &d,
        vec![
            identify(Some("k1"), json!({"name": "Known"})),
            identify(Some("n1"), json!({"name": "New", "email": "n1@x.com"})),
            identify(None, json!({"name": "By Email", "email": "c@x.com"})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(
        run.steps,
        vec![
            vec!["Get /users/show_many?external_ids=k1%2Cn1".to_string()],
            // Email searches only for the users external_id did not resolve, side by side.
            vec![format!("Get {}", email_search("n1@x.com")), format!("Get {}", email_search("c@x.com"))],
            vec!["Get /user_fields".to_string()],
            vec!["Put /users/update_many".to_string(), "Post /users/create_or_update_many".to_string()],
            vec!["Get /job_statuses/show_many?ids=j1%2Cj2".to_string()],
        ]
    );
    let update = run.sent.iter().find(|s| s.path == "/users/update_many").unwrap();
    assert_eq!(
        update.body,
        Some(json!({"users": [
            {"id": 10, "name": "Known", "external_id": "k1", "user_fields": {"user_id": "k1"}},
            {"id": 30, "name": "By Email", "email": "c@x.com"}
        ]}))
    );
    let upsert = run.sent.iter().find(|s| s.path == "/users/create_or_update_many").unwrap();
    assert_eq!(
        upsert.body,
        Some(json!({"users": [
            {"name": "New", "email": "n1@x.com", "external_id": "n1", "user_fields": {"user_id": "n1"}}
        ]}))
    );
    assert_eq!(run.sent.last().unwrap().delay_ms, 500, "the first poll waits half a second");
    assert_eq!(
        messages(&run),
        vec![
            (Status::Delivered, Code::Delivered, "user 10 updated".to_string()),
            (Status::Delivered, Code::Delivered, "user 701 created".to_string()),
            (Status::Delivered, Code::Delivered, "user 30 updated".to_string()),
        ]
    );

    // The same users again: no lookup (the destination knows them), changed names written in one job.
    let run = run_batch(
        &d,
        vec![
            identify(Some("k1"), json!({"name": "Known 2"})),
            identify(Some("n1"), json!({"name": "New", "email": "n1@x.com"})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(
        run.steps,
        vec![vec!["Put /users/update_many".to_string()], vec!["Get /job_statuses/show_many?ids=j3".to_string()]]
    );
    assert_eq!(run.outcomes[0].message, "user 10 updated");
    // The unchanged identify sent nothing.
    assert_eq!(run.outcomes[1].code, Code::Unchanged);
    assert_eq!(run.sent[0].body.as_ref().unwrap()["users"].as_array().unwrap().len(), 1);
}

#[test]
fn two_events_for_one_user_keep_their_order_in_successive_jobs() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("u".into(), 10);
    let run = run_batch(
        &d,
        vec![
            identify(Some("u"), json!({"name": "First"})),
            identify(Some("other"), json!({"name": "Other", "email": "o@x.com"})),
            identify(Some("u"), json!({"name": "Second"})),
        ],
        |s| zendesk.answer(s),
    );
    let writes: Vec<Value> = zendesk
        .jobs
        .iter()
        .map(|(p, items)| json!([p, items.iter().map(|i| i["name"].clone()).collect::<Vec<_>>()]))
        .collect();
    assert_eq!(
        writes,
        vec![
            json!(["/users/update_many", ["First"]]),
            json!(["/users/create_or_update_many", ["Other"]]),
            json!(["/users/update_many", ["Second"]]),
        ]
    );
    assert!(run.outcomes.iter().all(|o| o.code == Code::Delivered), "{:?}", messages(&run));
}

#[test]
fn a_user_named_by_userid_and_by_email_in_one_batch_is_written_in_order() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("k1".into(), 10);
    zendesk.users_by_email.insert("k@x.com".into(), vec![10]);
    run_batch(
        &d,
        vec![
            identify(Some("k1"), json!({"name": "First"})),
            identify(None, json!({"name": "Second", "email": "k@x.com"})),
        ],
        |s| zendesk.answer(s),
    );
    let names: Vec<Value> = zendesk.jobs.iter().map(|(_, items)| items[0]["name"].clone()).collect();
    assert_eq!(names, vec![json!("First"), json!("Second")], "one job after the other");
}

#[test]
fn seed_rules_hold_in_a_batch() {
    let d = destination(json!({"removeUsersFromOrganizations": true}));
    let mut zendesk = Fake::new();
    zendesk.users_by_email.insert("twice@x.com".into(), vec![1, 2]);
    zendesk.users_by_external_id.insert("leaver".into(), 40);
    zendesk.organizations_by_external_id.insert("acme".into(), 900);
    let run = run_batch(
        &d,
        vec![
            identify(None, json!({"name": "Twice", "email": "twice@x.com"})),
            identify(Some("noname"), json!({"email": "nn@x.com"})),
            identify(
                Some("leaver"),
                json!({"name": "Leaver", "role": "admin", "company": {"id": "acme", "remove": true}}),
            ),
            json!({"type": "track", "userId": "leaver", "event": "Not Enabled"}),
            json!({"type": "group", "groupId": "g"}),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(
        messages(&run),
        vec![
            (
                Status::Skipped,
                Code::AmbiguousUser,
                "2 Zendesk users have the email twice@x.com; nothing was updated".into()
            ),
            (Status::Invalid, Code::MissingName, run.outcomes[1].message.clone()),
            (Status::Delivered, Code::Delivered, "user 40 updated; removed from organization 900".into()),
            (Status::Skipped, Code::EventNotEnabled, "`Not Enabled` is not in the `events` setting".into()),
            (
                Status::Skipped,
                Code::MissingUserId,
                "group calls without a userId are sent only with the allowGroupWithoutUserId setting".into()
            ),
        ]
    );
    let leaver = &zendesk.jobs[0].1[0];
    assert_eq!(leaver.get("role"), None, "role is never sent");
    assert!(run.sent.iter().any(|s| s.method == Method::Delete && s.path == "/users/40/organizations/900"));
    assert!(run.outcomes[2].mapping.iter().any(|m| m.from == "traits.role" && m.to.is_none()));
}

fn failing_second_item(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    let mut results = default_results(path, items, next_id);
    for r in results.iter_mut() {
        if r["index"] == json!(1) {
            *r = json!({"index": 1, "id": null, "status": "Failed", "success": false, "error": "DuplicateValue", "details": "Email: b@x.com is already being used by another user"});
        }
    }
    results
}

#[test]
fn a_failed_item_fails_its_own_event_and_a_job_that_fails_whole_is_submitted_again() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.results = failing_second_item;
    zendesk.whole_failures = 1;
    let run = run_batch(
        &d,
        vec![
            identify(Some("a"), json!({"name": "A", "email": "a@x.com"})),
            identify(Some("b"), json!({"name": "B", "email": "b@x.com"})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(zendesk.jobs.len(), 2, "the failed job was submitted again");
    assert_eq!(zendesk.jobs[0], zendesk.jobs[1]);
    assert_eq!(run.outcomes[0].code, Code::Delivered);
    assert_eq!(
        (run.outcomes[1].status, run.outcomes[1].code, run.outcomes[1].message.as_str(), run.outcomes[1].retryable),
        (
            Status::Failed,
            Code::ZendeskRejected,
            "Zendesk's job rejected this user: DuplicateValue: Email: b@x.com is already being used by another user",
            false
        )
    );
}

#[test]
fn a_job_failing_every_time_ends_retryable() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.whole_failures = 3;
    let run = run_batch(&d, vec![identify(Some("a"), json!({"name": "A"}))], |s| zendesk.answer(s));
    assert_eq!(zendesk.jobs.len(), 3);
    let o = &run.outcomes[0];
    assert_eq!((o.status, o.code, o.retryable), (Status::Failed, Code::ZendeskUnavailable, true));
    assert_eq!(o.message, "Zendesk's background job for /users/create_or_update_many failed 3 times: internal error");
}

fn anonymous_results(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    // Results that name nothing: no index, no external_id.
    default_results(path, items, next_id).into_iter().map(|r| json!({"id": r["id"], "status": r["status"]})).collect()
}

#[test]
fn results_that_name_no_event_are_reread_never_guessed() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.results = anonymous_results;
    let mut reads = 0;
    let run = run_batch(
        &d,
        vec![identify(Some("a"), json!({"name": "A"})), identify(Some("b"), json!({"name": "B"}))],
        |s| {
            if s.path.starts_with("/users/show_many") && !zendesk.jobs.is_empty() {
                reads += 1;
                // After the job: "a" exists (id 55), "b" does not.
                return if s.path.ends_with("=a") {
                    (200, json!({"users": [{"id": 55, "external_id": "a", "active": true}]}))
                } else {
                    (200, json!({"users": []}))
                };
            }
            zendesk.answer(s)
        },
    );
    assert_eq!(reads, 2, "each unattributed item is read again");
    assert_eq!(run.outcomes[0].message, "user 55 updated");
    assert!(run.outcomes[0].warnings.iter().any(|w| w.contains("re-reading showed it was written")));
    let o = &run.outcomes[1];
    assert_eq!((o.status, o.code, o.retryable), (Status::Failed, Code::ZendeskUnavailable, true));
}

#[test]
fn bulk_import_refused_falls_back_to_single_writes_remembered_and_said_once() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.refuse = vec!["/users/create_or_update_many"];
    zendesk.users_by_external_id.insert("known".into(), 10);
    let run = run_batch(
        &d,
        vec![
            identify(Some("known"), json!({"name": "Known"})),
            identify(Some("a"), json!({"name": "A"})),
            identify(Some("b"), json!({"name": "B"})),
        ],
        |s| zendesk.answer(s),
    );
    let writes: Vec<String> = run.sent.iter().filter(|s| s.method != Method::Get).map(|s| s.path.clone()).collect();
    assert_eq!(
        writes,
        vec![
            "/users/update_many",
            "/users/create_or_update_many",
            "/users/create_or_update",
            "/users/create_or_update"
        ]
    );
    assert_eq!(run.notices.len(), 1);
    assert!(run.notices[0].starts_with("Zendesk refused /users/create_or_update_many (403: bulk import is off"));
    assert_eq!(run.outcomes[0].warnings, Vec::<String>::new(), "known users were not affected");
    for o in &run.outcomes[1..] {
        assert_eq!(o.code, Code::Delivered);
        assert_eq!(o.warnings, run.notices);
    }
    assert_eq!(run.outcomes[1].message, "user 701 created");

    // Remembered: the next batch goes straight to single writes, and says nothing again.
    let run = run_batch(
        &d,
        vec![identify(Some("c"), json!({"name": "C"})), identify(Some("e"), json!({"name": "E"}))],
        |s| zendesk.answer(s),
    );
    let writes: Vec<String> = run.sent.iter().filter(|s| s.method != Method::Get).map(|s| s.path.clone()).collect();
    assert_eq!(writes, vec!["/users/create_or_update", "/users/create_or_update"]);
    assert!(run.notices.is_empty());
    assert!(run.outcomes.iter().all(|o| o.warnings.is_empty() && o.code == Code::Delivered));
}

fn membership_exists(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    if path == "/organization_memberships/create_many" {
        return vec![
            json!({"index": 0, "status": "Failed", "success": false, "error": "DuplicateValue", "details": "User is already a member of this organization"}),
        ];
    }
    default_results(path, items, next_id)
}

#[test]
fn groups_write_organizations_in_jobs_then_memberships_and_an_existing_membership_is_success() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.results = membership_exists;
    zendesk.users_by_external_id.insert("u1".into(), 10);
    zendesk.organizations_by_external_id.insert("known".into(), 900);
    let run = run_batch(
        &d,
        vec![
            json!({"type": "group", "userId": "u1", "groupId": "known", "traits": {"name": "Known Inc"}}),
            json!({"type": "group", "userId": "nobody", "groupId": "fresh", "traits": {}}),
        ],
        |s| zendesk.answer(s),
    );
    // Users and organizations are read together.
    assert_eq!(
        run.steps[0],
        vec![
            "Get /users/show_many?external_ids=u1%2Cnobody".to_string(),
            "Get /organizations/show_many?external_ids=known%2Cfresh".to_string()
        ]
    );
    let jobs: Vec<(String, Vec<Value>)> = zendesk.jobs.clone();
    assert_eq!(
        jobs,
        vec![
            (
                "/organizations/update_many".into(),
                vec![json!({"id": 900, "external_id": "known", "name": "Known Inc"})]
            ),
            ("/organizations/create_many".into(), vec![json!({"external_id": "fresh", "name": "fresh"})]),
            ("/organization_memberships/create_many".into(), vec![json!({"user_id": 10, "organization_id": 900})]),
        ]
    );
    assert_eq!(run.outcomes[0].message, "organization 900 updated; user 10 already a member");
    let o = &run.outcomes[1];
    assert_eq!((o.status, o.code), (Status::Failed, Code::UserNotFound));
    assert_eq!(
        o.message,
        "no Zendesk user has external_id nobody; organization 701 created, but the user was not added to it (identify the user first)"
    );
    assert!(o.warnings.iter().any(|w| w.contains("named after its groupId `fresh`")));

    // That organization was written though its user is unknown: the same group again looks the user up
    // but does not write the organization again.
    let (jobs, sent) = (zendesk.jobs.len(), run.sent.len());
    let run =
        run_batch(&d, vec![json!({"type": "group", "userId": "nobody", "groupId": "fresh", "traits": {}})], |s| {
            zendesk.answer(s)
        });
    assert_eq!(
        run.outcomes[0].message,
        "no Zendesk user has external_id nobody; organization 701 unchanged, but the user was not added to it (identify the user first)"
    );
    assert_eq!(zendesk.jobs.len(), jobs, "no job: {:?}", run.sent);
    assert!(run.sent.len() < sent);
    assert!(run.sent.iter().all(|s| s.path.starts_with("/users/")), "{:?}", run.sent);

    // A hot organization gaining a member is not rewritten; a repeated group sends nothing.
    zendesk.results = default_results;
    zendesk.users_by_external_id.insert("u2".into(), 11);
    let run = run_batch(
        &d,
        vec![json!({"type": "group", "userId": "u2", "groupId": "known", "traits": {"name": "Known Inc"}})],
        |s| zendesk.answer(s),
    );
    assert_eq!(run.outcomes[0].message, "organization 900 unchanged; user 11 added to it");
    assert_eq!(zendesk.jobs.last().unwrap().0, "/organization_memberships/create_many");
    let run = run_batch(
        &d,
        vec![json!({"type": "group", "userId": "u2", "groupId": "known", "traits": {"name": "Known Inc"}})],
        |s| zendesk.answer(s),
    );
    assert_eq!(run.outcomes[0].code, Code::Unchanged);
    assert!(run.sent.is_empty());
}

#[test]
fn a_rounds_writes_and_the_memberships_that_can_go_beside_them_share_each_poll() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("u1".into(), 10);
    zendesk.users_by_external_id.insert("u2".into(), 11);
    zendesk.organizations_by_external_id.insert("known".into(), 900);
    let run = run_batch(
        &d,
        vec![
            identify(Some("u2"), json!({"name": "Two"})),
            json!({"type": "group", "userId": "u1", "groupId": "known", "traits": {"name": "Known Inc"}}),
        ],
        |s| zendesk.answer(s),
    );
    let polls: Vec<&str> =
        run.sent.iter().filter(|s| s.path.starts_with("/job_statuses")).map(|s| s.path.as_str()).collect();
    // The user's, the organization's and the membership's jobs: one poll reads all three.
    assert_eq!(polls, vec!["/job_statuses/show_many?ids=j1%2Cj2%2Cj3"]);
    assert_eq!(
        zendesk.jobs.iter().map(|(path, _)| path.as_str()).collect::<Vec<_>>(),
        vec!["/users/update_many", "/organizations/update_many", "/organization_memberships/create_many"]
    );
    assert_eq!(
        messages(&run),
        vec![
            (Status::Delivered, Code::Delivered, "user 11 updated".into()),
            (Status::Delivered, Code::Delivered, "organization 900 updated; user 10 added to it".into()),
        ]
    );
}

#[test]
fn a_track_runs_beside_the_batch_and_waits_only_for_its_own_users_identify() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("old".into(), 10);
    let run = run_batch(
        &d,
        vec![
            identify(Some("new"), json!({"name": "New"})),
            json!({"type": "track", "userId": "old", "event": "Order Completed", "properties": {}}),
            json!({"type": "track", "userId": "new", "event": "Order Completed", "properties": {}}),
        ],
        |s| zendesk.answer(s),
    );
    // The first step: the identify's lookup and the known user's track lookup, together.
    assert_eq!(
        run.steps[0],
        vec!["Get /users/show_many?external_ids=new".to_string(), "Get /users?external_id=old".to_string()]
    );
    // The new user's event goes out only after its identify's job.
    let poll = run.sent.iter().position(|s| s.path.starts_with("/job_statuses")).unwrap();
    let event = run.sent.iter().position(|s| s.path == "/users/701/events").unwrap();
    assert!(event > poll);
    assert_eq!(run.outcomes[2].message, "event recorded on user 701");
    assert_eq!(run.outcomes[1].message, "event recorded on user 10");
}

#[test]
fn unreadable_events_end_alone() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    let run = run_batch(&d, vec![json!(42), json!({"type": "page"}), identify(Some("a"), json!({"name": "A"}))], |s| {
        zendesk.answer(s)
    });
    assert_eq!(run.outcomes[0].code, Code::InvalidEvent);
    assert_eq!(run.outcomes[1].code, Code::UnsupportedType);
    assert_eq!(run.outcomes[2].code, Code::Delivered);
    let empty = run_batch(&d, vec![], |s| zendesk.answer(s));
    assert!(empty.outcomes.is_empty() && empty.sent.is_empty());
}

#[test]
fn a_new_groupid_adopts_the_organization_that_has_its_name_and_no_external_id() {
    let d = destination(json!({"allowGroupWithoutUserId": true}));
    let mut zendesk = Fake::new();
    zendesk.organizations_by_name.insert("Initech".into(), vec![(910, None)]);
    zendesk.organizations_by_name.insert("Taken".into(), vec![(911, Some("other".into()))]);
    let run = run_batch(
        &d,
        vec![
            json!({"type": "group", "groupId": "ini", "traits": {"name": "Initech"}}),
            json!({"type": "group", "groupId": "new", "traits": {"name": "Taken"}}),
        ],
        |s| zendesk.answer(s),
    );
    // Both are created straight away; their names are looked up when their items fail.
    assert_eq!(
        zendesk.jobs,
        vec![
            (
                "/organizations/create_many".to_string(),
                vec![json!({"external_id": "ini", "name": "Initech"}), json!({"external_id": "new", "name": "Taken"})]
            ),
            (
                "/organizations/update_many".to_string(),
                vec![json!({"id": 910, "external_id": "ini", "name": "Initech"})]
            )
        ]
    );
    assert_eq!(run.outcomes[0].message, "organization 910 updated");
    assert!(run.outcomes[0].warnings.iter().any(|w| w.contains("was adopted for groupId `ini`")));
    assert_eq!(run.outcomes[1].code, Code::OrganizationNameTaken);
}

fn group(group_id: &str, traits: Value) -> Value {
    json!({"type": "group", "groupId": group_id, "traits": traits})
}

#[test]
fn a_new_groupid_is_created_first_and_its_name_looked_up_only_when_its_item_fails() {
    let d = destination(json!({"allowGroupWithoutUserId": true}));
    let mut zendesk = Fake::new();
    zendesk.organizations_by_name.insert("Initech".into(), vec![(910, None)]);
    zendesk.organizations_by_name.insert("Taken".into(), vec![(911, Some("other".into()))]);
    zendesk.organizations_by_name.insert("Twice".into(), vec![(912, None), (913, None)]);
    let run = run_batch(
        &d,
        vec![
            group("ini", json!({"name": "Initech"})),
            group("new", json!({"name": "Taken"})),
            group("amb", json!({"name": "Twice"})),
            group("free", json!({"name": "Free"})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(
        run.steps,
        vec![
            vec!["Get /organizations/show_many?external_ids=ini%2Cnew%2Camb%2Cfree".to_string()],
            vec!["Post /organizations/create_many".to_string()],
            vec!["Get /job_statuses/show_many?ids=j1".to_string()],
            // Only the failed items' names, side by side; none for the free one.
            vec![
                "Get /organizations/search?name=Initech".to_string(),
                "Get /organizations/search?name=Taken".to_string(),
                "Get /organizations/search?name=Twice".to_string()
            ],
            vec!["Put /organizations/update_many".to_string()],
            vec!["Get /job_statuses/show_many?ids=j2".to_string()],
        ]
    );
    assert_eq!(
        zendesk.jobs[1],
        ("/organizations/update_many".to_string(), vec![json!({"id": 910, "external_id": "ini", "name": "Initech"})])
    );
    assert_eq!(
        messages(&run),
        vec![
            (Status::Delivered, Code::Delivered, "organization 910 updated".into()),
            (
                Status::Failed,
                Code::OrganizationNameTaken,
                "organization 911 already has the name `Taken` with external_id `other`; Zendesk organization names are unique, so groupId `new` was not written (rename one of them)".into()
            ),
            (Status::Skipped, Code::AmbiguousOrganization, "2 Zendesk organizations are named `Twice`; nothing was written".into()),
            (Status::Delivered, Code::Delivered, "organization 704 created".into()),
        ]
    );
    assert_eq!(
        run.outcomes[0].warnings,
        vec!["organization 910 is named `Initech` and had no external_id: it was adopted for groupId `ini` (its external_id is now `ini`)"]
    );
    assert!(run.outcomes[1..].iter().all(|o| o.warnings.is_empty()));
}

fn broken_item(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    let mut results = default_results(path, items, next_id);
    for r in results.iter_mut() {
        let index = r["index"].as_u64().unwrap() as usize;
        if items[index]["name"] == json!("Broken") {
            *r = json!({"index": index, "id": null, "status": "Failed", "success": false, "error": "InvalidValue", "details": "Domain names: must be a list of domain names"});
        }
    }
    results
}

#[test]
fn a_failed_create_is_checked_by_name_whatever_its_words_and_keeps_its_own_failure_when_the_name_is_free() {
    let d = destination(json!({"allowGroupWithoutUserId": true}));
    let mut zendesk = Fake::new();
    zendesk.results = broken_item;
    // Words no source promises for a taken name: the name is looked up all the same.
    zendesk.name_taken = json!({"status": "Failed", "error": "RecordInvalid", "details": "Record validation errors"});
    zendesk.organizations_by_name.insert("ini2".into(), vec![(910, None)]);
    zendesk.organizations_by_name.insert("Taken".into(), vec![(911, Some("other".into()))]);
    let run = run_batch(
        &d,
        vec![
            // No name trait: named after its groupId, which an organization already has; a new field.
            group("ini2", json!({"plan": "gold"})),
            group("new", json!({"name": "Taken"})),
            group("bad", json!({"name": "Broken"})),
        ],
        |s| zendesk.answer(s),
    );
    let searches: Vec<&str> =
        run.sent.iter().filter(|s| s.path.starts_with("/organizations/search")).map(|s| s.path.as_str()).collect();
    assert_eq!(
        searches,
        vec![
            "/organizations/search?name=ini2",
            "/organizations/search?name=Taken",
            "/organizations/search?name=Broken"
        ]
    );
    assert_eq!(
        zendesk.jobs[1],
        (
            "/organizations/update_many".to_string(),
            vec![json!({"id": 910, "external_id": "ini2", "name": "ini2", "organization_fields": {"plan": "gold"}})]
        )
    );
    assert_eq!(
        messages(&run),
        vec![
            (Status::Delivered, Code::Delivered, "organization 910 updated".into()),
            (
                Status::Failed,
                Code::OrganizationNameTaken,
                "organization 911 already has the name `Taken` with external_id `other`; Zendesk organization names are unique, so groupId `new` was not written (rename one of them)".into()
            ),
            (
                Status::Failed,
                Code::ZendeskRejected,
                "Zendesk's job rejected this organization: InvalidValue: Domain names: must be a list of domain names".into()
            ),
        ]
    );
    // The warnings read as they did when the name was looked up before the write: the name, the
    // adoption, then the field created for the write.
    assert_eq!(
        run.outcomes[0].warnings,
        vec![
            "the new organization has no `name` trait; it is named after its groupId `ini2`",
            "organization 910 is named `ini2` and had no external_id: it was adopted for groupId `ini2` (its external_id is now `ini2`)",
            "created the text field `plan` in Zendesk's organization_fields for `traits.plan`",
        ]
    );
}

#[test]
fn a_create_job_that_fails_whole_is_checked_by_name_too() {
    let d = destination(json!({"allowGroupWithoutUserId": true}));
    let mut zendesk = Fake::new();
    zendesk.whole_failures = 3;
    zendesk.organizations_by_name.insert("Initech".into(), vec![(910, None)]);
    let run =
        run_batch(&d, vec![group("ini", json!({"name": "Initech"})), group("free", json!({"name": "Free"}))], |s| {
            zendesk.answer(s)
        });
    let paths: Vec<&str> = zendesk.jobs.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/organizations/create_many",
            "/organizations/create_many",
            "/organizations/create_many",
            "/organizations/update_many"
        ]
    );
    let searches: Vec<&str> =
        run.sent.iter().filter(|s| s.path.starts_with("/organizations/search")).map(|s| s.path.as_str()).collect();
    assert_eq!(searches, vec!["/organizations/search?name=Initech", "/organizations/search?name=Free"]);
    assert_eq!(
        (run.outcomes[0].status, run.outcomes[0].code, run.outcomes[0].message.as_str()),
        (Status::Delivered, Code::Delivered, "organization 910 updated")
    );
    let o = &run.outcomes[1];
    assert_eq!((o.status, o.code, o.retryable), (Status::Failed, Code::ZendeskUnavailable, true));
    assert_eq!(o.message, "Zendesk's background job for /organizations/create_many failed 3 times: internal error");
}

fn unknown_organization(path: &str, items: &[Value], next_id: &mut u64) -> Vec<Value> {
    let mut results = default_results(path, items, next_id);
    for (r, item) in results.iter_mut().zip(items.iter().rev()) {
        if item.get("organization_id").is_some() {
            *r = json!({"index": r["index"], "id": null, "status": "Failed", "success": false, "error": "RecordNotFound", "details": "Not found"});
        }
    }
    results
}

#[test]
fn a_user_whose_organization_id_zendesk_does_not_know_is_written_without_it() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.results = unknown_organization;
    let event = identify(Some("a"), json!({"name": "A", "organizationId": 6789}));
    let run = run_batch(&d, vec![event.clone()], |s| zendesk.answer(s));
    assert_eq!(zendesk.jobs.len(), 2);
    assert_eq!(zendesk.jobs[0].1[0]["organization_id"], json!(6789));
    assert_eq!(zendesk.jobs[1].1[0].get("organization_id"), None);
    assert_eq!(run.outcomes[0].code, Code::Delivered);
    assert_eq!(
        run.outcomes[0].warnings.last().unwrap(),
        "organizationId 6789 is not a Zendesk organization (Zendesk's job answered RecordNotFound: Not found); the user was written without it"
    );
    // Not what the event asked for: the same identify is written again, not skipped.
    let again = run_batch(&d, vec![event], |s| zendesk.answer(s));
    assert_ne!(again.outcomes[0].code, Code::Unchanged);
}

#[test]
fn groups_for_one_organization_share_one_write_merged_in_order_and_each_gets_its_outcome() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    for (user, id) in [("u1", 10), ("u2", 11), ("u3", 12)] {
        zendesk.users_by_external_id.insert(user.into(), id);
    }
    zendesk.organizations_by_external_id.insert("hot".into(), 900);
    let group =
        |user: &str, traits: Value| json!({"type": "group", "userId": user, "groupId": "hot", "traits": traits});
    let run = run_batch(
        &d,
        vec![
            group("u1", json!({"name": "Hot", "tags": ["a"]})),
            group("u2", json!({"name": "Hot Inc"})),
            group("u3", json!({})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(
        zendesk.jobs,
        vec![
            (
                "/organizations/update_many".to_string(),
                vec![json!({"id": 900, "external_id": "hot", "name": "Hot Inc", "tags": ["a"]})]
            ),
            (
                "/organization_memberships/create_many".to_string(),
                vec![
                    json!({"user_id": 10, "organization_id": 900}),
                    json!({"user_id": 11, "organization_id": 900}),
                    json!({"user_id": 12, "organization_id": 900})
                ]
            ),
        ]
    );
    // The batch plan: which event went in which job.
    assert_eq!(
        run.jobs,
        vec![
            ("/organization_memberships/create_many".to_string(), vec![0, 1, 2]),
            ("/organizations/update_many".to_string(), vec![0]),
        ]
    );
    assert_eq!(
        run.outcomes.iter().map(|o| o.message.as_str()).collect::<Vec<_>>(),
        vec![
            "organization 900 updated; user 10 added to it",
            "organization 900 updated; user 11 added to it",
            "organization 900 updated; user 12 added to it"
        ]
    );
}

#[test]
fn an_exact_repeat_in_the_same_batch_ends_as_its_first_without_a_round_of_its_own() {
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    let first = identify(Some("a"), json!({"name": "A"}));
    let run = run_batch(
        &d,
        vec![
            first.clone(),
            identify(Some("b"), json!({"name": "B"})),
            first.clone(),
            identify(Some("a"), json!({"name": "A2"})),
        ],
        |s| zendesk.answer(s),
    );
    assert_eq!(zendesk.jobs.iter().map(|(_, items)| items.len()).collect::<Vec<_>>(), vec![2, 1], "A and B, then A2");
    assert_eq!(run.outcomes[2].code, Code::Unchanged);
    assert_eq!(
        run.outcomes[2].message,
        "user unchanged: the same write as event 0 of this batch (user 701 created); nothing more was sent"
    );
    assert_eq!(run.outcomes[3].message, "user 701 updated");
}

#[test]
fn a_batch_dropped_with_jobs_in_flight_gives_them_back() {
    use zendesk_destination::{BatchStep, Response};
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    // 30 batches freed by the host right after handing out their job (cancelled): none finished.
    for n in 0..30 {
        let mut batch = d.begin_batch(vec![identify(Some(&format!("gone{n}")), json!({"name": "Gone"}))], NOW);
        let mut step = batch.step().clone();
        loop {
            let BatchStep::Requests { requests, .. } = step else { panic!("the batch ended before its job") };
            let pending = requests.into_iter().next().expect("one request at a time here");
            let path = pending.request.url.strip_prefix(BASE).unwrap().to_string();
            if path.ends_with("_many") {
                break;
            }
            let sent = Sent { method: pending.request.method, path, body: None, delay_ms: 0 };
            let (status, body) = zendesk.answer(&sent);
            step = batch.respond(pending.id, Response::new(status, &body.to_string())).clone();
        }
        drop(batch);
    }
    // The destination's 30 jobs are free again: a batch of 200 new users submits its two jobs at once.
    let events: Vec<Value> = (0..200).map(|n| identify(Some(&format!("u{n}")), json!({"name": "U"}))).collect();
    let run = run_batch(&d, events, |s| zendesk.answer(s));
    assert!(
        run.steps.iter().any(|step| step.iter().filter(|r| r.ends_with("create_or_update_many")).count() == 2),
        "{:?}",
        run.steps
    );
    assert!(run.outcomes.iter().all(|o| o.code == Code::Delivered));
}

#[test]
fn events_are_reported_ended_at_the_step_their_outcome_became_final() {
    use zendesk_destination::{BatchStep, Ended, Response};
    let d = destination(json!({}));
    let mut zendesk = Fake::new();
    zendesk.users_by_external_id.insert("old".into(), 10);
    let first = identify(Some("new"), json!({"name": "New"}));
    let mut batch = d.begin_batch(
        vec![
            first.clone(),
            json!({"type": "track", "userId": "old", "event": "Order Completed", "properties": {}}),
            json!({"type": "track", "userId": "new", "event": "Order Completed", "properties": {}}),
            json!({"type": "page", "userId": "old"}),
            json!(42),
            first,
        ],
        NOW,
    );
    // Requests handed out and not answered yet, by path; each step's `ended`, by input position.
    let mut waiting: Vec<(u32, Sent)> = Vec::new();
    let take = |step: &BatchStep, waiting: &mut Vec<(u32, Sent)>| -> Vec<Ended> {
        let BatchStep::Requests { requests, ended, .. } = step.clone() else { panic!("the batch ended early") };
        for pending in requests {
            let path = pending.request.url.strip_prefix(BASE).unwrap().to_string();
            let body = pending.request.body.as_deref().map(|b| serde_json::from_str(b).unwrap());
            waiting.push((pending.id, Sent { method: pending.request.method, path, body, delay_ms: pending.delay_ms }));
        }
        ended
    };
    let indexes = |ended: &[Ended]| ended.iter().map(|e| e.index).collect::<Vec<_>>();
    let mut answer = |batch: &mut zendesk_destination::Batch, waiting: &mut Vec<(u32, Sent)>, prefix: &str| {
        let paths: Vec<String> = waiting.iter().map(|(_, s)| s.path.clone()).collect();
        let at = waiting
            .iter()
            .position(|(_, s)| s.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {paths:?}"));
        let (id, sent) = waiting.remove(at);
        let (status, body) = zendesk.answer(&sent);
        batch.respond(id, Response::new(status, &body.to_string())).clone()
    };

    // Planning ends the page (unsupported) and the unreadable event at once.
    let ended = take(&batch.step().clone(), &mut waiting);
    assert_eq!(indexes(&ended), vec![3, 4]);
    assert_eq!(ended[0].outcome.code, Code::UnsupportedType);
    assert_eq!(ended[1].outcome.code, Code::InvalidEvent);
    let mut early: Vec<Ended> = ended;
    // The known user's track: its POST answered, it has ended, while the identify's lookup still waits.
    let step = answer(&mut batch, &mut waiting, "/users?external_id=old");
    assert!(take(&step, &mut waiting).is_empty());
    let step = answer(&mut batch, &mut waiting, "/users/10/events");
    let ended = take(&step, &mut waiting);
    assert_eq!(indexes(&ended), vec![1]);
    assert_eq!(ended[0].outcome.message, "event recorded on user 10");
    assert!(
        waiting.iter().any(|(_, s)| s.path.starts_with("/users/show_many")),
        "the identify has not started its job"
    );
    early.extend(ended);
    // The identify's lookup, field catalog and job: nothing ends until its job's results are mapped.
    for path in ["/users/show_many", "/user_fields"] {
        let step = answer(&mut batch, &mut waiting, path);
        assert!(take(&step, &mut waiting).is_empty());
    }
    let step = answer(&mut batch, &mut waiting, "/users/create_or_update_many");
    assert!(take(&step, &mut waiting).is_empty());
    // The poll maps the job's result: the identify ends, its exact repeat with it, and the new user's
    // track is released (its POST handed out at this same step).
    let step = answer(&mut batch, &mut waiting, "/job_statuses/show_many");
    let ended = take(&step, &mut waiting);
    assert_eq!(indexes(&ended), vec![0, 5]);
    assert_eq!(ended[0].outcome.message, "user 701 created");
    assert_eq!(ended[1].outcome.code, Code::Unchanged);
    assert_eq!(waiting.iter().map(|(_, s)| s.path.as_str()).collect::<Vec<_>>(), vec!["/users/701/events"]);
    early.extend(ended);
    // The last event ends with the batch: it is in `done` only, and `done` repeats every early outcome.
    let step = answer(&mut batch, &mut waiting, "/users/701/events");
    let BatchStep::Done { outcomes, .. } = step else { panic!("the batch did not end") };
    assert_eq!(outcomes[2].message, "event recorded on user 701");
    assert_eq!(early.len(), 5);
    for e in early {
        assert_eq!(outcomes[e.index], e.outcome, "event {}", e.index);
    }
}
