//! identify: the seed's rules as scripts of exact requests and outcomes.

mod support;

use serde_json::json;
use support::*;
use zendesk_destination::{Code, Status};

fn seed_identify() -> serde_json::Value {
    json!({
        "type": "identify",
        "userId": "12345",
        "traits": {
            "name": "Pikachu",
            "email": "pikachu@pakemon.com",
            "timezone": "America/Los_Angeles",
            "organizationId": 6789,
            "phone": "763-555-2342"
        }
    })
}

fn seed_user_body(extra_fields: serde_json::Value) -> serde_json::Value {
    let mut user_fields = json!({"user_id": "12345"});
    for (k, v) in extra_fields.as_object().unwrap() {
        user_fields[k] = v.clone();
    }
    json!({"user": {
        "name": "Pikachu",
        "email": "pikachu@pakemon.com",
        "time_zone": "Pacific Time (US & Canada)",
        "organization_id": 6789,
        "phone": "763-555-2342",
        "external_id": "12345",
        "user_fields": user_fields
    }})
}

#[test]
fn seed_example_creates_the_user_field_then_the_user() {
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[])),
            post(
                "/user_fields",
                json!({"user_field": {"type": "text", "title": "User ID", "key": "user_id"}}),
                201,
                json!({"user_field": {"id": 7, "key": "user_id", "type": "text"}}),
            ),
            post("/users/create_or_update", seed_user_body(json!({})), 201, json!({"user": {"id": 360000000001u64}})),
        ],
    );
    assert_eq!(outcome.status, Status::Delivered);
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(outcome.message, "user 360000000001 created");
    assert_eq!(outcome.warnings, vec!["created the text field `user_id` in Zendesk's user_fields for `userId`"]);
    assert!(!outcome.retryable);
    let mapped: Vec<(String, Option<String>)> =
        outcome.mapping.iter().map(|m| (m.from.clone(), m.to.clone())).collect();
    assert!(mapped.contains(&("traits.timezone".into(), Some("user.time_zone".into()))));
    assert!(mapped.contains(&("traits.organizationId".into(), Some("user.organization_id".into()))));
    assert!(mapped.contains(&("userId".into(), Some("user.user_fields.user_id".into()))));
}

#[test]
fn steady_state_identify_is_a_lookup_and_a_write() {
    // With skipping off, a repeated identify is written again.
    let d = destination(json!({"unchangedTtlSeconds": 0}));
    converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 201, json!({"user": {"id": 5}})),
        ],
    );
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, users(&[(5, "Pikachu@Pakemon.com")])),
            put("/users/5", seed_user_body(json!({})), 200, json!({"user": {"id": 5}})),
        ],
    );
    assert_eq!(outcome.message, "user 5 updated");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
}

#[test]
fn a_repeated_identify_sends_nothing_until_its_digest_expires() {
    let d = destination(json!({"unchangedTtlSeconds": 60}));
    converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 201, json!({"user": {"id": 5}})),
        ],
    );
    // The same identify 30 s later: no request at all.
    let outcome = converse_at(&d, seed_identify(), NOW + 30_000.0, vec![]);
    assert_eq!((outcome.status, outcome.code), (Status::Delivered, Code::Unchanged));
    assert_eq!(
        outcome.message,
        "user unchanged: the same write was delivered at 2025-11-29T18:30:00.000Z (30 s ago); nothing was sent"
    );
    assert!(outcome.mapping.iter().any(|m| m.from == "traits.email"), "the mapping report stays");
    // 60 s after the write the digest has expired: written again.
    let outcome = converse_at(
        &d,
        seed_identify(),
        NOW + 60_000.0,
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, users(&[(5, "pikachu@pakemon.com")])),
            put("/users/5", seed_user_body(json!({})), 200, json!({"user": {"id": 5}})),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "user 5 updated"));
    // A changed trait is never skipped.
    let mut changed = seed_identify();
    changed["traits"]["name"] = json!("Pikachu Two");
    let outcome = converse_at(
        &d,
        changed,
        NOW + 61_000.0,
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, users(&[(5, "pikachu@pakemon.com")])),
            put(
                "/users/5",
                {
                    let mut body = seed_user_body(json!({}));
                    body["user"]["name"] = json!("Pikachu Two");
                    body
                },
                200,
                json!({"user": {"id": 5}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

#[test]
fn several_users_with_the_email_update_nothing() {
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![get(
            &email_search("pikachu@pakemon.com"),
            200,
            users(&[(1, "pikachu@pakemon.com"), (2, "PIKACHU@pakemon.com")]),
        )],
    );
    assert_eq!((outcome.status, outcome.code), (Status::Skipped, Code::AmbiguousUser));
    assert_eq!(outcome.message, "2 Zendesk users have the email pikachu@pakemon.com; nothing was updated");
}

#[test]
fn loose_search_results_are_checked_for_the_exact_email() {
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(
                &email_search("pikachu@pakemon.com"),
                200,
                users(&[(1, "pikachu.jr@pakemon.com"), (2, "other@pakemon.com")]),
            ),
            // Neither holds the email as a secondary identity either.
            get("/users/1/identities", 200, identities(1, &["pikachu.jr@pakemon.com"])),
            get("/users/2/identities", 200, identities(2, &["other@pakemon.com", "pika@pakemon.com"])),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 201, json!({"user": {"id": 3}})),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

fn identities(user_id: u64, emails: &[&str]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = emails
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"id": 100 + i, "user_id": user_id, "type": "email", "value": e, "primary": i == 0}))
        .collect();
    json!({"identities": list, "count": emails.len()})
}

