//! The destination's settings: Segment's own keys, plus `oauthToken`, `baseUrl` and `sourceName`.
//!
//! Validation collects every problem at once, names the offending key, and never repeats a credential.

use serde::Serialize;
use serde_json::{Map, Value};

const KNOWN_KEYS: &[&str] = &[
    "subdomain",
    "email",
    "password",
    "oauthToken",
    "events",
    "verified",
    "removeUsersFromOrganizations",
    "allowGroupWithoutUserId",
    "account",
    "baseUrl",
    "sourceName",
    "unchangedTtlSeconds",
];

/// How long a write's digest is trusted by default: an identify or group repeating it within an hour
/// sends nothing. Long enough to absorb analytics.js's identify-per-page-load; short enough that an
/// edit made in Zendesk by hand is overwritten again the same day.
pub const DEFAULT_UNCHANGED_TTL_SECONDS: u64 = 3600;

/// A week: digests older than that say little about what Zendesk holds.
const MAX_UNCHANGED_TTL_SECONDS: u64 = 7 * 24 * 3600;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Segment's "Email" and "Password": an API token when the email ends in `/token`.
    Basic {
        email: String,
        password: String,
    },
    OAuth {
        token: String,
    },
}

impl Credentials {
    pub fn authorization(&self) -> String {
        match self {
            Credentials::Basic { email, password } => {
                format!("Basic {}", crate::encoding::base64(format!("{email}:{password}").as_bytes()))
            }
            Credentials::OAuth { token } => format!("Bearer {token}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub subdomain: String,
    pub credentials: Credentials,
    /// Track event names to forward.
    pub events: Vec<String>,
    pub verified: bool,
    pub remove_users_from_organizations: bool,
    pub allow_group_without_user_id: bool,
    /// Origin (and optional path prefix) without a trailing slash.
    pub base_url: String,
    /// The Sunshine event `source`.
    pub source_name: String,
    /// How long a write is remembered to skip an identical one; 0 never skips.
    pub unchanged_ttl_seconds: u64,
}

/// One problem with the settings, naming its key (`""` for the settings value as a whole).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub key: String,
    pub code: &'static str,
    pub message: String,
}

fn problem(key: &str, message: impl Into<String>) -> SettingsError {
    SettingsError { key: key.to_string(), code: "invalid_settings", message: message.into() }
}

impl Settings {
    pub fn from_json(text: &str) -> Result<Settings, Vec<SettingsError>> {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => Settings::from_value(&value),
            Err(error) => Err(vec![problem(
                "",
                format!("settings are not valid JSON: {}", crate::json::error_text(text, &error)),
            )]),
        }
    }

    pub fn from_value(value: &Value) -> Result<Settings, Vec<SettingsError>> {
        let Some(map) = value.as_object() else {
            return Err(vec![problem("", "settings must be a JSON object")]);
        };
        let mut errors = Vec::new();
        for key in map.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                let hint = closest_known_key(key).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
                errors.push(problem(key, format!("unknown setting `{}`{hint}", printable(key))));
            }
        }

        let subdomain = match map.get("subdomain") {
            None | Some(Value::Null) => {
                errors.push(problem("subdomain", "subdomain is required: the `acme` of acme.zendesk.com"));
                None
            }
            Some(Value::String(s)) => match check_subdomain(s) {
                Ok(s) => Some(s),
                Err(message) => {
                    errors.push(problem("subdomain", message));
                    None
                }
            },
            Some(_) => {
                errors.push(problem("subdomain", "subdomain must be a string"));
                None
            }
        };

        let credentials = credentials(map, &mut errors);
        let events = events(map, &mut errors);
        let verified = flag(map, "verified", &mut errors);
        let remove = flag(map, "removeUsersFromOrganizations", &mut errors);
        let allow_group = flag(map, "allowGroupWithoutUserId", &mut errors);

        let base_url = match optional_string(map, "baseUrl", &mut errors) {
            Some(url) => match check_base_url(&url) {
                Ok(url) => Some(url),
                Err(message) => {
                    errors.push(problem("baseUrl", message));
                    None
                }
            },
            None => subdomain.as_ref().map(|s| format!("https://{s}.zendesk.com")),
        };

