//! Mapping rules: where each part of a Segment call lands in Zendesk. One module per call type, plus
//! the custom-field rules they share (key names, type inference, value conversion).

pub mod group;
pub mod identify;
pub mod timezone;
pub mod track;

use serde_json::{Map, Value};

use crate::outcome::MappingEntry;

/// A value bound for a custom field (`user_fields` / `organization_fields`).
#[derive(Clone, Debug, PartialEq)]
pub struct CustomValue {
    /// Where it came from, e.g. `traits.favoriteColor`.
    pub from: String,
    pub key: String,
    /// The title a new field gets when it is not made from a trait's name (`userId`: "User ID").
    pub fixed_title: Option<&'static str>,
    pub value: Value,
}

impl CustomValue {
    /// The title a new field gets, e.g. "Favorite Color" for `traits.favoriteColor`: made only when a
    /// field is created, not for every value.
    pub fn title(&self) -> String {
        match self.fixed_title {
            Some(title) => title.to_string(),
            None => field_title(self.from.strip_prefix("traits.").unwrap_or(&self.from)),
        }
    }
}

/// What a mapping decided beside the payload: warnings for the outcome, and where each field went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub warnings: Vec<String>,
    pub mapping: Vec<MappingEntry>,
}

impl Report {
    pub fn landed(&mut self, from: &str, to: &str) {
        self.mapping.push(MappingEntry { from: from.to_string(), to: Some(to.to_string()), note: None });
    }

    pub fn landed_with_note(&mut self, from: &str, to: &str, note: impl Into<String>) {
        self.mapping.push(MappingEntry { from: from.to_string(), to: Some(to.to_string()), note: Some(note.into()) });
    }

    /// Dropped on purpose, with a warning saying why.
    pub fn dropped(&mut self, from: &str, why: impl Into<String>) {
        let why = why.into();
        self.warnings.push(format!("`{from}` was not sent: {why}"));
        self.mapping.push(MappingEntry { from: from.to_string(), to: None, note: Some(why) });
    }

    /// Not sent, and nothing lost (a null for a field that does not exist): noted, no warning.
    pub fn ignored(&mut self, from: &str, why: impl Into<String>) {
        self.mapping.push(MappingEntry { from: from.to_string(), to: None, note: Some(why.into()) });
    }

    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// A trait whose name makes a field key.
pub struct KeyedTrait<'a> {
    /// Where it came from, e.g. `traits.favoriteColor`.
    pub from: String,
    pub key: String,
    pub value: &'a Value,
}

/// The traits, each with its snake_case key; those whose names cannot become a key are dropped here.
pub fn keyed_traits<'a>(traits: &'a Map<String, Value>, report: &mut Report) -> Vec<KeyedTrait<'a>> {
    let mut keyed = Vec::new();
    for (name, value) in traits {
        let from = ["traits.", name.as_str()].concat(); // per trait: concat, not the slower fmt machinery
        match field_key(name) {
            Ok(key) => keyed.push(KeyedTrait { from, key, value }),
            Err(why) => report.dropped(&from, why),
        }
    }
    keyed
}

/// Queues a trait for its custom field, unless the value cannot be stored in one or an earlier trait
/// already fills that key.
pub fn push_custom(custom: &mut Vec<CustomValue>, t: KeyedTrait, report: &mut Report) {
    if matches!(t.value, Value::Object(_) | Value::Array(_)) {
        report.dropped(&t.from, "objects and arrays cannot be stored in a Zendesk custom field");
    } else if let Some(previous) = custom.iter().find(|c| c.key == t.key) {
        report.dropped(&t.from, format!("`{}` already fills the field `{}`", previous.from, t.key));
    } else {
        custom.push(CustomValue { fixed_title: None, from: t.from, key: t.key, value: t.value.clone() });
    }
}

/// Zendesk's custom field types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Textarea,
    Checkbox,
    Date,
    Integer,
    Decimal,
    Regexp,
    Dropdown,
    Lookup,
    Multiselect,
    /// A type this engine does not know: values pass as they are.
    Other(String),
}

impl FieldType {
    pub fn parse(name: &str) -> FieldType {
        match name {
            "text" => FieldType::Text,
            "textarea" => FieldType::Textarea,
            "checkbox" => FieldType::Checkbox,
            "date" => FieldType::Date,
            "integer" => FieldType::Integer,
            "decimal" => FieldType::Decimal,
            "regexp" => FieldType::Regexp,
            "dropdown" | "tagger" => FieldType::Dropdown,
            "lookup" => FieldType::Lookup,
            "multiselect" => FieldType::Multiselect,
            other => FieldType::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Checkbox => "checkbox",
            FieldType::Date => "date",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Regexp => "regexp",
            FieldType::Dropdown => "dropdown",
            FieldType::Lookup => "lookup",
            FieldType::Multiselect => "multiselect",
            FieldType::Other(name) => name,
        }
    }
}

