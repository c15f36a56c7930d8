//! How token outputs enter the token store: the merge rules (a new access token drops the
//! stale expiry of the old one; a refresh that returns no refresh token keeps the old one; every
//! change of the tokens counts a generation), and the hand-over of a flow's outputs when it
//! ends.
//!
//! **Generations.** Token answers are stored the moment they arrive, so the end of a run has
//! nothing new to say about tokens, unless its outputs came from elsewhere. A run remembers the
//! newest generation of the store it read, wrote or adopted ([`TokensSeen`]); when it ends,
//! its token outputs are handed over only if the store has not moved past that generation.
//! Otherwise another process stored newer tokens meanwhile (say, it rotated the refresh token
//! this run had rotated before), and writing this run's older ones over them would lose the
//! newest rotation: they are left out, and the other outputs stored as usual.

use super::names::{ACCESS_TOKEN, EXPIRES_AT, EXPIRES_IN, REFRESH_TOKEN, TOKEN_OUTPUTS};
use crate::run::extensions::Extensions;
use crate::run::result::{FlowResult, Outcome, StepResult};
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

/// Left in a flow's result: the newest generation of the store the run read, wrote or adopted.
#[derive(Debug, Clone, Copy)]
pub struct TokensSeen(pub u64);

impl TokensSeen {
    /// Notes that the run has seen `generation`.
    pub fn note(artifacts: &mut Extensions, generation: u64) {
        let newest = artifacts
            .get::<TokensSeen>()
            .map_or(generation, |seen| seen.0.max(generation));
        artifacts.insert(TokensSeen(newest));
    }
}

/// Left in a flow's result by a refresh whose old refresh token did not come from the store,
/// or whose answer could not be stored: the newest token answer, handed to the flow's outputs
/// (so `--export` and `--json` carry it) when the flow ends.
#[derive(Debug, Clone, Default)]
pub struct Rotated(pub IndexMap<String, Value>);

impl Rotated {
    pub fn add(artifacts: &mut Extensions, tokens: &IndexMap<String, Value>) {
        let mut rotated = artifacts.get::<Rotated>().cloned().unwrap_or_default();
        rotated.0.extend(tokens.clone());
        artifacts.insert(rotated);
    }
}

fn token_values(data: &ProfileData) -> Vec<Option<Value>> {
    TOKEN_OUTPUTS
        .iter()
        .map(|name| data.values.get(*name).cloned())
        .collect()
}

/// Merges outputs into a profile, dropping stale token fields a new access token did not come
/// with (an old `EXPIRES_AT` must not outlive its token); counts a generation when the tokens
/// change.
pub fn merge(data: &mut ProfileData, tokens: &IndexMap<String, Value>, origin: Origin) {
    let now = jiff::Timestamp::now().as_second();
    let before = token_values(data);
    let refresh_token = data.values.get(REFRESH_TOKEN).cloned();
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
    if token_values(data) != before {
        data.generation += 1;
    }
    if data.values.get(REFRESH_TOKEN) != refresh_token.as_ref() {
        data.unanswered = None;
    }
    match origin {
        Origin::Grant => data.obtained_at = Some(now),
        Origin::Refresh => data.refreshed_at = Some(now),
        Origin::Other => {}
    }
}

/// Records the endpoint tokens came from. A secret kept by an earlier run stays while the
/// client is the same one, and so does the sign-in command when this run only refreshed.
pub fn record_endpoint(data: &mut ProfileData, endpoint: TokenEndpoint) {
    let old = data
        .endpoint
        .as_ref()
        .filter(|old| old.token_url == endpoint.token_url && old.client_id == endpoint.client_id);
    let kept_secret = old.and_then(|o| o.client_secret.clone());
    let kept_sign_in = old.and_then(|o| o.sign_in.clone());
    data.endpoint = Some(TokenEndpoint {
        client_secret: endpoint.client_secret.clone().or(kept_secret),
        sign_in: endpoint.sign_in.clone().or(kept_sign_in),
        ..endpoint
    });
}

