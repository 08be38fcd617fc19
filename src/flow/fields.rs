//! Custom fields: the catalog is read once per destination (and again after a lost creation race);
//! missing fields are created with a type inferred from the value; values are fitted to each field's type.

use serde_json::{json, Map, Value};

use super::zendesk::{expect_json, unreadable};
use super::Flow;
use crate::cache::{Catalog, FieldInfo, FieldKind};
use crate::mapping::{convert, infer_type, CustomValue, FieldType, Report};
use crate::outcome::Outcome;
use crate::response::is_already_taken;

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
                if let Some(info) = shared {
                    catalog.insert(value.key.clone(), info);
                } else if let Some(field_type) = infer_type(&value.value) {
                    if self.create_field(kind, &value, &field_type).await? {
                        report.warn(format!(
                            "created the {} field `{}` in Zendesk's {} for `{}`",
                            field_type.as_str(),
                            value.key,
                            kind.collection(),
                            value.from
                        ));
                        let info = FieldInfo { field_type, active: true };
                        self.cache.borrow_mut().add_field(kind, &value.key, info.clone());
                        catalog.insert(value.key.clone(), info);
                    } else {
                        // Another writer created it first: its type is what counts now.
                        catalog = self.catalog(kind, true).await?;
                    }
                }
            }
            match catalog.get(&value.key) {
                Some(info) if !info.active => {
                    report.dropped(&value.from, format!("the field `{}` is inactive in Zendesk", value.key))
                }
                Some(info) => match convert(&value.value, &info.field_type) {
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

    /// The catalog from the cache, or read from Zendesk (all pages) and cached.
    async fn catalog(&self, kind: FieldKind, refresh: bool) -> Result<Catalog, Outcome> {
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
            let body = self.call(next, &format!("reading the {collection} catalog")).await?;
            let list = body.get(collection).and_then(Value::as_array).ok_or_else(|| unreadable(collection))?;
            for field in list {
                let key = field.get("key").and_then(Value::as_str).ok_or_else(|| unreadable(collection))?;
                let field_type = FieldType::parse(field.get("type").and_then(Value::as_str).unwrap_or("text"));
                let active = field.get("active") != Some(&Value::Bool(false));
                catalog.insert(key.to_string(), FieldInfo { field_type, active });
            }
            if pages < MAX_CATALOG_PAGES {
                request = body.get("next_page").and_then(Value::as_str).and_then(|url| self.api.get_absolute(url));
            }
        }
        self.cache.borrow_mut().set_catalog(kind, catalog.clone());
        Ok(catalog)
    }

    /// `Ok(true)` created, `Ok(false)` someone else had just created it.
    async fn create_field(
        &self,
        kind: FieldKind,
        value: &CustomValue,
        field_type: &FieldType,
    ) -> Result<bool, Outcome> {
        let body = json!({ kind.member(): {"type": field_type.as_str(), "title": value.title, "key": value.key} });
        let response = self.exchange.send(self.api.post(&format!("/{}", kind.collection()), &body)).await;
        if is_already_taken(&response) {
            return Ok(false);
        }
        expect_json(&response, &format!("creating the custom field `{}`", value.key)).map(|_| true)
    }
}
