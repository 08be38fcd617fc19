//! zendesk-destination: Segment-spec `identify`, `track` and `group` calls → the Zendesk API requests
//! that carry them out.
//!
//! The engine is sans-IO: a [`Destination`] (validated [`Settings`] plus what it has learned) begins
//! one [`Conversation`] per event; the conversation hands out [`RequestDescriptor`]s one step at a
//! time, takes each [`Response`] back, and ends with one [`Outcome`]. The host performs the requests.
//!
//! - [`settings`]: the destination's settings and their validation;
//! - [`event`]: the Segment event model;
//! - [`mapping`]: where each trait and property lands in Zendesk, one module per call type;
//! - [`flow`]: the step-by-step conversations;
//! - [`request`] / [`response`]: request descriptors out, responses in;
//! - [`outcome`]: statuses and stable codes;
//! - `wasm`: the JavaScript surface (wasm-bindgen), at the edge.

mod cache;
pub mod event;
pub mod flow;
pub mod mapping;
pub mod outcome;
pub mod request;
pub mod response;
pub mod settings;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use flow::{Batch, BatchStep, Conversation, Destination, PendingRequest, Step};
pub use outcome::{Code, MappingEntry, Outcome, Status};
pub use request::{Method, RequestDescriptor};
pub use response::Response;
pub use settings::{Settings, SettingsError};

/// Where a JSON text went wrong. Written here rather than with serde_json's `Display`, which pulls in
/// the formatting of every I/O error kind (a parse from a string never has one).
pub(crate) fn json_error(text: &str, error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    if nesting_depth(text) > MAX_JSON_DEPTH {
        return format!("it is nested more than {MAX_JSON_DEPTH} levels deep");
    }
    let what = match error.classify() {
        Category::Eof => "it ends too early",
        Category::Syntax => "syntax error",
        Category::Data | Category::Io => "unexpected data",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
}

/// serde_json refuses deeper nesting (its recursion limit), which keeps the stack safe.
const MAX_JSON_DEPTH: usize = 127;

/// The deepest nesting of arrays and objects in a JSON text, strings skipped.
fn nesting_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A JSON number as text, through serde_json's serializer: `Number`'s `Display` formats floats with
/// core's formatter, which would add 14 KB to the module for the same digits.
pub(crate) fn number_text(n: &serde_json::Number) -> String {
    serde_json::to_string(n).unwrap_or_default()
}
