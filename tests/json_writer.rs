//! The hand-written JSON of results (src/json_writer.rs) must be the very text serde_json writes for
//! the same values through their derived `Serialize`: the JavaScript surface's meaning is unchanged.

use proptest::prelude::*;
use std::collections::BTreeMap;
use zendesk_destination::json_writer::{to_json, write_str, WriteJson};
use zendesk_destination::{
    BatchStep, Code, Ended, MappingEntry, Method, Outcome, PendingRequest, RequestDescriptor, SettingsError, Step,
};

fn same<T: WriteJson + serde::Serialize>(value: &T) {
    assert_eq!(to_json(value), serde_json::to_string(value).unwrap());
}

const AWKWARD: &str =
    "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{7} nul \u{0} \u{1f} del \u{7f} é — 名 😀 \u{2028}";

fn outcome(code: Code, text: &str) -> Outcome {
    let mut outcome = Outcome::new(code, format!("message: {text}")).retryable(code == Code::RateLimited);
    outcome.warnings = vec![text.to_string(), String::new()];
    outcome.mapping = vec![
        MappingEntry { from: "traits.email".into(), to: Some("user.email".into()), note: None },
        MappingEntry { from: format!("traits.{text}"), to: None, note: Some(text.into()) },
        MappingEntry { from: "traits.plan".into(), to: Some("user.user_fields.plan".into()), note: Some("".into()) },
    ];
    outcome
}

fn request(method: Method, body: Option<&str>) -> RequestDescriptor {
    let mut headers = BTreeMap::new();
    headers.insert("Accept".to_string(), "application/json".to_string());
    headers.insert("Authorization".to_string(), "Bearer t\"ok\\en".to_string());
    RequestDescriptor {
        method,
        url: "https://acme.zendesk.com/api/v2/users/search?query=email%3A%22a%40b.c%22".into(),
        headers,
        body: body.map(str::to_string),
    }
}

#[test]
fn every_code_and_status_is_written_as_serde_writes_it() {
    use Code::*;
    for code in [
        Delivered,
        Unchanged,
        EventNotEnabled,
        MissingUserId,
        UnsupportedType,
        DisabledByIntegrations,
        AmbiguousUser,
        AmbiguousOrganization,
        InvalidEvent,
        MissingName,
        IdentifierTooLong,
        UserNotFound,
        Unauthorized,
        ZendeskRejected,
        ZendeskUnavailable,
        RateLimited,
        OrganizationNameTaken,
        UnexpectedResponse,
    ] {
        same(&outcome(code, AWKWARD));
    }
}

#[test]
fn steps_are_written_as_serde_writes_them() {
    for method in [Method::Get, Method::Post, Method::Put, Method::Delete] {
        same(&Step::Request { request: request(method, None) });
        same(&Step::Request { request: request(method, Some(r#"{"user":{"name":"A \"B\""}}"#)) });
    }
    same(&Step::Done { outcomes: vec![outcome(Code::Delivered, "x")] });
    same(&Step::Done { outcomes: vec![] });
}

#[test]
fn batch_steps_are_written_as_serde_writes_them() {
    same(&BatchStep::Requests { requests: vec![], waiting: 0, ended: vec![] });
    same(&BatchStep::Requests {
        requests: vec![
            PendingRequest { id: 1, request: request(Method::Post, Some("{}")), delay_ms: 0 },
            PendingRequest { id: u32::MAX, request: request(Method::Get, None), delay_ms: 4_000 },
        ],
        waiting: 31,
        ended: vec![
            Ended { index: 0, outcome: outcome(Code::Unchanged, AWKWARD) },
            Ended { index: usize::MAX, outcome: outcome(Code::UserNotFound, "y") },
        ],
    });
    same(&BatchStep::Done {
        outcomes: vec![outcome(Code::Delivered, "a"), outcome(Code::RateLimited, AWKWARD)],
        notices: vec![AWKWARD.into()],
        jobs: vec![zendesk_destination::flow::JobReport {
            path: "/users/create_or_update_many",
            events: vec![0, 7, 1000],
        }],
    });
}

#[test]
fn settings_errors_are_written_as_serde_writes_them() {
    same(&vec![SettingsError { key: "subdomain".into(), code: "invalid_settings", message: AWKWARD.into() }]);
    same(&Vec::<SettingsError>::new());
}

#[test]
fn json_values_are_written_as_serde_writes_them() {
    let value = serde_json::json!({
        "z": [null, true, false, 0, -1, 18446744073709551615u64, -9223372036854775808i64, 0.1, 3930.0, 1e300, -2.5e-7],
        "a": {"nested": {"deeper": [[], {}, ""]}, "text": AWKWARD},
        "": "empty key",
        AWKWARD: 1
    });
    same(&value);
    same(value.as_object().unwrap());
    same(&serde_json::Value::Null);
}

proptest! {
    #[test]
    fn any_string_is_escaped_as_serde_escapes_it(text in any::<String>()) {
        let mut out = String::new();
        write_str(&mut out, &text);
        prop_assert_eq!(out, serde_json::to_string(&text).unwrap());
    }

    /// Mostly ASCII, with the characters that need escaping anywhere in or across 8-byte chunks.
    #[test]
    fn strings_with_escapes_are_escaped_as_serde_escapes_them(text in "[a-zA-Z0-9 ~\\x7f\"\\\\\\x00-\\x1fé—😀]{0,48}") {
        let mut out = String::new();
        write_str(&mut out, &text);
        prop_assert_eq!(out, serde_json::to_string(&text).unwrap());
    }
}
