//! The client of a token request: from the step's own fields, else the flow's `oauth:`
//! section, else the endpoint a sign-in recorded in the token store.

use super::merge::{Granted, Origin};
use super::support::TokenSupport;
use crate::compiled::Text;
use crate::oauth::grant::{Client, basic_auth};
use crate::oauth::settings::OAuthSettings;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::store::TokenEndpoint;
use crate::yaml::Spanned;

/// The client fields a step sets itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fields<'a> {
    pub url: Option<&'a Text>,
    pub client_id: Option<&'a Text>,
    pub client_secret: Option<&'a Text>,
    pub client_auth: Option<&'a Text>,
}

/// The client fields a token or refresh step may set, compiled.
#[derive(Debug, Default)]
pub struct ClientTexts {
    pub url: Option<Text>,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_auth: Option<Text>,
}

impl ClientTexts {
    /// Compiles the fields; a literal URL or client authentication method is checked now.
    pub fn compile(
        url: &Option<Spanned<String>>,
        client_id: &Option<Spanned<String>>,
        client_secret: &Option<Spanned<String>>,
        client_auth: &Option<Spanned<String>>,
        cx: &mut CompileCx<'_>,
    ) -> ClientTexts {
        let texts = ClientTexts {
            url: cx.opt_text(url),
            client_id: cx.opt_text(client_id),
            client_secret: cx.opt_text(client_secret),
            client_auth: cx.opt_text(client_auth),
        };
        if let Some(url) = &texts.url {
            cx.check_url(url);
        }
        crate::oauth::settings::check_client_auth(texts.client_auth.as_ref(), cx);
        texts
    }

    /// Resolves and renders the client (see [`resolve`]).
    pub fn resolve(&self, cx: &StepCx<'_>, step: &str) -> Result<Client, StepError> {
        let fields = Fields {
            url: self.url.as_ref(),
            client_id: self.client_id.as_ref(),
            client_secret: self.client_secret.as_ref(),
            client_auth: self.client_auth.as_ref(),
        };
        resolve(fields, cx, step)
    }
}

/// Resolves and renders the client of a token request.
pub fn resolve(fields: Fields<'_>, cx: &StepCx<'_>, step: &str) -> Result<Client, StepError> {
    let flow = cx.sections.get::<OAuthSettings>();
    let url = fields.url.or(flow.and_then(|f| f.token_url.as_ref()));
    let Some(url) = url else {
        if let Some(endpoint) = cx
            .options
            .get::<TokenSupport>()
            .and_then(|s| s.stored_endpoint.as_ref())
        {
            return stored(endpoint, cx);
        }
        return Err(StepError::invalid(
            format!("the {step} step needs the token endpoint"),
            None,
            Some("set `url:` on the step, or `token_url:` under the flow's `oauth:`"),
        ));
    };
    let token_url = crate::run::http::parse_url(&cx.render(url)?, url.pos)?;
    let id = fields
        .client_id
        .or(flow.and_then(|f| f.client_id.as_ref()))
        .ok_or_else(|| {
            StepError::invalid(
                format!("the {step} step needs `client_id`"),
                None,
                Some("set `client_id:` on the step, or under the flow's `oauth:`"),
            )
        })?;
    let client_id = cx.render(id)?;
    let secret = fields
        .client_secret
        .or(flow.and_then(|f| f.client_secret.as_ref()));
    let client_secret = cx.render_opt(secret)?;
    let basic = match fields
        .client_auth
        .or(flow.and_then(|f| f.client_auth.as_ref()))
    {
        Some(text) => {
            let method = cx.render(text)?;
            basic_auth(&method).ok_or_else(|| {
                StepError::invalid(
                    format!("`client_auth: {}` is not a client authentication method", method.trim()),
                    Some(text.pos),
                    Some("use `form` (client_id and client_secret in the body) or `basic` (HTTP Basic)"),
                )
            })?
        }
        None => false,
    };
    Ok(Client {
        token_url,
        client_id,
        client_secret,
        basic,
    })
}

/// The client a sign-in recorded; the secret comes from the store (if the user chose to keep
/// it there), the `API_SECRET` variable, the provider's usual environment variable, or the
/// run's fallback.
pub fn stored(endpoint: &TokenEndpoint, cx: &StepCx<'_>) -> Result<Client, StepError> {
    let env = |name: &str| cx.vars.env.get(name);
    let fallback = cx
        .options
        .get::<TokenSupport>()
        .and_then(|s| s.secret_fallback.clone());
    let secret = endpoint
        .client_secret
        .clone()
        .or_else(|| cx.var_text("API_SECRET"))
        .or_else(|| crate::provider::for_text(&endpoint.token_url).and_then(|p| env(p.secret_env)))
        .or(fallback);
    from_endpoint(endpoint, secret)
}

/// A client from a recorded endpoint and a secret.
pub fn from_endpoint(
    endpoint: &TokenEndpoint,
    secret: Option<String>,
) -> Result<Client, StepError> {
    let token_url = url::Url::parse(&endpoint.token_url).map_err(|e| {
        StepError::invalid(
            format!(
                "the stored token URL `{}` is invalid: {e}",
                endpoint.token_url
            ),
            None,
            Some("sign in again"),
        )
    })?;
    Ok(Client {
        token_url,
        client_id: endpoint.client_id.clone(),
        client_secret: secret,
        basic: endpoint.client_auth == "basic",
    })
}

/// The endpoint a step got tokens from, as the token store records it.
pub fn endpoint(client: &Client, origin: Origin, cx: &StepCx<'_>) -> TokenEndpoint {
    let support = cx.options.get::<TokenSupport>();
    let with_secret = support.is_some_and(|s| s.store_client_secret);
    let sign_in = (origin == Origin::Grant).then(|| {
        let command = support
            .map(|s| s.run_command.clone())
            .unwrap_or_else(|| "dmflow run".into());
        format!("{command} {}", cx.flow_file)
    });
    TokenEndpoint {
        token_url: client.token_url.to_string(),
        client_id: client.client_id.clone(),
        client_auth: if client.basic { "basic" } else { "form" }.into(),
        client_secret: client.client_secret.clone().filter(|_| with_secret),
        sign_in,
    }
}

/// Records, for the token store, the endpoint a step got tokens from.
pub fn record(client: &Client, origin: Origin, cx: &mut StepCx<'_>) {
    let endpoint = endpoint(client, origin, cx);
    let origin = match cx.artifacts.get::<Granted>() {
        Some(earlier) if earlier.origin == Origin::Grant => Origin::Grant,
        _ => origin,
    };
    cx.artifacts.insert(Granted { endpoint, origin });
}
