//! Tokens in one place: their variable names and how a token response maps onto them, the
//! rules for merging them into the token store (with generations, so no run writes over a
//! newer rotation), token answers stored the moment they arrive with the write reserved first
//! and SIGINT/SIGTERM held off meanwhile, the refresh that takes the store's lock, the client
//! rebuilt from what a sign-in recorded, and the hook through which the engine refreshes
//! before use and on `401`. The commands that use stored tokens (`env`, `token`, `exec`...)
//! go through the same functions.

pub mod client;
pub mod hook;
pub mod merge;
pub mod names;
pub mod persist;
pub mod refresh;
pub mod shield;
pub mod support;

pub use hook::TokenHook;
pub use support::TokenSupport;
