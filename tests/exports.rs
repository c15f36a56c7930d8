//! Every export format gives back arbitrary values through its real consumer, in property tests
//! of 10,000 random values per format (20 cases of 500 values, one consumer process per case):
//! `eval "$(...)"` in dash and bash, `... | source` in fish, a dotenv file through
//! `set -a; . FILE` in dash and bash and through dotenvy, `$GITHUB_ENV` and `::add-mask::`
//! read the way the Actions runner reads them, and JSON through serde and jq. Values hold
//! quotes, backticks, `$()`, `${}`, backslashes, newlines, CR, tabs, control characters, any
//! Unicode, leading `-`, `=`, `#`, and strings of up to 60,000 characters; nothing in them may
//! run (each case also checks that no command in them left a trace).
//!
//! Then the same through the binary: `dmflow env` in every format from a store holding hostile
//! values, and `dmflow run --export dotenv` of a title a server sent with backticks in it.

mod common;
// The export fuzz target's readers (the other oracles are unused here).
#[allow(dead_code)]
#[path = "../fuzz/src/oracles/mod.rs"]
mod oracles;
mod raw_server;

use dmflow::export::{Format, render};
use indexmap::IndexMap;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Values per consumer process, and cases per format: 10,000 values per format.
const BATCH: usize = 500;
const CASES: u32 = 20;

/// Pieces that mean something to some consumer.
const NASTY: &[&str] = &[
    "'",
    "\"",
    "`",
    "`touch TRACE`",
    "$(touch TRACE)",
    "${HOME}",
    "$HOME",
    "$",
    "\\",
    "\\'",
    "'\\''",
    "\\\n",
    "\n",
    "\r",
    "\r\n",
    "\t",
    " ",
    "-",
    "-n",
    "=",
    "#",
    " #",
    "%",
    "%0A",
    "%25",
    "::",
    "::add-mask::",
    "<<",
    "DMFLOW_EOF",
    "DMFLOW_EOF_",
    "\x1b[2J",
    "\u{9b}",
    "\u{7f}",
    "é",
    "😀",
    "\u{202e}",
    "\u{feff}",
    "\u{fdd0}",
    "\u{f600}",
    "\u{ffff}",
    "!",
    "*",
    "?",
    "~",
    ";",
    "&",
    "|",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "; touch TRACE",
    "export X=1",
];

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => prop::sample::select(NASTY).prop_map(str::to_string),
        3 => any::<char>().prop_filter("NUL is refused, not exported", |c| *c != '\0')
            .prop_map(String::from),
        2 => "[ -~]{0,8}",
    ]
}

/// A value: a few pieces, or now and then a long string with pieces inside.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        98 => prop::collection::vec(piece(), 0..10).prop_map(|p| p.concat()),
        2 => (1000usize..60_000, prop::collection::vec(piece(), 1..4))
            .prop_map(|(n, p)| format!("{}{}{}", p.concat(), "x".repeat(n), p.concat())),
    ]
}

/// A batch of values named `V0`, `V1_SECRET`, `V2`... (every other one secret by its name).
fn batch() -> impl Strategy<Value = IndexMap<String, Value>> {
    prop::collection::vec(value(), BATCH).prop_map(|values| {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let name = if i % 2 == 1 {
                    format!("V{i}_SECRET")
                } else {
                    format!("V{i}")
                };
                (name, Value::String(v))
            })
            .collect()
    })
}

/// The same cases on every run (the test suite is a gate); `PROPTEST_RNG_SEED=$RANDOM`
/// explores others.
fn config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: CASES,
        max_shrink_iters: 200,
        rng_seed: match defaults.rng_seed {
            proptest::test_runner::RngSeed::Random => {
                proptest::test_runner::RngSeed::Fixed(20261128)
            }
            seed => seed,
        },
        ..defaults
    }
}

