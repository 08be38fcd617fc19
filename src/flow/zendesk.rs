//! Typed Zendesk operations over the exchange: each builds its request, awaits the answer and reads
//! it, or ends the flow with the outcome that answer deserves.

use serde_json::{json, Value};

use super::{answers, Flow};
use crate::mapping::track::{Identifier, IdentifierKind};
use crate::outcome::{Code, Outcome};
use crate::request::RequestDescriptor;
use crate::response::Response;

/// Search results whose primary email differs from the one looked for and whose identities are read
/// to find a secondary match: a bound on the reads one lookup may cost.
const MAX_IDENTITY_CHECKS: usize = 3;

/// A user as a search returns it: only what the flows need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub email: Option<String>,
}

impl Flow {
    /// Sends and requires a 2xx answer whose body is a JSON object.
    pub(super) async fn call(&self, request: RequestDescriptor, doing: &str) -> Result<Value, Outcome> {
        let response = self.exchange.send(request).await;
        expect_json(&response, doing)
    }

    /// Users who hold the email `email` (case-insensitive), as their primary email or as a secondary
    /// identity. Search is loose and index-backed, so every result is checked again here: a result
    /// whose primary email differs is kept only when its identities list the email (one more read
    /// each, for at most [`MAX_IDENTITY_CHECKS`] such results; Zendesk's `email:` search matches
    /// secondary identities too, and its `email` attribute is only the primary one).
    pub(super) async fn users_by_email(&self, email: &str) -> Result<Vec<User>, Outcome> {
        let query = format!("email:\"{}\"", email.replace('"', ""));
        let found =
            self.users(self.api.get("/users/search", &[("query", &query)]), "looking the user up by email").await?;
        let (mut matched, mut others) = (Vec::new(), Vec::new());
        for user in found {
            if user.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)) {
                matched.push(user);
            } else if others.len() < MAX_IDENTITY_CHECKS {
                others.push(user);
            }
        }
        for user in others {
            let body = self
                .call(self.api.get(&format!("/users/{}/identities", user.id), &[]), "reading the user's identities")
                .await?;
            let list = body.get("identities").and_then(Value::as_array).ok_or_else(|| unreadable("identities"))?;
            let holds = list.iter().any(|identity| {
                identity.get("type").and_then(Value::as_str) == Some("email")
                    && identity.get("value").and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(email))
            });
            if holds {
                matched.push(user);
            }
        }
        Ok(matched)
    }

    /// Users whose `external_id` is `external_id` (exact, case-insensitive), by `GET /users?external_id=`:
    /// a database read, not the search index, so a user written a moment ago is found (Zendesk's
    /// Users API: "List Users" filter `external_id`; search can lag minutes behind writes). Its
    /// `show_many?external_ids=` sibling would cut a value holding a comma in two.
    pub(super) async fn users_by_external_id(&self, external_id: &str) -> Result<Vec<User>, Outcome> {
        self.users(self.api.get("/users", &[("external_id", external_id)]), "looking the user up by external_id").await
    }

    /// The active users of a search or list answer.
    async fn users(&self, request: RequestDescriptor, doing: &str) -> Result<Vec<User>, Outcome> {
        let response = self.exchange.send(request).await;
        if let Some(users) = answers::typed(&response).and_then(|a| a.users) {
            let active = users.into_iter().filter(|u| u.active != Some(false));
            return Ok(active.map(|u| User { id: u.id, email: u.email }).collect());
        }
        read_users(&expect_json(&response, doing)?)
    }

    /// Organization ids whose `external_id` is `external_id` (exact, case-insensitive).
    pub(super) async fn organizations_by_external_id(&self, external_id: &str) -> Result<Vec<u64>, Outcome> {
        let response = self.exchange.send(self.api.get("/organizations/search", &[("external_id", external_id)])).await;
        if let Some(organizations) = answers::typed(&response).and_then(|a| a.organizations) {
            return Ok(organizations);
        }
        let body = expect_json(&response, "looking the organization up by external_id")?;
        let list = body.get("organizations").and_then(Value::as_array).ok_or_else(|| unreadable("organizations"))?;
        list.iter().map(|o| o.get("id").and_then(Value::as_u64).ok_or_else(|| unreadable("organizations"))).collect()
    }

    /// Organizations named `name` (exact, case-insensitive): `(id, external_id)` each.
    pub(super) async fn organizations_by_name(&self, name: &str) -> Result<Vec<(u64, Option<String>)>, Outcome> {
        let body = self
            .call(self.api.get("/organizations/search", &[("name", name)]), "looking the organization up by name")
            .await?;
        let list = body.get("organizations").and_then(Value::as_array).ok_or_else(|| unreadable("organizations"))?;
        let mut found = Vec::new();
        for o in list {
            let id = o.get("id").and_then(Value::as_u64).ok_or_else(|| unreadable("organizations"))?;
            let external_id = o.get("external_id").and_then(Value::as_str).filter(|s| !s.is_empty());
            found.push((id, external_id.map(str::to_string)));
        }
        Ok(found)
    }

    /// The one existing user an identifier names: the cache's answer (`true`), else one lookup.
    /// `consequence` tells what a miss means for the event ("the event was not sent").
    pub(super) async fn existing_user(
        &self,
        identifier: &Identifier,
        consequence: &str,
    ) -> Result<(u64, bool), Outcome> {
        let Identifier { kind, value } = identifier;
        let cached = {
            let cache = self.cache.borrow();
            match kind {
                IdentifierKind::Email => cache.user_by_email(value),
                IdentifierKind::ExternalId => cache.user_by_external_id(value),
            }
        };
        if let Some(id) = cached {
            return Ok((id, true));
        }
        let (users, by) = match kind {
            IdentifierKind::Email => (self.users_by_email(value).await?, "email"),
            IdentifierKind::ExternalId => (self.users_by_external_id(value).await?, "external_id"),
        };
        match users.as_slice() {
            [user] => {
                let (email, external_id) = match kind {
                    IdentifierKind::Email => (Some(value.as_str()), None),
                    IdentifierKind::ExternalId => (None, Some(value.as_str())),
                };
                self.cache.borrow_mut().remember_user(user.id, email, external_id);
                Ok((user.id, false))
            }
            [] => Err(Outcome::new(Code::UserNotFound, format!("no Zendesk user has {by} {value}; {consequence}"))),
            many => Err(Outcome::new(
                Code::AmbiguousUser,
                format!("{} Zendesk users have {by} {value}; {consequence}", many.len()),
            )),
        }
    }

    /// Adds a user to an organization; already being a member is success.
    pub(super) async fn add_membership(&self, user_id: u64, organization_id: u64) -> Result<bool, Outcome> {
        let body = json!({"organization_membership": {"user_id": user_id, "organization_id": organization_id}});
        let response = self.exchange.send(self.api.post("/organization_memberships", &body)).await;
        if response.status == 403 {
            return Err(super::group::needs_administrator(&response, "adding the user to the organization"));
        }
        if response.status == 422
            && response.body.as_deref().is_some_and(|b| b.to_ascii_lowercase().contains("already"))
        {
            return Ok(false);
        }
        expect_object(&response, "adding the user to the organization").map(|_| true)
    }
}