        let source_name = match optional_string(map, "sourceName", &mut errors) {
            None => "segment".to_string(),
            Some(name) => {
                let trimmed = name.trim();
                if trimmed.is_empty() {
                    errors.push(problem("sourceName", "sourceName must not be empty"));
                } else if trimmed.eq_ignore_ascii_case("zendesk") {
                    errors.push(problem("sourceName", "sourceName `zendesk` is reserved by Zendesk"));
                } else if trimmed.chars().any(char::is_control) {
                    errors.push(problem("sourceName", "sourceName must not contain control characters"));
                }
                trimmed.to_string()
            }
        };

        let unchanged_ttl_seconds = match map.get("unchangedTtlSeconds") {
            None | Some(Value::Null) => DEFAULT_UNCHANGED_TTL_SECONDS,
            Some(Value::Number(n)) if n.as_u64().is_some_and(|s| s <= MAX_UNCHANGED_TTL_SECONDS) => {
                n.as_u64().unwrap_or(DEFAULT_UNCHANGED_TTL_SECONDS)
            }
            Some(_) => {
                errors.push(problem(
                    "unchangedTtlSeconds",
                    format!("unchangedTtlSeconds must be a whole number of seconds from 0 (never skip) to {MAX_UNCHANGED_TTL_SECONDS}"),
                ));
                DEFAULT_UNCHANGED_TTL_SECONDS
            }
        };

        match (subdomain, credentials, base_url) {
            (Some(subdomain), Some(credentials), Some(base_url)) if errors.is_empty() => Ok(Settings {
                subdomain,
                credentials,
                events,
                verified,
                remove_users_from_organizations: remove,
                allow_group_without_user_id: allow_group,
                base_url,
                source_name,
                unchanged_ttl_seconds,
            }),
            _ => Err(errors),
        }
    }
}

fn optional_string(map: &Map<String, Value>, key: &str, errors: &mut Vec<SettingsError>) -> Option<String> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(problem(key, format!("{key} must be a string")));
            None
        }
    }
}

fn flag(map: &Map<String, Value>, key: &str, errors: &mut Vec<SettingsError>) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(problem(key, format!("{key} must be true or false")));
            false
        }
    }
}

fn events(map: &Map<String, Value>, errors: &mut Vec<SettingsError>) -> Vec<String> {
    match map.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut names = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => names.push(s.clone()),
                    _ => errors.push(problem("events", format!("events[{i}] must be a string (an event name)"))),
                }
            }
            names
        }
        Some(_) => {
            errors.push(problem("events", "events must be an array of event names"));
            Vec::new()
        }
    }
}

/// Exactly one of email+password or oauthToken; no control characters (they would split headers).
/// Messages never include the credential values.
fn credentials(map: &Map<String, Value>, errors: &mut Vec<SettingsError>) -> Option<Credentials> {
    let before = errors.len();
    let email = optional_string(map, "email", errors);
    let password = optional_string(map, "password", errors);
    let token = optional_string(map, "oauthToken", errors);
    for (key, value) in [("email", &email), ("password", &password), ("oauthToken", &token)] {
        if let Some(v) = value {
            if v.is_empty() {
                errors.push(problem(key, format!("{key} must not be empty")));
            } else if v.chars().any(char::is_control) {
                errors.push(problem(key, format!("{key} contains a line break or another control character")));
            } else if key == "oauthToken" && !v.bytes().all(|b| b.is_ascii_graphic()) {
                // It goes into the Authorization header as is (email and password are base64-encoded):
                // fetch refuses a header with other characters, and every event would fail.
                errors.push(problem(
                    key,
                    "oauthToken contains a character an HTTP header cannot carry (a space, a letter outside ASCII, an emoji): only visible ASCII characters are allowed",
                ));
            }
        }
    }
    if let Some(e) = &email {
        if e.contains(':') {
            errors.push(problem("email", "email must not contain `:` (it separates user and password in Basic auth)"));
        }
    }
    let basic = email.is_some() || password.is_some();
    match (&email, &password, &token) {
        (_, _, Some(_)) if basic => {
            let key = if email.is_some() { "email" } else { "password" };
            errors.push(problem(
                key,
                "contradictory credentials: give either email and password, or oauthToken, not both",
            ));
        }
        (Some(_), None, None) => errors
            .push(problem("password", "password is required with email (an API token, with `/token` after the email)")),
        (None, Some(_), None) => errors.push(problem("email", "email is required with password")),
        (None, None, None) => {
            errors.push(problem("oauthToken", "credentials are missing: give oauthToken, or email and password"))
        }
        _ => {}
    }
    if errors.len() > before {
        return None;
    }
    match (email, password, token) {
        (Some(email), Some(password), None) => Some(Credentials::Basic { email, password }),
        (None, None, Some(token)) => Some(Credentials::OAuth { token }),
        _ => None,
    }
}

