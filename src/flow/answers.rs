//! The few parts of Zendesk's answers that the flows read: only these members are kept and the rest of
//! the body is skimmed, not built (a user is ~40 attributes, a search returns whole users). When an
//! answer does not have the expected shape, the caller reads it as a `serde_json::Value` instead, which
//! finds what is wrong and says so exactly as before; this reading only ever takes answers that one
//! would have accepted, with the same result (tested in zendesk.rs).

use serde::de::{self, MapAccess, Visitor};
use std::fmt;

use crate::response::Response;
use crate::skim::{self, refuse, Any, List, OptionalBool, OptionalText, Unsigned};

/// The members read from any answer; each endpoint's answer has the one it needs.
#[derive(Default)]
pub(super) struct Answer {
    /// A user search: `{"users": [{id, email, active}]}`.
    pub users: Option<Vec<UserRow>>,
    /// An organization search: `{"organizations": [{id}]}`.
    pub organizations: Option<Vec<u64>>,
    /// A write: `{"user": {id}}` or `{"organization": {id}}`.
    user: Option<u64>,
    organization: Option<u64>,
    /// A catalog page: `{"user_fields" | "organization_fields": [field], "next_page": url | null}`.
    pub user_fields: Option<Vec<FieldRow>>,
    pub organization_fields: Option<Vec<FieldRow>>,
    pub next_page: Option<Option<String>>,
}

/// A custom field as a catalog lists it: `key`, `type`, `active`, `custom_field_options[].value`.
pub(super) struct FieldRow {
    pub key: String,
    pub kind: Option<String>,
    pub active: Option<bool>,
    /// The options' values (those without a string value left out), or None without a list.
    pub options: Option<Vec<String>>,
}

pub(super) struct UserRow {
    pub id: u64,
    pub email: Option<String>,
    pub active: Option<bool>,
}

impl Answer {
    /// The id a write answer carries under `wrapper` (`user`, `organization`).
    pub fn written_id(&self, wrapper: &str) -> Option<u64> {
        match wrapper {
            "user" => self.user,
            "organization" => self.organization,
            _ => None,
        }
    }
}

/// A 2xx answer whose body is a JSON object whose known members have the expected types; `None` for
/// anything else.
pub(super) fn typed(response: &Response) -> Option<Answer> {
    let body = response.body.as_deref()?;
    if !response.is_success() || !body.trim_start().starts_with('{') {
        return None;
    }
    skim::read(body, AnswerVisitor)
}

/// Each known member at most once (the `Value` reading keeps the last of duplicates: it decides those).
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(skim::REFUSED));
    }
    Ok(())
}

struct AnswerVisitor;

impl<'de> Visitor<'de> for AnswerVisitor {
    type Value = Answer;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an answer object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut answer = Answer::default();
        while let Some(key) = skim::next_key(&mut map)? {
            match key.as_str() {
                "users" => once(&mut answer.users, map.next_value_seed(Any(List(UserVisitor)))?)?,
                "organizations" => once(&mut answer.organizations, map.next_value_seed(Any(List(IdVisitor)))?)?,
                "user" => once(&mut answer.user, map.next_value_seed(Any(IdVisitor))?)?,
                "organization" => once(&mut answer.organization, map.next_value_seed(Any(IdVisitor))?)?,
                "user_fields" => once(&mut answer.user_fields, map.next_value_seed(Any(List(FieldVisitor)))?)?,
                "organization_fields" => {
                    once(&mut answer.organization_fields, map.next_value_seed(Any(List(FieldVisitor)))?)?
                }
                "next_page" => once(&mut answer.next_page, map.next_value_seed(Any(OptionalText))?)?,
                _ => skim::skip(&mut map)?,
            }
        }
        Ok(answer)
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

/// `{"id": n, …}` → n.
#[derive(Clone)]
struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with an id")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut id = None;
        while let Some(key) = skim::next_key(&mut map)? {
            match key.as_str() {
                "id" => once(&mut id, map.next_value_seed(Any(Unsigned))?)?,
                _ => skim::skip(&mut map)?,
            }
        }
        id.ok_or_else(|| de::Error::custom(skim::REFUSED))
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

#[derive(Clone)]
struct UserVisitor;

impl<'de> Visitor<'de> for UserVisitor {
    type Value = UserRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a user")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UserRow, A::Error> {
        let (mut id, mut email, mut active) = (None, None, None);
        while let Some(key) = skim::next_key(&mut map)? {
            match key.as_str() {
                "id" => once(&mut id, map.next_value_seed(Any(Unsigned))?)?,
                "email" => once(&mut email, map.next_value_seed(Any(OptionalText))?)?,
                "active" => once(&mut active, map.next_value_seed(Any(OptionalBool))?)?,
                _ => skim::skip(&mut map)?,
            }
        }
        let id = id.ok_or_else(|| de::Error::custom(skim::REFUSED))?;
        Ok(UserRow { id, email: email.flatten(), active: active.flatten() })
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

#[derive(Clone)]
struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = FieldRow;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a custom field")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldRow, A::Error> {
        let (mut key, mut kind, mut active, mut options) = (None, None, None, None);
        while let Some(name) = skim::next_key(&mut map)? {
            match name.as_str() {
                "key" => once(&mut key, map.next_value_seed(Any(OptionalText))?)?,
                "type" => once(&mut kind, map.next_value_seed(Any(OptionalText))?)?,
                "active" => once(&mut active, map.next_value_seed(Any(OptionalBool))?)?,
                "custom_field_options" => once(&mut options, map.next_value_seed(Any(OptionValues))?)?,
                _ => skim::skip(&mut map)?,
            }
        }
        let key = key.flatten().ok_or_else(|| de::Error::custom(skim::REFUSED))?;
        Ok(FieldRow { key, kind: kind.flatten(), active: active.flatten(), options: options.flatten() })
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

/// `null`, or a list of `{value, …}` objects: their string values.
struct OptionValues;

impl<'de> Visitor<'de> for OptionValues {
    type Value = Option<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of options")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element_seed(Any(OptionValue))? {
            values.extend(value);
        }
        Ok(Some(values))
    }
    refuse!(bool, i64, u64, f64, str, map);
}

/// `{"value": "…", …}` → its value (None when it has none).
struct OptionValue;

impl<'de> Visitor<'de> for OptionValue {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an option")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut value = None;
        while let Some(name) = skim::next_key(&mut map)? {
            match name.as_str() {
                "value" => once(&mut value, map.next_value_seed(Any(OptionalText))?)?,
                _ => skim::skip(&mut map)?,
            }
        }
        Ok(value.flatten())
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}
