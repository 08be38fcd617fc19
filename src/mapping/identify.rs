//! identify → a Zendesk user. The seed's table, trait by trait:
//!
//! | Segment            | Zendesk                               |
//! |--------------------|---------------------------------------|
//! | `email`            | `email` (and the lookup key)          |
//! | `name`, or `firstName` + `lastName` | `name` (required)    |
//! | `organizationId`   | `organization_id` (an integer)        |
//! | `timezone`         | `time_zone` (IANA → Zendesk's names)  |
//! | `phone`            | `phone`                               |
//! | `userId` (event)   | `external_id` and `user_fields.user_id` |
//! | `role`             | never sent (Zendesk reserves it)      |
//! | setting `verified` | `verified: true` when on; omitted when off |
//! | `company` with `remove: true` | membership removal (setting) |
//! | anything else      | `user_fields.<snake_case key>`        |

use serde_json::{Map, Value};

use super::{keyed_traits, push_custom, timezone::zendesk_time_zone, CustomValue, Report};
use crate::outcome::{Code, Outcome};

/// Trait (by its snake_case key) → the standard user attribute it fills.
const STANDARD_ATTRIBUTES: &[(&str, &str)] = &[
    ("email", "email"),
    ("name", "name"),
    ("organization_id", "organization_id"),
    ("timezone", "time_zone"),
    ("time_zone", "time_zone"),
    ("phone", "phone"),
];

/// Traits that only feed `name`.
const NAME_PARTS: &[&str] = &["first_name", "last_name"];

/// The user field that carries `userId`, beside `external_id`.
pub const USER_ID_FIELD: &str = "user_id";

#[derive(Clone, Debug, PartialEq)]
pub struct UserPlan {
    /// Standard attributes of the user write (`name`, `email`, `external_id`, `verified`, …).
    pub attributes: Map<String, Value>,
    pub email: Option<String>,
    pub organization_id: Option<u64>,
    pub custom: Vec<CustomValue>,
    /// `traits.company.id` when this identify removes the user from that organization.
    pub removal: Option<String>,
    pub report: Report,
}

pub fn user_plan(
    traits: &Map<String, Value>,
    user_id: Option<&str>,
    verified: bool,
    removal_enabled: bool,
) -> Result<UserPlan, Outcome> {
    let mut report = Report::default();
    let mut attributes = Map::new();
    let name = user_name(traits).ok_or_else(|| {
        Outcome::new(
            Code::MissingName,
            "identify needs a `name` trait, or both `firstName` and `lastName`: Zendesk users must have a name",
        )
    })?;
    attributes.insert("name".into(), Value::String(name.clone()));

    let removal = if removal_enabled { removal_company(traits) } else { None };
    let mut email = None;
    let mut organization_id = None;
    let mut custom: Vec<CustomValue> = Vec::new();

    for t in keyed_traits(traits, &mut report) {
        let from = t.from.as_str();
        if let Some((_, attribute)) = STANDARD_ATTRIBUTES.iter().find(|(k, _)| *k == t.key) {
            if t.value.is_null() {
                report.ignored(from, "null: left as it is in Zendesk");
                continue;
            }
            let target = ["user.", attribute].concat();
            match (*attribute, standard_value(attribute, t.value)) {
                ("name", Ok(_)) => report.landed(from, &target),
                (_, Ok(converted)) => {
                    match *attribute {
                        "email" => email = converted.as_str().map(str::to_string),
                        "organization_id" => organization_id = converted.as_u64(),
                        _ => {}
                    }
                    if *attribute == "time_zone" && converted.as_str() != t.value.as_str() {
                        report.landed_with_note(
                            from,
                            &target,
                            format!("translated to Zendesk's name `{}`", converted.as_str().unwrap_or_default()),
                        );
                    } else {
                        report.landed(from, &target);
                    }
                    attributes.insert(attribute.to_string(), converted);
                }
                (_, Err(why)) => report.dropped(from, why),
            }
        } else if NAME_PARTS.contains(&t.key.as_str()) {
            report.landed_with_note(from, "user.name", "joined into the name");
        } else if t.key == "role" {
            report.dropped(from, "Zendesk reserves `role`; send it under another name such as `user_role` to keep it");
        } else if t.key == "company" && removal.is_some() {
            report.landed_with_note(from, "organization_membership", "removes the user from this organization");
        } else if t.key == USER_ID_FIELD {
            report.dropped(from, "the `user_id` field is filled from the event's userId");
        } else {
            push_custom(&mut custom, t, &mut report);
        }
    }

    if let Some(user_id) = user_id {
        attributes.insert("external_id".into(), Value::String(user_id.to_string()));
        report.landed("userId", "user.external_id");
        custom.push(CustomValue {
            from: "userId".into(),
            key: USER_ID_FIELD.into(),
            fixed_title: Some("User ID"),
            value: Value::String(user_id.to_string()),
        });
    }
    // "Create Users as Verified": `verified: true` on every user write when on; never sent when off.
    // On an update where `verified` is the only identity value, Zendesk sets the primary email's
    // `verified` to it (Zendesk's Users API, "Update User"), so `false` would un-verify a user someone
    // verified; a new user is unverified without it ("verified" defaults to false on create).
    if verified {
        attributes.insert("verified".into(), Value::Bool(true));
    }
    Ok(UserPlan { attributes, email, organization_id, custom, removal, report })
}

