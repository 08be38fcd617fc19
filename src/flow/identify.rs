//! identify: look the user up by email → (resolve the organization to leave) → create missing custom
//! fields → write the user → (delete the membership).

use serde_json::{Map, Value};

use super::unchanged::user_digest;
use super::zendesk::written_id;
use super::{with_report, Flow};
use crate::cache::FieldKind;
use crate::event::Event;
use crate::json_writer::Wrapped;
use crate::mapping::identify::{user_plan, UserPlan};
use crate::mapping::Report;
use crate::outcome::{Code, Outcome};

pub(super) async fn identify(flow: &Flow, event: &Event, traits: &Map<String, Value>) -> Outcome {
    let settings = &flow.settings;
    let mut plan = match user_plan(
        traits,
        event.user_id.as_deref(),
        settings.verified,
        settings.remove_users_from_organizations,
    ) {
        Ok(plan) => plan,
        Err(outcome) => return outcome,
    };
    if plan.email.is_none() && event.user_id.is_none() {
        return with_report(
            Outcome::new(
                Code::MissingUserId,
                "identify needs `traits.email` or a `userId` to match a Zendesk user; nothing was sent",
            ),
            plan.report,
        );
    }
    let written = user_digest(&plan, event.user_id.as_deref());
    if let Some(outcome) = flow.unchanged(written.as_ref(), "user") {
        return with_report(outcome, plan.report);
    }
    let had_organization = plan.attributes.contains_key("organization_id");
    let outcome = write_user(flow, event, &mut plan).await;
    // Written as asked (not without an organizationId Zendesk refused): a repeat may be skipped.
    if outcome.is_ok() && had_organization == plan.attributes.contains_key("organization_id") {
        flow.remember_written(written.as_ref());
    }
    with_report(outcome.unwrap_or_else(|failure| failure), plan.report)
}

async fn write_user(flow: &Flow, event: &Event, plan: &mut UserPlan) -> Result<Outcome, Outcome> {
    let UserPlan { attributes, email, organization_id, custom, removal, report } = plan;
    // 1. Match on email; several matches → nothing is updated.
    let existing = match email {
        Some(email) => {
            let users = flow.users_by_email(email).await?;
            if users.len() > 1 {
                return Err(Outcome::new(
                    Code::AmbiguousUser,
                    format!("{} Zendesk users have the email {email}; nothing was updated", users.len()),
                ));
            }
            users.first().map(|u| u.id)
        }
        None => None,
    };

    // 2. The organization to leave, and never (re)join it in the same write.
    let leaving = match removal {
        Some(company_id) => {
            let found = flow.organization_for_removal(company_id, report).await?;
            if let Some(org) = found {
                let same = *organization_id == Some(org)
                    || attributes.get("organization_id").map(|v| v.to_string()).as_deref() == Some(company_id.as_str());
                if same && attributes.remove("organization_id").is_some() {
                    report.warn(format!(
                        "organizationId {org} was not written: this identify removes the user from that organization"
                    ));
                }
            }
            found
        }
        None => None,
    };

    // 3. Custom fields, then the user.
    let user_fields = flow.custom_fields(FieldKind::User, std::mem::take(custom), report).await?;
    if !user_fields.is_empty() {
        attributes.insert("user_fields".into(), Value::Object(user_fields));
    }
    let (path, doing) = match existing {
        Some(id) => (format!("/users/{id}"), "updating the user"),
        None => ("/users/create_or_update".to_string(), "creating or updating the user"),
    };
    let write = |attributes: &Map<String, Value>| {
        let body = Wrapped { name: "user", value: attributes };
        if existing.is_some() {
            flow.api.put(&path, &body)
        } else {
            flow.api.post(&path, &body)
        }
    };
    let mut response = flow.exchange.send(write(attributes)).await;
    // An organizationId that Zendesk does not know should not cost the whole user: write it without.
    // Zendesk answers such a write 404 RecordNotFound (a real capture); a 422 naming only
    // `organization_id` is handled alike, in case some account or version answers that way.
    if (response.status == 404 || rejects_only(&response, "organization_id"))
        && attributes.contains_key("organization_id")
    {
        let organization = attributes.remove("organization_id").unwrap_or_default();
        let reason = format!("{} {}", response.status, response.reason());
        response = flow.exchange.send(write(attributes)).await;
        // Written without it: the organization was the problem. Still refused (a PUT answering 404
        // again: the user itself is gone): that failure is the outcome, not a guess about the organization.
        if response.is_success() {
            report.warn(format!(
                "organizationId {organization} is not a Zendesk organization (Zendesk answered {reason}); the user was written without it"
            ));
        }
    }
    let user_id = written_id(&response, doing, "user")?;
    flow.cache.borrow_mut().remember_user(user_id, email.as_deref(), event.user_id.as_deref());
    let verb = if response.status == 201 { "created" } else { "updated" };
    let mut message = format!("user {user_id} {verb}");

    // 4. The membership removal.
    if let Some(org) = leaving {
        let response = flow.exchange.send(flow.api.delete(&format!("/users/{user_id}/organizations/{org}"))).await;
        match response.status {
            200..=299 => {
                if let Some(user_id) = event.user_id.as_deref() {
                    flow.forget_memberships_of(user_id);
                }
                message.push_str(&format!("; removed from organization {org}"))
            }
            404 => report.warn(format!("user {user_id} was not a member of organization {org}: nothing to remove")),
            _ => return Err(response.failure(&format!("removing user {user_id} from organization {org}"))),
        }
    }
    Ok(Outcome::delivered(message))
}

impl Flow {
    /// The organization named by `traits.company.id`: by `external_id`, else the id itself when numeric.
    async fn organization_for_removal(&self, company_id: &str, report: &mut Report) -> Result<Option<u64>, Outcome> {
        let cached = self.cache.borrow().organization_by_external_id(company_id);
        if let Some(id) = cached {
            return Ok(Some(id));
        }
        let found = self.organizations_by_external_id(company_id).await?;
        match found.as_slice() {
            [id] => {
                self.cache.borrow_mut().remember_organization(*id, company_id);
                Ok(Some(*id))
            }
            [] => match company_id.parse::<u64>() {
                Ok(id) => Ok(Some(id)),
                Err(_) => {
                    report
                        .warn(format!("no Zendesk organization has external_id {company_id}: no membership to remove"));
                    Ok(None)
                }
            },
            many => Err(Outcome::new(
                Code::AmbiguousOrganization,
                format!("{} Zendesk organizations match company id {company_id}; nothing was updated", many.len()),
            )),
        }
    }
}

/// A 422 whose validation details name only `field`.
fn rejects_only(response: &crate::response::Response, field: &str) -> bool {
    if response.status != 422 {
        return false; // before reading the body: most answers are successful writes
    }
    let details = response
        .json()
        .and_then(|body| body.get("details")?.as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()));
    response.status == 422 && details.is_some_and(|keys| keys.len() == 1 && keys[0] == field)
}
