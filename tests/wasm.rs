//! The JavaScript surface, tested through the wasm-bindgen bindings (in Node, and in Chromium by the
//! browser suite): plain objects out, any JS value in, errors as values, never a trap.

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use zendesk_destination::wasm::{validate_settings, Destination};

const NOW: f64 = 1_764_441_000_000.0;

fn js(text: &str) -> JsValue {
    JSON::parse(text).expect("test JSON parses")
}

fn get(value: &JsValue, path: &str) -> JsValue {
    path.split('.').fold(value.clone(), |v, key| Reflect::get(&v, &key.into()).unwrap_or(JsValue::UNDEFINED))
}

fn text(value: &JsValue, path: &str) -> String {
    get(value, path).as_string().unwrap_or_else(|| format!("<not a string at {path}>"))
}

fn destination() -> Destination {
    Destination::new(js(r#"{"subdomain":"acme","oauthToken":"tok","events":["Article Completed"]}"#))
        .expect("valid settings")
}

#[wasm_bindgen_test]
fn settings_errors_are_thrown_as_errors_with_codes() {
    let error =
        Destination::new(js(r#"{"subdomain":"acme.zendesk.com","oauthToken":"t","colour":1}"#)).err().expect("invalid");
    assert!(error.is_instance_of::<js_sys::Error>());
    assert_eq!(text(&error, "code"), "invalid_settings");
    let errors: Array = get(&error, "errors").dyn_into().expect("an array");
    assert_eq!(errors.length(), 2);
    assert_eq!(text(&errors.get(0), "key"), "colour");
    assert_eq!(text(&errors.get(1), "key"), "subdomain");

    let listed: Array = validate_settings(JsValue::from_str("{not json")).dyn_into().unwrap();
    assert_eq!(listed.length(), 1);
    assert!(text(&listed.get(0), "message").starts_with("settings are not valid JSON"));
    let none: Array = validate_settings(js(r#"{"subdomain":"acme","oauthToken":"t"}"#)).dyn_into().unwrap();
    assert_eq!(none.length(), 0);
}

#[wasm_bindgen_test]
fn a_conversation_hands_out_plain_objects_and_takes_responses() {
    let d = destination();
    let mut conversation = d.begin(js(r#"{"type":"track","userId":"u1","event":"Article Completed","properties":{"n":1},"timestamp":"2026-01-31T00:44:07Z"}"#), NOW);
    let step = conversation.step();
    assert_eq!(Object::get_prototype_of(&step), Object::get_prototype_of(&Object::new()), "a plain object, not a Map");
    assert_eq!(text(&step, "kind"), "request");
    assert_eq!(text(&step, "request.method"), "GET");
    assert_eq!(text(&step, "request.url"), "https://acme.zendesk.com/api/v2/users?external_id=u1");
    assert_eq!(text(&step, "request.headers.Authorization"), "Bearer tok");
    assert!(get(&step, "request.body").is_null());

    let step = conversation.respond(js(r#"{"status":200,"headers":{"content-type":"application/json"},"body":"{\"users\":[{\"id\":9007199254740993}],\"count\":1}"}"#));
    assert_eq!(text(&step, "request.url"), "https://acme.zendesk.com/api/v2/users/9007199254740993/events");
    assert_eq!(
        text(&step, "request.body"),
        concat!(
            r#"{"event":{"created_at":"2026-01-31T00:44:07Z","properties":{"n":1},"source":"segment","type":"Article Completed"},"#,
            r#""profile":{"identifiers":[{"type":"external_id","value":"u1"}],"source":"segment","type":"user"}}"#
        )
    );
    let step = conversation.respond(js(r#"{"status":202,"headers":{},"body":""}"#));
    assert_eq!(text(&step, "kind"), "done");
    let outcomes: Array = get(&step, "outcomes").dyn_into().unwrap();
    let outcome = outcomes.get(0);
    assert_eq!(text(&outcome, "status"), "delivered");
    assert_eq!(text(&outcome, "message"), "event recorded on user 9007199254740993");
    assert_eq!(get(&outcome, "retryable").as_bool(), Some(false));
    let warnings: Array = get(&outcome, "warnings").dyn_into().unwrap();
    assert_eq!(warnings.length(), 0);
}

#[wasm_bindgen_test]
fn json_text_keeps_big_integers_exact() {
    let d = destination();
    let conversation = d.begin(JsValue::from_str(r#"{"type":"group","groupId":9007199254740993,"userId":"u"}"#), NOW);
    assert_eq!(
        text(&conversation.step(), "request.url"),
        "https://acme.zendesk.com/api/v2/organizations/search?external_id=9007199254740993"
    );
}

fn outcome_of(event: JsValue) -> JsValue {
    let conversation = destination().begin(event, NOW);
    let step = conversation.step();
    assert_eq!(text(&step, "kind"), "done");
    get(&step, "outcomes").dyn_into::<Array>().unwrap().get(0)
}

#[wasm_bindgen_test]
fn any_js_value_ends_in_an_outcome_never_a_trap() {
    for value in [
        JsValue::UNDEFINED,
        JsValue::NULL,
        JsValue::from_f64(f64::NAN),
        JsValue::from_str(""),
        JsValue::from_str("[1,2"),
        js("[]"),
        js("\"identify\""),
    ] {
        assert_eq!(text(&outcome_of(value), "code"), "invalid_event");
    }
    // Cyclic objects and BigInts cannot be JSON.
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    assert_eq!(text(&outcome_of(cyclic.into()), "code"), "invalid_event");
    let with_bigint = js(r#"{"type":"identify"}"#);
    Reflect::set(&with_bigint, &"userId".into(), &js_sys::BigInt::from(5u64).into()).unwrap();
    assert_eq!(text(&outcome_of(with_bigint), "code"), "invalid_event");

    // Deep nesting is refused by the JSON depth limit, not a stack overflow.
    let mut deep = JsValue::from(Array::new());
    for _ in 0..5_000 {
        deep = Array::of1(&deep).into();
    }
    let event = js(r#"{"type":"identify","userId":"u"}"#);
    Reflect::set(&event, &"traits".into(), &deep).unwrap();
    assert_eq!(text(&outcome_of(event), "code"), "invalid_event");

    // A lone surrogate (invalid UTF-16) in a string.
    let event = js(r#"{"type":"page","userId":"u"}"#);
    Reflect::set(&event, &"name".into(), &JsValue::from_str("\u{FFFD}")).unwrap();
    let lone = js_sys::JsString::from_char_code1(0xD800);
    Reflect::set(&event, &"userId".into(), &lone).unwrap();
    let outcome = outcome_of(event);
    assert_eq!(text(&outcome, "code"), "invalid_event");
    assert_eq!(
        text(&outcome, "message"),
        "the event is not usable: not valid text: it holds invalid UTF-16 (a lone surrogate)"
    );
}

#[wasm_bindgen_test]
fn bad_responses_from_the_host_end_the_conversation_cleanly() {
    let d = destination();
    // A body or status that the property-by-property reading does not take goes through JSON text as
    // before: a lone surrogate in the body, a fractional status, a status that is not a number.
    let lone_surrogate = js(r#"{"status":200,"headers":{}}"#);
    let body = js_sys::JsString::from("{\"organizations\":[]} ").concat(&js_sys::JsString::from_char_code1(0xD800));
    Reflect::set(&lone_surrogate, &"body".into(), &body).unwrap();
    let fractional = js(r#"{"status":200.5,"body":"{}"}"#);
    let thrower = js_sys::Function::new_no_args("throw new Error('getter')");
    let throwing = Object::new();
    let descriptor = js(r#"{"enumerable":true}"#);
    Reflect::set(&descriptor, &"get".into(), &thrower).unwrap();
    Object::define_property(&throwing, &"status".into(), &descriptor.unchecked_into());
    for response in [
        JsValue::UNDEFINED,
        JsValue::from_str("nonsense"),
        js(r#"{"status":"200"}"#),
        js("[]"),
        lone_surrogate,
        fractional,
        throwing.into(),
    ] {
        let mut conversation = d.begin(js(r#"{"type":"group","groupId":"g","userId":"u"}"#), NOW);
        let step = conversation.respond(response);
        assert_eq!(text(&step, "kind"), "done");
        let outcome = get(&step, "outcomes").dyn_into::<Array>().unwrap().get(0);
        assert_eq!(text(&outcome, "code"), "zendesk_unavailable");
        assert!(text(&outcome, "message").contains("the host passed an unreadable response"));
    }
}

#[wasm_bindgen_test]
fn a_batch_hands_out_several_requests_with_ids_and_ends_with_one_outcome_per_event() {
    let d = destination();
    // NDJSON text: two identifies and a line that is not JSON.
    let text_events =
        "{\"type\":\"identify\",\"userId\":\"a\",\"traits\":{\"name\":\"A\"}}\n{not json}\n{\"type\":\"page\"}";
    let mut batch = d.begin_batch(JsValue::from_str(text_events), NOW);
    let step = batch.step();
    assert_eq!(text(&step, "kind"), "requests");
    let requests: Array = get(&step, "requests").dyn_into().unwrap();
    assert_eq!(requests.length(), 1);
    let first = requests.get(0);
    assert_eq!(text(&first, "request.url"), "https://acme.zendesk.com/api/v2/users/show_many?external_ids=a");
    assert_eq!(get(&first, "delayMs").as_f64(), Some(0.0));
    let id = get(&first, "id").as_f64().unwrap() as u32;
    // The line that is not JSON and the page end at planning: reported at once, by input position, the
    // unreadable one with the same outcome `done` gives it (the bindings' own, not the engine's).
    let ended: Array = get(&step, "ended").dyn_into().unwrap();
    assert_eq!(ended.length(), 2);
    assert_eq!(get(&ended.get(0), "index").as_f64(), Some(1.0));
    assert_eq!(text(&ended.get(0), "outcome.code"), "invalid_event");
    let unreadable = text(&ended.get(0), "outcome.message");
    assert!(unreadable.starts_with("the event is not usable: not valid JSON"), "{unreadable}");
    assert_eq!(get(&ended.get(1), "index").as_f64(), Some(2.0));
    assert_eq!(text(&ended.get(1), "outcome.code"), "unsupported_type");
    // An id that is not waiting changes nothing.
    let same = batch.respond(id + 100, js(r#"{"status":200,"body":"{}"}"#));
    assert_eq!(get(&same, "requests").dyn_into::<Array>().unwrap().length(), 0);
    assert_eq!(get(&same, "ended").dyn_into::<Array>().unwrap().length(), 0);
    assert_eq!(get(&same, "waiting").as_f64(), Some(1.0));
    // A 401 ends the identify; the other events end on their own.
    let step =
        batch.respond(id, js(r#"{"status":401,"headers":{},"body":"{\"error\":\"Couldn't authenticate you\"}"}"#));
    assert_eq!(text(&step, "kind"), "done");
    let outcomes: Array = get(&step, "outcomes").dyn_into().unwrap();
    assert_eq!(outcomes.length(), 3);
    assert_eq!(text(&outcomes.get(0), "code"), "unauthorized");
    assert_eq!(text(&outcomes.get(1), "code"), "invalid_event");
    assert_eq!(text(&outcomes.get(1), "message"), unreadable);
    assert_eq!(text(&outcomes.get(2), "code"), "unsupported_type");
    // Anything but an array or text: one invalid outcome.
    let odd = d.begin_batch(JsValue::from_f64(3.0), NOW).step();
    assert_eq!(text(&get(&odd, "outcomes").dyn_into::<Array>().unwrap().get(0), "code"), "invalid_event");
}
