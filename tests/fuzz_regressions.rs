//! Inputs the fuzz targets (`fuzz/`) once broke dmflow with, each run through its target's
//! oracle (the same properties the fuzzer checks, see fuzz/README.md) so a fix cannot regress.
//! Add one by pasting the minimized input (`cargo fuzz tmin <target> <artifact>`) here.

// Each test binary uses part of the oracles (the cargo-fuzz entry points `fuzz` none).
#[allow(dead_code)]
#[path = "../fuzz/src/oracles/mod.rs"]
mod oracles;

use indexmap::IndexMap;
use serde_json::{Value, json};

fn values(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

/// Found by tests/fuzz_smoke.rs `exports` and the `export` target's seed corpus: a value with
/// a `'` and a backtick went to the dotenv format as `"..."` with the backtick left live, so
/// `set -a; . file` ran a command (`A="'`id`"`).
#[test]
fn dotenv_value_with_quote_and_backtick_runs_nothing() {
    oracles::export::check(&values(&[("A", json!("'`id`"))]));
    oracles::export::check(&values(&[("A", json!({"a": "'`"}))]));
    // The same `"..."` writes a line break as `\n`, which dotenvy reads as a line break and
    // sh as a backslash and an n.
    oracles::export::check(&values(&[("A", json!("it's\nline 2"))]));
}

/// Found by the `export` target: a secret holding a lone CR got one `::add-mask::` line
/// split by that CR, and the runner (which ends lines at CR too) read the rest as output.
#[test]
fn github_masks_hold_a_lone_carriage_return() {
    oracles::export::check(&values(&[("ACCESS_TOKEN", json!("first\rsecond-part"))]));
}

/// Found by the `export` target: a name that is no variable name (a hand-edited store) went
/// out as it was, so `export VIDEO_I,D='...'` broke the shell's reading of every line after
/// it (and `X;cmd;Y` would have run `cmd`).
#[test]
fn names_that_are_not_variable_names_are_not_written_raw() {
    oracles::export::check(&values(&[("VIDEO_I,D", json!("v")), ("A", json!("a"))]));
    oracles::export::check(&values(&[("X;id;Y", json!("v"))]));
}

/// Found by the `flow` target: a flow whose lines end in a lone CR (115 of them before the
/// problem) got a position on line 115 of a 6-line file, counted by LF. YAML breaks lines at a
/// lone CR too, so the position was right and the oracle now counts lines the same way.
#[test]
fn positions_count_lone_carriage_returns_as_line_breaks() {
    let text = format!(
        "name: out\nsteps:\n  - {}http: {{ url: 'http://127.0.0.1:9/tracked/export' }}\n    \
         save: {{ OK: $.ok }}\noutputs: [OK]\n",
        "\r".repeat(111)
    );
    oracles::flow::check(&text);
}

/// Found by tests/fuzz_smoke.rs `expect_and_save` (a CI run): a `status:` template rendering
/// the secret into something that is no status put the rendered text, secret and all, in the
/// failure ("`s3cr3t…200` is not a status"). A regex template did the same in "invalid regex"
/// and in "expected a match for /…/".
#[test]
fn failures_of_rendered_checks_mask_the_secret() {
    let response = "200\ncontent-type: application/json\n\n{\"a\": \"x\"}";
    oracles::expect::check("expect: { status: <<ACCESS_TOKEN>>200 }", response);
    oracles::expect::check("expect: { status: [\"<<ACCESS_TOKEN>>\"] }", response);
    oracles::expect::check(
        "expect: { json: { $.a: { matches: \"<<ACCESS_TOKEN>>(\" } } }",
        response,
    );
    oracles::expect::check(
        "expect: { json: { $.a: { matches: \"^<<ACCESS_TOKEN>>$\" } } }",
        response,
    );
    oracles::expect::check(
        "expect: { headers: { content-type: { matches: \"<<ACCESS_TOKEN>>\" } } }",
        response,
    );
}

/// Found by the `template` target: a test named in a string by `select` (`select('nope')`)
/// compiled and failed only when rendering ("unknown test"); `check` now refuses it.
#[test]
fn a_test_named_by_select_is_checked_when_compiling() {
    let text = "ote<<env|select('DM_API_KE<k<Yn_url+>', '>')>>";
    oracles::template::check(text);
    assert!(matches!(
        dmflow::template::Template::compile(text),
        Err(dmflow::template::TemplateError::Unknown { what: "test", .. })
    ));
}

/// Found by the `store` target: a stored number written with many digits
/// (`19223320368547758071e154`) was read one unit in the last place off, so each rewrite of the
/// store could change it again. serde_json now parses floats exactly (`float_roundtrip`).
#[test]
fn stored_numbers_survive_being_written_and_read_back() {
    oracles::store::check(
        br#"{"version": 1, "profile": "fuzz", "values": {"A": 19223320368547758071e154}, "updated_at": 1767225600333333332, "obtained_at": 1767225600}"#,
    );
}

/// The shipped binary is built without the dev-dependencies, one of which turns serde_json's
/// `float_roundtrip` on for the tests: the test above passes in `cargo test` either way, so
/// the feature must be asked for by dmflow itself.
#[test]
fn dmflow_itself_asks_serde_json_for_exact_floats() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("serde_json "))
        .expect("serde_json among dmflow's dependencies");
    assert!(line.contains("\"float_roundtrip\""), "{line}");
}

/// Found by the `expect` target: a `save:` whose JSONPath holds the secret's value
/// (`$.stas3cr3tFuzzT0kentus`) quoted it in its error ("cannot read $.sta…: the response body
/// is not JSON"). Capture errors are now masked like every failure message.
#[test]
fn capture_errors_mask_the_secret() {
    let step = format!("save:\n  STATUS: $.sta{}tus\n", oracles::SECRET);
    oracles::expect::check(&step, "200\ncontent-type: text/plain\n\nnot json");
    let step = format!("save:\n  STATUS: {{ regex: 'x{}y' }}\n", oracles::SECRET);
    oracles::expect::check(&step, "200\n\nbody");
}