fn expected(values: &IndexMap<String, Value>) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// Compares what a consumer read with what was exported, naming the first difference.
fn same(
    consumer: &str,
    want: &BTreeMap<String, String>,
    got: &HashMap<String, Vec<u8>>,
) -> Result<(), TestCaseError> {
    for (name, value) in want {
        match got.get(name) {
            Some(bytes) if bytes == value.as_bytes() => {}
            other => {
                return Err(TestCaseError::fail(format!(
                    "{consumer}: {name} should be {:?}, read {:?}",
                    value,
                    other.map(|b| String::from_utf8_lossy(b).into_owned())
                )));
            }
        }
    }
    Ok(())
}

/// `env -0` output as a map.
fn environment(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let at = entry.iter().position(|b| *b == b'=')?;
            Some((
                String::from_utf8_lossy(&entry[..at]).into_owned(),
                entry[at + 1..].to_vec(),
            ))
        })
        .collect()
}

/// Runs `program args` in an empty directory with a clean environment and `input` on stdin;
/// its stdout, and whether any `touch TRACE` in a value ran.
fn consume(program: &str, args: &[&str], input: &[u8]) -> (Vec<u8>, bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Only TRACE: fish keeps its own files under $HOME (the same directory).
    let ran = dir.path().join("TRACE").exists();
    (output.stdout, ran)
}

/// Whether a program is installed; under CI its absence fails the test, elsewhere it is
/// skipped with a line that says so.
fn installed(program: &str) -> bool {
    if Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{program} is not installed (.ci/run installs it)");
    }
    eprintln!("SKIPPED: {program} is not installed; its export format is not tested here");
    false
}

/// `eval "$(dmflow env)"` in `shell`.
fn through_sh_eval(shell: &str, values: &IndexMap<String, Value>) -> Result<(), TestCaseError> {
    let text = render(values, Format::Sh).unwrap();
    let (out, ran) = consume(
        shell,
        &["-c", "eval \"$(cat)\"; exec env -0"],
        text.as_bytes(),
    );
    prop_assert!(!ran, "{shell} ran a command from a value");
    same(shell, &expected(values), &environment(&out))
}

/// A dotenv file read by `set -a; . FILE` in `shell`.
fn through_dotenv_source(
    shell: &str,
    values: &IndexMap<String, Value>,
) -> Result<(), TestCaseError> {
    let text = render(values, Format::Dotenv).unwrap();
    let (out, ran) = consume(
        shell,
        &[
            "-c",
            "cat > exported.env; set -a; . ./exported.env; rm exported.env; exec env -0",
        ],
        text.as_bytes(),
    );
    prop_assert!(!ran, "{shell} ran a command from a value");
    same(
        &format!("{shell} set -a"),
        &expected(values),
        &environment(&out),
    )
}

