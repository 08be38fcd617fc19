//! Custom fields: the catalog is read once per destination; missing fields are created with a type
//! inferred from the value (a lost creation race reads that one field); values are fitted to each
//! field's type and, for dropdowns and multiselects, to its options. Creating a field needs an
//! administrator: with an agent's credentials (403) the value is dropped, warned once per key, and
//! the field is not asked for again.

use serde_json::{json, Map, Value};
use std::rc::Rc;

use super::answers;
use super::zendesk::{expect_json, expect_object, unreadable};
use super::Flow;
use crate::cache::{Catalog, FieldInfo, FieldKind};
use crate::mapping::{convert, infer_type, CustomValue, FieldType, Report};
use crate::outcome::Outcome;
use crate::response::{is_already_taken, Response};

/// What became of a field creation.
enum Created {
    Yes,
    /// Another writer created it first: here is the field as it is now.
    Taken(FieldInfo),
    /// 403: these credentials may not create fields. Zendesk's reason.
    Forbidden(String),
}

/// More pages than any real account has; a bound against a `next_page` that never ends.
const MAX_CATALOG_PAGES: usize = 50;

impl Flow {
    /// The `user_fields` / `organization_fields` object to write, creating fields that are missing.
    pub(super) async fn custom_fields(
        &self,
        kind: FieldKind,
        values: Vec<CustomValue>,
        report: &mut Report,
    ) -> Result<Map<String, Value>, Outcome> {
        let mut fields = Map::new();
        if values.is_empty() {
            return Ok(fields);
        }
        let mut catalog = self.catalog(kind, false).await?;
        let target = |key: &str| match kind {
            FieldKind::User => format!("user.user_fields.{key}"),
            FieldKind::Organization => format!("organization.organization_fields.{key}"),
        };
        for value in values {
            if !catalog.contains_key(&value.key) {
                // A conversation running beside this one may have created it since this catalog was read.
                let shared = self.cache.borrow().catalog(kind).and_then(|c| c.get(&value.key).cloned());
                let uncreatable = self.cache.borrow().is_uncreatable(kind, &value.key);
                if let Some(info) = shared {
                    Rc::make_mut(&mut catalog).insert(value.key.clone(), info);
                } else if uncreatable {
                    report.ignored(
                        &value.from,
                        format!("the field `{}` does not exist and these credentials cannot create it (an administrator's can)", value.key),
                    );
                    continue;
                } else if let Some(field_type) = infer_type(&value.value) {
                    match self.create_field(kind, &value, &field_type).await? {
                        Created::Yes => {
                            report.warn(format!(
                                "created the {} field `{}` in Zendesk's {} for `{}`",
                                field_type.as_str(),
                                value.key,
                                kind.collection(),
                                value.from
                            ));
                            let info = FieldInfo { field_type, active: true, options: None };
                            self.cache.borrow_mut().add_field(kind, &value.key, info.clone());
                            Rc::make_mut(&mut catalog).insert(value.key.clone(), info);
                        }
                        // Another writer created it first: its type is what counts now.
                        Created::Taken(info) => {
                            self.cache.borrow_mut().add_field(kind, &value.key, info.clone());
                            Rc::make_mut(&mut catalog).insert(value.key.clone(), info);
                        }
                        Created::Forbidden(reason) => {
                            self.cache.borrow_mut().mark_uncreatable(kind, &value.key);
                            report.dropped(
                                &value.from,
                                format!(
                                    "the field `{}` does not exist and could not be created: creating custom fields needs a Zendesk administrator, and Zendesk answered 403 ({reason}). Later events leave it out without this warning",
                                    value.key
                                ),
                            );
                            continue;
                        }
                    }
                }
            }
            match catalog.get(&value.key) {
                Some(info) if !info.active => {
                    report.dropped(&value.from, format!("the field `{}` is inactive in Zendesk", value.key))
                }
                Some(info) => match convert(&value.value, &info.field_type).and_then(|v| fits_options(v, info)) {
                    Ok(converted) => {
                        report.landed(&value.from, &target(&value.key));
                        fields.insert(value.key, converted);
                    }
                    Err(why) => report.dropped(&value.from, why),
                },
                None if value.value.is_null() => {
                    report.ignored(&value.from, format!("null, and there is no field `{}` to clear", value.key))
                }
                None => report.dropped(&value.from, format!("the field `{}` could not be created", value.key)),
            }
        }
        Ok(fields)
    }

    /// The catalog from the cache (shared, not copied), or read from Zendesk (all pages) and cached.
    async fn catalog(&self, kind: FieldKind, refresh: bool) -> Result<Rc<Catalog>, Outcome> {
        if !refresh {
            if let Some(catalog) = self.cache.borrow().catalog(kind) {
                return Ok(catalog.clone());
            }
        }
        let collection = kind.collection();
        let mut catalog = Catalog::new();
        let mut request = Some(self.api.get(&format!("/{collection}"), &[]));
        let mut pages = 0;
        while let Some(next) = request.take() {
            pages += 1;
            let response = self.exchange.send(next).await;
            let typed = answers::typed(&response).and_then(|answer| {
                let rows = match kind {
                    FieldKind::User => answer.user_fields,
                    FieldKind::Organization => answer.organization_fields,
                }?;
                Some((rows, answer.next_page.flatten()))
            });
            let next_page = match typed {
                Some((rows, next_page)) => {
                    catalog.extend(rows.into_iter().map(typed_field));
                    next_page
                }
                None => {
                    let body = expect_json(&response, &format!("reading the {collection} catalog"))?;
                    let list = body.get(collection).and_then(Value::as_array).ok_or_else(|| unreadable(collection))?;
                    for field in list {
                        let (key, info) = read_field(field).ok_or_else(|| unreadable(collection))?;
                        catalog.insert(key, info);
                    }
                    body.get("next_page").and_then(Value::as_str).map(str::to_string)
                }
            };
            if pages < MAX_CATALOG_PAGES {
                request = next_page.and_then(|url| self.api.get_next_page(&url, collection));
            }
        }
        let catalog = Rc::new(catalog);
        self.cache.borrow_mut().set_catalog(kind, catalog.clone());
        Ok(catalog)
    }

