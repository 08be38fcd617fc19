//! What the engine remembers across events for the life of a destination: custom-field catalogs and
//! the Zendesk ids it has seen, so that steady-state traffic pays no catalog or id lookups; a digest of
//! what it last wrote for each user and organization, so that a write that would change nothing is
//! skipped; and which bulk endpoints the account refused.
//!
//! Hosts that run several destinations for one account (several processes, docs/scale-out.md) share
//! the ids, catalogs and digests: `take_learned` hands out what was learned since the last call (the
//! first call: everything, and from then on a journal is kept), `learn` takes in what others learned.

use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use serde_json::{json, Map, Value};

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
    /// Shared with the conversations reading them: copied only when a field is added meanwhile.
    user_fields: Option<Rc<Catalog>>,
    organization_fields: Option<Rc<Catalog>>,
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
    /// What was learned since the last `take_learned`; None until a host first asks.
    journal: Option<Journal>,
}

/// Changes to the shared knowledge, in the order they happened.
#[derive(Default, Debug)]
struct Journal {
    entries: Vec<Value>,
    catalogs_changed: [bool; 2],
}

fn kind_index(kind: FieldKind) -> usize {
    match kind {
        FieldKind::User => 0,
        FieldKind::Organization => 1,
    }
}

/// The digest of a write and when (ms since the epoch, the host's clock) it succeeded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Written {
    pub digest: u64,
    pub at_ms: f64,
}

