//! dmflow: declarative YAML flows of HTTP steps, with OAuth2 sign-in, a token store, and a
//! Dailymotion emulator.
//!
//! The data path is the architecture: [`flow::load`] reads a flow file and compiles it into a
//! [`Flow`] (YAML with positions in [`yaml`], templates in [`template`], each step by its kind
//! from [`steps`]); [`run_flow`] runs it ([`run`]), with tokens refreshed through the hook in
//! [`tokens`]; [`report`] shows what happened, [`secret`] masks every line on the way out,
//! [`store`] and [`export`] hand outputs on.
//!
//! As a library:
//!
//! ```no_run
//! # async fn example() -> Result<(), Vec<dmflow::diagnostic::Diagnostic>> {
//! let flow = dmflow::flow::load(std::path::Path::new("flows/me.yaml"))?;
//! let options = dmflow::RunOptions::default();
//! let result = dmflow::run_flow(&flow, &options, &dmflow::run::observer::Quiet).await;
//! println!("{:?} {:?}", result.outcome(), result.outputs);
//! # Ok(())
//! # }
//! ```

// No unsafe code here: the fuzz targets run without a sanitizer (see fuzz/README.md).
#![forbid(unsafe_code)]

pub mod compiled;
pub mod diagnostic;
pub mod error;
pub mod exit;
pub mod export;
pub mod flow;
mod fsutil;
mod html;
pub mod limits;
mod memo;
pub mod mock;
pub mod oauth;
pub mod paths;
pub mod provider;
pub mod report;
pub mod run;
pub mod schema;
pub mod secret;
pub mod snapshot;
pub mod steps;
pub mod store;
pub mod template;
pub mod tokens;
pub mod yaml;

pub use error::Error;
pub use exit::Category;
pub use flow::{Flow, Loader};
pub use run::{FlowResult, Observer, RunOptions, StepError, run_flow};