/// `name`, else `firstName` + `lastName` (or `first_name` + `last_name`) joined.
fn user_name(traits: &Map<String, Value>) -> Option<String> {
    let text = |key: &str| traits.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    if let Some(name) = text("name") {
        return Some(name.to_string());
    }
    let first = text("firstName").or_else(|| text("first_name"))?;
    let last = text("lastName").or_else(|| text("last_name"))?;
    Some(format!("{first} {last}"))
}

/// A standard attribute's value in Zendesk's form, or why it cannot be sent.
fn standard_value(attribute: &str, value: &Value) -> Result<Value, String> {
    match (attribute, value) {
        ("name", Value::String(s)) if !s.trim().is_empty() => Ok(Value::String(s.trim().to_string())),
        ("name", _) => Err("the name must be a non-empty string".into()),
        ("email", Value::String(s)) => {
            let s = s.trim();
            if s.contains('@') && !s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                Ok(Value::String(s.to_string()))
            } else {
                Err("it is not an email address".into())
            }
        }
        ("email", _) => Err("the email must be a string".into()),
        ("organization_id", Value::Number(n)) if n.is_u64() => Ok(value.clone()),
        ("organization_id", Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().map(Value::from).map_err(|_| "the organization id is too large".to_string())
        }
        ("organization_id", _) => Err("organizationId must be a Zendesk organization id (an integer)".into()),
        ("time_zone", Value::String(s)) => {
            zendesk_time_zone(s).map(|zone| Value::String(zone.to_string())).ok_or_else(|| {
                "it is not a time zone that Zendesk knows (use an IANA name such as America/Los_Angeles)".to_string()
            })
        }
        ("time_zone", _) => Err("the time zone must be a string".into()),
        ("phone", Value::String(s)) if !s.trim().is_empty() => Ok(Value::String(s.trim().to_string())),
        ("phone", Value::Number(n)) => Ok(Value::String(crate::json::number_text(n))),
        ("phone", _) => Err("the phone must be a string".into()),
        _ => Err("unsupported".into()),
    }
}

/// `traits.company.id` when `traits.company.remove` is exactly `true`.
fn removal_company(traits: &Map<String, Value>) -> Option<String> {
    let company = traits.get("company")?.as_object()?;
    if company.get("remove") != Some(&Value::Bool(true)) {
        return None;
    }
    match company.get("id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(crate::json::number_text(n)),
        _ => None,
    }
}