/// FNV-1a over a write's JSON text (flow::unchanged writes it with objects in key order, so equal
/// content gives equal text). Not cryptographic: a collision would skip one write until the
/// time-to-live ends (1 in 2^64).
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
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
    pub fn catalog(&self, kind: FieldKind) -> Option<&Rc<Catalog>> {
        match kind {
            FieldKind::User => self.user_fields.as_ref(),
            FieldKind::Organization => self.organization_fields.as_ref(),
        }
    }

    pub fn set_catalog(&mut self, kind: FieldKind, catalog: Rc<Catalog>) {
        if let Some(journal) = self.journal.as_mut() {
            journal.catalogs_changed[kind_index(kind)] = true;
        }
        match kind {
            FieldKind::User => self.user_fields = Some(catalog),
            FieldKind::Organization => self.organization_fields = Some(catalog),
        }
    }

    pub fn add_field(&mut self, kind: FieldKind, key: &str, info: FieldInfo) {
        if let Some(journal) = self.journal.as_mut() {
            journal.catalogs_changed[kind_index(kind)] = true;
        }
        let slot = match kind {
            FieldKind::User => &mut self.user_fields,
            FieldKind::Organization => &mut self.organization_fields,
        };
        Rc::make_mut(slot.get_or_insert_with(Rc::default)).insert(key.to_string(), info);
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

    fn note(&mut self, entry: Value) {
        if let Some(journal) = self.journal.as_mut() {
            journal.entries.push(entry);
        }
    }

    pub fn remember_user(&mut self, id: u64, email: Option<&str>, external_id: Option<&str>) {
        self.note(json!({"user": id.to_string(), "email": email, "externalId": external_id}));
        if let Some(email) = email {
            remember(&mut self.users_by_email, email, id);
        }
        if let Some(external_id) = external_id {
            remember(&mut self.users_by_external_id, external_id, id);
        }
    }

    pub fn remember_organization(&mut self, id: u64, external_id: &str) {
        self.note(json!({"organization": id.to_string(), "externalId": external_id}));
        remember(&mut self.organizations_by_external_id, external_id, id);
    }

    /// A cached id that Zendesk no longer knows (deleted or merged): forget every name for it.
    pub fn forget_user(&mut self, id: u64) {
        self.note(json!({"forgetUser": id.to_string()}));
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
        self.note(json!({"written": key, "digest": format!("{digest:016x}"), "at": now_ms}));
        if self.written.len() >= MAX_ENTRIES {
            self.written.clear();
        }
        self.written.insert(key, Written { digest, at_ms: now_ms });
    }

    pub fn forget_written_prefix(&mut self, prefix: &str) {
        self.note(json!({"forgetWritten": prefix}));
        self.written.retain(|key, _| !key.starts_with(prefix));
    }

    pub fn bulk_refused(&self, endpoint: &str) -> bool {
        self.bulk_refused.contains(endpoint)
    }

    /// Returns whether this is news (the first refusal seen for `endpoint`).
    pub fn refuse_bulk(&mut self, endpoint: &'static str) -> bool {
        self.bulk_refused.insert(endpoint)
    }

    /// What was learned since the last call, as `{"entries": [...], "userFields"?: {...},
    /// "organizationFields"?: {...}}` (ids and digests as strings: they exceed 2^53). The first call
    /// starts the journal and returns everything known.
    pub fn take_learned(&mut self) -> Value {
        let mut out = Map::new();
        let (entries, changed) = match self.journal.take() {
            Some(journal) => (journal.entries, journal.catalogs_changed),
            None => (self.snapshot(), [true, true]),
        };
        self.journal = Some(Journal::default());
        out.insert("entries".into(), Value::Array(entries));
        for kind in [FieldKind::User, FieldKind::Organization] {
            if let (true, Some(catalog)) = (changed[kind_index(kind)], self.catalog(kind)) {
                let fields: Map<String, Value> = catalog
                    .iter()
                    .map(|(key, info)| {
                        (
                            key.clone(),
                            json!({"type": info.field_type.as_str(), "active": info.active, "options": info.options}),
                        )
                    })
                    .collect();
                out.insert(catalog_name(kind).into(), Value::Object(fields));
            }
        }
        Value::Object(out)
    }

    fn snapshot(&self) -> Vec<Value> {
        let mut entries = Vec::new();
        for (email, id) in &self.users_by_email {
            entries.push(json!({"user": id.to_string(), "email": email}));
        }
        for (external_id, id) in &self.users_by_external_id {
            entries.push(json!({"user": id.to_string(), "externalId": external_id}));
        }
        for (external_id, id) in &self.organizations_by_external_id {
            entries.push(json!({"organization": id.to_string(), "externalId": external_id}));
        }
        for (key, written) in &self.written {
            entries.push(json!({"written": key, "digest": format!("{:016x}", written.digest), "at": written.at_ms}));
        }
        entries
    }

    /// Takes in what another destination of the same account learned (`take_learned`'s shape),
    /// without journaling it again. Entries that are not understood are skipped; returns how many
    /// were applied.
    pub fn learn(&mut self, learned: &Value) -> usize {
        let journal = self.journal.take();
        let mut applied = 0;
        let id = |value: Option<&Value>| value.and_then(Value::as_str).and_then(|text| text.parse::<u64>().ok());
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
        for entry in learned.get("entries").and_then(Value::as_array).into_iter().flatten() {
            let done = if let Some(user) = id(entry.get("user")) {
                self.remember_user(user, text(entry.get("email")).as_deref(), text(entry.get("externalId")).as_deref());
                true
            } else if let (Some(organization), Some(external_id)) =
                (id(entry.get("organization")), text(entry.get("externalId")))
            {
                self.remember_organization(organization, &external_id);
                true
            } else if let Some(user) = id(entry.get("forgetUser")) {
                self.forget_user(user);
                true
            } else if let (Some(key), Some(digest), Some(at)) = (
                text(entry.get("written")),
                entry.get("digest").and_then(Value::as_str).and_then(|hex| u64::from_str_radix(hex, 16).ok()),
                entry.get("at").and_then(Value::as_f64),
            ) {
                self.remember_written(key, digest, at);
                true
            } else if let Some(prefix) = text(entry.get("forgetWritten")) {
                self.forget_written_prefix(&prefix);
                true
            } else {
                false
            };
            applied += usize::from(done);
        }
        for kind in [FieldKind::User, FieldKind::Organization] {
            if let Some(fields) = learned.get(catalog_name(kind)).and_then(Value::as_object) {
                let catalog: Catalog = fields
                    .iter()
                    .filter_map(|(key, info)| {
                        let field_type = FieldType::parse(info.get("type")?.as_str()?);
                        let active = info.get("active")?.as_bool()?;
                        let options = info
                            .get("options")
                            .and_then(Value::as_array)
                            .map(|values| values.iter().filter_map(Value::as_str).map(str::to_string).collect());
                        Some((key.clone(), FieldInfo { field_type, active, options }))
                    })
                    .collect();
                self.set_catalog(kind, Rc::new(catalog));
                applied += 1;
            }
        }
        self.journal = journal;
        applied
    }
}

fn catalog_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::User => "userFields",
        FieldKind::Organization => "organizationFields",
    }
}
