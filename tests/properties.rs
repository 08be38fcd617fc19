//! Property checks over the public entry points: any settings, any event, any answer from Zendesk →
//! a structured error or exactly one outcome, never a panic, and always in a bounded number of steps.

#![cfg(not(target_arch = "wasm32"))]

mod support;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use support::{destination, NOW};
use zendesk_destination::{Code, Response, Settings, Status, Step};

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("identify"),
            Just("track"),
            Just("group"),
            Just("page"),
            Just("2026-01-31"),
            Just("a@b.co"),
            Just("true")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys that reach deep into the rules, plus random ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "type", "userId", "traits", "event", "properties", "groupId", "timestamp", "context", "integrations",
            "name", "email", "firstName", "lastName", "timezone", "organizationId", "phone", "role", "company",
            "id", "remove", "domainNames", "tags", "url", "deleted", "Zendesk", "All", "plan",
        ]).prop_map(String::from),
        1 => ".{0,8}",
    ]
}

/// Events shaped like real calls, with arbitrary values where it matters.
fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["identify", "track", "group", "page", "alias"]),
        prop::option::of(prop_oneof![".{0,70}".prop_map(Value::String), any::<u64>().prop_map(Value::from)]),
        prop::collection::btree_map(key(), any_json(), 0..8),
        prop::option::of(any_json()),
    )
        .prop_map(|(kind, user_id, traits, group_id)| {
            let mut event = Map::new();
            event.insert("type".into(), json!(kind));
            if let Some(u) = user_id {
                event.insert("userId".into(), u);
            }
            let traits: Map<String, Value> = traits.into_iter().collect();
            event.insert("traits".into(), Value::Object(traits.clone()));
            event.insert("properties".into(), Value::Object(traits));
            event.insert("event".into(), json!("Article Completed"));
            if let Some(g) = group_id {
                event.insert("groupId".into(), g);
            }
            Value::Object(event)
        })
}