    async fn create_field(
        &self,
        kind: FieldKind,
        value: &CustomValue,
        field_type: &FieldType,
    ) -> Result<Created, Outcome> {
        let collection = kind.collection();
        let body = json!({ kind.member(): {"type": field_type.as_str(), "title": value.title(), "key": value.key} });
        let response: Response = self.exchange.send(self.api.post(&format!("/{collection}"), &body)).await;
        if response.status == 403 {
            return Ok(Created::Forbidden(response.reason()));
        }
        if is_already_taken(&response) {
            // Read that one field (Show User Field takes the key in place of the id), not every page.
            let doing = format!("reading the custom field `{}`", value.key);
            let body = self.call(self.api.get(&format!("/{collection}/{}", value.key), &[]), &doing).await?;
            let (_, info) = body.get(kind.member()).and_then(read_field).ok_or_else(|| unreadable(kind.member()))?;
            return Ok(Created::Taken(info));
        }
        expect_object(&response, &format!("creating the custom field `{}`", value.key)).map(|_| Created::Yes)
    }
}

/// As [`read_field`], for a field read by `answers` (the same rules: text by default, active unless
/// `false`, options only for dropdowns and multiselects).
fn typed_field(row: answers::FieldRow) -> (String, FieldInfo) {
    let field_type = FieldType::parse(row.kind.as_deref().unwrap_or("text"));
    let options = match field_type {
        FieldType::Dropdown | FieldType::Multiselect => row.options,
        _ => None,
    };
    (row.key, FieldInfo { field_type, active: row.active != Some(false), options })
}

/// One field of a catalog: its key, type (Zendesk's default, text, when absent), whether it is
/// active, and a dropdown's or multiselect's option values.
fn read_field(field: &Value) -> Option<(String, FieldInfo)> {
    let key = field.get("key").and_then(Value::as_str)?;
    let field_type = FieldType::parse(field.get("type").and_then(Value::as_str).unwrap_or("text"));
    let active = field.get("active") != Some(&Value::Bool(false));
    let options = match field_type {
        FieldType::Dropdown | FieldType::Multiselect => {
            field.get("custom_field_options").and_then(Value::as_array).map(|list| {
                list.iter().filter_map(|o| o.get("value").and_then(Value::as_str).map(str::to_string)).collect()
            })
        }
        _ => None,
    };
    Some((key.to_string(), FieldInfo { field_type, active, options }))
}

/// A dropdown or multiselect value Zendesk would refuse (not one of the field's options) is dropped
/// here, so that one value does not fail the whole write with a 422.
fn fits_options(value: Value, info: &FieldInfo) -> Result<Value, String> {
    let Some(options) = &info.options else { return Ok(value) };
    let known = |v: &Value| v.as_str().is_some_and(|s| options.iter().any(|o| o == s));
    let fits = match &value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(known),
        other => known(other),
    };
    if fits {
        Ok(value)
    } else {
        let listed: Vec<&str> = options.iter().take(20).map(String::as_str).collect();
        Err(format!("{value} is not one of the {} field's options ({})", info.field_type.as_str(), listed.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog read by `answers` agrees with the `Value` reading whenever it takes a page.
    #[test]
    fn typed_catalog_pages_agree_with_the_value_reading() {
        let fields = [
            r#"{"user_fields":[{"key":"plan","type":"dropdown","active":true,"title":"Plan","custom_field_options":[{"name":"A","value":"a"},{"name":"B"},{"value":"c"}]}],"next_page":null,"count":1}"#,
            r#"{"user_fields":[{"key":"x","type":null,"active":null},{"key":"y","type":"text","custom_field_options":[{"value":"z"}]},{"key":"x","type":"integer","active":false}],"next_page":"https://acme.zendesk.com/api/v2/user_fields?page=2"}"#,
            r#"{"user_fields":[{"key":"m","type":"multiselect","custom_field_options":null}]}"#,
            r#"{"user_fields":[{"key":5}]}"#,
            r#"{"user_fields":[{"key":"t","type":7}]}"#,
            r#"{"user_fields":[{"key":"d","type":"dropdown","custom_field_options":[1,{"value":"a"}]}]}"#,
            r#"{"user_fields":[],"next_page":3}"#,
            r#"{"organization_fields":[]}"#,
        ];
        let sorted = |catalog: Catalog| {
            let mut list: Vec<_> = catalog.into_iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            list.sort();
            list
        };
        for body in fields {
            let response = crate::response::Response::new(200, body);
            let slow = expect_json(&response, "x").ok().and_then(|v| {
                let list = v.get("user_fields")?.as_array()?.clone();
                let mut catalog = Catalog::new();
                for field in &list {
                    let (key, info) = read_field(field)?;
                    catalog.insert(key, info);
                }
                Some((sorted(catalog), v.get("next_page").and_then(Value::as_str).map(str::to_string)))
            });
            let typed = answers::typed(&response).and_then(|a| Some((a.user_fields?, a.next_page.flatten())));
            if let Some((rows, next_page)) = typed {
                let catalog: Catalog = rows.into_iter().map(typed_field).collect();
                assert_eq!(Some((sorted(catalog), next_page)), slow, "{body}");
            }
        }
    }
}
