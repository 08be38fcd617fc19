//! track and group: exact requests and outcomes, including the steady-state request counts.

mod support;

use serde_json::json;
use support::*;
use zendesk_destination::{Code, Status};

fn track(name: &str, properties: serde_json::Value) -> serde_json::Value {
    json!({"type": "track", "userId": "97980cfea0067", "event": name, "properties": properties, "timestamp": "2026-01-31T01:44:07+01:00"})
}

/// The body of `POST /users/{id}/events`: a profile of the fixed type `user`, and the event.
fn sunshine(
    name: &str,
    properties: serde_json::Value,
    created_at: &str,
    identifier: (&str, &str),
) -> serde_json::Value {
    json!({
        "profile": {"source": "segment", "type": "user", "identifiers": [{"type": identifier.0, "value": identifier.1}]},
        "event": {"source": "segment", "type": name, "properties": properties, "created_at": created_at}
    })
}

#[test]
fn track_by_email_looks_the_user_up_then_records_on_its_id() {
    let d = destination(json!({}));
    let properties = json!({"title": "How to Create a Tracking Plan", "email": "user@example.com"});
    let outcome = converse(
        &d,
        track("Article Completed", properties.clone()),
        vec![
            get(&email_search("user@example.com"), 200, users(&[(31, "user@example.com")])),
            post(
                "/users/31/events",
                sunshine(
                    "Article Completed",
                    properties.clone(),
                    "2026-01-31T00:44:07Z",
                    ("email", "user@example.com"),
                ),
                202,
                json!({"status": "received"}),
            ),
        ],
    );
    assert_eq!(
        (outcome.status, outcome.code, outcome.message.as_str()),
        (Status::Delivered, Code::Delivered, "event recorded on user 31")
    );

    // Steady state: the user is known, one request.
    let outcome = converse(
        &d,
        track("Article Completed", properties.clone()),
        vec![post(
            "/users/31/events",
            sunshine("Article Completed", properties, "2026-01-31T00:44:07Z", ("email", "user@example.com")),
            202,
            json!({}),
        )],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

#[test]
fn track_without_email_matches_user_id_as_external_id() {
    let d = destination(json!({"sourceName": "initech-app"}));
    let mut event = track("Order Completed", json!({"revenue": 12.5}));
    event.as_object_mut().unwrap().remove("timestamp");
    let outcome = converse(
        &d,
        event,
        vec![
            get("/users?external_id=97980cfea0067", 200, users(&[(32, "x@y.z")])),
            post(
                "/users/32/events",
                json!({
                    "profile": {"source": "initech-app", "type": "user", "identifiers": [{"type": "external_id", "value": "97980cfea0067"}]},
                    "event": {"source": "initech-app", "type": "Order Completed", "properties": {"revenue": 12.5}, "created_at": "2025-11-29T18:30:00.000Z"}
                }),
                202,
                json!({}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

#[test]
fn an_unknown_user_is_an_error_and_no_event_is_sent() {
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        track("Article Completed", json!({})),
        vec![get("/users?external_id=97980cfea0067", 200, no_users())],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::UserNotFound, false));
    assert_eq!(outcome.message, "no Zendesk user has external_id 97980cfea0067; the event was not sent (Zendesk would create an anonymous user)");
}

#[test]
fn a_cached_user_that_disappeared_is_looked_up_again() {
    let d = destination(json!({}));
    let body = sunshine("Article Completed", json!({}), "2026-01-31T00:44:07Z", ("external_id", "97980cfea0067"));
    converse(
        &d,
        track("Article Completed", json!({})),
        vec![
            get("/users?external_id=97980cfea0067", 200, users(&[(33, "a@b.c")])),
            post("/users/33/events", body.clone(), 202, json!({})),
        ],
    );
    let outcome = converse(
        &d,
        track("Article Completed", json!({})),
        vec![
            post("/users/33/events", body.clone(), 404, json!({"error": "RecordNotFound"})),
            get("/users?external_id=97980cfea0067", 200, users(&[(34, "a@b.c")])),
            post("/users/34/events", body, 202, json!({})),
        ],
    );
    assert_eq!(outcome.message, "event recorded on user 34");
}

#[test]
fn track_is_filtered_before_anything_is_sent() {
    let d = destination(json!({}));
    let cases = [
        (track("Signed Up", json!({})), Status::Skipped, Code::EventNotEnabled),
        (
            json!({"type": "track", "anonymousId": "a", "event": "Article Completed"}),
            Status::Skipped,
            Code::MissingUserId,
        ),
        (
            track("Article Completed", json!({"email": format!("{}@example.com", "x".repeat(49))})),
            Status::Invalid,
            Code::IdentifierTooLong,
        ),
        (
            json!({"type": "track", "userId": "y".repeat(61), "event": "Article Completed"}),
            Status::Invalid,
            Code::IdentifierTooLong,
        ),
        (
            json!({"type": "track", "userId": "u", "event": "Article Completed", "timestamp": "last tuesday"}),
            Status::Invalid,
            Code::InvalidEvent,
        ),
        (json!({"type": "track", "userId": "u", "event": ""}), Status::Invalid, Code::InvalidEvent),
    ];
    for (event, status, code) in cases {
        let outcome = converse(&d, event.clone(), vec![]);
        assert_eq!((outcome.status, outcome.code), (status, code), "{event}");
    }
    // 60 characters exactly is accepted.
    let email = format!("{}@example.com", "x".repeat(48));
    let outcome = converse(
        &d,
        track("Article Completed", json!({"email": email})),
        vec![get(&email_search(&email), 200, no_users()), get("/users?external_id=97980cfea0067", 200, no_users())],
    );
    assert_eq!(outcome.code, Code::UserNotFound);
}

#[test]
fn a_track_right_after_its_identify_finds_the_user_by_exact_read_or_asks_for_a_retry() {
    // Zendesk's search lags behind new users: the email search finds nobody, the exact read by the
    // event's userId (GET /users?external_id=, no index) does.
    let d = destination(json!({}));
    let properties = json!({"email": "new@example.com"});
    let body = sunshine("Article Completed", properties.clone(), "2026-01-31T00:44:07Z", ("email", "new@example.com"));
    let outcome = converse(
        &d,
        track("Article Completed", properties.clone()),
        vec![
            get(&email_search("new@example.com"), 200, no_users()),
            get("/users?external_id=97980cfea0067", 200, users(&[(61, "new@example.com")])),
            post("/users/61/events", body, 202, json!({})),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "event recorded on user 61"));
    assert_eq!(
        outcome.warnings,
        vec!["no Zendesk user was found by email new@example.com (search can lag minutes behind new users); the event was recorded on the user with external_id 97980cfea0067"]
    );

    // Neither finds the user: retryable while the event is under 10 minutes old (the index may catch up) …
    let recent = json!({"type": "track", "userId": "u9", "event": "Article Completed", "properties": {"email": "late@example.com"}, "timestamp": "2025-11-29T18:21:00Z"});
    let outcome = converse(
        &d,
        recent,
        vec![get(&email_search("late@example.com"), 200, no_users()), get("/users?external_id=u9", 200, no_users())],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::UserNotFound, true));
    assert_eq!(outcome.message, "no Zendesk user has email late@example.com or external_id u9; the event was not sent (Zendesk would create an anonymous user). Zendesk's search can lag minutes behind a new user: retry");
    // … and final after that.
    let old = json!({"type": "track", "userId": "u9", "event": "Article Completed", "properties": {"email": "late@example.com"}, "timestamp": "2025-11-29T18:19:59Z"});
    let outcome = converse(
        &d,
        old,
        vec![get(&email_search("late@example.com"), 200, no_users()), get("/users?external_id=u9", 200, no_users())],
    );
    assert_eq!((outcome.code, outcome.retryable), (Code::UserNotFound, false));
}

#[test]
fn a_new_group_id_adopts_the_one_organization_of_that_name_without_an_external_id() {
    let d = destination(json!({}));
    let no_fields = fields("organization_fields", &[("deleted", "checkbox"), ("url", "text")]);
    let write = json!({"organization": {
        "id": 77, "external_id": "908172409", "name": "LA Lakers", "organization_fields": {"deleted": false, "url": "https://lakers.com"}
    }});
    let outcome = converse(
        &d,
        seed_group(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get(
                "/organizations/search?name=LA%20Lakers",
                200,
                json!({"organizations": [{"id": 77, "name": "LA Lakers", "external_id": null}], "count": 1}),
            ),
            get("/organization_fields", 200, no_fields.clone()),
            post("/organizations/create_or_update", write, 200, json!({"organization": {"id": 77}})),
            get("/users?external_id=6789", 200, users(&[(41, "magic@lakers.com")])),
            post(
                "/organization_memberships",
                json!({"organization_membership": {"user_id": 41, "organization_id": 77}}),
                201,
                json!({"organization_membership": {"id": 1}}),
            ),
        ],
    );
    assert_eq!(
        (outcome.code, outcome.message.as_str()),
        (Code::Delivered, "organization 77 updated; user 41 added to it")
    );
    assert_eq!(
        outcome.warnings,
        vec!["organization 77 is named `LA Lakers` and had no external_id: it was adopted for groupId `908172409` (its external_id is now `908172409`)"]
    );
}

#[test]
fn a_name_held_by_another_external_id_fails_and_several_skip() {
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_group(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get(
                "/organizations/search?name=LA%20Lakers",
                200,
                json!({"organizations": [{"id": 78, "name": "LA Lakers", "external_id": "lal-1"}], "count": 1}),
            ),
        ],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::OrganizationNameTaken, false));
    assert_eq!(
        outcome.message,
        "organization 78 already has the name `LA Lakers` with external_id `lal-1`; Zendesk organization names are unique, so groupId `908172409` was not written (rename one of them)"
    );

    let outcome = converse(
        &d,
        seed_group(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get(
                "/organizations/search?name=LA%20Lakers",
                200,
                json!({"organizations": [{"id": 78, "external_id": null}, {"id": 79, "external_id": null}], "count": 2}),
            ),
        ],
    );
    assert_eq!((outcome.status, outcome.code), (Status::Skipped, Code::AmbiguousOrganization));
    assert_eq!(outcome.message, "2 Zendesk organizations are named `LA Lakers`; nothing was written");
}

#[test]
fn group_with_an_agents_credentials_says_it_needs_an_administrator() {
    let d = destination(json!({}));
    let forbidden = json!({"error": "Forbidden", "description": "You do not have access to this page."});
    let event = json!({"type": "group", "groupId": "g1", "userId": "u1", "traits": {"name": "Initech"}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/organizations/search?external_id=g1", 200, json!({"organizations": [], "count": 0})),
            get("/organizations/search?name=Initech", 200, json!({"organizations": [], "count": 0})),
            post(
                "/organizations/create_or_update",
                json!({"organization": {"external_id": "g1", "name": "Initech"}}),
                403,
                forbidden,
            ),
        ],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::Unauthorized, false));
    assert_eq!(
        outcome.message,
        "Zendesk refused access (403) while creating or updating the organization: group calls need a Zendesk administrator's credentials; these are not an administrator's (Forbidden; You do not have access to this page.)"
    );
}

fn seed_group() -> serde_json::Value {
    json!({"type": "group", "groupId": "908172409", "userId": "6789", "traits": {"name": "LA Lakers", "url": "https://lakers.com", "deleted": false}})
}

#[test]
fn seed_group_writes_the_organization_then_the_membership() {
    let d = destination(json!({"unchangedTtlSeconds": 0}));
    let field =
        |ty: &str, title: &str, key: &str| json!({"organization_field": {"type": ty, "title": title, "key": key}});
    let outcome = converse(
        &d,
        seed_group(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get("/organizations/search?name=LA%20Lakers", 200, json!({"organizations": [], "count": 0})),
            get("/organization_fields", 200, fields("organization_fields", &[])),
            post(
                "/organization_fields",
                field("checkbox", "Deleted", "deleted"),
                201,
                json!({"organization_field": {"id": 1}}),
            ),
            post("/organization_fields", field("text", "Url", "url"), 201, json!({"organization_field": {"id": 2}})),
            post(
                "/organizations/create_or_update",
                json!({"organization": {
                    "external_id": "908172409", "name": "LA Lakers", "organization_fields": {"deleted": false, "url": "https://lakers.com"}
                }}),
                201,
                json!({"organization": {"id": 500}}),
            ),
            get("/users?external_id=6789", 200, users(&[(41, "magic@lakers.com")])),
            post(
                "/organization_memberships",
                json!({"organization_membership": {"user_id": 41, "organization_id": 500}}),
                201,
                json!({"organization_membership": {"id": 1}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(outcome.message, "organization 500 created; user 41 added to it");

    // Steady state: organization write and membership; an existing membership is success.
    let outcome = converse(
        &d,
        seed_group(),
        vec![
            post(
                "/organizations/create_or_update",
                json!({"organization": {
                    "external_id": "908172409", "name": "LA Lakers", "organization_fields": {"deleted": false, "url": "https://lakers.com"}
                }}),
                200,
                json!({"organization": {"id": 500}}),
            ),
            post(
                "/organization_memberships",
                json!({"organization_membership": {"user_id": 41, "organization_id": 500}}),
                422,
                json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"user_id": [{"description": "User is already a member of this organization"}]}}),
            ),
        ],
    );
    assert_eq!(outcome.message, "organization 500 updated; user 41 already a member");
    assert!(outcome.warnings.is_empty());
}

/// The organization is valid on its own: once written, a later group for a user Zendesk still does not
/// know looks the user up again but does not rewrite the unchanged organization (the default
/// `unchangedTtlSeconds`); once the user exists, the membership is added.
#[test]
fn a_group_for_an_unknown_user_writes_its_organization_once() {
    let d = destination(json!({}));
    let event = json!({"type": "group", "groupId": "908172409", "userId": "6789", "traits": {"name": "LA Lakers"}});
    let outcome = converse(
        &d,
        event.clone(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get("/organizations/search?name=LA%20Lakers", 200, json!({"organizations": [], "count": 0})),
            post(
                "/organizations/create_or_update",
                json!({"organization": {"external_id": "908172409", "name": "LA Lakers"}}),
                201,
                json!({"organization": {"id": 500}}),
            ),
            get("/users?external_id=6789", 200, no_users()),
        ],
    );
    assert_eq!(outcome.code, Code::UserNotFound);
    assert!(outcome.message.starts_with("no Zendesk user has external_id 6789; organization 500 created, but"));

    let outcome = converse(&d, event.clone(), vec![get("/users?external_id=6789", 200, no_users())]);
    assert_eq!(outcome.code, Code::UserNotFound);
    assert!(outcome.message.starts_with("no Zendesk user has external_id 6789; organization 500 unchanged, but"));

    let outcome = converse(
        &d,
        event.clone(),
        vec![
            get("/users?external_id=6789", 200, users(&[(41, "magic@lakers.com")])),
            post(
                "/organization_memberships",
                json!({"organization_membership": {"user_id": 41, "organization_id": 500}}),
                201,
                json!({"organization_membership": {"id": 1}}),
            ),
        ],
    );
    assert_eq!(outcome.message, "organization 500 unchanged; user 41 added to it");
    // Both writes are remembered now: the same group again sends nothing.
    assert_eq!(converse(&d, event, vec![]).code, Code::Unchanged);
}

#[test]
fn group_standard_traits_and_a_name_for_new_organizations() {
    let d = destination(json!({"allowGroupWithoutUserId": true}));
    let event = json!({"type": "group", "groupId": 42, "traits": {"domainNames": "initech.test, initrode.test", "tags": ["enterprise", "tps"], "employees": 329, "plan": "enterprise"}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/organizations/search?external_id=42", 200, json!({"organizations": [], "count": 0})),
            get("/organizations/search?name=42", 200, json!({"organizations": [], "count": 0})),
            get(
                "/organization_fields",
                200,
                fields("organization_fields", &[("employees", "integer"), ("plan", "text")]),
            ),
            post(
                "/organizations/create_or_update",
                json!({"organization": {
                    "external_id": "42", "name": "42", "domain_names": ["initech.test", "initrode.test"], "tags": ["enterprise", "tps"],
                    "organization_fields": {"employees": 329, "plan": "enterprise"}
                }}),
                201,
                json!({"organization": {"id": 501}}),
            ),
        ],
    );
    assert_eq!(outcome.message, "organization 501 created");
    assert_eq!(outcome.warnings, vec!["the new organization has no `name` trait; it is named after its groupId `42`"]);
}

#[test]
fn group_refusals() {
    let d = destination(json!({}));
    let outcome = converse(&d, json!({"type": "group", "groupId": "g", "anonymousId": "a"}), vec![]);
    assert_eq!((outcome.status, outcome.code), (Status::Skipped, Code::MissingUserId));

    let outcome = converse(&d, json!({"type": "group", "userId": "u"}), vec![]);
    assert_eq!((outcome.status, outcome.code), (Status::Invalid, Code::InvalidEvent));

    let outcome = converse(
        &d,
        seed_group(),
        vec![get(
            "/organizations/search?external_id=908172409",
            200,
            json!({"organizations": [{"id": 1}, {"id": 2}], "count": 2}),
        )],
    );
    assert_eq!((outcome.status, outcome.code), (Status::Skipped, Code::AmbiguousOrganization));
    assert_eq!(outcome.message, "2 Zendesk organizations have external_id 908172409; nothing was written");

    // An unknown user: the organization is written, the membership is reported missing.
    let outcome = converse(
        &d,
        seed_group(),
        vec![
            get("/organizations/search?external_id=908172409", 200, json!({"organizations": [], "count": 0})),
            get("/organizations/search?name=LA%20Lakers", 200, json!({"organizations": [], "count": 0})),
            get(
                "/organization_fields",
                200,
                fields("organization_fields", &[("deleted", "checkbox"), ("url", "text")]),
            ),
            post(
                "/organizations/create_or_update",
                json!({"organization": {
                    "external_id": "908172409", "name": "LA Lakers", "organization_fields": {"deleted": false, "url": "https://lakers.com"}
                }}),
                201,
                json!({"organization": {"id": 502}}),
            ),
            get("/users?external_id=6789", 200, no_users()),
        ],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::UserNotFound, false));
    assert_eq!(
        outcome.message,
        "no Zendesk user has external_id 6789; organization 502 created, but the user was not added to it (identify the user first)"
    );
}

#[test]
fn other_calls_and_routing() {
    let d = destination(json!({}));
    let cases = [
        (json!({"type": "page", "userId": "u", "name": "Home"}), Status::Skipped, Code::UnsupportedType),
        (json!({"type": "screen", "userId": "u"}), Status::Skipped, Code::UnsupportedType),
        (json!({"type": "alias", "userId": "u", "previousId": "p"}), Status::Skipped, Code::UnsupportedType),
        (
            json!({"type": "identify", "userId": "u", "traits": {"name": "N"}, "integrations": {"Zendesk": false}}),
            Status::Skipped,
            Code::DisabledByIntegrations,
        ),
        (
            json!({"type": "identify", "userId": "u", "traits": {"name": "N"}, "integrations": {"All": false}}),
            Status::Skipped,
            Code::DisabledByIntegrations,
        ),
        (
            json!({"type": "identify", "userId": "u", "traits": {"name": "N"}, "integrations": {"All": false, "zendesk": true}}),
            Status::Skipped,
            Code::DisabledByIntegrations,
        ),
        (json!("identify"), Status::Invalid, Code::InvalidEvent),
        (json!({"userId": "u"}), Status::Invalid, Code::InvalidEvent),
        (json!({"type": "purchase"}), Status::Invalid, Code::InvalidEvent),
        (json!({"type": "identify", "traits": "name"}), Status::Invalid, Code::InvalidEvent),
        (json!({"type": "identify", "userId": {"id": 1}}), Status::Invalid, Code::InvalidEvent),
    ];
    for (event, status, code) in cases {
        let outcome = converse(&d, event.clone(), vec![]);
        assert_eq!((outcome.status, outcome.code), (status, code), "{event}");
    }
    // All: false with Zendesk enabled explicitly still sends.
    let event = json!({"type": "identify", "userId": "u", "traits": {"name": "N"}, "integrations": {"All": false, "Zendesk": {"x": 1}}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "N", "external_id": "u", "user_fields": {"user_id": "u"}}}),
                200,
                json!({"user": {"id": 1}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

#[test]
fn every_request_carries_auth_and_json_headers() {
    let d = destination(json!({}));
    let conversation = d.begin(&seed_group(), NOW);
    let zendesk_destination::Step::Request { request } = conversation.step() else { panic!("expected a request") };
    assert_eq!(request.headers.get("Authorization").unwrap(), "Basic YWdlbnRAYWNtZS50ZXN0L3Rva2VuOnMzY3JldC10b2tlbg==");
    assert_eq!(request.headers.get("Content-Type").unwrap(), "application/json");
    assert_eq!(request.headers.get("Accept").unwrap(), "application/json");
    assert_eq!(request.body, None);

    let oauth = zendesk_destination::Destination::new(
        zendesk_destination::Settings::from_value(
            &json!({"subdomain": "acme", "oauthToken": "tok", "baseUrl": "http://127.0.0.1:4010/"}),
        )
        .unwrap(),
    );
    let conversation = oauth.begin(&seed_group(), NOW);
    let zendesk_destination::Step::Request { request } = conversation.step() else { panic!("expected a request") };
    assert_eq!(request.headers.get("Authorization").unwrap(), "Bearer tok");
    assert_eq!(request.url, "http://127.0.0.1:4010/api/v2/organizations/search?external_id=908172409");
}

#[test]
fn network_failures_and_responses_after_the_end() {
    let d = destination(json!({}));
    let mut conversation = d.begin(&seed_group(), NOW);
    let step = conversation
        .respond(zendesk_destination::Response { status: 0, error: Some("timeout".into()), ..Default::default() })
        .clone();
    let zendesk_destination::Step::Done { outcomes } = step else { panic!("expected the end") };
    assert_eq!((outcomes[0].code, outcomes[0].retryable), (Code::ZendeskUnavailable, true));
    assert_eq!(outcomes[0].message, "no answer from Zendesk while looking the organization up by external_id: timeout");
    // Further responses change nothing.
    let again = conversation.respond(zendesk_destination::Response::new(200, "{}")).clone();
    assert_eq!(again, zendesk_destination::Step::Done { outcomes });
}
