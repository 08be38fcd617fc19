//! Responses the host feeds back, and how Zendesk's failures become outcomes.

use serde::de;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

use crate::outcome::{Code, Outcome};
use crate::skim::{self, refuse};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Response {
    /// The HTTP status; 0 when no answer came (timeout, connection error).
    pub status: u16,
    pub headers: BTreeMap<String, Value>,
    pub body: Option<String>,
    /// Why no answer came, when `status` is 0.
    pub error: Option<String>,
}

/// The response headers the engine reads (lowercase). Zendesk answers carry twenty or so (rate-limit
/// counters, request ids, caching…); reading all of them into a map doubled the cost of taking a
/// response in through the JavaScript surface, so it keeps only these (`read_headers`).
pub const READ_HEADERS: &[&str] = &["retry-after"];

/// From a headers object's JSON text, the [`READ_HEADERS`] (any case), everything else skimmed; `None`
/// when the text is not one JSON object (the caller then reads it whole).
pub fn read_headers(text: &str) -> Option<BTreeMap<String, Value>> {
    crate::skim::read(text, HeaderVisitor)
}

struct HeaderVisitor;

impl<'de> de::Visitor<'de> for HeaderVisitor {
    type Value = BTreeMap<String, Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a headers object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut headers = BTreeMap::new();
        while let Some(name) = skim::next_key(&mut map)? {
            if READ_HEADERS.iter().any(|read| read.eq_ignore_ascii_case(name.as_str())) {
                let value: Value = map.next_value()?;
                if headers.insert(name.as_str().to_string(), value).is_some() {
                    return Err(de::Error::custom(skim::REFUSED));
                }
            } else {
                skim::skip(&mut map)?;
            }
        }
        Ok(headers)
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
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

    /// A header's value, by name in any case. Only the [`READ_HEADERS`] are ever asked for (the
    /// JavaScript surface keeps no others).
    pub fn header(&self, name: &str) -> Option<String> {
        debug_assert!(READ_HEADERS.contains(&name), "add `{name}` to READ_HEADERS");
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_headers_read_are_kept_in_any_case() {
        let text =
            r#"{"content-type":"application/json","Retry-After":"17","x-rate-limit-remaining":"0","vary":["a","b"]}"#;
        let headers = read_headers(text).unwrap();
        assert_eq!(headers, BTreeMap::from([("Retry-After".to_string(), json!("17"))]));
        let response = Response { status: 429, headers, ..Response::default() };
        assert_eq!(response.header("retry-after").as_deref(), Some("17"));

        assert_eq!(read_headers(r#"{"RETRY-AFTER":[3,"x"]}"#).unwrap()["RETRY-AFTER"], json!([3, "x"]));
        assert_eq!(read_headers("{}").unwrap(), BTreeMap::new());
        // Two spellings of one header are both kept, as a whole reading kept them.
        assert_eq!(read_headers(r#"{"retry-after":"1","Retry-After":"2"}"#).unwrap().len(), 2);
        // A header nested past serde_json's depth limit is skimmed without recursion, not refused.
        let deep = format!(r#"{{"x":{}1{},"retry-after":"5"}}"#, "[".repeat(5000), "]".repeat(5000));
        assert_eq!(read_headers(&deep).unwrap()["retry-after"], json!("5"));
        // Anything but one object: the caller reads the text whole.
        for other in ["[]", "null", "\"x\"", "{", r#"{"a":1} x"#] {
            assert_eq!(read_headers(other), None, "{other}");
        }
    }
}
