//! The event model: a Segment-spec call, read from any JSON value without trusting its shape.

use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

use crate::outcome::{Code, Outcome};
use crate::skim::{self, refuse, Any};

#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Identify { traits: Map<String, Value> },
    Track { event: String, properties: Map<String, Value> },
    Group { group_id: String, traits: Map<String, Value> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub call: Call,
    pub user_id: Option<String>,
    pub timestamp: Option<String>,
}

/// Segment call types this destination knowingly does not handle.
const OTHER_TYPES: &[&str] = &["page", "screen", "alias"];

fn invalid(message: impl Into<String>) -> Outcome {
    Outcome::new(Code::InvalidEvent, message)
}

impl Event {
    /// Reads an event, or ends it early: invalid shape, skipped type, routed away by `integrations`.
    pub fn parse(value: &Value) -> Result<Event, Outcome> {
        let Some(map) = value.as_object() else {
            return Err(invalid("an event must be a JSON object"));
        };
        Event::from_members(map.clone())
    }

    /// As [`Event::parse`], from JSON text, reading only the members the rules use: the rest of the
    /// event (context, page, device, … often most of it) is skimmed, not built. `None` when the text is
    /// not a plain JSON object with distinct members: then parsing it whole decides, and says what is
    /// wrong exactly as before.
    pub fn read(text: &str) -> Option<Result<Event, Outcome>> {
        // Skimmed members are not depth-checked by serde_json; the whole-value reading refuses them.
        if !text.trim_start().starts_with('{') || !crate::json::within_depth(text) {
            return None;
        }
        let map = crate::skim::read(text, EventMembers)?;
        Some(Event::from_members(map))
    }

    fn from_members(mut map: Map<String, Value>) -> Result<Event, Outcome> {
        let map = &mut map;
        let kind = match map.remove("type") {
            Some(Value::String(t)) => t,
            Some(_) => return Err(invalid("`type` must be a string")),
            None => return Err(invalid("the event has no `type`")),
        };
        let kind = kind.as_str();
        if !matches!(kind, "identify" | "track" | "group") {
            return Err(if OTHER_TYPES.contains(&kind) {
                Outcome::new(Code::UnsupportedType, format!("{kind} calls are not sent to Zendesk"))
            } else {
                invalid(format!("unknown event type `{}`", kind.chars().take(40).collect::<String>()))
            });
        }
        check_integrations(map)?;

        let user_id = identifier(map, "userId")?;
        let timestamp = match map.get("timestamp") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("`timestamp` must be an ISO-8601 string")),
        };
        let call = match kind {
            "identify" => Call::Identify { traits: identify_traits(map)? },
            "track" => {
                let event = match map.get("event") {
                    Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
                    Some(Value::String(_)) | None | Some(Value::Null) => {
                        return Err(invalid("a track call needs an `event` name"))
                    }
                    Some(_) => return Err(invalid("`event` must be a string")),
                };
                Call::Track { event, properties: object(map, "properties")?.unwrap_or_default() }
            }
            _ => {
                let Some(group_id) = identifier(map, "groupId")? else {
                    return Err(invalid("a group call needs a `groupId`"));
                };
                Call::Group { group_id, traits: object(map, "traits")?.unwrap_or_default() }
            }
        };
        Ok(Event { call, user_id, timestamp })
    }
}

/// The members of an event that the rules read, as values; every other member is skimmed.
struct EventMembers;

const MEMBERS: &[&str] = &["type", "userId", "timestamp", "event", "groupId", "traits", "properties", "integrations"];

impl<'de> Visitor<'de> for EventMembers {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = skim::next_key(&mut map)? {
            let value = if MEMBERS.contains(&key.as_str()) {
                map.next_value::<Value>()?
            } else if key.as_str() == "context" {
                // Only `context.traits` is read (identify's fallback for `traits`).
                map.next_value_seed(Any(ContextTraits))?
            } else {
                skim::skip(&mut map)?;
                continue;
            };
            // Duplicates are left to the whole reading (which keeps the last).
            if members.insert(key.as_str().to_string(), value).is_some() {
                return Err(de::Error::custom(skim::REFUSED));
            }
        }
        Ok(members)
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

/// `context` as an object holding only its `traits`.
struct ContextTraits;

impl<'de> Visitor<'de> for ContextTraits {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a context object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut context = Map::new();
        while let Some(key) = skim::next_key(&mut map)? {
            if key.as_str() != "traits" {
                skim::skip(&mut map)?;
            } else if context.insert("traits".to_string(), map.next_value::<Value>()?).is_some() {
                return Err(de::Error::custom(skim::REFUSED));
            }
        }
        Ok(Value::Object(context))
    }
    refuse!(unit, bool, i64, u64, f64, str, seq);
}

/// identify traits come from `traits`, falling back to `context.traits`.
fn identify_traits(map: &mut Map<String, Value>) -> Result<Map<String, Value>, Outcome> {
    if let Some(traits) = object(map, "traits")? {
        return Ok(traits);
    }
    match object(map, "context")? {
        Some(mut context) => Ok(object(&mut context, "traits")?.unwrap_or_default()),
        None => Ok(Map::new()),
    }
}

