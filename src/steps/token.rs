//! The `token` step: the authorization_code grant (with what `authorize` left: the redirect
//! URI and the PKCE verifier), or the `password` and `client_credentials` grants. When the
//! flow hands tokens to the store, the answer is stored the moment it arrives (the outputs it
//! hands over, with the endpoint), through `tokens::persist`.

use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Diagnostic, Pos};
use crate::oauth::errors::Grant;
use crate::oauth::session::Authorization;
use crate::oauth::settings::scope_of;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::store::TokenEndpoint;
use crate::tokens::TokenSupport;
use crate::tokens::client::{ClientTexts, endpoint, record};
use crate::tokens::merge::{Origin, TokensSeen, merge, record_endpoint};
use crate::tokens::names::TOKEN_OUTPUTS;
use crate::tokens::persist::{Persisted, send_and_store, store_error};
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

/// The `token` step kind.
pub struct Token;

pub const GRANTS: &[&str] = &["authorization_code", "password", "client_credentials"];
const GRANT_HELP: &str = "use authorization_code (default), password or client_credentials; for refresh_token use a `refresh` step";

/// Gets tokens from the token endpoint: `authorization_code` (default), `password` or `client_credentials`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Token")]
struct TokenDoc {
    url: Option<Spanned<String>>,
    /// `authorization_code` (default), `password` or `client_credentials`.
    grant: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    client_secret: Option<Spanned<String>>,
    client_auth: Option<Spanned<String>>,
    code: Option<Spanned<String>>,
    redirect_uri: Option<Spanned<String>>,
    code_verifier: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    scope: Option<Node>,
    params: Option<Node>,
}

#[derive(Debug)]
struct TokenAction {
    client: ClientTexts,
    grant: Option<Text>,
    code: Option<Text>,
    redirect_uri: Option<Text>,
    code_verifier: Option<Text>,
    username: Option<Text>,
    password: Option<Text>,
    scope: Option<ValueTree>,
    params: Vec<(String, Text)>,
    pos: Pos,
}

impl StepKind for Token {
    fn name(&self) -> &'static str {
        "token"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<TokenDoc>()
    }

    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: TokenDoc = cx.spec(spec)?;
        let action = TokenAction {
            client: ClientTexts::compile(
                &doc.url,
                &doc.client_id,
                &doc.client_secret,
                &doc.client_auth,
                cx,
            ),
            grant: cx.opt_text(&doc.grant),
            code: cx.opt_text(&doc.code),
            redirect_uri: cx.opt_text(&doc.redirect_uri),
            code_verifier: cx.opt_text(&doc.code_verifier),
            username: cx.opt_text(&doc.username),
            password: cx.opt_text(&doc.password),
            scope: doc.scope.as_ref().map(|s| cx.node(s)),
            params: cx
                .texts(doc.params.as_ref(), "params")
                .into_iter()
                .map(|(k, t, _)| (k, t))
                .collect(),
            pos: step,
        };
        let grant = action.grant.as_ref().map(|g| g.as_literal());
        if let Some(text) = &action.grant {
            cx.check_choice(text, "grant", GRANTS, GRANT_HELP);
        }
        match grant {
            None | Some(Some("authorization_code")) if action.code.is_none() => {
                cx.reads("CODE", "code", step)
            }
            Some(Some("password")) if action.username.is_none() || action.password.is_none() => {
                cx.problem(
                    Diagnostic::new("the password grant needs `username` and `password`")
                        .label("this step")
                        .help("set `username:` and `password:` on the step (from --var, an --env-file or env())"),
                    step,
                )
            }
            _ => {}
        }
        for name in TOKEN_OUTPUTS {
            cx.define(*name);
        }
        Some(Box::new(action))
    }
}

