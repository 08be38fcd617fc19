//! track → a Sunshine event on an existing Zendesk user.
//!
//! | Segment                 | Zendesk                                          |
//! |-------------------------|--------------------------------------------------|
//! | `event`                 | `event.type` (only names listed in `events`)     |
//! | `properties`            | `event.properties`                               |
//! | `timestamp`             | `event.created_at` (the host's `now` without one) |
//! | `properties.email`      | the user, matched by email                       |
//! | `userId` (no email)     | the user, matched by `external_id`               |
//! | settings `sourceName`   | `event.source` and `profile.source` (default `segment`) |
//! | (fixed)                 | `profile.type` = `user`                          |

use serde_json::{Map, Value};

use super::Report;
use crate::event::{format_epoch_millis, normalize_timestamp};
use crate::json_writer::{Object, WriteJson};
use crate::outcome::{Code, Outcome};

/// The Sunshine profile type of every event this destination records.
pub const PROFILE_TYPE: &str = "user";

/// Sunshine refuses identifier values longer than this (Segment's documentation).
pub const MAX_IDENTIFIER_CHARS: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifierKind {
    Email,
    ExternalId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identifier {
    pub kind: IdentifierKind,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrackPlan {
    pub identifier: Identifier,
    /// The body of `POST /users/{id}/events`, as JSON text.
    pub body: String,
    pub report: Report,
}

pub fn track_plan(
    name: &str,
    properties: &Map<String, Value>,
    user_id: &str,
    timestamp: Option<&str>,
    source: &str,
    now_ms: f64,
) -> Result<TrackPlan, Outcome> {
    let mut report = Report::default();
    let email = properties.get("email").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let identifier = match email {
        Some(email) => {
            report.landed("properties.email", "user (matched by email)");
            Identifier { kind: IdentifierKind::Email, value: email.to_string() }
        }
        None => {
            report.landed("userId", "user (matched by external_id)");
            Identifier { kind: IdentifierKind::ExternalId, value: user_id.to_string() }
        }
    };
    let length = identifier.value.chars().count();
    if length > MAX_IDENTIFIER_CHARS {
        return Err(Outcome::new(
            Code::IdentifierTooLong,
            format!("the user identifier is {length} characters long; Zendesk's events API refuses identifiers over {MAX_IDENTIFIER_CHARS}"),
        ));
    }
    let created_at = match timestamp {
        Some(text) => {
            let Some(utc) = normalize_timestamp(text) else {
                return Err(Outcome::new(Code::InvalidEvent, "`timestamp` is not an ISO-8601 date-time"));
            };
            report.landed("timestamp", "event.created_at");
            utc
        }
        None => format_epoch_millis(now_ms),
    };
    report.landed("event", "event.type");
    report.landed("properties", "event.properties");
    // The profile ties the event to the user in the path. Its type is fixed: every distinct profile
    // type counts against the account's budget of 2,500, so the event name must not be one.
    let identifier_type = match identifier.kind {
        IdentifierKind::Email => "email",
        IdentifierKind::ExternalId => "external_id",
    };
    // The body of `POST /users/{id}/events`, written from borrowed parts: the properties, often most
    // of the event, are written once and never copied. Members in key order: the text is exactly that
    // of the same body built as a `serde_json::Value` (whose maps sort their keys).
    let mut body = String::with_capacity(256);
    let mut top = Object::new(&mut body);
    let mut event = Object::new(top.member("event"));
    event.value("created_at", created_at.as_str());
    event.value("properties", properties);
    event.value("source", source);
    event.value("type", name);
    event.end();
    let mut profile = Object::new(top.member("profile"));
    profile.value("identifiers", &[IdentifierPart { kind: identifier_type, value: &identifier.value }][..]);
    profile.value("source", source);
    profile.value("type", PROFILE_TYPE);
    profile.end();
    top.end();
    Ok(TrackPlan { identifier, body, report })
}

/// One of a Sunshine profile's identifiers: `{"type": …, "value": …}`.
struct IdentifierPart<'a> {
    kind: &'a str,
    value: &'a str,
}

impl WriteJson for IdentifierPart<'_> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("type", self.kind);
        object.value("value", self.value);
        object.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The borrowed body is the text the `Value` body was: the same request, byte for byte.
    #[test]
    fn body_text_is_that_of_the_value_it_replaced() {
        let properties =
            json!({"plan": "pro", "total": 12.5, "items": [1, {"b": 2, "a": "x\"y"}], "email": "a@example.com"});
        let properties = properties.as_object().unwrap();
        let plan =
            track_plan("Order Completed", properties, "u1", Some("2026-11-22T09:10:54.985Z"), "segment", 0.0).unwrap();
        let expected = json!({
            "profile": {"source": "segment", "type": "user", "identifiers": [{"type": "email", "value": "a@example.com"}]},
            "event": {"source": "segment", "type": "Order Completed", "properties": properties, "created_at": "2026-11-22T09:10:54.985Z"}
        });
        assert_eq!(plan.body, expected.to_string());
    }
}