/// Hands a flow's outputs on when it ends: to the token store (when there is one) those of
/// the flow if it passed, and first those of its sub-flows that passed, whatever happened after
/// them (a sign-in run as a sub-flow is kept even when a later step of the flow fails); then the
/// tokens of refreshes that did not come from the store join the flow's outputs. Returns notes
/// worth showing.
pub async fn hand_over(
    store: Option<&ProfileStore>,
    result: &mut FlowResult,
) -> Result<Vec<String>, StoreError> {
    let mut notes = Vec::new();
    if let Some(store) = store {
        let seen = newest(result, |r| r.artifacts.get::<TokensSeen>().map(|s| s.0));
        let mut passed = Vec::new();
        sub_flows(result, &mut passed);
        if result.outcome() == Outcome::Passed {
            passed.push(&*result);
        }
        for flow in passed {
            notes.extend(store_one(store, flow, seen).await?);
        }
    }
    let mut rotated = IndexMap::new();
    visit(result, &mut |r| {
        if let Some(values) = r.artifacts.get::<Rotated>() {
            rotated.extend(values.0.clone());
        }
    });
    for (name, value) in rotated {
        result.outputs.entry(name).or_insert(value);
    }
    Ok(notes)
}

/// Calls `f` on a result and every sub-flow result in it, in running order, innermost first.
fn visit<'r>(result: &'r FlowResult, f: &mut impl FnMut(&'r FlowResult)) {
    fn step<'r>(s: &'r StepResult, f: &mut impl FnMut(&'r FlowResult)) {
        s.iterations.iter().for_each(|i| step(i, f));
        if let Some(inner) = &s.flow {
            visit(inner, f);
        }
    }
    result.steps.iter().for_each(|s| step(s, f));
    f(result);
}

/// The largest value `get` finds in a result and its sub-flows.
fn newest(result: &FlowResult, get: impl Fn(&FlowResult) -> Option<u64>) -> Option<u64> {
    let mut out: Option<u64> = None;
    visit(result, &mut |r| {
        if let Some(g) = get(r) {
            out = Some(out.map_or(g, |o| o.max(g)));
        }
    });
    out
}

/// The sub-flows of a result that passed, innermost first, in running order.
fn sub_flows<'r>(result: &'r FlowResult, out: &mut Vec<&'r FlowResult>) {
    fn walk<'r>(step: &'r StepResult, out: &mut Vec<&'r FlowResult>) {
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

