//! group: find the organization by external_id (cache, else one search) → create missing custom fields →
//! create or update it → find the calling user (cache, else one lookup) → add the membership.
//! The organization is written even when the user is unknown: its data is valid on its own, and the
//! outcome says the membership is missing (a later group call, after an identify, adds it).

use serde_json::{Map, Value};

use super::zendesk::{created_id, expect_json};
use super::{with_report, Flow};
use crate::cache::FieldKind;
use crate::event::Event;
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
    let outcome = write_organization(flow, event.user_id.as_deref(), &mut plan).await;
    with_report(outcome.unwrap_or_else(|failure| failure), plan.report)
}

async fn write_organization(
    flow: &Flow,
    user_id: Option<&str>,
    plan: &mut OrganizationPlan,
) -> Result<Outcome, Outcome> {
    let OrganizationPlan { external_id, attributes, custom, report } = plan;
    let known = flow.cache.borrow().organization_by_external_id(external_id);
    if known.is_none() {
        let found = flow.organizations_by_external_id(external_id).await?;
        if found.len() > 1 {
            return Err(Outcome::new(
                Code::AmbiguousOrganization,
                format!("{} Zendesk organizations have external_id {external_id}; nothing was written", found.len()),
            ));
        }
        if found.is_empty() && !attributes.contains_key("name") {
            attributes.insert("name".into(), Value::String(external_id.clone()));
            report.warn(format!(
                "the new organization has no `name` trait; it is named after its groupId `{external_id}`"
            ));
        }
    }

    let fields = flow.custom_fields(FieldKind::Organization, std::mem::take(custom), report).await?;
    if !fields.is_empty() {
        attributes.insert("organization_fields".into(), Value::Object(fields));
    }
    let body = serde_json::json!({ "organization": attributes });
    let response = flow.exchange.send(flow.api.post("/organizations/create_or_update", &body)).await;
    let answer = expect_json(&response, "creating or updating the organization")?;
    let organization_id = created_id(&answer, "organization")?;
    flow.cache.borrow_mut().remember_organization(organization_id, external_id);
    let verb = if response.status == 201 { "created" } else { "updated" };
    let mut message = format!("organization {organization_id} {verb}");

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
