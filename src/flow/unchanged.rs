//! Unchanged writes are skipped: a destination remembers a digest of the last successful write for each
//! user and organization; an identify or group that would write exactly that again, within the
//! `unchangedTtlSeconds` setting, sends nothing and ends `delivered/unchanged`.
//!
//! The digest is taken from what the event asks for (attributes and raw custom values), before any
//! lookup, so a skipped event costs no request at all. An identify that removes the user from an
//! organization is never skipped (the membership may have been added again since), and a removal
//! forgets the organization's digest (its next group must add the membership back).

use serde_json::{json, Value};

use super::Flow;
use crate::cache::digest;
use crate::event::format_epoch_millis;
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

fn custom_values(custom: &[CustomValue]) -> Value {
    Value::Object(custom.iter().map(|c| (c.key.clone(), c.value.clone())).collect())
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
    let content = json!({"attributes": plan.attributes, "custom": custom_values(&plan.custom)});
    Some(WriteDigest { key, digest: digest(&content) })
}

/// The organization's write plus the membership the group adds.
pub fn organization_digest(plan: &OrganizationPlan, user_id: Option<&str>) -> WriteDigest {
    let content = json!({"attributes": plan.attributes, "custom": custom_values(&plan.custom), "member": user_id});
    WriteDigest { key: organization_key(&plan.external_id), digest: digest(&content) }
}

pub fn organization_key(external_id: &str) -> String {
    format!("org:{}", external_id.to_ascii_lowercase())
}

impl Flow {
    /// The `unchanged` outcome when `write` repeats the last write within the time-to-live.
    pub(super) fn unchanged(&self, write: Option<&WriteDigest>, what: &str) -> Option<Outcome> {
        let write = write?;
        let ttl_ms = self.settings.unchanged_ttl_seconds as f64 * 1000.0;
        let at = self.cache.borrow().unchanged_since(&write.key, write.digest, self.now_ms, ttl_ms)?;
        let ago = ((self.now_ms - at) / 1000.0).floor();
        Some(Outcome::new(
            Code::Unchanged,
            format!(
                "{what} unchanged: the same write was delivered at {} ({ago} s ago); nothing was sent",
                format_epoch_millis(at)
            ),
        ))
    }

    pub(super) fn remember_written(&self, write: Option<&WriteDigest>) {
        if let Some(write) = write {
            self.cache.borrow_mut().remember_written(write.key.clone(), write.digest, self.now_ms);
        }
    }

    /// The user left organization `company_id`: a group adding them again must not be skipped.
    pub(super) fn forget_organization_write(&self, company_id: &str) {
        self.cache.borrow_mut().forget_written(&organization_key(company_id));
    }
}