/// Stores one flow's outputs, leaving its tokens out when the store holds newer ones than the
/// run has seen (see the module's documentation).
async fn store_one(
    store: &ProfileStore,
    result: &FlowResult,
    seen: Option<u64>,
) -> Result<Vec<String>, StoreError> {
    if result.outputs.is_empty() {
        return Ok(Vec::new());
    }
    let granted = result.artifacts.get::<Granted>().cloned();
    let mut outputs = result.outputs.clone();
    let name = store.name.clone();
    store
        .update_async(move |data| {
            let newer = seen.is_some_and(|seen| data.generation > seen);
            let mut notes = Vec::new();
            if newer {
                let stale: Vec<String> = outputs
                    .iter()
                    .filter(|(k, v)| {
                        TOKEN_OUTPUTS.contains(&k.as_str()) && data.values.get(*k) != Some(*v)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                if !stale.is_empty() {
                    notes.push(format!(
                        "profile `{name}` holds newer tokens than this run's (another dmflow stored them meanwhile): kept those, not this run's {}",
                        stale.join(", ")
                    ));
                }
                for k in stale {
                    outputs.shift_remove(&k);
                }
            }
            let origin = granted.as_ref().map(|g| g.origin).unwrap_or(Origin::Other);
            merge(data, &outputs, origin);
            if let Some(granted) = granted.filter(|_| !newer) {
                record_endpoint(data, granted.endpoint);
            }
            notes
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokens(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn merging_keeps_the_refresh_token_and_drops_stale_expiry() {
        let mut data = ProfileData::default();
        data.values.insert("REFRESH_TOKEN".into(), json!("r1"));
        data.values.insert("EXPIRES_AT".into(), json!(5));
        merge(
            &mut data,
            &tokens(&[("ACCESS_TOKEN", json!("a2"))]),
            Origin::Refresh,
        );
        assert_eq!(data.text("REFRESH_TOKEN").as_deref(), Some("r1"));
        assert!(data.expires_at().is_none());
        assert!(data.refreshed_at.is_some());
    }

    #[test]
    fn a_generation_counts_token_changes_only() {
        let mut data = ProfileData::default();
        merge(
            &mut data,
            &tokens(&[("REFRESH_TOKEN", json!("r1"))]),
            Origin::Grant,
        );
        assert_eq!(data.generation, 1);
        merge(
            &mut data,
            &tokens(&[("REFRESH_TOKEN", json!("r1"))]),
            Origin::Other,
        );
        merge(
            &mut data,
            &tokens(&[("VIDEO_COUNT", json!(3))]),
            Origin::Other,
        );
        assert_eq!(data.generation, 1, "same tokens, other values");
        data.unanswered = Some(crate::store::Unanswered {
            pid: 1,
            at: 0,
            spending: crate::store::fingerprint("r1"),
            reason: None,
        });
        merge(
            &mut data,
            &tokens(&[("REFRESH_TOKEN", json!("r2"))]),
            Origin::Refresh,
        );
        assert_eq!(data.generation, 2);
        assert!(
            data.unanswered.is_none(),
            "a new refresh token is not spent"
        );
    }

    fn passed_with(outputs: &[(&str, Value)], seen: Option<u64>) -> FlowResult {
        let mut result = FlowResult::new("f", "f.yaml");
        result.outputs = tokens(outputs);
        if let Some(seen) = seen {
            result.artifacts.insert(TokensSeen(seen));
        }
        result
    }

    #[tokio::test]
    async fn a_run_never_writes_its_tokens_over_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), "p").unwrap();
        let stored = store
            .update(|d| {
                merge(
                    d,
                    &tokens(&[("REFRESH_TOKEN", json!("r3"))]),
                    Origin::Refresh,
                );
            })
            .unwrap();
        let mut old = passed_with(
            &[("REFRESH_TOKEN", json!("r2")), ("SCREEN_NAME", json!("me"))],
            Some(stored.generation - 1),
        );
        let notes = hand_over(Some(&store), &mut old).await.unwrap();
        let data = store.read().unwrap();
        assert_eq!(data.text("REFRESH_TOKEN").as_deref(), Some("r3"));
        assert_eq!(data.text("SCREEN_NAME").as_deref(), Some("me"));
        assert!(notes[0].contains("kept those"), "{notes:?}");

        let mut current = passed_with(&[("REFRESH_TOKEN", json!("r4"))], Some(data.generation));
        hand_over(Some(&store), &mut current).await.unwrap();
        assert_eq!(
            store.read().unwrap().text("REFRESH_TOKEN").as_deref(),
            Some("r4")
        );
    }

    #[tokio::test]
    async fn rotated_tokens_join_the_outputs_but_not_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), "p").unwrap();
        let mut result = passed_with(&[("USER_ID", json!("x1"))], None);
        Rotated::add(
            &mut result.artifacts,
            &tokens(&[("REFRESH_TOKEN", json!("r9")), ("USER_ID", json!("x2"))]),
        );
        hand_over(Some(&store), &mut result).await.unwrap();
        assert_eq!(result.outputs["REFRESH_TOKEN"], json!("r9"));
        assert_eq!(
            result.outputs["USER_ID"],
            json!("x1"),
            "the flow's own output stays"
        );
        assert!(store.read().unwrap().text("REFRESH_TOKEN").is_none());
    }
}
