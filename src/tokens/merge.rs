//! How token outputs enter the token store: the merge rules (a new access token drops the
//! stale expiry of the old one; a refresh that returns no refresh token keeps the old one), and
//! the outputs of a passed flow.

use super::names::{ACCESS_TOKEN, EXPIRES_AT, EXPIRES_IN};
use crate::run::result::{FlowResult, Outcome};
use crate::store::TokenEndpoint;
use crate::store::{ProfileData, ProfileStore, StoreError};
use indexmap::IndexMap;
use serde_json::Value;

/// How the values being merged were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A sign-in (token grant).
    Grant,
    Refresh,
    /// Other outputs (a user id...).
    Other,
}

/// Left in a flow's result by a token or refresh step: the endpoint its tokens came from, to
/// record beside them in the store.
#[derive(Debug, Clone)]
pub struct Granted {
    pub endpoint: TokenEndpoint,
    pub origin: Origin,
}

/// Merges outputs into a profile, dropping stale token fields a new access token did not come
/// with (an old `EXPIRES_AT` must not outlive its token).
pub fn merge(data: &mut ProfileData, tokens: &IndexMap<String, Value>, origin: Origin) {
    let now = jiff::Timestamp::now().as_second();
    if tokens.contains_key(ACCESS_TOKEN) {
        for stale in [EXPIRES_AT, EXPIRES_IN] {
            if !tokens.contains_key(stale) {
                data.values.shift_remove(stale);
            }
        }
    }
    for (name, value) in tokens {
        data.values.insert(name.clone(), value.clone());
    }
    match origin {
        Origin::Grant => data.obtained_at = Some(now),
        Origin::Refresh => data.refreshed_at = Some(now),
        Origin::Other => {}
    }
}

/// Hands a passed flow's outputs to the token store, with the endpoint its tokens came from.
/// The sub-flows that passed hand on theirs first, whatever happened after them: a sign-in
/// run as a sub-flow is kept even when a later step of the flow fails.
pub async fn store_outputs(store: &ProfileStore, result: &FlowResult) -> Result<(), StoreError> {
    let mut passed = Vec::new();
    sub_flows(result, &mut passed);
    if result.outcome() == Outcome::Passed {
        passed.push(result);
    }
    for flow in passed {
        store_one(store, flow).await?;
    }
    Ok(())
}

/// The sub-flows of a result that passed, innermost first, in running order.
fn sub_flows<'r>(result: &'r FlowResult, out: &mut Vec<&'r FlowResult>) {
    fn walk<'r>(step: &'r crate::run::result::StepResult, out: &mut Vec<&'r FlowResult>) {
        step.iterations.iter().for_each(|i| walk(i, out));
        if let Some(inner) = &step.flow {
            sub_flows(inner, out);
            if inner.outcome() == Outcome::Passed {
                out.push(inner);
            }
        }
    }
    result.steps.iter().for_each(|s| walk(s, out));
}

async fn store_one(store: &ProfileStore, result: &FlowResult) -> Result<(), StoreError> {
    if result.outputs.is_empty() {
        return Ok(());
    }
    let granted = result.artifacts.get::<Granted>().cloned();
    let outputs = result.outputs.clone();
    store
        .update_async(move |data| {
            let origin = granted.as_ref().map(|g| g.origin).unwrap_or(Origin::Other);
            merge(data, &outputs, origin);
            if let Some(granted) = granted {
                let endpoint = granted.endpoint;
                // A secret kept by an earlier run stays while the client is the same one, and
                // so does the sign-in command when this run only refreshed.
                let old = data.endpoint.as_ref().filter(|old| {
                    old.token_url == endpoint.token_url && old.client_id == endpoint.client_id
                });
                let kept_secret = old.and_then(|o| o.client_secret.clone());
                let kept_sign_in = old.and_then(|o| o.sign_in.clone());
                data.endpoint = Some(crate::store::TokenEndpoint {
                    client_secret: endpoint.client_secret.clone().or(kept_secret),
                    sign_in: endpoint.sign_in.clone().or(kept_sign_in),
                    ..endpoint
                });
            }
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_keeps_the_refresh_token_and_drops_stale_expiry() {
        let mut data = ProfileData::default();
        data.values.insert("REFRESH_TOKEN".into(), json!("r1"));
        data.values.insert("EXPIRES_AT".into(), json!(5));
        let mut tokens = IndexMap::new();
        tokens.insert("ACCESS_TOKEN".to_string(), json!("a2"));
        merge(&mut data, &tokens, Origin::Refresh);
        assert_eq!(data.text("REFRESH_TOKEN").as_deref(), Some("r1"));
        assert!(data.expires_at().is_none());
        assert!(data.refreshed_at.is_some());
    }
}
