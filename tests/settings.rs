//! Settings validation: every problem named by its key, no credential ever repeated.

use serde_json::{json, Value};
use zendesk_destination::settings::Credentials;
use zendesk_destination::Settings;

fn errors(settings: Value) -> Vec<(String, String)> {
    match Settings::from_value(&settings) {
        Ok(_) => vec![],
        Err(errors) => errors.into_iter().map(|e| (e.key, e.message)).collect(),
    }
}

fn base() -> Value {
    json!({"subdomain": "acme", "email": "agent@acme.test/token", "password": "pw-123"})
}

fn with(key: &str, value: Value) -> Value {
    let mut s = base();
    s[key] = value;
    s
}

#[test]
fn segment_exports_are_accepted_as_they_are() {
    let exported = json!({
        "subdomain": "Acme", "email": "agent@acme.test/token", "password": "pw-123", "events": ["Signed Up"],
        "verified": true, "removeUsersFromOrganizations": false, "allowGroupWithoutUserId": true, "account": "whatever"
    });
    let s = Settings::from_value(&exported).unwrap();
    assert_eq!(s.subdomain, "acme");
    assert_eq!(s.base_url, "https://acme.zendesk.com");
    assert_eq!(s.events, vec!["Signed Up"]);
    assert!(s.verified && s.allow_group_without_user_id && !s.remove_users_from_organizations);
    assert_eq!(s.source_name, "segment");
    assert_eq!(s.credentials, Credentials::Basic { email: "agent@acme.test/token".into(), password: "pw-123".into() });
}

#[test]
fn subdomains_must_be_one_dns_label_and_the_message_says_why() {
    for (subdomain, expected) in [
        ("acme.zendesk.com", "subdomain `acme.zendesk.com` includes `.zendesk.com`: give only the part before it"),
        ("https://acme.zendesk.com", "is a URL"),
        ("acme.eu", "contains a dot"),
        ("acme/x", "contains a slash"),
        ("me@acme", "contains an `@`"),
        ("acme:443", "contains a port or colon"),
        ("ac me", "contains a space"),
        ("-acme", "is not a single DNS label"),
        ("acme_co", "is not a single DNS label"),
        ("", "subdomain must not be empty"),
    ] {
        let found = errors(with("subdomain", json!(subdomain)));
        assert_eq!(found.len(), 1, "{subdomain}: {found:?}");
        assert_eq!(found[0].0, "subdomain");
        assert!(found[0].1.contains(expected), "{subdomain}: {}", found[0].1);
    }
    assert_eq!(errors(with("subdomain", json!(7)))[0].1, "subdomain must be a string");
}

#[test]
fn credentials_are_exactly_one_kind_and_never_echoed() {
    let secret = "pw\r\nX-Injected: 1";
    let cases = [
        (json!({"subdomain": "acme"}), "oauthToken", "credentials are missing"),
        (json!({"subdomain": "acme", "email": "a@b.co"}), "password", "password is required"),
        (json!({"subdomain": "acme", "password": "x"}), "email", "email is required"),
        (
            json!({"subdomain": "acme", "email": "a@b.co", "password": "x", "oauthToken": "t"}),
            "email",
            "contradictory credentials",
        ),
        (json!({"subdomain": "acme", "oauthToken": "t", "password": "x"}), "password", "contradictory credentials"),
        (json!({"subdomain": "acme", "email": "a@b.co", "password": secret}), "password", "control character"),
        (json!({"subdomain": "acme", "oauthToken": "tok\n"}), "oauthToken", "control character"),
        // Characters a header cannot carry: every event would end zendesk_unavailable ("network").
        (json!({"subdomain": "acme", "oauthToken": "tok\u{1F600}"}), "oauthToken", "HTTP header cannot carry"),
        (json!({"subdomain": "acme", "oauthToken": "tok\u{2028}x"}), "oauthToken", "HTTP header cannot carry"),
        (json!({"subdomain": "acme", "oauthToken": "tok en"}), "oauthToken", "HTTP header cannot carry"),
        (json!({"subdomain": "acme", "oauthToken": "tokén"}), "oauthToken", "HTTP header cannot carry"),
        (json!({"subdomain": "acme", "oauthToken": ""}), "oauthToken", "must not be empty"),
        (json!({"subdomain": "acme", "email": "a:b@c.d", "password": "x"}), "email", "must not contain `:`"),
        (json!({"subdomain": "acme", "oauthToken": 5}), "oauthToken", "must be a string"),
    ];
    for (settings, key, expected) in cases {
        let found = errors(settings.clone());
        assert!(found.iter().any(|(k, m)| k == key && m.contains(expected)), "{settings}: {found:?}");
        for (_, message) in &found {
            for credential in ["pw\r", "X-Injected", "tok\n", "a:b@c.d"] {
                assert!(!message.contains(credential), "a credential leaked into {message}");
            }
        }
    }
    let oauth = Settings::from_value(&json!({"subdomain": "acme", "oauthToken": "tok"})).unwrap();
    assert_eq!(oauth.credentials.authorization(), "Bearer tok");
}

