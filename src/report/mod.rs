//! What the user reads: live terminal lines on stderr, and machine-readable results.

pub mod deferred;
pub mod json;
pub mod junit;
pub mod terminal;
pub mod transcript;
