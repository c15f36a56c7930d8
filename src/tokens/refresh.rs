//! Refreshing: the refresh_token grant, its answer stored the moment it arrives, whatever the
//! source of the old refresh token.
//!
//! Under the store's lock, the store is read again first. When the refresh token is the
//! store's (it came from there, or it is the one stored), another process may have rotated it
//! meanwhile: its fresh tokens (or its new refresh token) are used instead of spending a dead
//! one. A refresh token from elsewhere (`--var`, the environment, a step) is spent as given,
//! and its rotation is stored when the profile holds no other refresh token, or when the flow
//! hands its tokens to the store anyway; otherwise the profile's own sign-in is left alone.
//! Either way the new tokens are reported and handed to the flow's outputs (`--export`,
//! `--json`). See [`super::persist`] for the reserved write and the signals held off.

use super::merge::{Origin, TokensSeen, merge, record_endpoint};
use super::names::{ACCESS_TOKEN, REFRESH_TOKEN, TOKEN_OUTPUTS};
use super::persist::{Persisted, send_and_store, store_error};
use super::support::TokenSupport;
use crate::oauth::errors::Advice;
use crate::oauth::grant::{Client, Refresh};
use crate::run::context::{Origin as VarOrigin, StepCx};
use crate::run::error::StepError;
use crate::store::{ProfileStore, StoreError, TokenEndpoint};
use indexmap::IndexMap;
use serde_json::Value;

/// Where the refresh token being spent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The token store (directly, or through a flow that took it from there).
    Store,
    /// Elsewhere (`--var`, the environment...), described for notes; `hands_over` when the
    /// flow hands its tokens to the store anyway.
    Elsewhere {
        described: &'static str,
        hands_over: bool,
    },
}

/// What a refresh produced.
#[derive(Debug, Default)]
pub struct Refreshed {
    /// Worth showing.
    pub notes: Vec<String>,
    /// The token variables.
    pub tokens: IndexMap<String, Value>,
    /// The store's generation after the refresh wrote (or adopted) them.
    pub generation: Option<u64>,
    /// Whether the store holds them now.
    pub stored: bool,
    /// The answer came but the store could not be written.
    pub unstored: Option<StoreError>,
}

/// Refreshes with the store's lock held (see the module's documentation); `endpoint` is
/// recorded beside tokens stored.
pub async fn under_lock(
    store: &ProfileStore,
    grant: Refresh<'_>,
    source: Source,
    endpoint: Option<TokenEndpoint>,
) -> Result<Refreshed, StepError> {
    let redactor = grant.redactor;
    redactor.add(REFRESH_TOKEN, grant.refresh_token);
    let locked = store.lock_async().await.map_err(store_error)?;
    let (locked, data) = locked.read_async().await.map_err(store_error)?;
    let stored = data.text(REFRESH_TOKEN);
    let mut notes = Vec::new();
    let mut token = grant.refresh_token.to_string();
    let ours = source == Source::Store || stored.as_deref() == Some(grant.refresh_token);
    if let Source::Elsewhere {
        described,
        hands_over,
    } = source
        && !ours
    {
        if stored.is_some() && !hands_over {
            drop(locked);
            let tokens = grant.send(&token).await?;
            notes.push(format!(
                "the refresh token from {described} was rotated; the new one was not stored, since profile `{}` holds the refresh token of another sign-in: it is among the flow's outputs (--export, --json)",
                store.name
            ));
            return Ok(Refreshed {
                notes,
                tokens,
                ..Refreshed::default()
            });
        }
        notes.push(format!(
            "the refresh token from {described} was rotated: the new one is stored in profile `{}` and among the flow's outputs (--export, --json)",
            store.name
        ));
    }
    if source == Source::Store
        && let Some(newer) = stored.filter(|t| *t != token)
    {
        redactor.add(REFRESH_TOKEN, &newer);
        if data.text(ACCESS_TOKEN).is_some()
            && !data.needs_refresh(jiff::Timestamp::now().as_second())
        {
            let tokens: IndexMap<String, Value> = TOKEN_OUTPUTS
                .iter()
                .filter_map(|name| Some((name.to_string(), data.values.get(*name)?.clone())))
                .collect();
            return Ok(Refreshed {
                notes: vec![
                    "another dmflow refreshed the tokens meanwhile: using its fresh ones".into(),
                ],
                tokens,
                generation: Some(data.generation),
                stored: true,
                unstored: None,
            });
        }
        notes.push("another dmflow rotated the refresh token meanwhile: used the new one".into());
        token = newer;
    }
    let unanswered = data.unanswered_for(&token).cloned();
    let sent = send_and_store(
        locked,
        data,
        Some(&token),
        grant.send(&token),
        |data, tokens| {
            merge(data, tokens, Origin::Refresh);
            if let Some(endpoint) = endpoint {
                record_endpoint(data, endpoint);
            }
        },
    )
    .await;
    let (
        tokens,
        Persisted {
            generation,
            unstored,
        },
    ) = match sent {
        Ok(sent) => sent,
        Err(error) => return Err(explained(error, unanswered.as_ref())),
    };
    Ok(Refreshed {
        notes,
        tokens,
        generation,
        stored: unstored.is_none(),
        unstored,
    })
}