/// Takes an object member out of the event (moved, not copied).
fn object(map: &mut Map<String, Value>, key: &str) -> Result<Option<Map<String, Value>>, Outcome> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(invalid(format!("`{key}` must be an object"))),
    }
}

/// An id given as a string or a number; empty means absent.
fn identifier(map: &Map<String, Value>, key: &str) -> Result<Option<String>, Outcome> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(crate::json::number_text(n))),
        Some(_) => Err(invalid(format!("`{key}` must be a string or an integer"))),
    }
}

/// `integrations.Zendesk` false disables; `All: false` disables unless Zendesk is true or an object.
fn check_integrations(map: &Map<String, Value>) -> Result<(), Outcome> {
    let integrations = match map.get("integrations") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(invalid("`integrations` must be an object")),
    };
    let enabled = match integrations.get("Zendesk") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(_)) => true,
        _ => !matches!(integrations.get("All"), Some(Value::Bool(false))),
    };
    if enabled {
        Ok(())
    } else {
        Err(Outcome::new(Code::DisabledByIntegrations, "the event's `integrations` routes it away from Zendesk"))
    }
}

/// ISO-8601 date-time → `YYYY-MM-DDTHH:MM:SS[.fff]Z` in UTC, or None when it is not one.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = None;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let fraction = std::str::from_utf8(&b[start..i]).ok()?;
        let padded: String = fraction.chars().chain("000".chars()).take(3).collect();
        millis = Some(padded.parse::<i64>().ok()?);
    }
    let offset_minutes = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits_of(&[*h1, *h2])?, digits_of(&[*m1, *m2])?),
                [h1, h2] => (digits_of(&[*h1, *h2])?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_minutes * 60;
    Some(format_utc(seconds, millis))
}

fn digits_of(bytes: &[u8]) -> Option<i64> {
    if bytes.iter().all(u8::is_ascii_digit) {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    } else {
        None
    }
}

/// Milliseconds since the epoch → `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn format_epoch_millis(ms: f64) -> String {
    let ms = if ms.is_finite() { ms.clamp(0.0, 253_402_300_799_000.0) as i64 } else { 0 };
    format_utc(ms.div_euclid(1000), Some(ms.rem_euclid(1000)))
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z`, digits written directly (this runs for every track and every
/// `unchanged` outcome; `format!` with padding was a twentieth of a steady identify).
fn format_utc(seconds: i64, millis: Option<i64>) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    let parts = [(y, 4, '-'), (m, 2, '-'), (d, 2, 'T'), (rest / 3600, 2, ':'), (rest % 3600 / 60, 2, ':')];
    for (value, width, separator) in parts {
        push_padded(&mut out, value, width);
        out.push(separator);
    }
    push_padded(&mut out, rest % 60, 2);
    if let Some(ms) = millis {
        out.push('.');
        push_padded(&mut out, ms, 3);
    }
    out.push('Z');
    out
}

/// `n` zero-padded to `width` characters with a leading `-` counted in them (as `{n:0width$}`).
fn push_padded(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    crate::json::push_decimal(out, n.unsigned_abs(), width.saturating_sub(usize::from(n < 0)));
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil algorithm (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    /// The digits written directly are `format!`'s, for any instant (negative years included).
    #[test]
    fn utc_text_is_the_padded_format() {
        let expected = |seconds: i64, millis: Option<i64>| {
            let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
            let (y, m, d) = super::civil_from_days(days);
            let fraction = millis.map(|ms| format!(".{ms:03}")).unwrap_or_default();
            format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z", rest / 3600, rest % 3600 / 60, rest % 60)
        };
        let mut x: i64 = 0x2545_f491;
        for i in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let seconds = (x >> 8) % 400_000_000_000; // ±12,000 years around 1970
            let millis = if i % 3 == 0 { None } else { Some((x & 0x3ff) % 1000) };
            assert_eq!(super::format_utc(seconds, millis), expected(seconds, millis), "{seconds} {millis:?}");
        }
        for seconds in [0, -1, -62_167_219_200, -62_167_219_201, 253_402_300_799, 253_402_300_800] {
            assert_eq!(super::format_utc(seconds, Some(7)), expected(seconds, Some(7)));
        }
    }

    use super::*;

    #[test]
    fn timestamps_normalize_to_utc() {
        assert_eq!(normalize_timestamp("2026-11-22T09:10:54.985Z").as_deref(), Some("2026-11-22T09:10:54.985Z"));
        assert_eq!(normalize_timestamp("2026-01-31T00:44:07Z").as_deref(), Some("2026-01-31T00:44:07Z"));
        assert_eq!(normalize_timestamp("2026-01-01T01:30:00+02:00").as_deref(), Some("2025-12-31T23:30:00Z"));
        assert_eq!(normalize_timestamp("2024-02-29T12:00:00.5-0130").as_deref(), Some("2024-02-29T13:30:00.500Z"));
        for bad in
            ["", "2026-02-30T00:00:00Z", "2026-11-22", "2026-11-22T09:10:54", "yesterday", "2026-11-22T25:00:00Z"]
        {
            assert_eq!(normalize_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_millis_format() {
        assert_eq!(format_epoch_millis(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_epoch_millis(1_764_441_000_123.0), "2025-11-29T18:30:00.123Z");
        assert_eq!(format_epoch_millis(f64::NAN), "1970-01-01T00:00:00.000Z");
    }
}