fn any_response() -> impl Strategy<Value = Response> {
    let status = prop_oneof![
        Just(0u16),
        Just(200),
        Just(201),
        Just(202),
        Just(204),
        Just(401),
        Just(404),
        Just(409),
        Just(422),
        Just(429),
        Just(500),
        Just(503),
        any::<u16>()
    ];
    let body = prop_oneof![
        any_json().prop_map(|v| Some(v.to_string())),
        Just(Some(r#"{"users":[{"id":1,"email":"a@b.co"}],"count":1}"#.to_string())),
        Just(Some(r#"{"users":[],"count":0}"#.to_string())),
        Just(Some(r#"{"user":{"id":18446744073709551615}}"#.to_string())),
        Just(Some(r#"{"organizations":[{"id":2}],"organization":{"id":3}}"#.to_string())),
        Just(Some(r#"{"user_fields":[{"key":"plan","type":"integer"}],"next_page":"https://acme.zendesk.com/api/v2/user_fields?page=2"}"#.to_string())),
        Just(Some(r#"{"error":"RecordInvalid","details":{"key":[{"description":"Key: has already been taken"}]}}"#.to_string())),
        ".{0,40}".prop_map(Some),
        Just(None),
    ];
    (status, body).prop_map(|(status, body)| Response { status, body, ..Response::default() })
}

/// Drives a conversation to its end with the given answers (cycled); the end must come.
fn drive(event: &Value, answers: &[Response]) -> Vec<zendesk_destination::Outcome> {
    let d = destination(json!({"removeUsersFromOrganizations": true, "allowGroupWithoutUserId": true}));
    let mut conversation = d.begin(event, NOW);
    for i in 0..200 {
        match conversation.step() {
            Step::Done { outcomes } => return outcomes.clone(),
            Step::Request { request } => {
                assert!(request.url.starts_with("https://acme.zendesk.com/api/v2/"), "{}", request.url);
                assert!(!request.url.contains(' '));
                let answer = answers.get(i % answers.len().max(1)).cloned().unwrap_or_default();
                conversation.respond(answer);
            }
        }
    }
    panic!("the conversation did not end within 200 steps");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn any_json_event_ends_with_exactly_one_outcome(event in any_json(), answers in prop::collection::vec(any_response(), 1..8)) {
        let outcomes = drive(&event, &answers);
        prop_assert_eq!(outcomes.len(), 1);
    }

    #[test]
    fn event_like_values_end_with_a_consistent_outcome(event in event_like(), answers in prop::collection::vec(any_response(), 1..10)) {
        let outcomes = drive(&event, &answers);
        prop_assert_eq!(outcomes.len(), 1);
        let outcome = &outcomes[0];
        prop_assert_eq!(outcome.status, outcome.code.status());
        if outcome.retryable {
            prop_assert_eq!(outcome.status, Status::Failed);
        }
        prop_assert!(!outcome.message.is_empty());
        prop_assert!(!outcome.message.contains("s3cret-token"));
    }

    #[test]
    fn any_settings_value_is_accepted_or_explained(settings in any_json()) {
        if let Err(errors) = Settings::from_value(&settings) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn field_keys_are_hecks_snake_case(name in "[ -~]{0,24}") {
        use heck::{ToSnakeCase, ToTitleCase};
        let snake = name.to_snake_case();
        match zendesk_destination::mapping::field_key(&name) {
            Ok(key) => prop_assert_eq!(key, snake),
            Err(_) => prop_assert!(snake.is_empty() || snake.bytes().all(|b| b.is_ascii_digit())),
        }
        prop_assert_eq!(zendesk_destination::mapping::field_title(&name), name.to_title_case());
    }

    // Issue 13: settings that validate must not fail every event later. An oauthToken goes into a header
    // as is, so an accepted one is visible ASCII; an accepted baseUrl has a host made of DNS labels, a
    // dotted IPv4 address or a bracketed IPv6 address. Refusals name the key and never echo the token.
    #[test]
    fn accepted_credentials_and_base_urls_are_usable(token in "[ -~\u{80}-\u{10FFFF}]{1,16}", host in "[a-z0-9.:\\[\\]_-]{0,20}") {
        let settings = json!({"subdomain": "acme", "oauthToken": token, "baseUrl": format!("https://{host}/zd")});
        match Settings::from_value(&settings) {
            Ok(parsed) => {
                prop_assert!(token.bytes().all(|b| b.is_ascii_graphic()), "{:?}", token);
                let authority = parsed.base_url.trim_start_matches("https://").trim_end_matches("/zd");
                let name = if authority.starts_with('[') { authority } else { authority.rsplit_once(':').map_or(authority, |(h, _)| h) };
                let dns = name.trim_end_matches('.').split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
                let ipv6 = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).is_some_and(|n| n.parse::<std::net::Ipv6Addr>().is_ok());
                prop_assert!(dns || ipv6, "{:?}", name);
                let last = name.trim_end_matches('.').rsplit('.').next().unwrap_or("");
                if !ipv6 && last.bytes().all(|b| b.is_ascii_digit()) {
                    prop_assert!(name.parse::<std::net::Ipv4Addr>().is_ok(), "{:?}", name);
                }
            }
            Err(errors) => {
                for e in &errors {
                    prop_assert!(e.key == "oauthToken" || e.key == "baseUrl", "{:?}", e);
                    if token.chars().count() >= 4 {
                        prop_assert!(!e.message.contains(token.as_str()), "{:?}", e);
                    }
                }
            }
        }
    }

    #[test]
    fn any_settings_text_is_accepted_or_explained(text in ".{0,200}") {
        let _ = Settings::from_json(&text);
    }

    #[test]
    fn any_event_text_ends_the_conversation(text in ".{0,200}") {
        let d = destination(json!({}));
        let conversation = d.begin_json(&text, NOW);
        if serde_json::from_str::<Value>(&text).is_err() {
            let is_invalid = matches!(conversation.step(), Step::Done { outcomes } if outcomes[0].code == Code::InvalidEvent);
            prop_assert!(is_invalid);
        }
    }
}

#[test]
fn hostile_sizes_and_depths_are_refused_cleanly() {
    let d = destination(json!({}));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let Step::Done { outcomes } = d.begin_json(&deep, NOW).step().clone() else {
        panic!("deep nesting must end at once")
    };
    assert_eq!(outcomes[0].code, Code::InvalidEvent);
    assert_eq!(outcomes[0].message, "the event is not valid JSON: it is nested more than 127 levels deep");
    // A bracket inside a string is not nesting.
    let Step::Done { outcomes } = d.begin_json(r#"{"type":"[[[[", "x": }"#, NOW).step().clone() else { panic!() };
    assert_eq!(outcomes[0].message, "the event is not valid JSON: syntax error at line 1 column 22");

    let deep_object =
        format!("{{\"type\":\"identify\",\"traits\":{}{}}}", "{\"a\":".repeat(50_000), "1}".repeat(50_000));
    let Step::Done { outcomes } = d.begin_json(&deep_object, NOW).step().clone() else { panic!() };
    assert_eq!(outcomes[0].code, Code::InvalidEvent);

    let huge = "x".repeat(4 << 20);
    let event = json!({"type": "identify", "userId": "u", "traits": {"name": huge, "email": "a@b.co"}});
    let Step::Request { request } = d.begin(&event, NOW).step().clone() else { panic!() };
    assert!(request.url.ends_with("/users/search?query=email%3A%22a%40b.co%22"));

    let big_number = r#"{"type":"identify","userId":123456789012345678901234567890,"traits":{"name":"N","organizationId":18446744073709551616}}"#;
    let Step::Done { outcomes } = d.begin_json(big_number, NOW).step().clone() else { panic!() };
    assert_eq!(outcomes[0].message, "`userId` must be a string or an integer");
}

/// The engine reads event text member by member (`Event::read`, skimming what the rules do not use);
/// whenever it does, the event must be exactly what reading the whole value gives.
fn read_agrees_with_parse(text: &str) -> Result<(), TestCaseError> {
    use zendesk_destination::event::Event;
    if let Some(read) = Event::read(text) {
        let value: Value = serde_json::from_str(text).expect("text that Event::read took is JSON");
        prop_assert_eq!(read, Event::parse(&value), "{}", text);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn reading_members_agrees_with_reading_the_whole_event(
        event in prop_oneof![any_json(), event_like()],
        extra in prop::collection::vec((
            prop::sample::select(vec!["context", "integrations", "timestamp", "userId", "event", "groupId", "type", "other"]),
            prop_oneof![
                any_json(),
                Just(json!({"Zendesk": false})),
                Just(json!({"All": false})),
                Just(json!({"All": false, "Zendesk": {}})),
                Just(json!({"traits": {"name": "Ann", "email": "a@b.co"}})),
                Just(json!("2026-01-31T10:00:00Z")),
            ],
        ), 0..4),
    ) {
        let mut event = event;
        if let Value::Object(map) = &mut event {
            for (key, value) in extra {
                map.insert(key.into(), value);
            }
        }
        read_agrees_with_parse(&event.to_string())?;
    }
}

#[test]
fn reading_members_leaves_unusual_text_to_the_whole_reading() {
    use zendesk_destination::event::Event;
    // Duplicate members (the whole reading keeps the last), a null type, arrays, deep nesting in a
    // member the rules skip: none of these is taken member by member, or each agrees.
    for text in [
        r#"{"type":"identify","type":"track","event":"x","userId":"u"}"#,
        r#"{"type":null,"userId":"u"}"#,
        r#"[{"type":"identify"}]"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"name":"A"},"traits":{"name":"B"}}}"#,
        r#"{"type":"identify","userId":"u","context":"nope"}"#,
        r#"{"type":"identify","userId":"u","context":{"traits":{"name":"Ann","email":"a@b.co"}}}"#,
    ] {
        read_agrees_with_parse(text).unwrap();
    }
    assert_eq!(Event::read(r#"{"type":"identify","type":"track"}"#), None);
    let deep = format!(r#"{{"type":"identify","userId":"u","skipped":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
    assert_eq!(Event::read(&deep), None, "deep nesting is refused by the whole reading, so it is not read here");
    let d = destination(json!({}));
    let Step::Done { outcomes } = d.begin_json(&deep, NOW).step().clone() else { panic!("deep nesting ends at once") };
    assert_eq!(outcomes[0].message, "the event is not valid JSON: it is nested more than 127 levels deep");
}