/// An `invalid_grant` for a refresh token dmflow had sent before without storing the answer:
/// the cause is known, and said.
fn explained(error: StepError, unanswered: Option<&crate::store::Unanswered>) -> StepError {
    match (error, unanswered) {
        (StepError::Refused { message, help }, Some(unanswered))
            if message.contains(" invalid_grant") =>
        {
            StepError::Refused {
                message: format!("{message}: {}", unanswered.explain()),
                help,
            }
        }
        (error, _) => error,
    }
}

/// How a variable's origin reads in a note.
fn described(origin: Option<VarOrigin>) -> &'static str {
    match origin {
        Some(VarOrigin::CommandLine) => "--var",
        Some(VarOrigin::EnvFile) => "--env-file",
        Some(VarOrigin::Environment) => "the environment",
        Some(VarOrigin::Default) => "the flow's vars",
        Some(VarOrigin::Step) => "an earlier step",
        Some(VarOrigin::Override) | Some(VarOrigin::Store) => "the run",
        None => "the step",
    }
}

/// Refreshes for a step or a hook: through the store when the run has one (see
/// [`under_lock`]), else directly. Tokens that did not come from the store, or that could
/// not be stored, are handed to the flow's outputs when it ends.
pub async fn for_step(
    cx: &mut StepCx<'_>,
    client: &Client,
    refresh_token: &str,
    scope: Option<String>,
    explicit: bool,
) -> Result<Refreshed, StepError> {
    let options = cx.options;
    let support = options.get::<TokenSupport>();
    let provider = crate::provider::for_url(&client.token_url);
    let advice = support.map(|s| s.advice(provider)).unwrap_or(Advice {
        provider,
        sign_in: None,
    });
    let grant = Refresh {
        session: cx.session,
        redactor: cx.redactor,
        client,
        refresh_token,
        scope,
        advice,
    };
    let origin = if explicit {
        None
    } else {
        cx.origin(REFRESH_TOKEN)
    };
    let source = match origin {
        Some(VarOrigin::Store) => Source::Store,
        other => Source::Elsewhere {
            described: described(other),
            hands_over: support.is_some_and(|s| s.hands_over_tokens()),
        },
    };
    let endpoint = super::client::endpoint(client, super::merge::Origin::Refresh, cx);
    let refreshed = match support.and_then(|s| s.store.as_ref()) {
        Some(store) => under_lock(store, grant, source, Some(endpoint)).await?,
        None => Refreshed {
            tokens: grant.send(refresh_token).await?,
            ..Refreshed::default()
        },
    };
    super::client::record(client, Origin::Refresh, cx);
    if let Some(generation) = refreshed.generation {
        TokensSeen::note(cx.artifacts, generation);
    }
    if source != Source::Store || !refreshed.stored {
        super::merge::Rotated::add(cx.artifacts, &refreshed.tokens);
    }
    if let Some(error) = &refreshed.unstored {
        for (name, value) in &refreshed.tokens {
            cx.set(name, value.clone(), false);
        }
        return Err(StepError::runtime(
            format!(
                "the provider rotated the refresh token, but the token store could not be written ({error}): the new tokens are only in this run's outputs (--export, --json)"
            ),
            Some(
                "keep them now (--export-file PATH), then free space or fix the store; the next run finds the old refresh token spent",
            ),
        ));
    }
    Ok(refreshed)
}