/// A trait name as a Zendesk field key: snake_case (camelCase, acronyms and separators split into
/// words, as the heck crate does; tests check it against heck), which leaves only ASCII letters, digits
/// and single underscores. Refused when that cannot be faithful: characters outside ASCII, nothing
/// left, or only digits.
pub fn field_key(name: &str) -> Result<String, String> {
    if !name.is_ascii() {
        return Err("its name has characters outside ASCII, which Zendesk field keys cannot hold".into());
    }
    let key = join_words(name, '_', false);
    if key.is_empty() {
        Err("its name has no letters or digits to make a Zendesk field key".into())
    } else if key.bytes().all(|b| b.is_ascii_digit()) {
        Err("its name is only digits, which Zendesk field keys cannot be".into())
    } else {
        Ok(key)
    }
}

/// The title a new field gets: the words of the trait name, capitalized ("favoriteColor" → "Favorite Color").
pub fn field_title(name: &str) -> String {
    let mut title = join_words(name, ' ', true);
    title.truncate(120); // ASCII: words are made of ASCII letters and digits
    title
}

/// The words of `name` joined by `separator`, each in lowercase, or with its first letter in
/// uppercase when `capitalized`: a field's key and its title.
fn join_words(name: &str, separator: char, capitalized: bool) -> String {
    let mut joined = String::with_capacity(name.len() + 4);
    words(name, |word| {
        if !joined.is_empty() {
            joined.push(separator);
        }
        for (i, b) in word.bytes().enumerate() {
            let upper = capitalized && i == 0;
            joined.push(char::from(if upper { b.to_ascii_uppercase() } else { b.to_ascii_lowercase() }));
        }
    });
    joined
}

/// The words of an ASCII name, split where heck splits them: at anything not a letter or digit,
/// between a lowercase letter and an uppercase one (digits carry the case before them), and before
/// the last capital of an acronym that starts a word ("HTTPStatus" → "HTTP", "Status"). Each word is
/// handed to `each` in order (no list is built: this runs for every trait of every event).
fn words<'a>(name: &'a str, mut each: impl FnMut(&'a str)) {
    #[derive(PartialEq, Clone, Copy)]
    enum Case {
        Boundary,
        Lower,
        Upper,
    }
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let bytes = part.as_bytes();
        let (mut start, mut case) = (0, Case::Boundary);
        for i in 0..bytes.len() {
            let (c, next) = (bytes[i], bytes.get(i + 1));
            let Some(&next) = next else {
                each(&part[start..]);
                break;
            };
            let next_case = if c.is_ascii_lowercase() {
                Case::Lower
            } else if c.is_ascii_uppercase() {
                Case::Upper
            } else {
                case
            };
            if next_case == Case::Lower && next.is_ascii_uppercase() {
                each(&part[start..=i]);
                (start, case) = (i + 1, Case::Boundary);
            } else if case == Case::Upper && c.is_ascii_uppercase() && next.is_ascii_lowercase() {
                each(&part[start..i]);
                (start, case) = (i, Case::Boundary);
            } else {
                case = next_case;
            }
        }
    }
}

