//! zendesk-destination: Segment-spec `identify`, `track` and `group` calls → the Zendesk API requests
//! that carry them out.
//!
//! The engine is sans-IO: a [`Destination`] (validated [`Settings`] plus what it has learned) begins
//! one [`Conversation`] per event; the conversation hands out [`RequestDescriptor`]s one step at a
//! time, takes each [`Response`] back, and ends with one [`Outcome`]. The host performs the requests.
//!
//! - [`settings`]: the destination's settings and their validation;
//! - [`event`]: the Segment event model;
//! - [`mapping`]: where each trait and property lands in Zendesk, one module per call type;
//! - [`flow`]: the step-by-step conversations;
//! - [`request`] / [`response`]: request descriptors out, responses in;
//! - [`outcome`]: statuses and stable codes;
//! - [`json_writer`]: results as JSON text for the JavaScript surface;
//! - `wasm`: the JavaScript surface (wasm-bindgen), at the edge.

mod cache;
mod encoding;
pub mod event;
pub mod flow;
mod json;
pub mod json_writer;
pub mod mapping;
pub mod outcome;
pub mod request;
pub mod response;
pub mod settings;
mod skim;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use flow::{Batch, BatchStep, Conversation, Destination, Ended, PendingRequest, Step};
pub use outcome::{Code, MappingEntry, Outcome, Status};
pub use request::{Method, RequestDescriptor};
pub use response::Response;
pub use settings::{Settings, SettingsError};
