//! The shape of a flow file as JSON Schema sees it, for the parts the compiler reads by hand
//! (the file, a step's common keys, `retry:`, `expect:`, `save:`, sub-flows). The step kinds
//! and the `oauth:` section bring their own (their spec types derive it); [`crate::schema`]
//! puts the pieces together. Tests hold these types to the compiler's field lists, so the
//! schema cannot drift from what `dmflow check` accepts.

use crate::yaml::Node;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A dmflow flow file: HTTP steps run in order, with variables filled into `<<...>>`
/// templates.
#[derive(JsonSchema)]
#[schemars(title = "dmflow flow file")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FlowShape {
    /// The flow's name in reports (default: the file name).
    name: Option<String>,
    /// One line saying what the flow does.
    description: Option<String>,
    /// Variables the flow needs from outside: `--var`, `--env-file`, the token store, or the
    /// `with:` of a step that runs this flow.
    inputs: Option<Vec<InputShape>>,
    /// Variables with their defaults, in order (a default may use the ones above it):
    /// `api: https://api.dailymotion.com`.
    vars: Option<BTreeMap<String, Node>>,
    /// Names of variables whose values are masked everywhere, besides those named like a
    /// secret (`*_TOKEN`, `*_SECRET`, `PASSWORD`...).
    secrets: Option<Vec<String>>,
    /// The OAuth2 client the `authorize`, `token`, `refresh` and `echo` steps use.
    oauth: Option<crate::oauth::settings::OAuthDoc>,
    /// The steps, run in order; a step that fails stops the flow.
    steps: Vec<StepShape>,
    /// Variables this flow hands on: to the token store, `dmflow env`, `--json`, and the flow
    /// that runs it as a sub-flow.
    outputs: Option<Vec<String>>,
    /// Values blanked in snapshot transcripts (ids, dates that change from run to run).
    redact: Option<Vec<super::redact::RuleDoc>>,
}

/// An input: its name, or a mapping.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "Input")]
pub enum InputShape {
    Name(String),
    Full(InputFields),
}

/// An input written as a mapping.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct InputFields {
    name: String,
    /// The flow runs without it (test it with `if:` or `default()`).
    optional: Option<bool>,
    /// What it is, shown when it is missing.
    description: Option<String>,
}

/// A step: one action (`http:`, `token:`, `flow:`...) with the keys every step may have.
#[derive(JsonSchema)]
#[schemars(rename = "Step")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct StepShape {
    /// The step's name in reports (default: its number and kind).
    name: Option<String>,
    description: Option<String>,
    /// Run the step only when this renders true: `<<VIDEO_ID is defined>>`. A skipped step
    /// shows the reason.
    #[serde(rename = "if")]
    condition: Option<String>,
    /// Run the step once per item of a list: `<<VIDEO_IDS>>` or a YAML list. Values saved
    /// inside are collected into lists.
    for_each: Option<Node>,
    /// The variable holding the current item (default `item`).
    #[serde(rename = "as")]
    item: Option<String>,
    /// The variable holding the current item's position, from 0.
    index: Option<String>,
    /// The most items `for_each` may go over (default 1000); a longer list is an error.
    #[schemars(range(min = 1))]
    max_items: Option<u64>,
    /// Run the step again while it fails (or until `until:` holds), waiting between attempts.
    retry: Option<RetryShape>,
    /// Checks on the response; any that fails, fails the step.
    expect: Option<ExpectShape>,
    /// Values taken from the response into variables for the steps after: `ID: $.id`.
    save: Option<BTreeMap<String, CaptureShape>>,
    /// Run another flow file with parameters; its outputs become variables of this flow.
    flow: Option<SubFlowShape>,
}