/// The type a new field gets from its first value; None for values that cannot make a field.
pub fn infer_type(value: &Value) -> Option<FieldType> {
    match value {
        Value::Bool(_) => Some(FieldType::Checkbox),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(FieldType::Integer),
        Value::Number(_) => Some(FieldType::Decimal),
        Value::String(s) if is_date(s) => Some(FieldType::Date),
        Value::String(_) => Some(FieldType::Text),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A value in the form a field of type `ty` takes: converted only when nothing is lost.
pub fn convert(value: &Value, ty: &FieldType) -> Result<Value, String> {
    let fail = || {
        Err(format!("{} does not fit the {} field and cannot be converted without loss", describe(value), ty.as_str()))
    };
    if value.is_null() {
        return Ok(Value::Null); // clears the field
    }
    match ty {
        FieldType::Checkbox => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Value::Bool(false)),
            _ => fail(),
        },
        FieldType::Integer | FieldType::Lookup => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => Ok(Value::from(f as i64)),
                _ => fail(),
            },
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) if i.to_string() == s.trim() => Ok(Value::from(i)),
                _ => fail(),
            },
            _ => fail(),
        },
        FieldType::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            // serde_json's number parser, not core's: one float parser in the module, not two.
            Value::String(s) => match serde_json::from_str::<Value>(s.trim()) {
                Ok(Value::Number(n)) => Ok(Value::Number(n)),
                _ => fail(),
            },
            _ => fail(),
        },
        FieldType::Date => match value {
            Value::String(s) if is_date(s) => Ok(value.clone()),
            // A date-time at midnight UTC is a date; any other time would be lost.
            Value::String(s) => match crate::event::normalize_timestamp(s) {
                Some(utc) if utc[10..].trim_start_matches("T00:00:00").trim_start_matches(".000") == "Z" => {
                    Ok(Value::String(utc[..10].to_string()))
                }
                _ => fail(),
            },
            _ => fail(),
        },
        FieldType::Multiselect => match value {
            Value::String(_) => Ok(Value::Array(vec![value.clone()])),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(value.clone()),
            _ => fail(),
        },
        FieldType::Text | FieldType::Textarea | FieldType::Regexp | FieldType::Dropdown => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(crate::json::number_text(n))),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => fail(),
        },
        FieldType::Other(_) => match value {
            Value::Array(_) | Value::Object(_) => fail(),
            _ => Ok(value.clone()),
        },
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && crate::event::normalize_timestamp(&[s, "T00:00:00Z"].concat()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_snake_case_and_sanitized() {
        for (name, key) in [
            ("favoriteColor", "favorite_color"),
            ("total billed", "total_billed"),
            ("isBeta", "is_beta"),
            ("Plan (2026)", "plan_2026"),
            ("__weird--name__", "weird_name"),
            ("a.b/c", "a_b_c"),
            ("HTTPStatus", "http_status"),
            ("plan", "plan"),
            ("2fa", "2fa"),
        ] {
            assert_eq!(field_key(name).as_deref(), Ok(key), "{name}");
        }
        for bad in ["", "   ", "!!!", "12345", "größe", "名前", "plan—2026"] {
            assert!(field_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_are_capitalized_words() {
        assert_eq!(field_title("favoriteColor"), "Favorite Color");
        assert_eq!(field_title("total billed"), "Total Billed");
        assert_eq!(field_title("HTTPStatus"), "Http Status");
    }

    #[test]
    fn types_are_inferred_from_values() {
        assert_eq!(infer_type(&json!(true)), Some(FieldType::Checkbox));
        assert_eq!(infer_type(&json!(5)), Some(FieldType::Integer));
        assert_eq!(infer_type(&json!(3930.0)), Some(FieldType::Decimal));
        assert_eq!(infer_type(&json!("2026-01-31")), Some(FieldType::Date));
        assert_eq!(infer_type(&json!("2026-01-31T10:00:00Z")), Some(FieldType::Text));
        assert_eq!(infer_type(&json!("premium")), Some(FieldType::Text));
        assert_eq!(infer_type(&json!(null)), None);
        assert_eq!(infer_type(&json!([1])), None);
        assert_eq!(infer_type(&json!({"a": 1})), None);
    }

    #[test]
    fn conversions_are_lossless_or_refused() {
        use FieldType::*;
        assert_eq!(convert(&json!("42"), &Integer), Ok(json!(42)));
        assert_eq!(convert(&json!(42.0), &Integer), Ok(json!(42)));
        assert!(convert(&json!(42.5), &Integer).is_err());
        assert!(convert(&json!("042"), &Integer).is_err());
        assert_eq!(convert(&json!("2.50"), &Decimal), Ok(json!(2.5)));
        assert_eq!(convert(&json!("TRUE"), &Checkbox), Ok(json!(true)));
        assert!(convert(&json!("yes"), &Checkbox).is_err());
        assert_eq!(convert(&json!(7), &Text), Ok(json!("7")));
        assert_eq!(convert(&json!(false), &Text), Ok(json!("false")));
        assert_eq!(convert(&json!("2026-03-01T00:00:00.000Z"), &Date), Ok(json!("2026-03-01")));
        assert!(convert(&json!("2026-03-01T10:00:00Z"), &Date).is_err());
        assert_eq!(convert(&json!("a"), &Multiselect), Ok(json!(["a"])));
        assert!(convert(&json!({"x": 1}), &Text).is_err());
        assert_eq!(convert(&json!(null), &Integer), Ok(json!(null)));
    }
}
