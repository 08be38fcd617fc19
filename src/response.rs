//! Responses the host feeds back, and how Zendesk's failures become outcomes.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::outcome::{Code, Outcome};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response {
    /// The HTTP status; 0 when no answer came (timeout, connection error).
    pub status: u16,
    pub headers: BTreeMap<String, Value>,
    pub body: Option<String>,
    /// Why no answer came, when `status` is 0.
    pub error: Option<String>,
}

impl Response {
    pub fn new(status: u16, body: &str) -> Response {
        Response { status, body: Some(body.to_string()), ..Response::default() }
    }

    /// From the host's `{status, headers, body, error}`, leniently: a non-string body is taken as its JSON text.
    pub fn from_value(value: &Value) -> Result<Response, String> {
        let object = value.as_object().ok_or("a response must be an object {status, headers, body}")?;
        let status = match object.get("status") {
            Some(Value::Number(n)) => {
                n.as_u64().filter(|s| *s <= 999).ok_or("`status` must be an HTTP status code")? as u16
            }
            None | Some(Value::Null) => 0,
            Some(_) => return Err("`status` must be a number".into()),
        };
        let headers = match object.get("headers") {
            Some(Value::Object(h)) => h.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => BTreeMap::new(),
        };
        let body = match object.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        let error = object.get("error").and_then(Value::as_str).map(|s| s.chars().take(200).collect());
        Ok(Response { status, headers, body, error })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(self.body.as_deref()?).ok()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// Zendesk's own words about a failure, from any of its error shapes, bounded in length.
    pub fn reason(&self) -> String {
        let text = match self.json() {
            Some(json) => describe_error(&json),
            None => self.body.as_deref().unwrap_or("").trim().to_string(),
        };
        let mut reason: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
        if reason.is_empty() {
            reason = "no details given".into();
        }
        reason
    }

    /// The outcome for an answer that the flow did not expect: classified by status.
    /// `doing` says what was attempted ("creating the user").
    pub fn failure(&self, doing: &str) -> Outcome {
        let status = self.status;
        match status {
            0 => Outcome::new(
                Code::ZendeskUnavailable,
                format!("no answer from Zendesk while {doing}: {}", self.error.as_deref().unwrap_or("network error")),
            )
            .retryable(true),
            401 | 403 => Outcome::new(
                Code::Unauthorized,
                format!("Zendesk refused access ({status}) while {doing}: {}", self.reason()),
            ),
            429 => {
                let after = self
                    .header("retry-after")
                    .map(|s| format!(" (Retry-After: {})", s.chars().take(40).collect::<String>()))
                    .unwrap_or_default();
                Outcome::new(Code::RateLimited, format!("Zendesk rate limit reached while {doing}{after}"))
                    .retryable(true)
            }
            409 => Outcome::new(
                Code::ZendeskRejected,
                format!("Zendesk reported a conflict (409) while {doing}: {}", self.reason()),
            )
            .retryable(true),
            400..=499 => Outcome::new(
                Code::ZendeskRejected,
                format!("Zendesk rejected the request ({status}) while {doing}: {}", self.reason()),
            ),
            500..=599 => Outcome::new(
                Code::ZendeskUnavailable,
                format!("Zendesk is unavailable ({status}) while {doing}: {}", self.reason()),
            )
            .retryable(true),
            200..=299 => Outcome::new(
                Code::UnexpectedResponse,
                format!("Zendesk answered {status} while {doing} with a body this engine cannot read"),
            ),
            _ => Outcome::new(Code::UnexpectedResponse, format!("unexpected HTTP status {status} while {doing}")),
        }
    }
}

/// `{"error","description","details":{field:[{description}]}}` or Sunshine's `{"errors":[{code,title}]}`.
fn describe_error(json: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(error) = json.get("error").and_then(Value::as_str) {
        parts.push(error.to_string());
    }
    if let Some(error) = json.get("error").and_then(|e| e.get("title")).and_then(Value::as_str) {
        parts.push(error.to_string());
    }
    for key in ["description", "error_description", "message"] {
        if let Some(text) = json.get(key).and_then(Value::as_str) {
            parts.push(text.to_string());
        }
    }
    if let Some(details) = json.get("details").and_then(Value::as_object) {
        for (field, problems) in details {
            for p in problems.as_array().into_iter().flatten() {
                if let Some(text) = p.get("description").and_then(Value::as_str) {
                    parts.push(format!("{field}: {text}"));
                }
            }
        }
    }
    for e in json.get("errors").and_then(Value::as_array).into_iter().flatten() {
        let code = e.get("code").and_then(Value::as_str).unwrap_or("");
        let title = e.get("title").and_then(Value::as_str).unwrap_or("");
        parts.push(format!("{code} {title}").trim().to_string());
    }
    if parts.is_empty() {
        json.to_string()
    } else {
        parts.join("; ")
    }
}

/// Whether a 422 says a value was already taken (a racing writer created it first).
pub fn is_already_taken(response: &Response) -> bool {
    response.status == 422
        && response.body.as_deref().is_some_and(|b| b.to_ascii_lowercase().contains("already been taken"))
}
