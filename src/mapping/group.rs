//! group → a Zendesk organization. The seed's table, trait by trait:
//!
//! | Segment            | Zendesk                                         |
//! |--------------------|-------------------------------------------------|
//! | `groupId` (event)  | `external_id` (the match key)                   |
//! | `name`             | `name` (required on create: `groupId` if absent) |
//! | `domainNames`      | `domain_names`                                  |
//! | `tags`             | `tags`                                          |
//! | `url`              | `organization_fields.url` (Zendesk's `url` is its read-only API link) |
//! | `deleted`          | `organization_fields.deleted` (Zendesk has no such attribute) |
//! | anything else      | `organization_fields.<snake_case key>`          |

use serde_json::{Map, Value};

use super::{keyed_traits, push_custom, CustomValue, Report};

/// Trait (by its snake_case key) → the standard organization attribute it fills.
const STANDARD_ATTRIBUTES: &[(&str, &str)] = &[("name", "name"), ("domain_names", "domain_names"), ("tags", "tags")];

#[derive(Clone, Debug, PartialEq)]
pub struct OrganizationPlan {
    pub external_id: String,
    /// `external_id`, and `name`, `domain_names`, `tags` when given.
    pub attributes: Map<String, Value>,
    pub custom: Vec<CustomValue>,
    pub report: Report,
}

pub fn organization_plan(group_id: &str, traits: &Map<String, Value>) -> OrganizationPlan {
    let mut report = Report::default();
    let mut attributes = Map::new();
    attributes.insert("external_id".into(), Value::String(group_id.to_string()));
    report.landed("groupId", "organization.external_id");
    let mut custom: Vec<CustomValue> = Vec::new();

    for t in keyed_traits(traits, &mut report) {
        let Some((_, attribute)) = STANDARD_ATTRIBUTES.iter().find(|(k, _)| *k == t.key) else {
            push_custom(&mut custom, t, &mut report);
            continue;
        };
        if t.value.is_null() {
            report.ignored(&t.from, "null: left as it is in Zendesk");
            continue;
        }
        match standard_value(attribute, t.value) {
            Ok(converted) => {
                report.landed(&t.from, &["organization.", attribute].concat());
                attributes.insert(attribute.to_string(), converted);
            }
            Err(why) => report.dropped(&t.from, why),
        }
    }
    OrganizationPlan { external_id: group_id.to_string(), attributes, custom, report }
}

fn standard_value(attribute: &str, value: &Value) -> Result<Value, String> {
    match (attribute, value) {
        ("name", Value::String(s)) if s.contains('|') => Err("Zendesk organization names cannot contain `|`".into()),
        ("name", Value::String(s)) if !s.trim().is_empty() => Ok(Value::String(s.trim().to_string())),
        ("name", _) => Err("the name must be a non-empty string".into()),
        (_, Value::String(s)) => Ok(Value::Array(split_list(s))),
        (_, Value::Array(items)) => {
            let mut list = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => list.push(Value::String(s.trim().to_string())),
                    _ => return Err("every entry must be a non-empty string".into()),
                }
            }
            Ok(Value::Array(list))
        }
        _ => Err("it must be a list of strings".into()),
    }
}

/// "a.com, b.com" or "a.com b.com" → ["a.com", "b.com"].
fn split_list(s: &str) -> Vec<Value> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| Value::String(p.to_string()))
        .collect()
}
