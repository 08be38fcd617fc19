//! The JavaScript surface (wasm-bindgen). Values cross as JSON text: JS objects are stringified by the
//! JS engine and parsed here with serde_json, whose depth limit turns hostile nesting into an error
//! instead of a stack overflow; results go out as JSON text that `JSON.parse` makes plain objects of.
//! A response's fields are read one by one (the body is a string already), falling back to JSON text
//! for anything unusual.

use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::flow;
use crate::json_writer::{to_json, WriteJson};
use crate::outcome::{Code, Outcome};
use crate::response::Response;
use crate::settings::{Settings, SettingsError};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** The destination's settings (Segment's keys, plus oauthToken, baseUrl and sourceName). */
export interface Settings {
  subdomain: string;
  email?: string;
  password?: string;
  oauthToken?: string;
  events?: string[];
  verified?: boolean;
  removeUsersFromOrganizations?: boolean;
  allowGroupWithoutUserId?: boolean;
  account?: unknown;
  baseUrl?: string;
  sourceName?: string;
  unchangedTtlSeconds?: number;
}
export interface SettingsError { key: string; code: "invalid_settings"; message: string }
/** A Segment-spec call. Anything else is accepted too and ends as an `invalid` outcome. */
export interface SegmentEvent {
  type: "identify" | "track" | "group" | "page" | "screen" | "alias" | (string & {});
  userId?: string | number | null;
  anonymousId?: string | null;
  messageId?: string;
  timestamp?: string;
  event?: string;
  groupId?: string | number;
  traits?: Record<string, unknown>;
  properties?: Record<string, unknown>;
  context?: { traits?: Record<string, unknown>; [key: string]: unknown };
  integrations?: Record<string, boolean | Record<string, unknown>>;
  [key: string]: unknown;
}
export interface RequestDescriptor {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  headers: Record<string, string>;
  body: string | null;
}
/** What the host fed back: status 0 with `error` when no HTTP answer came. */
export interface ZendeskResponse {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | null;
  error?: string;
}
export type OutcomeStatus = "delivered" | "skipped" | "invalid" | "failed";
export type OutcomeCode =
  | "delivered" | "unchanged"
  | "event_not_enabled" | "missing_user_id" | "unsupported_type" | "disabled_by_integrations"
  | "ambiguous_user" | "ambiguous_organization"
  | "invalid_event" | "missing_name" | "identifier_too_long"
  | "user_not_found" | "unauthorized" | "zendesk_rejected" | "zendesk_unavailable" | "rate_limited"
  | "organization_name_taken"
  | "unexpected_response";
export interface MappingEntry { from: string; to: string | null; note?: string }
export interface Outcome {
  status: OutcomeStatus;
  code: OutcomeCode;
  message: string;
  warnings: string[];
  retryable: boolean;
  mapping: MappingEntry[];
}
export type Step =
  | { kind: "request"; request: RequestDescriptor }
  | { kind: "done"; outcomes: Outcome[] };
/** A request of a batch: answer it with `batch.respond(id, response)` after waiting `delayMs`. */
export interface PendingRequest { id: number; request: RequestDescriptor; delayMs: number }
export type BatchStep =
  | { kind: "requests"; requests: PendingRequest[]; waiting: number; ended: { index: number; outcome: Outcome }[] }
  | { kind: "done"; outcomes: Outcome[]; notices: string[]; jobs: { path: string; events: number[] }[] };
"#;

/// JSON text for a JS value: strings are taken as JSON text already (which keeps big integers exact).
fn json_text(value: &JsValue) -> Result<String, String> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    match js_sys::JSON::stringify(value) {
        Ok(text) => text
            .as_string()
            .ok_or_else(|| "the value cannot be represented as JSON (undefined or a function)".to_string()),
        Err(_) => Err("the value cannot be represented as JSON (cyclic, a BigInt, or too deeply nested)".to_string()),
    }
}

fn parse(value: &JsValue) -> Result<Value, String> {
    parse_text(&json_text(value)?)
}

fn parse_text(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        // JSON.stringify writes a lone surrogate as a `\udXXX` escape, which serde_json refuses.
        if value_has_lone_surrogate(text) {
            "not valid text: it holds invalid UTF-16 (a lone surrogate)".to_string()
        } else {
            format!("not valid JSON: {}", crate::json::error_text(text, &e))
        }
    })
}

fn value_has_lone_surrogate(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("\\ud").any(|(i, _)| matches!(lower.as_bytes().get(i + 3), Some(b'8'..=b'9' | b'a'..=b'f')))
}

/// Results cross as one JSON text that `JSON.parse` turns into plain objects: two wasm→JS calls for a
/// whole step, where serde-wasm-bindgen made one per property (~160 per identify), and a smaller module.
/// The text is written by hand (see `json_writer`), not by serde_json's serializer.
fn to_js<T: WriteJson + ?Sized>(value: &T) -> JsValue {
    js_sys::JSON::parse(&to_json(value)).unwrap_or(JsValue::NULL)
}

