//! What the engine remembers across events for the life of a destination: custom-field catalogs and
//! the Zendesk ids it has seen, so that steady-state traffic pays no catalog or id lookups; a digest of
//! what it last wrote for each user and organization, so that a write that would change nothing is
//! skipped; and which bulk endpoints the account refused.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::mapping::FieldType;

/// Each map is cleared when it reaches this many entries: memory stays bounded on endless streams.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Debug)]
pub struct FieldInfo {
    pub field_type: FieldType,
    pub active: bool,
    /// A dropdown's or multiselect's option values (`custom_field_options[].value`); None otherwise.
    pub options: Option<Vec<String>>,
}

/// Custom fields by key.
pub type Catalog = HashMap<String, FieldInfo>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    User,
    Organization,
}

impl FieldKind {
    /// The API collection: `user_fields` / `organization_fields`.
    pub fn collection(self) -> &'static str {
        match self {
            FieldKind::User => "user_fields",
            FieldKind::Organization => "organization_fields",
        }
    }

    /// The singular wrapper key: `user_field` / `organization_field`.
    pub fn member(self) -> &'static str {
        match self {
            FieldKind::User => "user_field",
            FieldKind::Organization => "organization_field",
        }
    }
}

#[derive(Default, Debug)]
pub struct Cache {
    user_fields: Option<Catalog>,
    organization_fields: Option<Catalog>,
    users_by_email: HashMap<String, u64>,
    users_by_external_id: HashMap<String, u64>,
    organizations_by_external_id: HashMap<String, u64>,
    /// Fields these credentials could not create (403: not an administrator), so they are not asked
    /// again: `"{collection}/{key}"` (a map like the others, which costs the module no new code).
    uncreatable: HashMap<String, u64>,
    /// `user:{userId}` / `email:{email}` / `org:{groupId}` → what was last written there, and when.
    written: HashMap<String, Written>,
    /// `*_many` endpoints that answered 403 (bulk import off): single writes from then on.
    bulk_refused: BTreeSet<&'static str>,
    /// Background jobs submitted by this destination's batches and not yet finished (Zendesk allows 30
    /// per account).
    pub jobs_in_flight: usize,
}

/// The digest of a write and when (ms since the epoch, the host's clock) it succeeded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Written {
    pub digest: u64,
    pub at_ms: f64,
}

/// FNV-1a over the value's JSON text. serde_json's maps are sorted by key, so equal values give equal
/// text. Not cryptographic: a collision would skip one write until the time-to-live ends (1 in 2^64).
pub fn digest(value: &Value) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.to_string().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Zendesk matches emails and external ids case-insensitively. ASCII folding only: a non-ASCII
/// case difference costs a lookup, never a wrong match.
fn key(value: &str) -> String {
    value.to_ascii_lowercase()
}

fn remember(map: &mut HashMap<String, u64>, value: &str, id: u64) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key(value), id);
}

impl Cache {
    pub fn catalog(&self, kind: FieldKind) -> Option<&Catalog> {
        match kind {
            FieldKind::User => self.user_fields.as_ref(),
            FieldKind::Organization => self.organization_fields.as_ref(),
        }
    }

    pub fn set_catalog(&mut self, kind: FieldKind, catalog: Catalog) {
        match kind {
            FieldKind::User => self.user_fields = Some(catalog),
            FieldKind::Organization => self.organization_fields = Some(catalog),
        }
    }

    pub fn add_field(&mut self, kind: FieldKind, key: &str, info: FieldInfo) {
        let slot = match kind {
            FieldKind::User => &mut self.user_fields,
            FieldKind::Organization => &mut self.organization_fields,
        };
        slot.get_or_insert_with(Catalog::new).insert(key.to_string(), info);
    }

    pub fn is_uncreatable(&self, kind: FieldKind, key: &str) -> bool {
        self.uncreatable.contains_key(&format!("{}/{key}", kind.collection()))
    }

    pub fn mark_uncreatable(&mut self, kind: FieldKind, key: &str) {
        remember(&mut self.uncreatable, &format!("{}/{key}", kind.collection()), 0);
    }

    pub fn user_by_email(&self, email: &str) -> Option<u64> {
        self.users_by_email.get(&key(email)).copied()
    }

    pub fn user_by_external_id(&self, external_id: &str) -> Option<u64> {
        self.users_by_external_id.get(&key(external_id)).copied()
    }

    pub fn organization_by_external_id(&self, external_id: &str) -> Option<u64> {
        self.organizations_by_external_id.get(&key(external_id)).copied()
    }

    pub fn remember_user(&mut self, id: u64, email: Option<&str>, external_id: Option<&str>) {
        if let Some(email) = email {
            remember(&mut self.users_by_email, email, id);
        }
        if let Some(external_id) = external_id {
            remember(&mut self.users_by_external_id, external_id, id);
        }
    }

    pub fn remember_organization(&mut self, id: u64, external_id: &str) {
        remember(&mut self.organizations_by_external_id, external_id, id);
    }

    /// A cached id that Zendesk no longer knows (deleted or merged): forget every name for it.
    pub fn forget_user(&mut self, id: u64) {
        self.users_by_email.retain(|_, v| *v != id);
        self.users_by_external_id.retain(|_, v| *v != id);
    }

    /// When `digest` was last written under `key`, if that is less than `ttl_ms` ago.
    pub fn unchanged_since(&self, key: &str, digest: u64, now_ms: f64, ttl_ms: f64) -> Option<f64> {
        let written = self.written.get(key)?;
        (written.digest == digest && now_ms - written.at_ms < ttl_ms && now_ms >= written.at_ms)
            .then_some(written.at_ms)
    }

    pub fn remember_written(&mut self, key: String, digest: u64, now_ms: f64) {
        if self.written.len() >= MAX_ENTRIES {
            self.written.clear();
        }
        self.written.insert(key, Written { digest, at_ms: now_ms });
    }

    pub fn forget_written_prefix(&mut self, prefix: &str) {
        self.written.retain(|key, _| !key.starts_with(prefix));
    }

    pub fn bulk_refused(&self, endpoint: &str) -> bool {
        self.bulk_refused.contains(endpoint)
    }

    /// Returns whether this is news (the first refusal seen for `endpoint`).
    pub fn refuse_bulk(&mut self, endpoint: &'static str) -> bool {
        self.bulk_refused.insert(endpoint)
    }
}
