//! track: find the existing user (cache, else one lookup) → record the event on that user's id.
//! The event is never sent by identifier alone: Zendesk would create an anonymous user for a miss.

use serde_json::{Map, Value};

use super::{with_report, Flow};
use crate::event::Event;
use crate::mapping::track::{track_plan, Identifier};
use crate::outcome::{Code, Outcome};

const NOT_SENT: &str = "the event was not sent (Zendesk would create an anonymous user)";

pub(super) async fn track(flow: &Flow, event: &Event, name: &str, properties: &Map<String, Value>) -> Outcome {
    let settings = &flow.settings;
    if !settings.events.iter().any(|enabled| enabled == name) {
        return Outcome::new(Code::EventNotEnabled, format!("`{name}` is not in the `events` setting"));
    }
    let Some(user_id) = event.user_id.as_deref() else {
        return Outcome::new(Code::MissingUserId, "track calls are sent only with a userId");
    };
    let plan =
        match track_plan(name, properties, user_id, event.timestamp.as_deref(), &settings.source_name, flow.now_ms) {
            Ok(plan) => plan,
            Err(outcome) => return outcome,
        };
    let outcome = record(flow, &plan.identifier, &plan.body).await.unwrap_or_else(|failure| failure);
    with_report(outcome, plan.report)
}

async fn record(flow: &Flow, identifier: &Identifier, body: &Value) -> Result<Outcome, Outcome> {
    let (mut id, mut cached) = flow.existing_user(identifier, NOT_SENT).await?;
    loop {
        let response = flow.exchange.send(flow.api.post(&format!("/users/{id}/events"), body)).await;
        if response.status == 404 && cached {
            // The cached user is gone (deleted or merged): forget it and look again, once.
            flow.cache.borrow_mut().forget_user(id);
            (id, cached) = flow.existing_user(identifier, NOT_SENT).await?;
            continue;
        }
        // 202 Accepted; the body is informative only.
        if !response.is_success() {
            return Err(response.failure("recording the event"));
        }
        return Ok(Outcome::delivered(format!("event recorded on user {id}")));
    }
}
