//! OAuth 2.0 as the protocol, apart from flows: PKCE and state, the loopback callback
//! listener, opening the browser, token requests and their answers, the `WWW-Authenticate`
//! challenge, and advice for the provider's errors. The steps that use them live in
//! `src/steps/`; the tokens' life after they arrive in `src/tokens/`.

pub mod browser;
pub mod challenge;
pub mod errors;
pub mod grant;
pub mod listener;
pub mod pkce;
pub mod session;
pub mod settings;
