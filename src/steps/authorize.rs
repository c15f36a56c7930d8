//! The `authorize` step: build the authorization URL (a fresh `state`, PKCE S256 by default,
//! scopes, extra parameters), start the loopback listener first, then send the user's browser
//! there.

use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Diagnostic, Pos};
use crate::oauth::browser::{self, Opened};
use crate::oauth::listener::Listener;
use crate::oauth::pkce;
use crate::oauth::session::{Authorization, PENDING_AUTHORIZATION};
use crate::oauth::settings::scope_text;
use crate::oauth::settings::{OAuthRuntime, OAuthSettings};
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::http::parse_url;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

/// The `authorize` step kind.
pub struct Authorize;

const PKCE_METHODS: &[&str] = &["S256", "plain", "none", "off", "false"];

/// Opens the provider's consent page in the browser (authorization code grant with PKCE).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Authorize")]
struct AuthorizeDoc {
    url: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    redirect_uri: Option<Spanned<String>>,
    scope: Option<Node>,
    /// `S256` (default), `plain`, or `none`.
    pkce: Option<Spanned<String>>,
    /// Extra query parameters, such as `display: popup`.
    params: Option<Node>,
}

#[derive(Debug)]
struct AuthorizeAction {
    url: Option<Text>,
    client_id: Option<Text>,
    redirect_uri: Option<Text>,
    scope: Option<ValueTree>,
    pkce: Option<Text>,
    params: Vec<(String, Text)>,
}

impl StepKind for Authorize {
    fn name(&self) -> &'static str {
        "authorize"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<AuthorizeDoc>()
    }

    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: AuthorizeDoc = cx.spec(spec)?;
        let action = AuthorizeAction {
            url: cx.opt_text(&doc.url),
            client_id: cx.opt_text(&doc.client_id),
            redirect_uri: cx.opt_text(&doc.redirect_uri),
            scope: doc.scope.as_ref().map(|s| cx.node(s)),
            pkce: cx.opt_text(&doc.pkce),
            params: cx
                .texts(doc.params.as_ref(), "params")
                .into_iter()
                .map(|(k, t, _)| (k, t))
                .collect(),
        };
        let flow = cx.section::<OAuthSettings>();
        let has_url = action.url.is_some() || flow.is_some_and(|f| f.authorize_url.is_some());
        let has_client = action.client_id.is_some() || flow.is_some_and(|f| f.client_id.is_some());
        for (missing, field) in [
            (!has_url, "url (the authorization endpoint)"),
            (!has_client, "client_id"),
        ] {
            if missing {
                let name = field.split(' ').next().unwrap_or(field);
                cx.problem(
                    Diagnostic::new(format!("the authorize step needs `{field}`"))
                        .label("this step")
                        .help(format!(
                            "set `{name}:` on the step, or once for the flow under `oauth:`{}",
                            if name == "url" {
                                " (as authorize_url)"
                            } else {
                                ""
                            }
                        )),
                    step,
                );
            }
        }
        for url in [&action.url, &action.redirect_uri].into_iter().flatten() {
            cx.check_url(url);
        }
        if let Some(pkce) = &action.pkce {
            cx.check_choice(
                pkce,
                "pkce",
                PKCE_METHODS,
                "use S256 (the default), plain, or none",
            );
        }
        for name in ["AUTHORIZE_URL", "REDIRECT_URI", "CODE_VERIFIER"] {
            cx.define(name);
        }
        cx.provide(PENDING_AUTHORIZATION);
        Some(Box::new(action))
    }
}

impl Action for AuthorizeAction {
    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(self.authorize(cx))
    }
}

/// The step's setting, else the flow's `oauth:` one.
fn pick<'x>(
    own: &'x Option<Text>,
    flow: Option<&'x OAuthSettings>,
    field: fn(&OAuthSettings) -> &Option<Text>,
) -> Option<&'x Text> {
    own.as_ref().or(flow.and_then(|f| field(f).as_ref()))
}