/// 2xx with a JSON object body, or the outcome the answer deserves.
pub(super) fn expect_json(response: &Response, doing: &str) -> Result<Value, Outcome> {
    if !response.is_success() {
        return Err(response.failure(doing));
    }
    match response.json() {
        Some(body @ Value::Object(_)) => Ok(body),
        _ => Err(response.failure(doing)),
    }
}

/// As `expect_json` when the body itself is not needed: skims it instead of building it.
pub(super) fn expect_object(response: &Response, doing: &str) -> Result<(), Outcome> {
    if answers::typed(response).is_some() {
        return Ok(());
    }
    expect_json(response, doing).map(|_| ())
}

fn read_users(body: &Value) -> Result<Vec<User>, Outcome> {
    let list = body.get("users").and_then(Value::as_array).ok_or_else(|| unreadable("users"))?;
    let mut users = Vec::new();
    for user in list {
        // Zendesk's search can return deactivated users; they cannot be written to.
        if user.get("active") == Some(&Value::Bool(false)) {
            continue;
        }
        let id = user.get("id").and_then(Value::as_u64).ok_or_else(|| unreadable("users"))?;
        users.push(User { id, email: user.get("email").and_then(Value::as_str).map(str::to_string) });
    }
    Ok(users)
}

/// The id of what a write answer carries (`{"<wrapper>": {"id": …}}`), or the outcome the answer deserves.
pub(super) fn written_id(response: &Response, doing: &str, wrapper: &str) -> Result<u64, Outcome> {
    if let Some(id) = answers::typed(response).and_then(|a| a.written_id(wrapper)) {
        return Ok(id);
    }
    created_id(&expect_json(response, doing)?, wrapper)
}

/// The id inside `{"<wrapper>": {"id": …}}`.
fn created_id(body: &Value, wrapper: &str) -> Result<u64, Outcome> {
    body.get(wrapper).and_then(|o| o.get("id")).and_then(Value::as_u64).ok_or_else(|| unreadable(wrapper))
}

pub(super) fn unreadable(what: &str) -> Outcome {
    Outcome::new(Code::UnexpectedResponse, format!("Zendesk's answer has no readable `{what}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed reading takes only answers that the `Value` reading accepts, with the same result.
    #[test]
    fn typed_answers_agree_with_the_value_reading() {
        let users = [
            r#"{"users":[{"id":1,"email":"a@b.co","active":true,"name":"A","user_fields":{"x":1}},{"id":2,"active":false}]}"#,
            r#"{"users":[{"id":9007199254740993,"email":null}],"count":1,"next_page":null}"#,
            r#"{"users":[{"id":2,"active":false,"email":5}]}"#,
            r#"{"users":[{"id":"2"}]}"#,
            r#"{"users":[{"id":1.0}]}"#,
            r#"{"users":[{"id":1,"id":2}]}"#,
            r#"{"users":{}}"#,
            r#"{"count":0}"#,
            r#"[{"users":[]}]"#,
            r#"[[{"id":1}]]"#,
        ];
        for body in users {
            let response = Response::new(200, body);
            let slow = expect_json(&response, "x").and_then(|v| read_users(&v));
            if let Some(typed) = answers::typed(&response).and_then(|a| a.users) {
                let fast: Vec<User> = typed
                    .into_iter()
                    .filter(|u| u.active != Some(false))
                    .map(|u| User { id: u.id, email: u.email })
                    .collect();
                assert_eq!(Ok(fast), slow, "{body}");
            }
        }
        for body in [
            r#"{"user":{"id":7,"name":"A"}}"#,
            r#"{"user":{"id":"7"}}"#,
            r#"{"user":null,"organization":{"id":3}}"#,
            r#"{"organization":{"id":3},"user":{"id":8}}"#,
            r#"[{"id":7}]"#,
        ] {
            for wrapper in ["user", "organization"] {
                let response = Response::new(201, body);
                let slow = expect_json(&response, "x").and_then(|v| created_id(&v, wrapper));
                assert_eq!(written_id(&response, "x", wrapper), slow, "{body}");
                if let Some(id) = answers::typed(&response).and_then(|a| a.written_id(wrapper)) {
                    assert_eq!(Ok(id), slow, "{body}");
                }
            }
        }
    }
}