#[wasm_bindgen]
extern "C" {
    /// The host's `{status, headers, body, error}`, read property by property.
    type HostResponse;
    #[wasm_bindgen(method, getter, catch)]
    fn status(this: &HostResponse) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn body(this: &HostResponse) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn headers(this: &HostResponse) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch)]
    fn error(this: &HostResponse) -> Result<JsValue, JsValue>;
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// A text from JS, unless converting it replaced something (a lone surrogate becomes U+FFFD): then the
/// JSON reading decides, as it always did.
fn clean_text(value: &JsValue) -> Option<String> {
    value.as_string().filter(|text| !text.contains('\u{FFFD}'))
}

/// The usual response, read without turning it into JSON text and back: the body string is copied once
/// instead of escaped, passed and unescaped. `None` for anything unusual (a status that is not an
/// integer, a body that is not a string, a throwing getter, …), which the JSON reading below handles
/// exactly as before.
fn response_fields(value: &JsValue) -> Option<Response> {
    if !value.is_object() || js_sys::Array::is_array(value) {
        return None;
    }
    let response: &HostResponse = value.unchecked_ref();
    let status = response.status().ok()?;
    let status = if absent(&status) {
        0
    } else {
        let n = status.as_f64()?;
        if !(0.0..=999.0).contains(&n) || n.fract() != 0.0 {
            return None;
        }
        n as u16
    };
    let body = response.body().ok()?;
    let body = if absent(&body) { None } else { Some(clean_text(&body)?) };
    let error = response.error().ok()?;
    let error = if absent(&error) { None } else { Some(clean_text(&error)?.chars().take(200).collect()) };
    let headers = response.headers().ok()?;
    let headers = if absent(&headers) {
        Default::default()
    } else if headers.is_object() && !js_sys::Array::is_array(&headers) {
        // Only the headers the engine reads are kept: a Zendesk answer's twenty others cost as much
        // as the rest of the response when they were all read into a map.
        crate::response::read_headers(&js_sys::JSON::stringify(&headers).ok()?.as_string()?)?
    } else {
        return None;
    };
    Some(Response { status, headers, body, error })
}

/// The host's answer, read field by field (`response_fields`), else as JSON text; what neither can read
/// becomes "no answer" with the reason, which ends the event `failed/zendesk_unavailable`. Single
/// conversations and batches read answers alike.
fn host_response(value: &JsValue) -> Response {
    let response = match response_fields(value) {
        Some(fields) => Ok(fields),
        None => parse(value).and_then(|json| Response::from_value(&json)),
    };
    response.unwrap_or_else(|why| Response {
        status: 0,
        error: Some(format!("the host passed an unreadable response ({why})")),
        ..Response::default()
    })
}

fn settings_from(value: &JsValue) -> Result<Settings, Vec<SettingsError>> {
    match parse(value) {
        Ok(json) => Settings::from_value(&json),
        Err(why) => Err(vec![SettingsError {
            key: String::new(),
            code: "invalid_settings",
            message: format!("settings are {why}"),
        }]),
    }
}

/// Every problem with the settings: `[]` when they are valid, else `[{key, code, message}]`.
#[wasm_bindgen(js_name = validateSettings, unchecked_return_type = "SettingsError[]")]
pub fn validate_settings(#[wasm_bindgen(unchecked_param_type = "Settings | string")] settings: JsValue) -> JsValue {
    match settings_from(&settings) {
        Ok(_) => to_js(&Vec::<SettingsError>::new()),
        Err(errors) => to_js(&errors),
    }
}

/// A configured destination. Conversations begun from it share what it learns (field catalogs, ids).
#[wasm_bindgen]
pub struct Destination {
    inner: flow::Destination,
}

#[wasm_bindgen]
impl Destination {
    /// Throws an `Error` with `code: "invalid_settings"` and `errors: [{key, code, message}]`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Settings | string")] settings: JsValue,
    ) -> Result<Destination, JsValue> {
        match settings_from(&settings) {
            Ok(settings) => Ok(Destination { inner: flow::Destination::new(settings) }),
            Err(errors) => {
                let summary: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
                let error = js_sys::Error::new(&format!("invalid settings: {}", summary.join("; ")));
                let _ = js_sys::Reflect::set(&error, &"code".into(), &"invalid_settings".into());
                let _ = js_sys::Reflect::set(&error, &"errors".into(), &to_js(&errors));
                Err(error.into())
            }
        }
    }

    /// Begins the conversation for one event (any JS value, or JSON text). `now` is milliseconds since
    /// the epoch: the engine's only clock.
    pub fn begin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SegmentEvent | string | unknown")] event: JsValue,
        now: f64,
    ) -> Conversation {
        let text = json_text(&event);
        let fast = text.as_ref().ok().and_then(|text| self.inner.begin_text(text, now));
        let inner = match fast {
            Some(conversation) => conversation,
            None => match text.and_then(|text| parse_text(&text)) {
                Ok(value) => self.inner.begin(&value, now),
                Err(why) => flow::Conversation::finished(Outcome::new(
                    Code::InvalidEvent,
                    format!("the event is not usable: {why}"),
                )),
            },
        };
        Conversation { inner }
    }

    /// Begins one conversation for several events: an array (of values or JSON texts), or text holding
    /// a JSON array or NDJSON (one event per line). An unreadable element or line becomes that event's
    /// `invalid/invalid_event` outcome; text that is neither ends as one such outcome.
    #[wasm_bindgen(js_name = beginBatch)]
    pub fn begin_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "unknown[] | string")] events: JsValue,
        now: f64,
    ) -> Batch {
        let list: Vec<Result<Value, String>> = if js_sys::Array::is_array(&events) {
            js_sys::Array::from(&events).iter().map(|e| json_text(&e).and_then(|t| parse_text(&t))).collect()
        } else if let Some(text) = events.as_string() {
            batch_text(&text)
        } else {
            vec![Err("a batch must be an array of events, or JSON/NDJSON text".to_string())]
        };
        // An unreadable element still gets its own outcome, in its place.
        let mut failed = Vec::new();
        let values = list
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                item.unwrap_or_else(|why| {
                    failed.push((i, why));
                    Value::Null
                })
            })
            .collect();
        Batch { inner: self.inner.begin_batch(values, now), failed }
    }
}

