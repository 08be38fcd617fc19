//! The step-by-step conversations. Each flow is an `async fn` that awaits one Zendesk answer at a time;
//! it runs on no executor: [`Conversation`] polls it with a no-op waker, hands out the request it is
//! waiting on, and polls again when the host brings the response. No clocks, no sockets.

mod answers;
mod batch;
mod ended;
mod fields;
mod group;
mod identify;
mod jobs;
mod tasks;
mod track;
mod unchanged;
mod zendesk;

use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub use batch::{Batch, BatchStep, JobReport};
pub use ended::Ended;
pub use jobs::MAX_JOBS;

use crate::cache::Cache;
use crate::event::{Call, Event};
use crate::outcome::{Code, Outcome};
use crate::request::{Api, RequestDescriptor};
use crate::response::Response;
use crate::settings::Settings;

/// What the host does next: perform a request, or read the outcomes.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    Request {
        request: RequestDescriptor,
    },
    /// One outcome per event the conversation carries (one today; batches will carry several).
    Done {
        outcomes: Vec<Outcome>,
    },
}

/// A request handed to the host, with the id its answer comes back under. `delay_ms` asks the host to
/// wait that long before sending it (job polling backs off; the engine has no clock of its own).
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingRequest {
    pub id: u32,
    pub request: RequestDescriptor,
    pub delay_ms: u32,
}

/// The requests flows have sent and the responses the host brought for them, by id.
#[derive(Default)]
struct Channel {
    next_id: u32,
    outgoing: Vec<PendingRequest>,
    incoming: HashMap<u32, Response>,
    /// Set when a task inside a batch made progress without a response (a signal was raised), so the
    /// batch is polled again before it asks the host for anything.
    progress: bool,
}

/// The flows' only way out: send a request, wait for its response.
#[derive(Clone)]
struct Exchange(Rc<RefCell<Channel>>);

impl Exchange {
    async fn send(&self, request: RequestDescriptor) -> Response {
        self.send_after(request, 0).await
    }

    /// Sends `request` once the host has waited `delay_ms`.
    async fn send_after(&self, request: RequestDescriptor, delay_ms: u32) -> Response {
        let id = {
            let mut channel = self.0.borrow_mut();
            channel.next_id += 1;
            let id = channel.next_id;
            channel.outgoing.push(PendingRequest { id, request, delay_ms });
            id
        };
        Reply(&self.0, id).await
    }

    /// Wakes the batch's other tasks on the next poll (a task finished something others wait for).
    fn signal(&self) {
        self.0.borrow_mut().progress = true;
    }
}

struct Reply<'a>(&'a RefCell<Channel>, u32);

impl Future for Reply<'_> {
    type Output = Response;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Response> {
        match self.0.borrow_mut().incoming.remove(&self.1) {
            Some(response) => Poll::Ready(response),
            None => Poll::Pending,
        }
    }
}

/// Everything a flow may use: the settings, the request builder, the shared cache, the exchange.
#[derive(Clone)]
struct Flow {
    settings: Rc<Settings>,
    api: Rc<Api>,
    cache: Rc<RefCell<Cache>>,
    exchange: Exchange,
    now_ms: f64,
    /// What a batch tells the host's log once (a refused bulk endpoint).
    notices: Rc<RefCell<Vec<String>>>,
    /// The background jobs a batch submitted, with their events (the batch plan).
    jobs: Rc<RefCell<Vec<batch::JobReport>>>,
}

/// One event's conversation with Zendesk.
pub struct Conversation {
    future: Option<Pin<Box<dyn Future<Output = Outcome>>>>,
    channel: Rc<RefCell<Channel>>,
    /// The id of the request the current step hands out.
    current: u32,
    step: Step,
}

impl Conversation {
    /// A conversation that ended before any request (an invalid or skipped event).
    pub fn finished(outcome: Outcome) -> Conversation {
        Conversation { future: None, channel: Rc::default(), current: 0, step: Step::Done { outcomes: vec![outcome] } }
    }

    /// The current step: the request to perform, or the outcomes.
    pub fn step(&self) -> &Step {
        &self.step
    }

    /// Takes the response to the current request and returns the next step.
    /// Once done, further responses change nothing.
    pub fn respond(&mut self, response: Response) -> &Step {
        if self.future.is_some() {
            self.channel.borrow_mut().incoming.insert(self.current, response);
            self.advance();
        }
        &self.step
    }

    fn advance(&mut self) {
        let Some(future) = self.future.as_mut() else { return };
        let mut context = Context::from_waker(Waker::noop());
        self.step = match future.as_mut().poll(&mut context) {
            Poll::Ready(outcome) => {
                self.future = None;
                Step::Done { outcomes: vec![outcome] }
            }
            // A single event's flow waits on one request at a time.
            Poll::Pending => match self.channel.borrow_mut().outgoing.pop() {
                Some(PendingRequest { id, request, .. }) => {
                    self.current = id;
                    Step::Request { request }
                }
                None => {
                    self.future = None;
                    Step::Done {
                        outcomes: vec![Outcome::new(
                            Code::UnexpectedResponse,
                            "internal: the flow stopped without a request",
                        )],
                    }
                }
            },
        };
    }
}

