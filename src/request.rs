//! Request descriptors: ready-to-send HTTP requests that the host performs as they are.

use serde::Serialize;
use std::collections::BTreeMap;

pub use crate::encoding::percent_encode;
use crate::json_writer::{to_json, WriteJson};
use crate::settings::Settings;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct RequestDescriptor {
    pub method: Method,
    /// Absolute, every query parameter percent-encoded.
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// JSON text, or `None` for GET and DELETE.
    pub body: Option<String>,
}

/// Builds descriptors for one account: base URL and credentials are applied to every request here.
#[derive(Clone, Debug)]
pub struct Api {
    base: String,
    authorization: String,
}

impl Api {
    pub fn new(settings: &Settings) -> Api {
        Api { base: format!("{}/api/v2", settings.base_url), authorization: settings.credentials.authorization() }
    }

    /// `path` is below `/api/v2` and already safe (ids and fixed words); `query` values are encoded here.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> RequestDescriptor {
        self.request(Method::Get, path, query, None)
    }

    /// Bodies are written by `json_writer` (a `Value`, or a borrowed `Wrapped` that copies nothing).
    pub fn post<T: WriteJson + ?Sized>(&self, path: &str, body: &T) -> RequestDescriptor {
        self.request(Method::Post, path, &[], Some(to_json(body)))
    }

    /// A POST whose body is JSON text already.
    pub fn post_text(&self, path: &str, body: String) -> RequestDescriptor {
        self.request(Method::Post, path, &[], Some(body))
    }

    pub fn put<T: WriteJson + ?Sized>(&self, path: &str, body: &T) -> RequestDescriptor {
        self.request(Method::Put, path, &[], Some(to_json(body)))
    }

    pub fn delete(&self, path: &str) -> RequestDescriptor {
        self.request(Method::Delete, path, &[], None)
    }

    /// A GET of a `next_page` link for `collection` (e.g. `user_fields`). Zendesk writes its own host
    /// into the link (`https://acme.zendesk.com/api/v2/user_fields.json?page=2`), also when it is
    /// reached through a proxy `baseUrl`, so only the part after `/api/v2/` is kept and sent to this
    /// account's base: credentials never go to a host the settings did not name. None when the link is
    /// not for `collection`.
    pub fn get_next_page(&self, url: &str, collection: &str) -> Option<RequestDescriptor> {
        let at = url.find("/api/v2/")?;
        let rest = &url[at + "/api/v2/".len()..];
        let after = rest.strip_prefix(collection)?;
        let well_formed = after.is_empty() || after.starts_with(".json") || after.starts_with('?');
        if !well_formed || url.chars().any(|c| c.is_control() || c == ' ' || c == '#') {
            return None;
        }
        Some(self.descriptor(Method::Get, format!("{}/{rest}", self.base), None))
    }

    fn request(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<String>) -> RequestDescriptor {
        let mut url = [self.base.as_str(), path].concat();
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(key));
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        self.descriptor(method, url, body)
    }

    fn descriptor(&self, method: Method, url: String, body: Option<String>) -> RequestDescriptor {
        let mut headers = BTreeMap::new();
        headers.insert("Accept".to_string(), "application/json".to_string());
        headers.insert("Authorization".to_string(), self.authorization.clone());
        headers.insert("Content-Type".to_string(), "application/json".to_string());
        RequestDescriptor { method, url, headers, body }
    }
}