/// `flow:`: a file name, or the file with the values it gets.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "SubFlow")]
pub enum SubFlowShape {
    File(String),
    Full(SubFlowFields),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SubFlowFields {
    /// The flow file, relative to this one.
    file: String,
    /// Values for the sub-flow's inputs and variables.
    with: Option<BTreeMap<String, Node>>,
}

/// `retry:`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
#[schemars(rename = "Retry")]
pub struct RetryShape {
    /// How many times the step runs at most (default 3).
    #[schemars(range(min = 1, max = 1000))]
    attempts: Option<u32>,
    /// The wait after the first attempt (default 1s).
    interval: Option<DurationShape>,
    /// Each wait is the one before times this (default 1).
    #[schemars(range(min = 1, max = 10))]
    backoff: Option<f64>,
    /// The longest wait (default 30s).
    max_interval: Option<DurationShape>,
    /// Stop retrying once this renders true: `<<STATUS == "published">>`; `expect` (the
    /// default) retries while the step's checks fail.
    until: Option<String>,
    /// Also retry on network errors and on these statuses, honouring `Retry-After`:
    /// `[network, 429, 5xx]`.
    on: Option<OneOrMany<RetryOn>>,
    /// Give up once the attempts have taken this long.
    timeout: Option<DurationShape>,
}

/// `network`, a status (`503`) or a class of statuses (`5xx`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RetryOn {
    Status(#[schemars(range(min = 100, max = 599))] u16),
    Text(#[schemars(regex(pattern = "^(network|[1-5][0-9][0-9]|[1-5]xx)$"))] String),
}

/// One value or a list of them.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "OneOrMany_{T}")]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

/// `expect:`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
#[schemars(rename = "Expect")]
pub struct ExpectShape {
    /// The status: `200`, `2xx`, or a list of them. Without it, a status of 400 or more
    /// fails the step.
    status: Option<OneOrMany<StatusShape>>,
    /// Checks on response headers, by name.
    headers: Option<BTreeMap<String, CheckShape>>,
    /// Checks on the JSON body, by JSONPath: `$.list[0].id: { exists: true }`.
    json: Option<BTreeMap<String, CheckShape>>,
    /// A check on the body text.
    body: Option<CheckShape>,
}

/// A status (`200`) or a class (`2xx`).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "Status")]
pub enum StatusShape {
    Code(#[schemars(range(min = 100, max = 599))] u16),
    Text(String),
}

/// A check: a value the target must equal, or a mapping of predicates.
pub struct CheckShape;

impl JsonSchema for CheckShape {
    fn schema_name() -> Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let predicate = generator.subschema_for::<PredicateShape>();
        json_schema!({
            "description": "A value the target must equal, or predicates: `{ matches: '^x', type: string }`",
            "anyOf": [
                predicate,
                { "type": ["string", "number", "boolean", "null", "array"] }
            ]
        })
    }
}

/// Predicates; every one given must hold.
#[derive(JsonSchema)]
#[schemars(rename = "Predicate")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PredicateShape {
    /// The target equals this value.
    equals: Option<Node>,
    /// The target exists (`true`) or not (`false`).
    exists: Option<bool>,
    /// The target's text matches this regex.
    matches: Option<String>,
    /// The text contains this text, or the list contains this item.
    contains: Option<Node>,
    /// The JSON type of the target.
    #[serde(rename = "type")]
    json_type: Option<JsonType>,
    /// Less than.
    lt: Option<Node>,
    /// Less than or equal.
    le: Option<Node>,
    /// Greater than.
    gt: Option<Node>,
    /// Greater than or equal.
    ge: Option<Node>,
    /// The predicates given here must not hold.
    not: Option<Box<CheckShape>>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum JsonType {
    String,
    Number,
    Integer,
    Boolean,
    Array,
    Object,
    Null,
}

/// A saved value: a JSONPath (`$.id`), `status`, `body`, or a mapping.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "Capture")]
pub enum CaptureShape {
    Path(String),
    Full(CaptureFields),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CaptureFields {
    /// A JSONPath into the JSON body; several matches give a list.
    json: Option<String>,
    /// A response header.
    header: Option<String>,
    /// A regex on the body text; its first group (or the whole match) is saved.
    regex: Option<String>,
    /// The response status.
    status: Option<bool>,
    /// The whole body text.
    body: Option<bool>,
    /// Mask this value everywhere, whatever its name.
    secret: Option<bool>,
}

/// A text, number or boolean (sent as text).
pub struct ScalarShape;

impl JsonSchema for ScalarShape {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean", "null"] })
    }
}

/// Text values by name (`query:`, `headers:`, `form:`, `params:`).
pub type ScalarMap = BTreeMap<String, ScalarShape>;

/// A duration: `30s`, `500ms`, `2m`, `1h 30m`, or a number of seconds.
pub struct DurationShape;

impl JsonSchema for DurationShape {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: `30s`, `500ms`, `2m`, `1h 30m`, or a number of seconds",
            "anyOf": [{ "type": "string" }, { "type": "number", "minimum": 0 }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::compile::INPUT_FIELDS;
    use crate::flow::model::FLOW_FIELDS;
    use crate::flow::step::{FLOW_KEY, RETRY_FIELDS, STEP_FIELDS};
    use crate::run::capture::CAPTURE_FIELDS;
    use crate::run::expect::{EXPECT_FIELDS, PREDICATE_OPS};

    fn keys<T: JsonSchema>() -> Vec<String> {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        schema
            .get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn list(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|f| f.to_string()).collect()
    }

    #[test]
    fn the_shapes_have_the_keys_the_compiler_reads() {
        assert_eq!(keys::<FlowShape>(), list(FLOW_FIELDS));
        let mut step = list(STEP_FIELDS);
        step.push(FLOW_KEY.into());
        assert_eq!(keys::<StepShape>(), step);
        assert_eq!(keys::<RetryShape>(), list(RETRY_FIELDS));
        assert_eq!(keys::<ExpectShape>(), list(EXPECT_FIELDS));
        assert_eq!(keys::<CaptureFields>(), list(CAPTURE_FIELDS));
        assert_eq!(keys::<InputFields>(), list(INPUT_FIELDS));
        assert_eq!(keys::<PredicateShape>(), list(PREDICATE_OPS));
    }
}
