//! group: find the organization by external_id (cache, else one search) → create missing custom fields →
//! create or update it → find the calling user (cache, else one lookup) → add the membership.
//! The organization is written even when the user is unknown: its data is valid on its own, and the
//! outcome says the membership is missing (a later group call, after an identify, adds it).

use serde_json::{Map, Value};

use super::unchanged::{group_digests, GroupDigests};
use super::zendesk::written_id;
use super::{with_report, Flow};
use crate::cache::FieldKind;
use crate::event::Event;
use crate::json_writer::Wrapped;
use crate::mapping::group::{organization_plan, OrganizationPlan};
use crate::mapping::track::{Identifier, IdentifierKind};
use crate::outcome::{Code, Outcome};

pub(super) async fn group(flow: &Flow, event: &Event, group_id: &str, traits: &Map<String, Value>) -> Outcome {
    if event.user_id.is_none() && !flow.settings.allow_group_without_user_id {
        return Outcome::new(
            Code::MissingUserId,
            "group calls without a userId are sent only with the allowGroupWithoutUserId setting",
        );
    }
    let mut plan = organization_plan(group_id, traits);
    let digests = group_digests(&plan, event.user_id.as_deref());
    if let Some(outcome) = flow.group_unchanged(&digests) {
        return with_report(outcome, plan.report);
    }
    // The organization's digest counts once it is written, whatever becomes of the membership: a user
    // Zendesk does not know yet must not make every later group rewrite the same organization.
    let outcome = match write_organization(flow, &mut plan, &digests).await {
        Ok((organization_id, message)) => {
            flow.remember_written(Some(&digests.organization));
            let added = add_member(flow, event.user_id.as_deref(), organization_id, message).await;
            if added.is_ok() {
                flow.remember_written(digests.membership.as_ref());
            }
            added
        }
        Err(failure) => Err(failure),
    };
    with_report(outcome.unwrap_or_else(|failure| failure), plan.report)
}

/// The organization written (or found as last written): its id and what was done, for the message.
async fn write_organization(
    flow: &Flow,
    plan: &mut OrganizationPlan,
    digests: &GroupDigests,
) -> Result<(u64, String), Outcome> {
    let OrganizationPlan { external_id, attributes, custom, report } = plan;
    let known = flow.cache.borrow().organization_by_external_id(external_id);
    // The organization is as last written: only the membership is new.
    let unchanged = known.filter(|_| flow.written_at(&digests.organization).is_some());
    if let Some(organization_id) = unchanged {
        return Ok((organization_id, format!("organization {organization_id} unchanged")));
    }
    if known.is_none() {
        let found = flow.organizations_by_external_id(external_id).await?;
        if found.len() > 1 {
            return Err(Outcome::new(
                Code::AmbiguousOrganization,
                format!("{} Zendesk organizations have external_id {external_id}; nothing was written", found.len()),
            ));
        }
        if found.is_empty() {
            if !attributes.contains_key("name") {
                attributes.insert("name".into(), Value::String(external_id.clone()));
                report.warn(format!(
                    "the new organization has no `name` trait; it is named after its groupId `{external_id}`"
                ));
            }
            if let Some(id) = adopt_by_name(flow, external_id, attributes, report).await? {
                // create_or_update matches by `id` first: the adopted organization takes the external_id.
                attributes.insert("id".into(), Value::from(id));
            }
        }
    }

    let fields = flow.custom_fields(FieldKind::Organization, std::mem::take(custom), report).await?;
    if !fields.is_empty() {
        attributes.insert("organization_fields".into(), Value::Object(fields));
    }
    let body = Wrapped { name: "organization", value: &*attributes };
    let response = flow.exchange.send(flow.api.post("/organizations/create_or_update", &body)).await;
    if response.status == 403 {
        return Err(needs_administrator(&response, "creating or updating the organization"));
    }
    let organization_id = written_id(&response, "creating or updating the organization", "organization")?;
    attributes.remove("id");
    flow.cache.borrow_mut().remember_organization(organization_id, external_id);
    let verb = if response.status == 201 { "created" } else { "updated" };
    Ok((organization_id, format!("organization {organization_id} {verb}")))
}

/// Adds the calling user (when there is one) to the organization.
async fn add_member(
    flow: &Flow,
    user_id: Option<&str>,
    organization_id: u64,
    mut message: String,
) -> Result<Outcome, Outcome> {
    if let Some(user_id) = user_id {
        let identifier = Identifier { kind: IdentifierKind::ExternalId, value: user_id.to_string() };
        let consequence = format!("{message}, but the user was not added to it (identify the user first)");
        let (member, _) = flow.existing_user(&identifier, &consequence).await?;
        let added = flow.add_membership(member, organization_id).await?;
        message.push_str(&if added {
            format!("; user {member} added to it")
        } else {
            format!("; user {member} already a member")
        });
    }
    Ok(Outcome::delivered(message))
}

/// The seed: group calls need an administrator's credentials (Zendesk lets agents write users, but
/// organizations only for administrators).
pub(super) fn needs_administrator(response: &crate::response::Response, doing: &str) -> Outcome {
    Outcome::new(
        Code::Unauthorized,
        format!(
            "Zendesk refused access (403) while {doing}: group calls need a Zendesk administrator's credentials; these are not an administrator's ({})",
            response.reason()
        ),
    )
}

/// Organization names are unique in Zendesk, and `create_or_update` matches only by id or external_id,
/// so a new groupId whose name is taken would fail with 422 "has already been taken". The seed: "if
/// multiple organizations match the name, no updates are submitted". So, for a groupId Zendesk does
/// not know: one organization with that name and no external_id is adopted (it takes the groupId as
/// its external_id; warned); several → skipped; one with another external_id → failed, naming it.
pub(super) async fn adopt_by_name(
    flow: &Flow,
    external_id: &str,
    attributes: &Map<String, Value>,
    report: &mut crate::mapping::Report,
) -> Result<Option<u64>, Outcome> {
    let Some(name) = attributes.get("name").and_then(Value::as_str) else { return Ok(None) };
    let found = flow.organizations_by_name(name).await?;
    match found.as_slice() {
        [] => Ok(None),
        [(id, None)] => {
            report.warn(format!(
                "organization {id} is named `{name}` and had no external_id: it was adopted for groupId `{external_id}` (its external_id is now `{external_id}`)"
            ));
            Ok(Some(*id))
        }
        // Written by a racing group call for this groupId a moment ago: the write below matches it.
        [(_, Some(other))] if other.eq_ignore_ascii_case(external_id) => Ok(None),
        [(id, Some(other))] => Err(Outcome::new(
            Code::OrganizationNameTaken,
            format!(
                "organization {id} already has the name `{name}` with external_id `{other}`; Zendesk organization names are unique, so groupId `{external_id}` was not written (rename one of them)"
            ),
        )),
        many => Err(Outcome::new(
            Code::AmbiguousOrganization,
            format!("{} Zendesk organizations are named `{name}`; nothing was written", many.len()),
        )),
    }
}
