//! `paginate:` on an `http` step: fetch page 1, 2, ... while the list envelope says
//! `has_more`, up to `max_pages`; checks and captures then see the last page with its list
//! holding every page's items.

use super::exchange::ResponseRecord;
use super::http::Prepared;
use super::{ActionOutput, StepContext, StepError};
use crate::flow::model::PaginateSpec;
use serde_json::Value;

pub const DEFAULT_MAX_PAGES: u32 = 10;

pub async fn run(
    first: Prepared,
    spec: &PaginateSpec,
    cx: &mut StepContext<'_>,
) -> Result<ActionOutput, StepError> {
    let param = spec.param.as_deref().unwrap_or("page");
    let more = spec.more.as_deref().unwrap_or("has_more");
    let list = spec.list.as_deref().unwrap_or("list");
    let max_pages = spec.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1);
    let start: u64 = first
        .url
        .query_pairs()
        .find(|(k, _)| k == param)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    let mut output = ActionOutput::default();
    let mut items: Vec<Value> = Vec::new();
    let mut last: Option<ResponseRecord> = None;
    let mut fetched = 0;
    for page in start..start + u64::from(max_pages) {
        fetched += 1;
        let mut prepared = first.clone();
        let others: Vec<(String, String)> = prepared
            .url
            .query_pairs()
            .filter(|(k, _)| k != param)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        prepared
            .url
            .query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair(param, &page.to_string());
        let (exchange, step) = crate::oauth::bearer::send_with_refresh(prepared, cx).await?;
        output.notes.extend(step.notes);
        output.outputs.extend(step.outputs);
        let response = exchange.response;
        let body = response.json.clone();
        last = Some(response);
        let Some(Value::Object(object)) = body else {
            break;
        };
        if let Some(Value::Array(page_items)) = object.get(list) {
            items.extend(page_items.iter().cloned());
        }
        if last
            .as_ref()
            .is_some_and(|r| !(200..300).contains(&r.status))
            || object.get(more) != Some(&Value::Bool(true))
        {
            break;
        }
        if fetched == max_pages {
            output.notes.push(format!(
                "stopped after {max_pages} pages (max_pages): more remain"
            ));
        }
    }
    if let Some(mut response) = last
        && let Some(Value::Object(object)) = response.json.as_mut()
    {
        object.insert(list.to_string(), Value::Array(items));
        response.body = Value::Object(object.clone()).to_string();
        output.response = Some(response);
    }
    Ok(output)
}
