//! The engine and the contract of its plug-ins.
//!
//! [`engine::run_flow`] runs a compiled flow: initial variables ([`scope`]), then each step's
//! kind ([`kind`]), its outputs, captures ([`capture`]) and checks ([`expect`]); requests go
//! through one HTTP [`http::Session`] per run and the run's [`context::Hook`]s. Progress goes to an
//! [`observer::Observer`]; the [`result::FlowResult`] holds everything for reports.

pub mod body;
pub mod capture;
pub mod compile;
pub mod context;
pub mod cookies;
pub mod duration;
pub mod engine;
pub mod error;
pub mod exchange;
pub mod expect;
pub mod extensions;
pub mod http;
mod incoming;
pub mod json_select;
mod keepalive;
pub mod kind;
pub mod observer;
pub mod options;
mod plain;
pub mod result;
pub mod scope;
mod tls;
pub mod url_parse;

pub use engine::run_flow;
pub use error::StepError;
pub use observer::Observer;
pub use options::RunOptions;
pub use result::{Failure, FlowResult, Outcome, StepResult};