#[test]
fn a_user_whose_email_is_a_secondary_identity_is_found_and_updated() {
    // Zendesk's `email:` search matches secondary identities, but a user's `email` is its primary one.
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, users(&[(7, "ash@pakemon.com")])),
            get("/users/7/identities", 200, identities(7, &["ash@pakemon.com", "Pikachu@Pakemon.com"])),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            put("/users/7", seed_user_body(json!({})), 200, json!({"user": {"id": 7}})),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "user 7 updated"));
}

#[test]
fn a_name_or_both_name_parts_are_required() {
    let d = destination(json!({}));
    for traits in [
        json!({"email": "a@b.co"}),
        json!({"email": "a@b.co", "firstName": "Ash"}),
        json!({"name": "  ", "email": "a@b.co"}),
    ] {
        let outcome = converse(&d, json!({"type": "identify", "userId": "u1", "traits": traits}), vec![]);
        assert_eq!((outcome.status, outcome.code), (Status::Invalid, Code::MissingName), "{traits}");
    }
    for (traits, name) in [
        (json!({"firstName": "Ash", "lastName": "Ketchum"}), "Ash Ketchum"),
        (json!({"first_name": "Misty", "last_name": "Waterflower"}), "Misty Waterflower"),
    ] {
        let d = destination(json!({}));
        let outcome = converse(
            &d,
            json!({"type": "identify", "userId": "u1", "traits": traits}),
            vec![
                get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
                post(
                    "/users/create_or_update",
                    json!({"user": {"name": name, "external_id": "u1", "user_fields": {"user_id": "u1"}}}),
                    200,
                    json!({"user": {"id": 9}}),
                ),
            ],
        );
        assert_eq!(outcome.code, Code::Delivered);
    }
}

