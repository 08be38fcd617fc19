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

use serde::Serialize;
use serde_json::{Map, Value};

use super::Report;
use crate::event::{format_epoch_millis, normalize_timestamp};
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
    let body = EventBody {
        event: EventPart { created_at: &created_at, properties, source, kind: name },
        profile: Profile {
            identifiers: [IdentifierPart { kind: identifier_type, value: &identifier.value }],
            source,
            kind: PROFILE_TYPE,
        },
    };
    let body = serde_json::to_string(&body).unwrap_or_default(); // string keys only: cannot fail
    Ok(TrackPlan { identifier, body, report })
}

/// The body of `POST /users/{id}/events`, written from borrowed parts: the properties, often most of
/// the event, are serialized once and never copied. Members are declared in key order, so the text is
/// exactly that of the same body built as a `serde_json::Value` (whose maps sort their keys).
#[derive(Serialize)]
struct EventBody<'a> {
    event: EventPart<'a>,
    profile: Profile<'a>,
}

#[derive(Serialize)]
struct EventPart<'a> {
    created_at: &'a str,
    properties: &'a Map<String, Value>,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct Profile<'a> {
    identifiers: [IdentifierPart<'a>; 1],
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct IdentifierPart<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    value: &'a str,
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
