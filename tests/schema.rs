//! The flow schema: the committed `schemas/flow.schema.json` is what `dmflow schema`
//! generates, every flow in `flows/` validates against it (and says so on its first line for
//! editors), and it is strict enough to refuse what `dmflow check` refuses.

mod common;

use common::{flow_files, repo};
use serde_json::Value;

const SCHEMA_COMMENT: &str = "# yaml-language-server: $schema=../schemas/flow.schema.json\n";

fn generated() -> String {
    let output = common::passes(common::dmflow(&repo()).arg("schema"));
    String::from_utf8(output.stdout).unwrap()
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&generated()).unwrap();
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn yaml(text: &str) -> Value {
    dmflow::yaml::parse_text(text)
        .unwrap_or_else(|e| panic!("YAML: {e}\n{text}"))
        .to_json()
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(repo().join("schemas/flow.schema.json"))
        .expect("schemas/flow.schema.json is committed");
    assert!(
        committed == generated(),
        "schemas/flow.schema.json is stale: run `cargo run -q -- schema > schemas/flow.schema.json`"
    );
}

#[test]
fn every_flow_validates_and_points_editors_at_the_schema() {
    let validator = validator();
    let files = flow_files();
    assert!(files.len() >= 7, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(repo().join(&file)).unwrap();
        assert!(
            text.starts_with(SCHEMA_COMMENT),
            "{file} does not start with {SCHEMA_COMMENT:?}"
        );
        let problems = errors(&validator, &yaml(&text));
        assert!(problems.is_empty(), "{file}: {problems:#?}");
    }
}

#[test]
fn the_schema_refuses_what_check_refuses() {
    let validator = validator();
    let good = "steps:\n  - name: list\n    http: { url: 'https://api.example/x', query: { limit: 5 } }\n    retry: { attempts: 5, interval: 2s, on: [network, 429, 5xx], until: '<<DONE>>' }\n    for_each: [a, b]\n    as: id\n    expect: { status: [200, 2xx], json: { $.id: { exists: true }, $.n: 3 } }\n    save: { ID: $.id, T: { header: etag, secret: true } }\n  - flow: { file: other.yaml, with: { X: 1 } }\n";
    let problems = errors(&validator, &yaml(good));
    assert!(problems.is_empty(), "{problems:#?}");
    let bad = [
        ("no steps", "name: x\n"),
        ("unknown flow key", "stesp: []\nsteps: []\n"),
        (
            "unknown step key",
            "steps:\n  - http: { url: x }\n    retyr: {}\n",
        ),
        (
            "two actions",
            "steps:\n  - http: { url: x }\n    echo: {}\n",
        ),
        ("no action", "steps:\n  - name: lonely\n"),
        (
            "unknown http key",
            "steps:\n  - http: { url: x, methd: GET }\n",
        ),
        ("http without url", "steps:\n  - http: { method: GET }\n"),
        (
            "zero attempts",
            "steps:\n  - http: { url: x }\n    retry: { attempts: 0 }\n",
        ),
        (
            "unknown retry key",
            "steps:\n  - http: { url: x }\n    retry: { intervl: 1s }\n",
        ),
        (
            "retry on nonsense",
            "steps:\n  - http: { url: x }\n    retry: { on: [sometimes] }\n",
        ),
        (
            "unknown predicate",
            "steps:\n  - http: { url: x }\n    expect: { json: { $.a: { equal: 1 } } }\n",
        ),
        (
            "unknown capture key",
            "steps:\n  - http: { url: x }\n    save: { A: { jsn: $.a } }\n",
        ),
        (
            "multipart part without file",
            "steps:\n  - http: { url: x, multipart: { f: { filename: a } } }\n",
        ),
        ("unknown oauth key", "oauth: { client: x }\nsteps: []\n"),
        (
            "unknown with key",
            "steps:\n  - flow: { file: a.yaml, wiht: {} }\n",
        ),
    ];
    for (what, text) in bad {
        assert!(
            !errors(&validator, &yaml(text)).is_empty(),
            "the schema accepts a flow with {what}:\n{text}"
        );
    }
}