/// `$GITHUB_ENV` as the Actions runner reads it (SetEnvFileCommand, Linux), by the reader the
/// `export` fuzz target uses.
fn runner_env_file(text: &str) -> Result<HashMap<String, Vec<u8>>, String> {
    Ok(oracles::export::read_github(text)?
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sh_round_trips_through_dash_eval(values in batch()) {
        through_sh_eval("dash", &values)?;
    }

    #[test]
    fn sh_round_trips_through_bash_eval(values in batch()) {
        through_sh_eval("bash", &values)?;
    }

    #[test]
    fn fish_round_trips_through_fish_source(values in batch()) {
        if installed("fish") {
            let text = render(&values, Format::Fish).unwrap();
            let (out, ran) =
                consume("fish", &["--no-config", "-c", "cat | source; exec env -0"], text.as_bytes());
            prop_assert!(!ran, "fish ran a command from a value");
            same("fish", &expected(&values), &environment(&out))?;
        }
    }

    #[test]
    fn dotenv_round_trips_through_set_a_in_dash(values in batch()) {
        through_dotenv_source("dash", &values)?;
    }

    #[test]
    fn dotenv_round_trips_through_set_a_in_bash(values in batch()) {
        through_dotenv_source("bash", &values)?;
    }

    #[test]
    fn dotenv_round_trips_through_dotenvy(values in batch()) {
        let text = render(&values, Format::Dotenv).unwrap();
        let read: HashMap<String, Vec<u8>> = dotenvy::from_read_iter(text.as_bytes())
            .map(|item| item.map(|(k, v)| (k, v.into_bytes())))
            .collect::<Result<_, _>>()
            .map_err(|e| TestCaseError::fail(format!("dotenvy: {e}")))?;
        prop_assert_eq!(read.len(), values.len());
        same("dotenvy", &expected(&values), &read)?;
    }

    #[test]
    fn github_round_trips_through_the_runners_parser_and_masks_every_secret(values in batch()) {
        let text = render(&values, Format::Github).unwrap();
        let read = runner_env_file(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(read.len(), values.len());
        same("the runner's $GITHUB_ENV parser", &expected(&values), &read)?;
        let masks: HashSet<String> = oracles::export::read_masks(&dmflow::export::github_masks(&values))
            .into_iter()
            .collect();
        // What may be masked: each secret whole and each of its lines.
        let mut allowed = HashSet::new();
        for (name, value) in &values {
            let value = value.as_str().unwrap();
            if !name.ends_with("_SECRET") || value.trim().is_empty() {
                continue;
            }
            prop_assert!(masks.contains(value), "{name} {value:?} is not masked whole");
            allowed.insert(value);
            for line in value.split(['\r', '\n']) {
                if line.chars().count() >= 4 && !line.trim().is_empty() {
                    prop_assert!(masks.contains(line), "line {line:?} of {name} is not masked");
                }
                allowed.insert(line);
            }
        }
        for mask in &masks {
            prop_assert!(
                allowed.contains(mask.as_str()),
                "{mask:?} is masked but is no secret nor a line of one"
            );
        }
    }

    #[test]
    fn json_round_trips_through_serde_and_jq(values in batch()) {
        let text = render(&values, Format::Json).unwrap();
        let parsed: IndexMap<String, Value> = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("serde_json: {e}")))?;
        prop_assert_eq!(&parsed, &values);
        let (out, _) = consume("jq", &["-c", "."], text.as_bytes());
        let through_jq: IndexMap<String, Value> = serde_json::from_slice(&out)
            .map_err(|e| TestCaseError::fail(format!("jq's output: {e}")))?;
        prop_assert_eq!(&through_jq, &values);
    }
}

// Through the binary.

/// Values a hostile server or a careless user could leave in the store.
fn hostile() -> IndexMap<String, Value> {
    IndexMap::from([
        (
            "TITLE".to_string(),
            json!("`touch TRACE` $(touch TRACE) ${HOME} it's \"quoted\""),
        ),
        ("LINES".to_string(), json!("first\nsecond\r\nthird\\\n'")),
        (
            "DASH".to_string(),
            json!("-n = # %0A ::add-mask:: DMFLOW_EOF"),
        ),
        ("MY_SECRET".to_string(), json!("s3cr3t-value\nsecond-line")),
        ("COUNT".to_string(), json!(42)),
    ])
}

/// A store (profile `default`) holding `values`, written the way the store writes it.
fn store_with(state: &Path, values: &IndexMap<String, Value>) {
    common::write_store(
        state,
        &json!({"version": 1, "profile": "default", "values": values, "updated_at": 0}),
    );
}

fn env_output(state: &Path, format: &str) -> std::process::Output {
    common::passes(common::dmflow(state).args(["env", "--format", format]))
}

fn texts(values: &IndexMap<String, Value>) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|(k, v)| (k.clone(), dmflow::template::value_to_text(v)))
        .collect()
}

fn assert_read(consumer: &str, want: &BTreeMap<String, String>, got: &HashMap<String, Vec<u8>>) {
    if let Err(e) = same(consumer, want, got) {
        panic!("{e}");
    }
}

