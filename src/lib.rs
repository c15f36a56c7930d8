//! dmflow: declarative YAML flows of HTTP steps, with OAuth2 sign-in and a Dailymotion
//! emulator.
//!
//! The data path is the architecture: [`flow`] parses a file (with positions) and checks it,
//! [`template`] renders its leaves, [`run`] sends each step and captures and checks the
//! answer, [`oauth`] adds the sign-in steps, [`report`] shows what happened, [`secret`] masks
//! every line on the way out.

pub mod app;
pub mod cli;
pub mod diagnostic;
pub mod exit;
pub mod export;
pub mod flow;
pub mod fsutil;
pub mod html;
pub mod mock;
pub mod oauth;
pub mod paths;
pub mod report;
pub mod run;
pub mod runner;
pub mod secret;
pub mod snapshot;
pub mod store;
pub mod template;
pub mod token_commands;