#[test]
fn traits_fall_back_to_context_traits() {
    let d = destination(json!({"verified": true}));
    let event = json!({"type": "identify", "userId": "u2", "context": {"traits": {"name": "Brock", "email": "brock@pewter.gym"}}});
    let outcome = converse(
        &d,
        event,
        vec![
            get(&email_search("brock@pewter.gym"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Brock", "email": "brock@pewter.gym", "external_id": "u2", "verified": true, "user_fields": {"user_id": "u2"}}}),
                201,
                json!({"user": {"id": 11}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
}

#[test]
fn without_email_or_user_id_nothing_can_be_matched() {
    let d = destination(json!({}));
    let outcome = converse(&d, json!({"type": "identify", "anonymousId": "a1", "traits": {"name": "Nobody"}}), vec![]);
    assert_eq!((outcome.status, outcome.code), (Status::Skipped, Code::MissingUserId));
}

#[test]
fn custom_traits_become_snake_case_fields_created_with_inferred_types() {
    let d = destination(json!({}));
    let event = json!({"type": "identify", "userId": "u3", "traits": {
        "name": "Peter Gibbons", "email": "peter@initech.test",
        "plan": "premium", "logins": 5, "lifetimeValue": 3930.5, "isBeta": false, "trialEnds": "2026-12-24",
        "favoriteColor": null, "total billed": 830,
        "role": "admin", "address": {"city": "Austin"}, "tags": ["a"], "größe": 3, "12345": "digits"
    }});
    let field = |ty: &str, title: &str, key: &str| json!({"user_field": {"type": ty, "title": title, "key": key}});
    let created = |key: &str| json!({"user_field": {"id": 1, "key": key}});
    let outcome = converse(
        &d,
        event,
        vec![
            get(&email_search("peter@initech.test"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("plan", "text"), ("user_id", "text")])),
            post("/user_fields", field("checkbox", "Is Beta", "is_beta"), 201, created("is_beta")),
            post("/user_fields", field("decimal", "Lifetime Value", "lifetime_value"), 201, created("lifetime_value")),
            post("/user_fields", field("integer", "Logins", "logins"), 201, created("logins")),
            post("/user_fields", field("integer", "Total Billed", "total_billed"), 201, created("total_billed")),
            post("/user_fields", field("date", "Trial Ends", "trial_ends"), 201, created("trial_ends")),
            post(
                "/users/create_or_update",
                json!({"user": {
                    "name": "Peter Gibbons", "email": "peter@initech.test", "external_id": "u3",
                    "user_fields": {"is_beta": false, "lifetime_value": 3930.5, "logins": 5, "plan": "premium",
                                    "total_billed": 830, "trial_ends": "2026-12-24", "user_id": "u3"}
                }}),
                201,
                json!({"user": {"id": 12}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    let mut dropped: Vec<&str> = outcome.mapping.iter().filter(|m| m.to.is_none()).map(|m| m.from.as_str()).collect();
    dropped.sort();
    assert_eq!(
        dropped,
        vec!["traits.12345", "traits.address", "traits.favoriteColor", "traits.größe", "traits.role", "traits.tags"]
    );
    assert!(outcome.warnings.iter().any(|w| w.starts_with("`traits.role` was not sent: Zendesk reserves `role`")));
    assert!(outcome.warnings.iter().any(|w| w.starts_with("`traits.address` was not sent: objects and arrays")));
    assert!(outcome
        .warnings
        .iter()
        .any(|w| w.starts_with("`traits.größe` was not sent: its name has characters outside ASCII")));
    assert!(
        !outcome.warnings.iter().any(|w| w.contains("favoriteColor")),
        "a null for a missing field is noted, not warned"
    );
}

#[test]
fn values_are_fitted_to_existing_field_types_or_dropped_with_a_warning() {
    let d = destination(json!({}));
    let event = json!({"type": "identify", "userId": "u4", "traits": {
        "name": "Joanna", "logins": "17", "score": 2.5, "vip": "true", "since": "2024-05-01T00:00:00Z", "birthday": "2024-05-01T10:00:00Z"
    }});
    let outcome = converse(
        &d,
        event,
        vec![
            get(
                "/user_fields",
                200,
                fields(
                    "user_fields",
                    &[
                        ("logins", "integer"),
                        ("score", "integer"),
                        ("vip", "checkbox"),
                        ("since", "date"),
                        ("birthday", "date"),
                        ("user_id", "text"),
                    ],
                ),
            ),
            post(
                "/users/create_or_update",
                json!({"user": {
                    "name": "Joanna", "external_id": "u4",
                    "user_fields": {"logins": 17, "vip": true, "since": "2024-05-01", "user_id": "u4"}
                }}),
                200,
                json!({"user": {"id": 13}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(
        outcome.warnings,
        vec![
            "`traits.birthday` was not sent: a string does not fit the date field and cannot be converted without loss",
            "`traits.score` was not sent: a number does not fit the integer field and cannot be converted without loss",
        ]
    );
}

#[test]
fn a_lost_creation_race_reads_that_one_field_and_carries_on() {
    let d = destination(json!({}));
    let event = json!({"type": "identify", "userId": "u5", "traits": {"name": "Milton", "stapler": "red"}});
    let taken = json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"key": [{"description": "Key: has already been taken", "error": "DuplicateValue"}]}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/user_fields",
                json!({"user_field": {"type": "text", "title": "Stapler", "key": "stapler"}}),
                422,
                taken,
            ),
            get(
                "/user_fields/stapler",
                200,
                json!({"user_field": {"id": 9, "key": "stapler", "type": "dropdown", "custom_field_options": [{"name": "Red", "value": "red"}]}}),
            ),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Milton", "external_id": "u5", "user_fields": {"stapler": "red", "user_id": "u5"}}}),
                200,
                json!({"user": {"id": 14}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
}

#[test]
fn dropdown_and_multiselect_values_outside_the_options_are_dropped_not_fatal() {
    let d = destination(json!({}));
    let catalog = json!({"user_fields": [
        {"id": 1, "key": "user_id", "type": "text"},
        {"id": 2, "key": "plan", "type": "dropdown", "custom_field_options": [{"name": "Free", "value": "free"}, {"name": "Pro", "value": "pro"}]},
        {"id": 3, "key": "topics", "type": "multiselect", "custom_field_options": [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}]},
        {"id": 4, "key": "tier", "type": "tagger", "custom_field_options": [{"name": "Gold", "value": "gold"}]}
    ], "count": 4, "next_page": null});
    let event = json!({"type": "identify", "userId": "u7", "traits": {"name": "Opt", "plan": "enterprise", "topics": "b", "tier": "gold"}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/user_fields", 200, catalog),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Opt", "external_id": "u7", "user_fields": {"topics": ["b"], "tier": "gold", "user_id": "u7"}}}),
                201,
                json!({"user": {"id": 19}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(
        outcome.warnings,
        vec!["`traits.plan` was not sent: \"enterprise\" is not one of the dropdown field's options (free, pro)"]
    );
}

#[test]
fn an_agent_that_cannot_create_fields_still_writes_the_user_and_warns_once_per_key() {
    let d = destination(json!({}));
    let forbidden = json!({"error": "Forbidden", "description": "You do not have access to this page."});
    let event = |n: u32| json!({"type": "identify", "userId": format!("a{n}"), "traits": {"name": "Agent Made", "plan": "pro"}});
    let outcome = converse(
        &d,
        event(1),
        vec![
            get("/user_fields", 200, fields("user_fields", &[])),
            post(
                "/user_fields",
                json!({"user_field": {"type": "text", "title": "Plan", "key": "plan"}}),
                403,
                forbidden.clone(),
            ),
            post(
                "/user_fields",
                json!({"user_field": {"type": "text", "title": "User ID", "key": "user_id"}}),
                403,
                forbidden,
            ),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Agent Made", "external_id": "a1"}}),
                201,
                json!({"user": {"id": 20}}),
            ),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "user 20 created"));
    assert_eq!(outcome.warnings, vec![
        "`traits.plan` was not sent: the field `plan` does not exist and could not be created: creating custom fields needs a Zendesk administrator, and Zendesk answered 403 (Forbidden; You do not have access to this page.). Later events leave it out without this warning",
        "`userId` was not sent: the field `user_id` does not exist and could not be created: creating custom fields needs a Zendesk administrator, and Zendesk answered 403 (Forbidden; You do not have access to this page.). Later events leave it out without this warning",
    ]);
    // Remembered: no second attempt, no second warning; the mapping still says why.
    let outcome = converse(
        &d,
        event(2),
        vec![post(
            "/users/create_or_update",
            json!({"user": {"name": "Agent Made", "external_id": "a2"}}),
            201,
            json!({"user": {"id": 21}}),
        )],
    );
    assert_eq!((outcome.code, outcome.warnings.len()), (Code::Delivered, 0));
    let plan = outcome.mapping.iter().find(|m| m.from == "traits.plan").unwrap();
    assert_eq!(plan.to, None);
    assert_eq!(
        plan.note.as_deref(),
        Some("the field `plan` does not exist and these credentials cannot create it (an administrator's can)")
    );
}

#[test]
fn the_catalog_follows_next_page_through_a_proxy_base_url() {
    use zendesk_destination::{Response, Step};
    // Zendesk writes its own host into next_page; the request goes to the settings' baseUrl.
    let d = zendesk_destination::Destination::new(settings(json!({"baseUrl": "http://127.0.0.1:4010"})));
    let event = json!({"type": "identify", "userId": "p1", "traits": {"name": "Paged", "plan": "pro"}});
    let mut conversation = d.begin(&event, NOW);
    let mut urls = Vec::new();
    let answers = [
        json!({"user_fields": [{"key": "user_id", "type": "text"}], "next_page": "https://acme.zendesk.com/api/v2/user_fields.json?page=2&per_page=1"}),
        json!({"user_fields": [{"key": "plan", "type": "integer"}], "next_page": null}),
        json!({"user": {"id": 22}}),
    ];
    for answer in answers {
        let Step::Request { request } = conversation.step().clone() else { panic!("ended early") };
        urls.push(request.url.clone());
        conversation.respond(Response::new(200, &answer.to_string()));
    }
    assert_eq!(
        urls,
        vec![
            "http://127.0.0.1:4010/api/v2/user_fields",
            "http://127.0.0.1:4010/api/v2/user_fields.json?page=2&per_page=1",
            "http://127.0.0.1:4010/api/v2/users/create_or_update",
        ]
    );
    let Step::Done { outcomes } = conversation.step() else { panic!("expected the end") };
    // `plan` was found on page 2 (an integer field): "pro" does not fit it, so it was not created as text.
    assert_eq!(
        outcomes[0].warnings,
        vec![
            "`traits.plan` was not sent: a string does not fit the integer field and cannot be converted without loss"
        ]
    );
}

#[test]
fn unknown_time_zones_and_bad_organization_ids_are_dropped_with_warnings() {
    let d = destination(json!({}));
    let event = json!({"type": "identify", "userId": "u6", "traits": {"name": "Bob", "timezone": "Mars/Olympus_Mons", "organizationId": "acme", "phone": 5551234}});
    let outcome = converse(
        &d,
        event,
        vec![
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Bob", "phone": "5551234", "external_id": "u6", "user_fields": {"user_id": "u6"}}}),
                200,
                json!({"user": {"id": 15}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(outcome.warnings.len(), 2, "{:?}", outcome.warnings);
}

fn removal_event() -> serde_json::Value {
    json!({"type": "identify", "userId": "12345", "traits": {
        "name": "Pikachu", "email": "pikachu@pokemon.com", "organizationId": 6789,
        "company": {"id": "6789", "remove": true}
    }})
}

#[test]
fn removal_deletes_the_membership_and_does_not_rewrite_organization_id() {
    let d = destination(json!({"removeUsersFromOrganizations": true}));
    let outcome = converse(
        &d,
        removal_event(),
        vec![
            get(&email_search("pikachu@pokemon.com"), 200, users(&[(21, "pikachu@pokemon.com")])),
            get("/organizations/search?external_id=6789", 200, json!({"organizations": [{"id": 400}], "count": 1})),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            put(
                "/users/21",
                json!({"user": {"name": "Pikachu", "email": "pikachu@pokemon.com", "external_id": "12345", "user_fields": {"user_id": "12345"}}}),
                200,
                json!({"user": {"id": 21}}),
            ),
            delete("/users/21/organizations/400", 204),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert_eq!(outcome.message, "user 21 updated; removed from organization 400");
    assert_eq!(
        outcome.warnings,
        vec!["organizationId 400 was not written: this identify removes the user from that organization"]
    );
}

#[test]
fn removal_falls_back_to_a_numeric_zendesk_id_and_tolerates_a_missing_membership() {
    let d = destination(json!({"removeUsersFromOrganizations": true}));
    let outcome = converse(
        &d,
        removal_event(),
        vec![
            get(&email_search("pikachu@pokemon.com"), 200, no_users()),
            get("/organizations/search?external_id=6789", 200, json!({"organizations": [], "count": 0})),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/users/create_or_update",
                json!({"user": {"name": "Pikachu", "email": "pikachu@pokemon.com", "external_id": "12345", "user_fields": {"user_id": "12345"}}}),
                201,
                json!({"user": {"id": 22}}),
            ),
            delete("/users/22/organizations/6789", 404),
        ],
    );
    assert_eq!(outcome.code, Code::Delivered);
    assert!(outcome.warnings.contains(&"user 22 was not a member of organization 6789: nothing to remove".to_string()));
}

#[test]
fn removal_needs_the_setting_and_remove_exactly_true() {
    for (settings, remove) in [(json!({}), json!(true)), (json!({"removeUsersFromOrganizations": true}), json!("true"))]
    {
        let d = destination(settings);
        let event = json!({"type": "identify", "userId": "12345", "traits": {"name": "Pikachu", "organizationId": 6789, "company": {"id": "6789", "remove": remove}}});
        let outcome = converse(
            &d,
            event,
            vec![
                get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
                post(
                    "/users/create_or_update",
                    json!({"user": {"name": "Pikachu", "organization_id": 6789, "external_id": "12345", "user_fields": {"user_id": "12345"}}}),
                    200,
                    json!({"user": {"id": 23}}),
                ),
            ],
        );
        assert_eq!(outcome.code, Code::Delivered);
        assert!(outcome.warnings.iter().any(|w| w.starts_with("`traits.company` was not sent")));
    }
}

#[test]
fn zendesk_failures_become_stable_codes() {
    let cases = [
        (401, json!({"error": "Couldn't authenticate you"}), Code::Unauthorized, false, "Zendesk refused access (401) while looking the user up by email: Couldn't authenticate you. If this is an API token: Zendesk deactivates tokens unused for 30 days and stops all API tokens on 30 Apr 2027; use OAuth instead (the oauthToken setting, with the host's oauthRefresh or oauthClient)"),
        (403, json!({"error": "Forbidden", "description": "You do not have access to this page"}), Code::Unauthorized, false, "Zendesk refused access (403) while looking the user up by email: Forbidden; You do not have access to this page"),
        (429, json!({"error": "APIRateLimitExceeded"}), Code::RateLimited, true, "Zendesk rate limit reached while looking the user up by email"),
        (503, json!({}), Code::ZendeskUnavailable, true, "Zendesk is unavailable (503) while looking the user up by email: {}"),
        (404, json!({"error": "InvalidEndpoint"}), Code::ZendeskRejected, false, "Zendesk rejected the request (404) while looking the user up by email: InvalidEndpoint"),
        (200, json!("not an object"), Code::UnexpectedResponse, false, "Zendesk answered 200 while looking the user up by email with a body this engine cannot read"),
    ];
    for (status, answer, code, retryable, message) in cases {
        let d = destination(json!({}));
        let outcome = converse(&d, seed_identify(), vec![get(&email_search("pikachu@pakemon.com"), status, answer)]);
        assert_eq!(
            (outcome.code, outcome.retryable, outcome.message.as_str()),
            (code, retryable, message),
            "status {status}"
        );
        assert_eq!(outcome.status, Status::Failed);
    }
}

#[test]
fn a_refused_oauth_token_gets_no_api_token_advice() {
    let d = destination(json!({"email": null, "password": null, "oauthToken": "tok"}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![get(&email_search("pikachu@pakemon.com"), 401, json!({"error": "invalid_token"}))],
    );
    assert_eq!(outcome.message, "Zendesk refused access (401) while looking the user up by email: invalid_token");
}

#[test]
fn a_validation_error_on_the_write_reports_zendesks_detail() {
    let d = destination(json!({}));
    let duplicate = json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"email": [{"description": "Email: pikachu@pakemon.com is already being used by another user", "error": "DuplicateValue"}]}});
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 422, duplicate),
        ],
    );
    assert_eq!((outcome.status, outcome.code, outcome.retryable), (Status::Failed, Code::ZendeskRejected, false));
    assert_eq!(outcome.message, "Zendesk rejected the request (422) while creating or updating the user: RecordInvalid; Record validation errors; email: Email: pikachu@pakemon.com is already being used by another user");
}

#[test]
fn ids_beyond_2_pow_53_stay_exact() {
    let d = destination(json!({}));
    let big = "9007199254740993";
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(
                &email_search("pikachu@pakemon.com"),
                200,
                serde_json::from_str(&format!(
                    r#"{{"users":[{{"id":{big},"email":"pikachu@pakemon.com"}}],"count":1}}"#
                ))
                .unwrap(),
            ),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            put(
                &format!("/users/{big}"),
                seed_user_body(json!({})),
                200,
                serde_json::from_str(&format!(r#"{{"user":{{"id":{big}}}}}"#)).unwrap(),
            ),
        ],
    );
    assert_eq!(outcome.message, format!("user {big} updated"));
}

#[test]
fn an_unknown_organization_id_is_left_out_rather_than_losing_the_user() {
    let d = destination(json!({}));
    let invalid = json!({"error": "RecordInvalid", "description": "Record validation errors", "details": {"organization_id": [{"description": "Organization: 6789 is invalid", "error": "InvalidValue"}]}});
    let mut without = seed_user_body(json!({}));
    without["user"].as_object_mut().unwrap().remove("organization_id");
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 422, invalid.clone()),
            post("/users/create_or_update", without.clone(), 201, json!({"user": {"id": 16}})),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "user 16 created"));
    assert_eq!(outcome.warnings, vec![
        "organizationId 6789 is not a Zendesk organization (Zendesk answered 422 RecordInvalid; Record validation errors; organization_id: Organization: 6789 is invalid); the user was written without it",
    ]);

    // What Zendesk really answers (a captured response): 404 RecordNotFound, on a create …
    let not_found = json!({"error": "RecordNotFound", "description": "Not found"});
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post("/users/create_or_update", seed_user_body(json!({})), 404, not_found.clone()),
            post("/users/create_or_update", without.clone(), 201, json!({"user": {"id": 17}})),
        ],
    );
    assert_eq!((outcome.code, outcome.message.as_str()), (Code::Delivered, "user 17 created"));
    assert_eq!(outcome.warnings, vec![
        "organizationId 6789 is not a Zendesk organization (Zendesk answered 404 RecordNotFound; Not found); the user was written without it",
    ]);
    // … and on an update; a second 404 means the user itself is gone: that is the outcome, no guess.
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, users(&[(18, "pikachu@pakemon.com")])),
            put("/users/18", seed_user_body(json!({})), 404, not_found.clone()),
            put("/users/18", without.clone(), 404, not_found),
        ],
    );
    assert_eq!((outcome.code, outcome.warnings.len()), (Code::ZendeskRejected, 0));
    assert_eq!(
        outcome.message,
        "Zendesk rejected the request (404) while updating the user: RecordNotFound; Not found"
    );

    // Other validation errors are not retried.
    let d = destination(json!({}));
    let outcome = converse(
        &d,
        seed_identify(),
        vec![
            get(&email_search("pikachu@pakemon.com"), 200, no_users()),
            get("/user_fields", 200, fields("user_fields", &[("user_id", "text")])),
            post(
                "/users/create_or_update",
                seed_user_body(json!({})),
                422,
                json!({"error": "RecordInvalid", "details": {"organization_id": [{"description": "x"}], "email": [{"description": "y"}]}}),
            ),
        ],
    );
    assert_eq!(outcome.code, Code::ZendeskRejected);
}

#[test]
fn a_field_created_by_a_concurrent_conversation_is_not_created_again() {
    use zendesk_destination::{Response, Step};
    let d = destination(json!({}));
    let url = |step: &Step| match step {
        Step::Request { request } => format!("{:?} {}", request.method, request.url),
        Step::Done { outcomes } => format!("done {:?}", outcomes[0].code),
    };
    let mut a = d.begin(&json!({"type": "identify", "userId": "a", "traits": {"name": "A", "stapler": "red"}}), NOW);
    assert_eq!(url(a.step()), format!("Get {BASE}/user_fields"));
    a.respond(Response::new(200, &fields("user_fields", &[("user_id", "text")]).to_string()));
    assert_eq!(url(a.step()), format!("Post {BASE}/user_fields"));

    let mut b = d.begin(
        &json!({"type": "identify", "userId": "b", "traits": {"name": "B", "aardvark": 1, "stapler": "blue"}}),
        NOW,
    );
    assert_eq!(url(b.step()), format!("Post {BASE}/user_fields"), "b creates aardvark from the cached catalog");

    a.respond(Response::new(201, r#"{"user_field":{"id":2}}"#));
    assert_eq!(url(a.step()), format!("Post {BASE}/users/create_or_update"));
    b.respond(Response::new(201, r#"{"user_field":{"id":3}}"#));
    let Step::Request { request } = b.step() else { panic!("b should write the user") };
    assert_eq!(request.url, format!("{BASE}/users/create_or_update"), "stapler came from a's creation");
    let body: serde_json::Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["user"]["user_fields"], json!({"aardvark": 1, "stapler": "blue", "user_id": "b"}));
}
