//! track: find the existing user (cache, else one lookup) → record the event on that user's id.
//! The event is never sent by identifier alone: Zendesk would create an anonymous user for a miss.
//!
//! Zendesk's search index lags minutes behind writes ("new or updated users can take minutes to
//! appear in search"), so a track right after its identify may not find the user by email. Then the
//! event's userId is read exactly (`GET /users?external_id=`, no index involved); and when that misses
//! too, `user_not_found` is retryable while the event is younger than [`INDEX_LAG_WINDOW_MS`].

use serde_json::{Map, Value};

use super::{with_report, Flow};
use crate::event::Event;
use crate::mapping::track::{track_plan, Identifier, IdentifierKind};
use crate::mapping::Report;
use crate::outcome::{Code, Outcome};

const NOT_SENT: &str = "the event was not sent (Zendesk would create an anonymous user)";

/// How long after an event an email search that finds nobody may just be the search index lagging
/// behind a new user: 10 minutes (Zendesk says "minutes"; no figure is published).
pub const INDEX_LAG_WINDOW_MS: f64 = 600_000.0;

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
    let mut report = plan.report;
    let recent = is_recent(event.timestamp.as_deref(), flow.now_ms);
    let outcome = record(flow, &plan.identifier, user_id, recent, &plan.body, &mut report)
        .await
        .unwrap_or_else(|failure| failure);
    with_report(outcome, report)
}

/// Whether the event happened less than [`INDEX_LAG_WINDOW_MS`] ago (no timestamp: it is happening now).
fn is_recent(timestamp: Option<&str>, now_ms: f64) -> bool {
    let Some(at) = timestamp.and_then(crate::event::normalize_timestamp) else { return true };
    // Both are `YYYY-MM-DDTHH:MM:SS…Z` in UTC: their first 19 characters compare as times do.
    at[..19] >= crate::event::format_epoch_millis(now_ms - INDEX_LAG_WINDOW_MS)[..19]
}

/// The user by the plan's identifier; an email that finds nobody falls back to the userId, read exactly.
async fn find_user(
    flow: &Flow,
    identifier: &Identifier,
    user_id: &str,
    recent: bool,
    report: &mut Report,
) -> Result<(u64, bool), Outcome> {
    match flow.existing_user(identifier, NOT_SENT).await {
        Err(missed) if missed.code == Code::UserNotFound && identifier.kind == IdentifierKind::Email => {
            let by_user_id = Identifier { kind: IdentifierKind::ExternalId, value: user_id.to_string() };
            match flow.existing_user(&by_user_id, NOT_SENT).await {
                Ok(found) => {
                    report.warn(format!(
                        "no Zendesk user was found by email {} (search can lag minutes behind new users); the event was recorded on the user with external_id {user_id}",
                        identifier.value
                    ));
                    Ok(found)
                }
                Err(also) if also.code == Code::UserNotFound => {
                    let message =
                        format!("no Zendesk user has email {} or external_id {user_id}; {NOT_SENT}", identifier.value);
                    Err(if recent {
                        Outcome::new(
                            Code::UserNotFound,
                            format!("{message}. Zendesk's search can lag minutes behind a new user: retry"),
                        )
                        .retryable(true)
                    } else {
                        Outcome::new(Code::UserNotFound, message)
                    })
                }
                Err(other) => Err(other),
            }
        }
        other => other,
    }
}

async fn record(
    flow: &Flow,
    identifier: &Identifier,
    user_id: &str,
    recent: bool,
    body: &str,
    report: &mut Report,
) -> Result<Outcome, Outcome> {
    let (mut id, mut cached) = find_user(flow, identifier, user_id, recent, report).await?;
    loop {
        let response = flow.exchange.send(flow.api.post_text(&format!("/users/{id}/events"), body.to_string())).await;
        if response.status == 404 && cached {
            // The cached user is gone (deleted or merged): forget it and look again, once.
            flow.cache.borrow_mut().forget_user(id);
            (id, cached) = find_user(flow, identifier, user_id, recent, report).await?;
            continue;
        }
        // 202 Accepted; the body is informative only.
        if !response.is_success() {
            return Err(response.failure("recording the event"));
        }
        return Ok(Outcome::delivered(format!("event recorded on user {id}")));
    }
}