impl AuthorizeAction {
    async fn authorize(&self, cx: &mut StepCx<'_>) -> Result<ActionOutput, StepError> {
        let sections = cx.sections;
        let flow = sections.get::<OAuthSettings>();
        let options = cx.options;
        let runtime = options.get::<OAuthRuntime>().cloned().unwrap_or_default();
        let url_text = pick(&self.url, flow, |f| &f.authorize_url)
            .ok_or_else(|| StepError::invalid("the authorize step needs `url`", None, None))?;
        let id_text = pick(&self.client_id, flow, |f| &f.client_id).ok_or_else(|| {
            StepError::invalid("the authorize step needs `client_id`", None, None)
        })?;
        let mut url = parse_url(&cx.render(url_text)?, url_text.pos)?;
        let client_id = cx.render(id_text)?;
        let redirect_text = pick(&self.redirect_uri, flow, |f| &f.redirect_uri);
        // The redirect URI exactly as written (rendered), never normalised: providers compare
        // it byte for byte.
        let (redirect, written) = match redirect_text {
            Some(t) => {
                let rendered = cx.render(t)?.trim().to_string();
                (parse_url(&rendered, t.pos)?, rendered)
            }
            None => {
                let default = crate::provider::DEFAULT_REDIRECT_URI;
                (
                    url::Url::parse(default).expect("the default redirect URI parses"),
                    default.to_string(),
                )
            }
        };
        let scope = match self.scope.as_ref().or(flow.and_then(|f| f.scope.as_ref())) {
            Some(tree) => Some(scope_text(tree, cx)?),
            None => None,
        };
        let pkce_mode = match &self.pkce {
            Some(t) => match cx.render(t)?.trim().to_ascii_lowercase().as_str() {
                "s256" => "S256",
                "plain" => "plain",
                "none" | "off" | "false" => "none",
                other => {
                    return Err(StepError::invalid(
                        format!("`pkce: {other}` is not a PKCE method"),
                        Some(t.pos),
                        Some("use S256 (the default), plain, or none"),
                    ));
                }
            },
            None => "S256",
        };

        let state = pkce::new_state();
        if let Some(mut old) = cx.state.remove::<Authorization>() {
            old.close();
        }
        let (listener, redirect_uri) =
            match Listener::bind(&redirect, &state, runtime.callback_any_port).await {
                Ok(listener) => {
                    let uri = if runtime.callback_any_port {
                        listener.redirect_uri.clone()
                    } else {
                        written
                    };
                    (Some(listener), uri)
                }
                Err(StepError::Invalid { .. }) if runtime.paste => (None, written),
                Err(err) => return Err(err),
            };

        let verifier = (pkce_mode != "none").then(pkce::new_verifier);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("response_type", "code");
            query.append_pair("client_id", &client_id);
            query.append_pair("redirect_uri", &redirect_uri);
            if let Some(scope) = &scope {
                query.append_pair("scope", scope);
            }
            query.append_pair("state", &state);
            if let Some(verifier) = &verifier {
                let challenge = if pkce_mode == "S256" {
                    pkce::s256(verifier)
                } else {
                    verifier.clone()
                };
                query.append_pair("code_challenge", &challenge);
                query.append_pair("code_challenge_method", pkce_mode);
            }
        }
        for (name, value) in &self.params {
            let value = cx.render(value)?;
            url.query_pairs_mut().append_pair(name, &value);
        }
        if let Some(verifier) = &verifier {
            cx.redactor.add("CODE_VERIFIER", verifier);
        }
        let authorize_url = url.to_string();
        cx.announce(&format!("sign in at: {authorize_url}"));
        let internal_target = cx.session.target(&url);
        let mut output = ActionOutput::default();
        let mut browser_task = None;
        match browser::open(&runtime.browser, &authorize_url, Some(internal_target)) {
            Opened::Yes(note) => output.notes.push(note),
            Opened::No(note) => cx.announce(&note),
            Opened::Task(task) => browser_task = Some(task),
        }
        cx.state.insert(Authorization {
            listener,
            state,
            verifier: verifier.clone(),
            redirect_uri: redirect_uri.clone(),
            browser_task,
        });
        output
            .outputs
            .insert("AUTHORIZE_URL".into(), Value::String(authorize_url));
        output
            .outputs
            .insert("REDIRECT_URI".into(), Value::String(redirect_uri));
        if let Some(verifier) = verifier {
            output
                .outputs
                .insert("CODE_VERIFIER".into(), Value::String(verifier));
        }
        Ok(output)
    }
}