/// A single DNS label, lowercased. Messages say what looked wrong.
fn check_subdomain(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    let shown = printable(s);
    if s.is_empty() {
        return Err("subdomain must not be empty".into());
    }
    if lower.contains("://") {
        return Err(format!("subdomain `{shown}` is a URL: give only the subdomain (`acme` for https://acme.zendesk.com), or use baseUrl"));
    }
    if lower.ends_with(".zendesk.com") {
        return Err(format!("subdomain `{shown}` includes `.zendesk.com`: give only the part before it"));
    }
    for (c, what) in [('.', "a dot"), ('/', "a slash"), ('@', "an `@`"), (':', "a port or colon"), (' ', "a space")] {
        if s.contains(c) {
            return Err(format!("subdomain `{shown}` contains {what}: it must be a single DNS label such as `acme`"));
        }
    }
    let valid = lower.len() <= 63
        && lower.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !lower.starts_with('-')
        && !lower.ends_with('-');
    if !valid {
        return Err(format!(
            "subdomain `{shown}` is not a single DNS label (letters, digits and inner hyphens, at most 63)"
        ));
    }
    Ok(lower)
}

/// `https:` anywhere; `http:` only for loopback hosts. No credentials, query or fragment.
fn check_base_url(raw: &str) -> Result<String, String> {
    let shown = printable(raw);
    let (scheme, rest) = if let Some(rest) = raw.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = raw.strip_prefix("http://") {
        ("http", rest)
    } else {
        return Err(format!("baseUrl `{shown}` must start with https:// (or http:// for a loopback host)"));
    };
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("baseUrl must not contain spaces or control characters".into());
    }
    if raw.contains('?') || raw.contains('#') {
        return Err(format!("baseUrl `{shown}` must not have a query or fragment"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("baseUrl must not carry credentials: use email/password or oauthToken".into());
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        match bracketed.find(']') {
            Some(end) => {
                let after = &bracketed[end + 1..];
                if !(after.is_empty() || is_port(after)) {
                    return Err(format!("baseUrl `{shown}` has an invalid port"));
                }
                &authority[..end + 2]
            }
            None => return Err(format!("baseUrl `{shown}` has an unclosed `[`")),
        }
    } else {
        match authority.rfind(':') {
            Some(i) if is_port(&authority[i..]) => &authority[..i],
            Some(_) => return Err(format!("baseUrl `{shown}` has an invalid port")),
            None => authority,
        }
    };
    if !valid_host(host) {
        return Err(format!("baseUrl `{shown}` has no valid host"));
    }
    if scheme == "http" && !is_loopback(host) {
        return Err(format!(
            "baseUrl `{shown}` uses http:// for a host that is not loopback: use https:// (http is only for 127.0.0.0/8, localhost and [::1])"
        ));
    }
    Ok(format!("{scheme}://{authority}{}", path.trim_end_matches('/')))
}

/// A host every URL parser accepts: a bracketed IPv6 address, a dotted IPv4 address, or DNS labels
/// (letters, digits, inner hyphens, at most 63 each, 253 in all). A name whose last label is a number
/// is read as an IPv4 address by URL parsers (`https://1.2.3.999` is no URL), so it must be one.
fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|address| address.parse::<std::net::Ipv6Addr>().is_ok());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return false;
    }
    let last = labels[labels.len() - 1];
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.len() > 1 && last[..2].eq_ignore_ascii_case("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    !numeric || is_dotted_ipv4(name)
}

fn is_dotted_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u8>().is_ok())
}

fn is_port(s: &str) -> bool {
    let digits = &s[1.min(s.len())..];
    s.starts_with(':')
        && !digits.is_empty()
        && digits.len() <= 5
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u32>().map(|p| p <= 65535).unwrap_or(false)
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") || host == "[::1]" {
        return true;
    }
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts[0] == "127"
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// A value safe to quote in a message: control characters escaped, length bounded.
fn printable(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(80) {
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn closest_known_key(key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    KNOWN_KEYS
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    if a.chars().count() > 64 {
        return usize::MAX;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let current = row[j + 1];
            row[j + 1] = if ca == b[j] { previous } else { 1 + previous.min(row[j]).min(row[j + 1]) };
            previous = current;
        }
    }
    row[b.len()]
}