impl Action for TokenAction {
    fn preflight(&self, cx: &StepCx<'_>) -> Result<(), StepError> {
        crate::run::kind::preflight(self.client.resolve(cx, "token"))
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(async move {
            let client = self.client.resolve(cx, "token")?;
            let grant_name = cx
                .render_opt(self.grant.as_ref())?
                .map(|g| g.trim().to_string())
                .unwrap_or_else(|| "authorization_code".into());
            let mut form: Vec<(String, String)> = vec![("grant_type".into(), grant_name.clone())];
            let grant = match grant_name.as_str() {
                "authorization_code" => {
                    let code = match cx.render_opt(self.code.as_ref())? {
                        Some(code) => code,
                        None => cx.var_text("CODE").ok_or_else(|| {
                            StepError::invalid(
                                "no authorization code: the token step comes after a callback step, or sets `code:`",
                                Some(self.pos),
                                Some("put `- callback: {}` before this step"),
                            )
                        })?,
                    };
                    cx.redactor.add("CODE", &code);
                    form.push(("code".into(), code));
                    let pending = cx.state.get::<Authorization>();
                    let left = (
                        pending.map(|a| a.redirect_uri.clone()),
                        pending.and_then(|a| a.verifier.clone()),
                    );
                    // The step's own value, else what the authorize step left, else the variable.
                    for (field, own, left, variable) in [
                        ("redirect_uri", &self.redirect_uri, left.0, "REDIRECT_URI"),
                        (
                            "code_verifier",
                            &self.code_verifier,
                            left.1,
                            "CODE_VERIFIER",
                        ),
                    ] {
                        let value = match cx.render_opt(own.as_ref())? {
                            Some(value) => Some(value),
                            None => left.or_else(|| cx.var_text(variable)),
                        };
                        if let Some(value) = value {
                            form.push((field.into(), value));
                        }
                    }
                    Grant::AuthorizationCode
                }
                "password" => {
                    let username = cx.render_opt(self.username.as_ref())?;
                    let password = cx.render_opt(self.password.as_ref())?;
                    let (Some(username), Some(password)) = (username, password) else {
                        return Err(StepError::invalid(
                            "the password grant needs `username` and `password`",
                            Some(self.pos),
                            None,
                        ));
                    };
                    cx.redactor.add("PASSWORD", &password);
                    form.push(("username".into(), username));
                    form.push(("password".into(), password));
                    Grant::Password
                }
                "client_credentials" => Grant::ClientCredentials,
                other => {
                    return Err(StepError::invalid(
                        format!("`grant: {other}` is not a grant the token step knows"),
                        self.grant.as_ref().map(|g| g.pos),
                        Some(GRANT_HELP),
                    ));
                }
            };
            if grant != Grant::AuthorizationCode
                && let Some(scope) = scope_of(self.scope.as_ref(), cx)?
            {
                form.push(("scope".into(), scope));
            }
            for (name, value) in &self.params {
                form.push((name.clone(), cx.render(value)?));
            }
            // A failed sign-in is retried by running this flow again.
            let options = cx.options;
            let run_command = options
                .get::<TokenSupport>()
                .map(|s| s.run_command.as_str())
                .unwrap_or("dmflow run");
            let again = format!("{run_command} {}", cx.flow_file);
            let advice = crate::oauth::errors::Advice {
                provider: crate::provider::for_url(&client.token_url),
                sign_in: Some(&again),
            };
            let send =
                crate::oauth::grant::request(cx.session, cx.redactor, &client, form, grant, advice);
            let send = async move { send.await.map(|(_, outputs)| outputs) };
            let support = options.get::<TokenSupport>();
            let mut notes = Vec::new();
            let outputs = match support.filter(|s| s.hands_over_tokens()) {
                Some(support) => {
                    let endpoint = endpoint(&client, Origin::Grant, cx);
                    let (outputs, persisted) = store_at_once(support, endpoint, send).await?;
                    if let Some(generation) = persisted.generation {
                        TokensSeen::note(cx.artifacts, generation);
                    }
                    if let Some(error) = persisted.unstored {
                        notes.push(format!(
                            "the tokens could not be stored yet ({error}); they go to the store when the flow ends, if it can be written then"
                        ));
                    }
                    outputs
                }
                None => send.await?,
            };
            record(&client, Origin::Grant, cx);
            Ok(ActionOutput {
                outputs,
                notes,
                ..ActionOutput::default()
            })
        })
    }
}

/// Sends a grant and stores the outputs the flow hands over from its answer at once.
async fn store_at_once(
    support: &TokenSupport,
    endpoint: TokenEndpoint,
    send: impl std::future::Future<Output = Result<IndexMap<String, Value>, StepError>>,
) -> Result<(IndexMap<String, Value>, Persisted), StepError> {
    let store = support
        .store
        .as_ref()
        .ok_or_else(|| StepError::runtime("no token store", None))?;
    let locked = store.lock_async().await.map_err(store_error)?;
    let (locked, data) = locked.read_async().await.map_err(store_error)?;
    send_and_store(locked, data, None, send, |data, tokens| {
        let handed: IndexMap<String, Value> = tokens
            .iter()
            .filter(|(name, _)| support.hands_over.contains(*name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        merge(data, &handed, Origin::Grant);
        record_endpoint(data, endpoint);
    })
    .await
}
