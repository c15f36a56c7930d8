//! The JSON Schema of flow files (`dmflow schema`, `schemas/flow.schema.json`), generated
//! from the types the compiler reads: [`crate::flow::shape`] for the file and a step's common
//! keys, each step kind's spec type for its key. Editors use it through the
//! `# yaml-language-server: $schema=...` comment at the top of a flow file.

use crate::flow::shape::FlowShape;
use crate::steps::Registry;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// The schema of a flow file whose steps may use the registry's kinds.
pub fn flow_schema(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let kinds: Vec<(&str, Value)> = registry
        .kinds()
        .map(|kind| (kind.name(), kind.schema(&mut generator).to_value()))
        .collect();
    let mut root = generator.into_root_schema_for::<FlowShape>().to_value();
    let step = &mut root["$defs"]["Step"];
    let mut actions: Vec<Value> = Vec::new();
    for (name, schema) in kinds {
        step["properties"][name] = schema;
        actions.push(json!({ "required": [name] }));
    }
    actions.push(json!({ "required": [crate::flow::step::FLOW_KEY] }));
    // Exactly one action per step.
    step["oneOf"] = Value::Array(actions);
    drop_null(&mut root);
    root
}

/// An optional key may be left out, not written as `null`: schemars says `Option<T>` allows
/// null, which would let editors accept `timeout: ~`. Drops `null` from types and `anyOf`s.
fn drop_null(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(types)) = object.get_mut("type") {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    object.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(branches)) = object.get_mut("anyOf") {
                branches.retain(|b| b != &json!({ "type": "null" }));
                if let [only] = branches.as_slice() {
                    let only = only.clone();
                    object.remove("anyOf");
                    if let Value::Object(fields) = only {
                        object.extend(fields);
                    }
                }
            }
            object.values_mut().for_each(drop_null);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema as committed: pretty JSON with a final newline.
pub fn flow_schema_text(registry: &Registry) -> String {
    let mut text = serde_json::to_string_pretty(&flow_schema(registry)).unwrap_or_default();
    text.push('\n');
    text
}
