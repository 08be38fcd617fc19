//! How each event ends: one outcome with a stable status and code (a public contract: see README).

use serde::Serialize;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Zendesk accepted everything.
    Delivered,
    /// Not sent on purpose.
    Skipped,
    /// The event can never be sent as it is.
    Invalid,
    /// Zendesk or the network said no.
    Failed,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    Delivered,
    /// Delivered earlier: this write would repeat exactly what was written then, so none was sent.
    Unchanged,
    // skipped
    EventNotEnabled,
    MissingUserId,
    UnsupportedType,
    DisabledByIntegrations,
    AmbiguousUser,
    AmbiguousOrganization,
    // invalid
    InvalidEvent,
    MissingName,
    IdentifierTooLong,
    // failed
    UserNotFound,
    Unauthorized,
    ZendeskRejected,
    ZendeskUnavailable,
    RateLimited,
    /// A new groupId's name belongs to an organization with another external_id.
    OrganizationNameTaken,
    /// Zendesk answered 2xx with a body this engine cannot read.
    UnexpectedResponse,
}

impl Status {
    /// The name in outcomes (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Skipped => "skipped",
            Status::Invalid => "invalid",
            Status::Failed => "failed",
        }
    }
}

impl Code {
    /// The stable code in outcomes (as serialized).
    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            Delivered => "delivered",
            Unchanged => "unchanged",
            EventNotEnabled => "event_not_enabled",
            MissingUserId => "missing_user_id",
            UnsupportedType => "unsupported_type",
            DisabledByIntegrations => "disabled_by_integrations",
            AmbiguousUser => "ambiguous_user",
            AmbiguousOrganization => "ambiguous_organization",
            InvalidEvent => "invalid_event",
            MissingName => "missing_name",
            IdentifierTooLong => "identifier_too_long",
            UserNotFound => "user_not_found",
            Unauthorized => "unauthorized",
            ZendeskRejected => "zendesk_rejected",
            ZendeskUnavailable => "zendesk_unavailable",
            RateLimited => "rate_limited",
            OrganizationNameTaken => "organization_name_taken",
            UnexpectedResponse => "unexpected_response",
        }
    }

    pub fn status(self) -> Status {
        use Code::*;
        match self {
            Delivered | Unchanged => Status::Delivered,
            EventNotEnabled
            | MissingUserId
            | UnsupportedType
            | DisabledByIntegrations
            | AmbiguousUser
            | AmbiguousOrganization => Status::Skipped,
            InvalidEvent | MissingName | IdentifierTooLong => Status::Invalid,
            UserNotFound
            | Unauthorized
            | ZendeskRejected
            | ZendeskUnavailable
            | RateLimited
            | OrganizationNameTaken
            | UnexpectedResponse => Status::Failed,
        }
    }
}

/// Where one input field went: `to` is the Zendesk attribute, or `None` when it was dropped.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct MappingEntry {
    pub from: String,
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub code: Code,
    pub message: String,
    pub warnings: Vec<String>,
    pub retryable: bool,
    pub mapping: Vec<MappingEntry>,
}

impl Outcome {
    /// A final outcome that is not retryable (everything but transient failures).
    pub fn new(code: Code, message: impl Into<String>) -> Outcome {
        Outcome {
            status: code.status(),
            code,
            message: message.into(),
            warnings: Vec::new(),
            retryable: false,
            mapping: Vec::new(),
        }
    }

    pub fn retryable(mut self, retryable: bool) -> Outcome {
        self.retryable = retryable;
        self
    }

    pub fn delivered(message: impl Into<String>) -> Outcome {
        Outcome::new(Code::Delivered, message)
    }
}
