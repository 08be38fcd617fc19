//! Unchanged writes are skipped: a destination remembers a digest of the last successful write for each
//! user and organization; an identify or group that would write exactly that again, within the
//! `unchangedTtlSeconds` setting, sends nothing and ends `delivered/unchanged`.
//!
//! The digest is taken from what the event asks for (attributes and raw custom values), before any
//! lookup, so a skipped event costs no request at all. A group has two: the organization's content,
//! and the membership it adds; an organization that only gains members is not rewritten, and its
//! digest counts once it is written even when the membership then fails (an unknown user). An identify
//! that removes the user from an organization is never skipped (the membership may have been added
//! again since), and a removal forgets that user's membership digests.

use serde_json::{Map, Value};

use super::Flow;
use crate::cache::fnv;
use crate::event::format_epoch_millis;
use crate::json_writer::Object;
use crate::mapping::group::OrganizationPlan;
use crate::mapping::identify::UserPlan;
use crate::mapping::CustomValue;
use crate::outcome::{Code, Outcome};

/// What a previous write is recognised by: its key and the digest of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteDigest {
    pub key: String,
    pub digest: u64,
}

/// The digest of what a write asks for: the JSON text `{"attributes":{…},"custom":{key:value,…}}`
/// with both objects in key order (the text of that `Value`, which digests taken before were made
/// from), written from borrowed parts rather than copied into a `Value` first.
fn content_digest(attributes: &Map<String, Value>, custom: &[CustomValue]) -> u64 {
    // In key order, a repeated key keeping its last value (as a map would). A few values: an insertion
    // costs nothing here, where the standard library's sort would add 4 KB to the module.
    let mut sorted: Vec<&CustomValue> = Vec::with_capacity(custom.len());
    for value in custom {
        match sorted.iter().position(|s| s.key >= value.key) {
            Some(at) if sorted[at].key == value.key => sorted[at] = value,
            Some(at) => sorted.insert(at, value),
            None => sorted.push(value),
        }
    }
    let mut text = String::with_capacity(256);
    let mut content = Object::new(&mut text);
    content.value("attributes", attributes);
    let mut values = Object::new(content.member("custom"));
    for value in sorted {
        values.value(&value.key, &value.value);
    }
    values.end();
    content.end();
    fnv(text.as_bytes())
}

/// `None` when the identify must not be skipped (it removes a membership) or names nobody.
pub fn user_digest(plan: &UserPlan, user_id: Option<&str>) -> Option<WriteDigest> {
    if plan.removal.is_some() {
        return None;
    }
    let key = match (user_id, plan.email.as_deref()) {
        (Some(id), _) => format!("user:{}", id.to_ascii_lowercase()),
        (None, Some(email)) => format!("email:{}", email.to_ascii_lowercase()),
        (None, None) => return None,
    };
    Some(WriteDigest { key, digest: content_digest(&plan.attributes, &plan.custom) })
}

/// A group's two writes: the organization (by groupId), and the membership it adds (when it has a
/// userId). A hot organization that gains members keeps its digest, so it is not rewritten for each.
pub struct GroupDigests {
    pub organization: WriteDigest,
    pub membership: Option<WriteDigest>,
}

pub fn group_digests(plan: &OrganizationPlan, user_id: Option<&str>) -> GroupDigests {
    let organization = WriteDigest {
        key: organization_key(&plan.external_id),
        digest: content_digest(&plan.attributes, &plan.custom),
    };
    let membership = user_id.map(|user| WriteDigest {
        key: format!("{}{}", membership_prefix(user), plan.external_id.to_ascii_lowercase()),
        digest: 1,
    });
    GroupDigests { organization, membership }
}

pub fn organization_key(external_id: &str) -> String {
    format!("org:{}", external_id.to_ascii_lowercase())
}

fn membership_prefix(user_id: &str) -> String {
    format!("member:{}:", user_id.to_ascii_lowercase())
}

impl Flow {
    /// When `write` was last delivered, if within the time-to-live.
    pub(super) fn written_at(&self, write: &WriteDigest) -> Option<f64> {
        let ttl_ms = self.settings.unchanged_ttl_seconds as f64 * 1000.0;
        self.cache.borrow().unchanged_since(&write.key, write.digest, self.now_ms, ttl_ms)
    }

    /// The `unchanged` outcome for a write last delivered at `at`.
    pub(super) fn unchanged_outcome(&self, at: f64, what: &str) -> Outcome {
        let ago = ((self.now_ms - at) / 1000.0).floor() as i64; // whole seconds: no float formatting in the module
        Outcome::new(
            Code::Unchanged,
            format!(
                "{what} unchanged: the same write was delivered at {} ({ago} s ago); nothing was sent",
                format_epoch_millis(at)
            ),
        )
    }

    /// The `unchanged` outcome when `write` repeats the last write within the time-to-live.
    pub(super) fn unchanged(&self, write: Option<&WriteDigest>, what: &str) -> Option<Outcome> {
        let at = self.written_at(write?)?;
        Some(self.unchanged_outcome(at, what))
    }

    /// A group whose organization and membership were both delivered already.
    pub(super) fn group_unchanged(&self, digests: &GroupDigests) -> Option<Outcome> {
        let organization = self.written_at(&digests.organization)?;
        let at = match &digests.membership {
            Some(membership) => self.written_at(membership)?.max(organization),
            None => organization,
        };
        Some(self.unchanged_outcome(at, "organization and membership"))
    }

    pub(super) fn remember_written(&self, write: Option<&WriteDigest>) {
        if let Some(write) = write {
            self.cache.borrow_mut().remember_written(write.key.clone(), write.digest, self.now_ms);
        }
    }

    /// The user left an organization: a group adding them again (to any) must not be skipped.
    pub(super) fn forget_memberships_of(&self, user_id: &str) {
        self.cache.borrow_mut().forget_written_prefix(&membership_prefix(user_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Digests travel between destinations (takeLearned) and outlive an upgrade: the borrowed content
    /// must hash exactly as the whole value's JSON text did, custom values in key order.
    #[test]
    fn content_digest_is_the_digest_of_the_whole_value_text() {
        let attributes =
            json!({"name": "Ann \"A\" Ng", "email": "ann@example.com", "organization_id": 12345678901234567u64});
        let attributes = attributes.as_object().unwrap().clone();
        let value = |key: &str, value: Value| CustomValue {
            from: format!("traits.{key}"),
            key: key.into(),
            fixed_title: None,
            value,
        };
        let custom = vec![
            value("zeta", json!(2.5)),
            value("plan", json!("pro")),
            value("user_id", json!(null)),
            value("plan", json!("max")),
        ];
        let whole = json!({"attributes": attributes, "custom": {"zeta": 2.5, "plan": "max", "user_id": null}});
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in whole.to_string().bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        assert_eq!(content_digest(&attributes, &custom), hash);
        assert_ne!(content_digest(&attributes, &custom[..3]), hash);
        assert_eq!(content_digest(&Map::new(), &[]), fnv(br#"{"attributes":{},"custom":{}}"#));
    }
}
