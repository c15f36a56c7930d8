//! The flow's `oauth:` section (the provider's endpoints, the client, the redirect URI, the
//! scopes), which the OAuth steps and the automatic refresh fall back to, and the options of
//! a run that decide how the user's browser is reached.

use super::browser::Browser;
use crate::compiled::{Text, ValueTree};
use crate::diagnostic::Diagnostic;
use crate::run::compile::CompileCx;
use crate::yaml::{Node, Spanned};
use serde::Deserialize;

/// The `oauth:` section as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OAuth")]
pub struct OAuthDoc {
    pub authorize_url: Option<Spanned<String>>,
    pub token_url: Option<Spanned<String>>,
    pub client_id: Option<Spanned<String>>,
    pub client_secret: Option<Spanned<String>>,
    /// `form` (client_id and client_secret in the body, what Dailymotion documents) or `basic`.
    pub client_auth: Option<Spanned<String>>,
    pub redirect_uri: Option<Spanned<String>>,
    /// A space-separated string or a list.
    pub scope: Option<Node>,
}

/// The `oauth:` section, compiled.
#[derive(Debug, Default)]
pub struct OAuthSettings {
    pub authorize_url: Option<Text>,
    pub token_url: Option<Text>,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_auth: Option<Text>,
    pub redirect_uri: Option<Text>,
    pub scope: Option<ValueTree>,
}

/// Compiles the section; literal values are checked now.
pub fn compile(node: &Node, cx: &mut CompileCx<'_>) -> OAuthSettings {
    let Some(doc) = cx.spec::<OAuthDoc>(node) else {
        return OAuthSettings::default();
    };
    let settings = OAuthSettings {
        authorize_url: cx.opt_text(&doc.authorize_url),
        token_url: cx.opt_text(&doc.token_url),
        client_id: cx.opt_text(&doc.client_id),
        client_secret: cx.opt_text(&doc.client_secret),
        client_auth: cx.opt_text(&doc.client_auth),
        redirect_uri: cx.opt_text(&doc.redirect_uri),
        scope: doc.scope.as_ref().map(|s| cx.node(s)),
    };
    check_client_auth(settings.client_auth.as_ref(), cx);
    for url in [
        &settings.authorize_url,
        &settings.token_url,
        &settings.redirect_uri,
    ]
    .into_iter()
    .flatten()
    {
        cx.check_url(url);
    }
    settings
}

/// A literal `client_auth:` must be a method dmflow knows.
pub fn check_client_auth(text: Option<&Text>, cx: &mut CompileCx<'_>) {
    if let Some(text) = text
        && let Some(literal) = text.as_literal()
        && super::grant::basic_auth(literal).is_none()
    {
        cx.problem(
            Diagnostic::new(format!(
                "`client_auth: {literal}` is not a client authentication method"
            ))
            .label("not a method")
            .help("use `form` (client_id and client_secret in the body) or `basic` (HTTP Basic)"),
            text.pos,
        );
    }
}

/// How a run reaches the user's browser and the provider; set by the command line.
#[derive(Debug, Clone, Default)]
pub struct OAuthRuntime {
    pub browser: Browser,
    /// Bind the callback on any free port and say so in `redirect_uri` (the emulator accepts
    /// any loopback port, so parallel runs never collide).
    pub callback_any_port: bool,
    /// Offer to paste the redirected URL on the terminal.
    pub paste: bool,
    /// Record the client secret beside the tokens (`--store-client-secret`).
    pub store_client_secret: bool,
}

/// The provider a flow talks to: the one its `oauth:` endpoints belong to when it names them
/// (none for an unknown host), else dmflow's default provider.
pub fn flow_provider(
    cx: &crate::run::context::StepCx<'_>,
) -> Option<&'static crate::provider::Profile> {
    let settings = cx.sections.get::<OAuthSettings>();
    let named = settings.and_then(|s| s.token_url.as_ref().or(s.authorize_url.as_ref()));
    match named {
        Some(text) => cx
            .render(text)
            .ok()
            .and_then(|url| crate::provider::for_text(&url)),
        None => Some(crate::provider::default()),
    }
}

/// A scope written as a string or a list, as one space-separated string.
pub fn scope_text(
    tree: &crate::compiled::ValueTree,
    cx: &crate::run::context::StepCx<'_>,
) -> Result<String, crate::run::error::StepError> {
    Ok(match cx.render_tree(tree)? {
        serde_json::Value::Array(items) => items
            .iter()
            .map(crate::template::value_to_text)
            .collect::<Vec<_>>()
            .join(" "),
        other => crate::template::value_to_text(&other),
    })
}

/// The step's scope, else the flow's `oauth:` scope.
pub fn scope_of(
    own: Option<&crate::compiled::ValueTree>,
    cx: &crate::run::context::StepCx<'_>,
) -> Result<Option<String>, crate::run::error::StepError> {
    let settings = cx.sections.get::<OAuthSettings>();
    match own.or(settings.and_then(|s| s.scope.as_ref())) {
        Some(tree) => scope_text(tree, cx).map(Some),
        None => Ok(None),
    }
}
