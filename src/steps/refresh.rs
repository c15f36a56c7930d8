//! The `refresh` step: the refresh_token grant. A rotated refresh token replaces the old one,
//! and is stored the moment it arrives (see `tokens::refresh`); when the old one came from the
//! token store, the refresh is coordinated with other processes through the store's lock.

use crate::compiled::{Text, ValueTree};
use crate::diagnostic::Pos;
use crate::oauth::settings::scope_of;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::tokens::client::ClientTexts;
use crate::tokens::names::{REFRESH_TOKEN, TOKEN_OUTPUTS};
use crate::tokens::refresh::for_step;
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;

/// The `refresh` step kind.
pub struct Refresh;

/// Exchanges the refresh token for a new access token (and a rotated refresh token).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Refresh")]
struct RefreshDoc {
    url: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    client_secret: Option<Spanned<String>>,
    client_auth: Option<Spanned<String>>,
    /// Default `<<REFRESH_TOKEN>>`.
    refresh_token: Option<Spanned<String>>,
    scope: Option<Node>,
}

#[derive(Debug)]
struct RefreshAction {
    client: ClientTexts,
    refresh_token: Option<Text>,
    scope: Option<ValueTree>,
    pos: Pos,
}

impl StepKind for Refresh {
    fn name(&self) -> &'static str {
        "refresh"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<RefreshDoc>()
    }

    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: RefreshDoc = cx.spec(spec)?;
        let action = RefreshAction {
            client: ClientTexts::compile(
                &doc.url,
                &doc.client_id,
                &doc.client_secret,
                &doc.client_auth,
                cx,
            ),
            refresh_token: cx.opt_text(&doc.refresh_token),
            scope: doc.scope.as_ref().map(|s| cx.node(s)),
            pos: step,
        };
        if action.refresh_token.is_none() {
            cx.reads(REFRESH_TOKEN, "refresh_token", step);
        }
        for name in TOKEN_OUTPUTS {
            cx.define(*name);
        }
        Some(Box::new(action))
    }
}

impl Action for RefreshAction {
    fn preflight(&self, cx: &StepCx<'_>) -> Result<(), StepError> {
        crate::run::kind::preflight(self.client.resolve(cx, "refresh"))
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(async move {
            let client = self.client.resolve(cx, "refresh")?;
            let explicit = cx.render_opt(self.refresh_token.as_ref())?;
            let refresh_token = match explicit.clone() {
                Some(token) => token,
                None => cx.var_text(REFRESH_TOKEN).ok_or_else(|| {
                    StepError::invalid(
                        "no refresh token: `REFRESH_TOKEN` is not set",
                        Some(self.pos),
                        Some("sign in first, pass --var REFRESH_TOKEN=..., or declare REFRESH_TOKEN under `inputs:`"),
                    )
                })?,
            };
            let scope = scope_of(self.scope.as_ref(), cx)?;
            let refreshed =
                for_step(cx, &client, &refresh_token, scope, explicit.is_some()).await?;
            Ok(ActionOutput {
                outputs: refreshed.tokens,
                notes: refreshed.notes,
                ..ActionOutput::default()
            })
        })
    }
}
