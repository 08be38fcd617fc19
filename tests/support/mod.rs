//! A script runner for conversations: each exchange is the request the engine must ask for, exactly,
//! and the answer to give it.

#![allow(dead_code)]

use serde_json::{json, Value};
use zendesk_destination::{Destination, Method, Outcome, Response, Settings, Step};

pub const BASE: &str = "https://acme.zendesk.com/api/v2";
pub const NOW: f64 = 1_764_441_000_000.0; // 2025-11-29T18:30:00Z

pub fn settings(overrides: Value) -> Settings {
    let mut base = json!({
        "subdomain": "acme",
        "email": "agent@acme.test/token",
        "password": "s3cret-token",
        "events": ["Article Completed", "Order Completed"],
    });
    for (k, v) in overrides.as_object().expect("overrides are an object") {
        base[k] = v.clone();
    }
    Settings::from_value(&base).expect("test settings are valid")
}

pub fn destination(overrides: Value) -> Destination {
    Destination::new(settings(overrides))
}

/// One expected request and the answer the test gives it.
pub struct Exchange {
    pub method: Method,
    /// Below `/api/v2`, with the query as the engine must encode it.
    pub path: String,
    pub body: Option<Value>,
    pub status: u16,
    pub answer: String,
}

pub fn get(path: &str, status: u16, answer: Value) -> Exchange {
    Exchange { method: Method::Get, path: path.into(), body: None, status, answer: answer.to_string() }
}

pub fn post(path: &str, body: Value, status: u16, answer: Value) -> Exchange {
    Exchange { method: Method::Post, path: path.into(), body: Some(body), status, answer: answer.to_string() }
}

pub fn put(path: &str, body: Value, status: u16, answer: Value) -> Exchange {
    Exchange { method: Method::Put, path: path.into(), body: Some(body), status, answer: answer.to_string() }
}

pub fn delete(path: &str, status: u16) -> Exchange {
    Exchange { method: Method::Delete, path: path.into(), body: None, status, answer: String::new() }
}

/// Runs `event` through the script: every request must match exactly, in order, and the
/// conversation must end right after the last exchange.
pub fn converse(destination: &Destination, event: Value, script: Vec<Exchange>) -> Outcome {
    converse_at(destination, event, NOW, script)
}

/// As [`converse`], at `now` (milliseconds since the epoch).
pub fn converse_at(destination: &Destination, event: Value, now: f64, script: Vec<Exchange>) -> Outcome {
    let mut conversation = destination.begin(&event, now);
    for (i, expected) in script.into_iter().enumerate() {
        let request = match conversation.step() {
            Step::Request { request } => request.clone(),
            Step::Done { outcomes } => panic!("exchange {i}: the conversation ended early with {outcomes:#?}"),
        };
        assert_eq!(request.method, expected.method, "exchange {i}: method of {}", request.url);
        assert_eq!(request.url, format!("{BASE}{}", expected.path), "exchange {i}: url");
        let body: Option<Value> = request.body.as_deref().map(|b| serde_json::from_str(b).expect("bodies are JSON"));
        assert_eq!(body, expected.body, "exchange {i}: body of {} {}", expected.path, request.url);
        conversation.respond(Response::new(expected.status, &expected.answer));
    }
    match conversation.step() {
        Step::Done { outcomes } => {
            assert_eq!(outcomes.len(), 1);
            outcomes[0].clone()
        }
        Step::Request { request } => {
            panic!("the conversation wants more: {} {}", request.url, request.body.clone().unwrap_or_default())
        }
    }
}

pub fn no_users() -> Value {
    json!({"users": [], "count": 0, "next_page": null, "previous_page": null})
}

pub fn users(list: &[(u64, &str)]) -> Value {
    let users: Vec<Value> = list.iter().map(|(id, email)| json!({"id": id, "email": email, "active": true})).collect();
    json!({"users": users, "count": list.len(), "next_page": null, "previous_page": null})
}

pub fn fields(collection: &str, list: &[(&str, &str)]) -> Value {
    let items: Vec<Value> =
        list.iter().map(|(key, ty)| json!({"id": 1, "key": key, "type": ty, "title": key, "active": true})).collect();
    json!({ collection: items, "count": list.len(), "next_page": null })
}

pub fn email_search(email: &str) -> String {
    format!("/users/search?query={}", zendesk_destination::request::percent_encode(&format!("email:\"{email}\"")))
}

/// One request a batch handed out: method, URL below `/api/v2`, body, and the wait it asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
    pub delay_ms: u32,
}

pub struct BatchRun {
    pub outcomes: Vec<Outcome>,
    /// (job path, input positions of its events)
    pub jobs: Vec<(String, Vec<usize>)>,
    pub notices: Vec<String>,
    pub sent: Vec<Sent>,
    /// The requests of each step, as handed out together.
    pub steps: Vec<Vec<String>>,
    /// The events reported ended early, by step: (how many responses had been given, input position).
    pub ended: Vec<(usize, usize)>,
}

/// Runs a batch: every request is answered by `answer(sent)`, first handed out first answered.
pub fn run_batch(
    destination: &Destination,
    events: Vec<Value>,
    mut answer: impl FnMut(&Sent) -> (u16, Value),
) -> BatchRun {
    use std::collections::VecDeque;
    use zendesk_destination::BatchStep;
    let mut batch = destination.begin_batch(events, NOW);
    let mut queue: VecDeque<(u32, Sent)> = VecDeque::new();
    let mut sent = Vec::new();
    let mut steps = Vec::new();
    let mut ended = Vec::new();
    let mut early: Vec<(usize, Outcome)> = Vec::new();
    let mut step = batch.step().clone();
    for responses in 0..10_000 {
        match step {
            BatchStep::Done { outcomes, notices, jobs } => {
                assert!(queue.is_empty(), "done with requests unanswered: {queue:?}");
                // Every batch test checks the contract: an outcome reported early is the final one.
                for (index, outcome) in early {
                    assert_eq!(outcomes[index], outcome, "event {index}'s early outcome differs from its final one");
                }
                let jobs = jobs.into_iter().map(|j| (j.path.to_string(), j.events)).collect();
                return BatchRun { outcomes, jobs, notices, sent, steps, ended };
            }
            BatchStep::Requests { requests, waiting, ended: now } => {
                for e in now {
                    assert!(early.iter().all(|(i, _)| *i != e.index), "event {} reported ended twice", e.index);
                    ended.push((responses, e.index));
                    early.push((e.index, e.outcome));
                }
                let mut this_step = Vec::new();
                for pending in requests {
                    let request = pending.request;
                    let path = request.url.strip_prefix(BASE).expect("every request goes to the account").to_string();
                    let body = request.body.as_deref().map(|b| serde_json::from_str(b).expect("bodies are JSON"));
                    let s = Sent { method: request.method, path: path.clone(), body, delay_ms: pending.delay_ms };
                    this_step.push(format!("{:?} {path}", request.method));
                    sent.push(s.clone());
                    queue.push_back((pending.id, s));
                }
                if !this_step.is_empty() {
                    steps.push(this_step);
                }
                assert_eq!(waiting, queue.len(), "waiting counts every unanswered request");
                let (id, s) = queue.pop_front().expect("a batch that is not done waits on a request");
                let (status, body) = answer(&s);
                step = batch.respond(id, Response::new(status, &body.to_string())).clone();
            }
        }
    }
    panic!("the batch never ended");
}
