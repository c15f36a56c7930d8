//! Refreshing: the refresh_token grant, coordinated with other processes through the token
//! store. Under the store's lock, the store is read again first: if another process rotated
//! the tokens meanwhile, its fresh ones (or its new refresh token) are used instead of spending
//! a dead one, and a rotated pair is written back at once, so it survives whatever happens to
//! the rest of the flow. Store IO runs off the async runtime's threads.

use super::merge::{Origin, merge};
use super::names::{ACCESS_TOKEN, REFRESH_TOKEN, TOKEN_OUTPUTS};
use super::support::TokenSupport;
use crate::oauth::errors::Advice;
use crate::oauth::grant::{Client, Refresh};
use crate::run::context::{Origin as VarOrigin, StepCx};
use crate::run::error::StepError;
use crate::store::{ProfileStore, StoreError};
use indexmap::IndexMap;
use serde_json::Value;

/// What a refresh produced: a note worth showing, and the token variables.
pub type Refreshed = (Option<String>, IndexMap<String, Value>);

fn store_error(e: StoreError) -> StepError {
    StepError::runtime(e.0, None)
}

/// Refreshes under the store's lock (see the module's documentation).
pub async fn under_lock(store: &ProfileStore, grant: Refresh<'_>) -> Result<Refreshed, StepError> {
    let redactor = grant.redactor;
    redactor.add(REFRESH_TOKEN, grant.refresh_token);
    let lock = store.lock_async().await.map_err(store_error)?;
    let mut data = store.read_async().await.map_err(store_error)?;
    let mut token = grant.refresh_token.to_string();
    let mut note = None;
    if let Some(stored) = data
        .text(REFRESH_TOKEN)
        .filter(|t| t != grant.refresh_token)
    {
        redactor.add(REFRESH_TOKEN, &stored);
        if data.text(ACCESS_TOKEN).is_some()
            && !data.needs_refresh(jiff::Timestamp::now().as_second())
        {
            let mut outputs = IndexMap::new();
            for name in TOKEN_OUTPUTS {
                if let Some(value) = data.values.get(*name) {
                    outputs.insert(name.to_string(), value.clone());
                }
            }
            drop(lock);
            return Ok((
                Some("another dmflow refreshed the tokens meanwhile: using its fresh ones".into()),
                outputs,
            ));
        }
        note = Some("another dmflow rotated the refresh token meanwhile: used the new one".into());
        token = stored;
    }
    let outputs = grant.send(&token).await?;
    merge(&mut data, &outputs, Origin::Refresh);
    store.write_locked_async(data).await.map_err(store_error)?;
    drop(lock);
    Ok((note, outputs))
}

/// Refreshes for a step or a hook: under the store's lock when the refresh token came from
/// the store, else directly.
pub async fn for_step(
    cx: &mut StepCx<'_>,
    client: &Client,
    refresh_token: &str,
    scope: Option<String>,
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
    let coordinated = support
        .and_then(|s| s.store.as_ref())
        .filter(|_| cx.origin(REFRESH_TOKEN) == Some(VarOrigin::Store));
    let result = match coordinated {
        Some(store) => under_lock(store, grant).await?,
        None => (None, grant.send(refresh_token).await?),
    };
    super::client::record(client, Origin::Refresh, cx);
    Ok(result)
}