/// A configured destination: settings, and what it has learned so far (shared by its conversations).
pub struct Destination {
    settings: Rc<Settings>,
    api: Rc<Api>,
    cache: Rc<RefCell<Cache>>,
}

impl Destination {
    pub fn new(settings: Settings) -> Destination {
        Destination { api: Rc::new(Api::new(&settings)), settings: Rc::new(settings), cache: Rc::default() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Starts the conversation for one event; `now_ms` (milliseconds since the epoch) is the only clock.
    pub fn begin(&self, event: &Value, now_ms: f64) -> Conversation {
        self.start(Event::parse(event), now_ms)
    }

    /// As [`Destination::begin_json`] for text that is a plain JSON object (read member by member,
    /// see [`Event::read`]); `None` for any other text, which the caller reads whole.
    pub fn begin_text(&self, text: &str, now_ms: f64) -> Option<Conversation> {
        Event::read(text).map(|event| self.start(event, now_ms))
    }

    fn start(&self, event: Result<Event, Outcome>, now_ms: f64) -> Conversation {
        let event = match event {
            Ok(event) => event,
            Err(outcome) => return Conversation::finished(outcome),
        };
        let channel: Rc<RefCell<Channel>> = Rc::default();
        let flow = Flow {
            settings: self.settings.clone(),
            api: self.api.clone(),
            cache: self.cache.clone(),
            exchange: Exchange(channel.clone()),
            now_ms,
            notices: Rc::default(),
            jobs: Rc::default(),
        };
        let future: Pin<Box<dyn Future<Output = Outcome>>> = Box::pin(run(flow, event));
        let mut conversation =
            Conversation { future: Some(future), channel, current: 0, step: Step::Done { outcomes: Vec::new() } };
        conversation.advance();
        conversation
    }

    /// Starts one conversation for several events, planned together (see `batch`): one outcome per
    /// event, in input order, and several requests in flight at once.
    pub fn begin_batch(&self, events: Vec<Value>, now_ms: f64) -> Batch {
        let flow = Flow {
            settings: self.settings.clone(),
            api: self.api.clone(),
            cache: self.cache.clone(),
            exchange: Exchange(Rc::default()),
            now_ms,
            notices: Rc::default(),
            jobs: Rc::default(),
        };
        Batch::start(flow, events)
    }

    /// What this destination learned (ids, field catalogs, write digests) since the last call; the
    /// first call returns everything and starts keeping track. For hosts that share it between
    /// destinations of one account (see `cache`).
    pub fn take_learned(&self) -> Value {
        self.cache.borrow_mut().take_learned()
    }

    /// Takes in what another destination of the same account learned (`take_learned`'s value).
    /// Returns how many entries were applied; what is not understood is skipped.
    pub fn learn(&self, learned: &Value) -> usize {
        self.cache.borrow_mut().learn(learned)
    }

    /// As [`Destination::begin`], from JSON text (which keeps integers beyond 2^53 exact).
    pub fn begin_json(&self, text: &str, now_ms: f64) -> Conversation {
        if let Some(conversation) = self.begin_text(text, now_ms) {
            return conversation;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) => self.begin(&value, now_ms),
            Err(error) => Conversation::finished(Outcome::new(
                Code::InvalidEvent,
                format!("the event is not valid JSON: {}", crate::json::error_text(text, &error)),
            )),
        }
    }
}

async fn run(flow: Flow, event: Event) -> Outcome {
    let outcome = match event.call {
        Call::Identify { ref traits } => identify::identify(&flow, &event, traits).await,
        Call::Track { event: ref name, ref properties } => track::track(&flow, &event, name, properties).await,
        Call::Group { ref group_id, ref traits } => group::group(&flow, &event, group_id, traits).await,
    };
    explain_refused_api_token(&flow.settings, outcome)
}

/// Zendesk deactivates an API token unused for 30 days (since 28 Jul 2026) and stops all API tokens on
/// 30 Apr 2027: a quiet destination can lose its token. A 401 to Basic credentials says so, and where
/// to go instead.
fn explain_refused_api_token(settings: &Settings, mut outcome: Outcome) -> Outcome {
    let basic = matches!(settings.credentials, crate::settings::Credentials::Basic { .. });
    if basic && outcome.code == Code::Unauthorized && outcome.message.contains("(401)") {
        outcome.message.push_str(
            ". If this is an API token: Zendesk deactivates tokens unused for 30 days and stops all API tokens on 30 Apr 2027; use OAuth instead (the oauthToken setting, with the host's oauthRefresh or oauthClient)",
        );
    }
    outcome
}

/// Adds the mapping report to an outcome, whatever it is: warnings are never lost on failure.
fn with_report(mut outcome: Outcome, report: crate::mapping::Report) -> Outcome {
    let mut warnings = report.warnings;
    warnings.append(&mut outcome.warnings);
    outcome.warnings = warnings;
    let mut mapping = report.mapping;
    mapping.append(&mut outcome.mapping);
    outcome.mapping = mapping;
    outcome
}