#[test]
fn base_url_is_https_or_loopback_http() {
    for (url, normalized) in [
        ("https://proxy.example.com/zendesk/", "https://proxy.example.com/zendesk"),
        ("http://127.0.0.1:4010", "http://127.0.0.1:4010"),
        ("http://127.12.0.9:80/", "http://127.12.0.9:80"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://[2001:db8::1]:8443/zd", "https://[2001:db8::1]:8443/zd"),
        ("https://10.1.2.3", "https://10.1.2.3"),
        ("https://proxy-1.example.co.uk.", "https://proxy-1.example.co.uk."),
    ] {
        let s = Settings::from_value(&with("baseUrl", json!(url))).unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(s.base_url, normalized);
    }
    for (url, expected) in [
        ("http://acme.zendesk.com", "not loopback"),
        ("http://10.0.0.1", "not loopback"),
        ("http://127.0.0.1.nip.io", "not loopback"),
        ("ftp://x", "must start with https://"),
        ("acme.zendesk.com", "must start with https://"),
        ("https://user:pw@host", "must not carry credentials"),
        ("https://host/?q=1", "query or fragment"),
        ("https://host:99999", "invalid port"),
        ("https://", "no valid host"),
        // Hosts no URL parser accepts: every event would end internal_error ("Invalid URL").
        ("https://[zz]", "no valid host"),
        ("https://[1:2:3]", "no valid host"),
        ("https://[::1", "unclosed"),
        ("https://a..b", "no valid host"),
        ("https://-a.com", "no valid host"),
        ("https://1.2.3.999", "no valid host"),
        ("https://example.123", "no valid host"),
        ("https://a.0x1f", "no valid host"),
    ] {
        let found = errors(with("baseUrl", json!(url)));
        assert!(found.iter().any(|(k, m)| k == "baseUrl" && m.contains(expected)), "{url}: {found:?}");
        assert!(found.iter().all(|(_, m)| !m.contains("pw@")), "{found:?}");
    }
}

#[test]
fn types_unknown_keys_and_source_name() {
    let found = errors(json!({
        "subdomian": "acme", "email": "a@b.co", "password": "x", "events": "Signed Up", "verified": "yes", "sourceName": "Zendesk"
    }));
    let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["subdomian", "subdomain", "events", "verified", "sourceName"]);
    assert_eq!(found[0].1, "unknown setting `subdomian` (did you mean `subdomain`?)");
    assert_eq!(found[2].1, "events must be an array of event names");
    assert_eq!(found[4].1, "sourceName `zendesk` is reserved by Zendesk");
    assert_eq!(errors(with("events", json!(["a", 1])))[0].1, "events[1] must be a string (an event name)");
    for bad in ["null", "[]", "\"acme\"", "{", ""] {
        let result = Settings::from_json(bad);
        assert!(result.is_err(), "{bad}");
    }
    assert_eq!(Settings::from_value(&with("sourceName", json!("initech"))).unwrap().source_name, "initech");
}
