//! Every JSON text the engine writes, written by hand: results for the trip to JavaScript (`JSON.parse`
//! makes plain objects of them), request bodies (from borrowed parts: nothing is copied into a `Value`
//! first) and the digests of writes. serde_json's serializer spent a sixth of a steady identify in
//! WebAssembly on its string escaping, through layers of writer calls that `opt-level = "z"` does not
//! inline; here a string is scanned once and copied in runs. The text is exactly what serde_json writes
//! for the same values (the derived `Serialize` of each type), which tests/json_writer.rs checks.

use serde_json::{Map, Value};

use crate::flow::{BatchStep, Ended, JobReport, PendingRequest, Step};
use crate::json::push_decimal;
use crate::outcome::{MappingEntry, Outcome};
use crate::request::RequestDescriptor;
use crate::settings::SettingsError;

/// A value that writes itself as JSON text.
pub trait WriteJson {
    fn write_json(&self, out: &mut String);
}

/// The JSON text of `value`.
pub fn to_json<T: WriteJson + ?Sized>(value: &T) -> String {
    let mut out = String::with_capacity(256);
    value.write_json(&mut out);
    out
}

/// A JSON string, escaped as serde_json escapes it: `"` `\` and control characters only.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Writes `{"a":…,"b":…}` member by member: `member` opens each (comma, key, colon).
pub(crate) struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    pub(crate) fn new(out: &'a mut String) -> Object<'a> {
        out.push('{');
        Object { out, first: true }
    }

    pub(crate) fn member(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    pub(crate) fn value<T: WriteJson + ?Sized>(&mut self, key: &str, value: &T) {
        let out = self.member(key);
        value.write_json(out);
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

impl WriteJson for str {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut String) {
        write_str(out, self);
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl WriteJson for usize {
    fn write_json(&self, out: &mut String) {
        push_decimal(out, *self as u64, 1);
    }
}

impl WriteJson for u32 {
    fn write_json(&self, out: &mut String) {
        push_decimal(out, u64::from(*self), 1);
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, out: &mut String) {
        match self {
            Some(value) => value.write_json(out),
            None => out.push_str("null"),
        }
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, out: &mut String) {
        out.push('[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            item.write_json(out);
        }
        out.push(']');
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut String) {
        self.as_slice().write_json(out);
    }
}

/// `{"<name>": value}`: a Zendesk write's body (`{"user": {…}}`), written from the borrowed value.
pub struct Wrapped<'a, T: ?Sized> {
    pub name: &'a str,
    pub value: &'a T,
}

impl<T: WriteJson + ?Sized> WriteJson for Wrapped<'_, T> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value(self.name, self.value);
        object.end();
    }
}

/// Any JSON value (an event's traits, a write's attributes): nesting is bounded by the readers
/// (`json::MAX_DEPTH`), so the recursion is too.
impl WriteJson for Value {
    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => b.write_json(out),
            Value::Number(n) => out.push_str(&crate::json::number_text(n)),
            Value::String(text) => write_str(out, text),
            Value::Array(items) => items.write_json(out),
            Value::Object(members) => members.write_json(out),
        }
    }
}

impl WriteJson for Map<String, Value> {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        for (key, value) in self {
            object.value(key, value);
        }
        object.end();
    }
}

impl WriteJson for MappingEntry {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("from", &self.from);
        object.value("to", &self.to);
        if let Some(note) = &self.note {
            object.value("note", note);
        }
        object.end();
    }
}

impl WriteJson for Outcome {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("status", self.status.as_str());
        object.value("code", self.code.as_str());
        object.value("message", &self.message);
        object.value("warnings", &self.warnings);
        object.value("retryable", &self.retryable);
        object.value("mapping", &self.mapping);
        object.end();
    }
}

impl WriteJson for RequestDescriptor {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("method", self.method.as_str());
        object.value("url", &self.url);
        let headers = object.member("headers");
        let mut map = Object::new(headers);
        for (name, value) in &self.headers {
            map.value(name, value);
        }
        map.end();
        object.value("body", &self.body);
        object.end();
    }
}

impl WriteJson for Step {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        match self {
            Step::Request { request } => {
                object.value("kind", "request");
                object.value("request", request);
            }
            Step::Done { outcomes } => {
                object.value("kind", "done");
                object.value("outcomes", outcomes);
            }
        }
        object.end();
    }
}

impl WriteJson for PendingRequest {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("id", &self.id);
        object.value("request", &self.request);
        object.value("delayMs", &self.delay_ms);
        object.end();
    }
}

impl WriteJson for Ended {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("index", &self.index);
        object.value("outcome", &self.outcome);
        object.end();
    }
}

impl WriteJson for JobReport {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("path", self.path);
        object.value("events", &self.events);
        object.end();
    }
}

impl WriteJson for BatchStep {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        match self {
            BatchStep::Requests { requests, waiting, ended } => {
                object.value("kind", "requests");
                object.value("requests", requests);
                object.value("waiting", waiting);
                object.value("ended", ended);
            }
            BatchStep::Done { outcomes, notices, jobs } => {
                object.value("kind", "done");
                object.value("outcomes", outcomes);
                object.value("notices", notices);
                object.value("jobs", jobs);
            }
        }
        object.end();
    }
}

impl WriteJson for SettingsError {
    fn write_json(&self, out: &mut String) {
        let mut object = Object::new(out);
        object.value("key", &self.key);
        object.value("code", self.code);
        object.value("message", &self.message);
        object.end();
    }
}