#[wasm_bindgen]
impl Destination {
    /// What this destination learned (ids, field catalogs, write digests) since the last call, as JSON
    /// text; the first call returns everything and starts keeping track. For hosts that share it
    /// between destinations of one account (docs/engine-api.md).
    #[wasm_bindgen(js_name = takeLearned)]
    pub fn take_learned(&self) -> String {
        self.inner.take_learned().to_string()
    }

    /// Takes in what another destination of the same account learned (`takeLearned`'s text). Returns
    /// how many entries were applied; unreadable text applies nothing.
    pub fn learn(&self, learned: &str) -> usize {
        match serde_json::from_str::<Value>(learned) {
            Ok(value) => self.inner.learn(&value),
            Err(_) => 0,
        }
    }
}

/// A JSON array, or NDJSON (blank lines skipped).
fn batch_text(text: &str) -> Vec<Result<Value, String>> {
    if text.trim_start().starts_with('[') {
        return match parse_text(text) {
            Ok(Value::Array(items)) => items.into_iter().map(Ok).collect(),
            Ok(_) => vec![Err("the batch is not a JSON array".into())],
            Err(why) => vec![Err(why)],
        };
    }
    text.lines().filter(|line| !line.trim().is_empty()).map(parse_text).collect()
}

/// Several events' conversation: `step()` lists new requests; `respond(id, response)` answers one.
#[wasm_bindgen]
pub struct Batch {
    inner: flow::Batch,
    /// Events that could not be read, by position, and why: their outcomes replace the engine's.
    failed: Vec<(usize, String)>,
}

#[wasm_bindgen]
impl Batch {
    /// `{kind: "requests", requests: [{id, request, delayMs}], waiting, ended: [{index, outcome}]}` or
    /// `{kind: "done", outcomes, notices, jobs}`.
    #[wasm_bindgen(unchecked_return_type = "BatchStep")]
    pub fn step(&self) -> JsValue {
        self.out(self.inner.step())
    }

    /// Takes the response to request `id` and returns the next step.
    #[wasm_bindgen(unchecked_return_type = "BatchStep")]
    pub fn respond(
        &mut self,
        id: u32,
        #[wasm_bindgen(unchecked_param_type = "ZendeskResponse")] response: JsValue,
    ) -> JsValue {
        let step = self.inner.respond(id, host_response(&response)).clone();
        self.out(&step)
    }

    fn out(&self, step: &flow::BatchStep) -> JsValue {
        if self.failed.is_empty() {
            return to_js(step);
        }
        // The same replacement for an unreadable event reported early (it ends at planning) as at the end.
        let unusable = |i: usize| {
            let (_, why) = self.failed.iter().find(|(f, _)| *f == i)?;
            Some(Outcome::new(Code::InvalidEvent, format!("the event is not usable: {why}")))
        };
        let mut step = step.clone();
        match &mut step {
            flow::BatchStep::Done { outcomes, .. } => {
                for (i, slot) in outcomes.iter_mut().enumerate() {
                    if let Some(outcome) = unusable(i) {
                        *slot = outcome;
                    }
                }
            }
            flow::BatchStep::Requests { ended, .. } => {
                for e in ended {
                    if let Some(outcome) = unusable(e.index) {
                        e.outcome = outcome;
                    }
                }
            }
        }
        to_js(&step)
    }
}

#[wasm_bindgen]
pub struct Conversation {
    inner: flow::Conversation,
}

#[wasm_bindgen]
impl Conversation {
    /// `{kind: "request", request}` or `{kind: "done", outcomes}`.
    #[wasm_bindgen(unchecked_return_type = "Step")]
    pub fn step(&self) -> JsValue {
        to_js(self.inner.step())
    }

    /// Takes `{status, headers, body}` (status 0 with `error` when no answer came) and returns the next step.
    #[wasm_bindgen(unchecked_return_type = "Step")]
    pub fn respond(&mut self, #[wasm_bindgen(unchecked_param_type = "ZendeskResponse")] response: JsValue) -> JsValue {
        to_js(self.inner.respond(host_response(&response)))
    }
}
