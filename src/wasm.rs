//! The JavaScript surface (wasm-bindgen). Values cross as JSON text: JS objects are stringified by the
//! JS engine and parsed here with serde_json, whose depth limit turns hostile nesting into an error
//! instead of a stack overflow; results go out as plain objects (json-compatible serializer).

use serde::Serialize;
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::flow;
use crate::outcome::{Code, Outcome};
use crate::response::Response;
use crate::settings::{Settings, SettingsError};

/// JSON text for a JS value: strings are taken as JSON text already (which keeps big integers exact).
fn json_text(value: &JsValue) -> Result<String, String> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    match js_sys::JSON::stringify(value) {
        Ok(text) => text.as_string().ok_or_else(|| "the value cannot be represented as JSON (undefined or a function)".to_string()),
        Err(_) => Err("the value cannot be represented as JSON (cyclic, a BigInt, or too deeply nested)".to_string()),
    }
}

fn parse(value: &JsValue) -> Result<Value, String> {
    let text = json_text(value)?;
    serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {}", crate::json_error(&e)))
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
}

fn settings_from(value: &JsValue) -> Result<Settings, Vec<SettingsError>> {
    match parse(value) {
        Ok(json) => Settings::from_value(&json),
        Err(why) => Err(vec![SettingsError { key: String::new(), code: "invalid_settings", message: format!("settings are {why}") }]),
    }
}

/// Every problem with the settings: `[]` when they are valid, else `[{key, code, message}]`.
#[wasm_bindgen(js_name = validateSettings)]
pub fn validate_settings(settings: JsValue) -> JsValue {
    match settings_from(&settings) {
        Ok(_) => to_js(&Vec::<SettingsError>::new()),
        Err(errors) => to_js(&errors),
    }
}

/// A configured destination. Conversations begun from it share what it learns (field catalogs, ids).
#[wasm_bindgen]
pub struct Destination {
    inner: flow::Destination,
}

#[wasm_bindgen]
impl Destination {
    /// Throws an `Error` with `code: "invalid_settings"` and `errors: [{key, code, message}]`.
    #[wasm_bindgen(constructor)]
    pub fn new(settings: JsValue) -> Result<Destination, JsValue> {
        match settings_from(&settings) {
            Ok(settings) => Ok(Destination { inner: flow::Destination::new(settings) }),
            Err(errors) => {
                let summary: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
                let error = js_sys::Error::new(&format!("invalid settings: {}", summary.join("; ")));
                let _ = js_sys::Reflect::set(&error, &"code".into(), &"invalid_settings".into());
                let _ = js_sys::Reflect::set(&error, &"errors".into(), &to_js(&errors));
                Err(error.into())
            }
        }
    }

    /// Begins the conversation for one event (any JS value, or JSON text). `now` is milliseconds since
    /// the epoch: the engine's only clock.
    pub fn begin(&self, event: JsValue, now: f64) -> Conversation {
        let inner = match json_text(&event) {
            Ok(text) => self.inner.begin_json(&text, now),
            Err(why) => flow::Conversation::finished(Outcome::new(Code::InvalidEvent, format!("the event is not usable: {why}"))),
        };
        Conversation { inner }
    }
}

#[wasm_bindgen]
pub struct Conversation {
    inner: flow::Conversation,
}

#[wasm_bindgen]
impl Conversation {
    /// `{kind: "request", request}` or `{kind: "done", outcomes}`.
    pub fn step(&self) -> JsValue {
        to_js(self.inner.step())
    }

    /// Takes `{status, headers, body}` (status 0 with `error` when no answer came) and returns the next step.
    pub fn respond(&mut self, response: JsValue) -> JsValue {
        let response = match parse(&response) {
            Ok(json) => Response::from_value(&json),
            Err(why) => Err(why),
        };
        let response = response.unwrap_or_else(|why| Response {
            status: 0,
            error: Some(format!("the host passed an unreadable response ({why})")),
            ..Response::default()
        });
        to_js(self.inner.respond(response))
    }
}