#[test]
fn dmflow_env_round_trips_hostile_values_in_every_format() {
    let state = tempfile::tempdir().unwrap();
    let values = hostile();
    store_with(state.path(), &values);
    let want = texts(&values);

    let sh = env_output(state.path(), "sh");
    for shell in ["dash", "bash"] {
        let (out, ran) = consume(shell, &["-c", "eval \"$(cat)\"; exec env -0"], &sh.stdout);
        assert!(!ran, "{shell} ran a command from a value");
        assert_read(shell, &want, &environment(&out));
    }

    let dotenv = env_output(state.path(), "dotenv");
    let (out, ran) = consume(
        "sh",
        &[
            "-c",
            "cat > x.env; set -a; . ./x.env; rm x.env; exec env -0",
        ],
        &dotenv.stdout,
    );
    assert!(!ran, "set -a; . ran a command from a value");
    assert_read("sh set -a", &want, &environment(&out));
    let read: HashMap<String, Vec<u8>> = dotenvy::from_read_iter(&dotenv.stdout[..])
        .map(|r| r.map(|(k, v)| (k, v.into_bytes())).unwrap())
        .collect();
    assert_read("dotenvy", &want, &read);

    if installed("fish") {
        let fish = env_output(state.path(), "fish");
        let (out, ran) = consume(
            "fish",
            &["--no-config", "-c", "cat | source; exec env -0"],
            &fish.stdout,
        );
        assert!(!ran, "fish ran a command from a value");
        assert_read("fish", &want, &environment(&out));
    }

    let json = env_output(state.path(), "json");
    let (out, _) = consume("jq", &["-c", "."], &json.stdout);
    let through_jq: IndexMap<String, Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(through_jq, values);

    let github_env = state.path().join("github.env");
    let github = common::passes(
        common::dmflow(state.path())
            .env("GITHUB_ENV", &github_env)
            .args(["env", "--format", "github"]),
    );
    let read = runner_env_file(&std::fs::read_to_string(&github_env).unwrap()).unwrap();
    assert_read("the runner's $GITHUB_ENV parser", &want, &read);
    let masks = oracles::export::read_masks(&String::from_utf8_lossy(&github.stdout));
    assert_eq!(
        masks,
        ["s3cr3t-value\nsecond-line", "s3cr3t-value", "second-line"],
        "the secret whole and line by line, nothing else"
    );
}

#[test]
fn a_nul_in_a_value_is_refused_with_its_name_and_nothing_is_printed() {
    let state = tempfile::tempdir().unwrap();
    store_with(
        state.path(),
        &IndexMap::from([
            ("OK".to_string(), json!("fine")),
            ("BAD".to_string(), json!("a\u{0}b")),
        ]),
    );
    for format in ["sh", "fish", "dotenv"] {
        let output = common::dmflow(state.path())
            .args(["env", "--format", format])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert!(output.stdout.is_empty(), "{format}: nothing half-written");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("BAD") && stderr.contains("NUL"), "{stderr}");
    }
    let json = env_output(state.path(), "json");
    let parsed: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed["BAD"], "a\u{0}b", "json carries it");
}

/// The reproduction: a title with backticks, sent by a server and exported as dotenv, ran
/// `id` under `set -a; . file`.
#[test]
fn a_server_title_with_backticks_stays_text_in_a_dotenv_export() {
    let title = "My `touch TRACE` video $(touch TRACE) it's \\ \"great\"";
    let base = raw_server::serve(HashMap::from([(
        "/video",
        raw_server::Answer::json("200 OK", &json!({"id": "x1", "title": title})),
    )]));
    let dir = tempfile::tempdir().unwrap();
    let flow = common::write_flow(
        dir.path(),
        "title.yaml",
        &format!(
            "steps:\n  - name: video\n    http: {{ url: \"{base}/video\" }}\n    save: {{ TITLE: $.title }}\noutputs: [TITLE]\n"
        ),
    );
    let export = dir.path().join("out.env");
    common::passes(common::dmflow(dir.path()).args([
        "run",
        flow.to_str().unwrap(),
        "--export",
        "dotenv",
        "--export-file",
        export.to_str().unwrap(),
    ]));
    let (out, ran) = consume(
        "sh",
        &[
            "-c",
            "cat > x.env; set -a; . ./x.env; rm x.env; exec env -0",
        ],
        &std::fs::read(&export).unwrap(),
    );
    assert!(!ran, "sourcing the export ran the backticks");
    assert_eq!(environment(&out)["TITLE"], title.as_bytes());
}
