//! The fuzz targets' properties on stable Rust, for machines without nightly: a few hundred
//! proptest cases per target, through the same oracles as `fuzz/` (see fuzz/README.md).
//!
//! Text targets start from their committed corpus (`fuzz/corpus/<target>/`) and apply random
//! edits: cuts, repeated lines, and insertions of the tokens of their libFuzzer dictionary
//! (`fuzz/dict/<target>.dict`). The export target draws name → value maps directly.

// Each test binary uses part of the oracles (the cargo-fuzz entry points `fuzz` none).
#[allow(dead_code)]
#[path = "../fuzz/src/oracles/mod.rs"]
mod oracles;

use indexmap::IndexMap;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::Value;
use std::path::Path;

/// Cases per target.
const CASES: u32 = 300;

/// The seed of the cases when `PROPTEST_RNG_SEED` names none: the test suite is a gate, so
/// every run tries the same inputs. Explore with `PROPTEST_RNG_SEED=$RANDOM` (and
/// `PROPTEST_CASES`), or with cargo-fuzz.
const SEED: u64 = 20261128;

fn runner() -> TestRunner {
    let defaults = Config::default();
    TestRunner::new(Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            CASES
        },
        rng_seed: match defaults.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            fixed => fixed,
        },
        // Failures print their minimal input; lasting ones go to tests/fuzz_regressions.rs.
        failure_persistence: None,
        ..defaults
    })
}

fn fuzz_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"))
}

/// The committed corpus of a target, as text.
fn corpus(target: &str) -> Vec<String> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut seeds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} is empty", dir.display());
    seeds
}

/// The tokens of a libFuzzer dictionary (`"..."` lines with `\\`, `\"` and `\xNN` escapes).
fn dictionary(target: &str) -> Vec<String> {
    let path = fuzz_dir().join("dict").join(format!("{target}.dict"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tokens: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.strip_suffix('"'))
        .map(unescape)
        .collect();
    assert!(!tokens.is_empty(), "{} has no tokens", path.display());
    tokens
}

fn unescape(token: &str) -> String {
    let mut bytes = Vec::new();
    let mut rest = token.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        match rest {
            [b'x', h, l, tail @ ..] => {
                let hex = std::str::from_utf8(&[*h, *l]).unwrap().to_string();
                bytes.push(u8::from_str_radix(&hex, 16).expect("\\xNN"));
                rest = tail;
            }
            [c, tail @ ..] => {
                bytes.push(*c);
                rest = tail;
            }
            [] => bytes.push(b'\\'),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One random edit: where (a fraction of the text), what, and an argument.
#[derive(Debug, Clone)]
enum Edit {
    Insert(u16, usize),
    Cut(u16, u8),
    RepeatLine(u16, u8),
    Char(u16, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<u16>(), any::<usize>()).prop_map(|(at, token)| Edit::Insert(at, token)),
        2 => (any::<u16>(), 1..16u8).prop_map(|(at, len)| Edit::Cut(at, len)),
        1 => (any::<u16>(), 1..4u8).prop_map(|(at, times)| Edit::RepeatLine(at, times)),
        1 => (any::<u16>(), any::<char>()).prop_map(|(at, c)| Edit::Char(at, c)),
    ]
}

/// `seed` with `edits` applied, tokens drawn from `tokens`.
fn mutate(seed: &str, edits: &[Edit], tokens: &[String]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    let place = |at: u16, len: usize| at as usize * (len + 1) / (u16::MAX as usize + 1);
    for edit in edits {
        match *edit {
            Edit::Insert(at, token) => {
                let at = place(at, chars.len());
                let token = &tokens[token % tokens.len()];
                chars.splice(at..at, token.chars());
            }
            Edit::Cut(at, len) => {
                let at = place(at, chars.len());
                let end = (at + len as usize).min(chars.len());
                chars.drain(at..end);
            }
            Edit::RepeatLine(at, times) => {
                let at = place(at, chars.len());
                let start = chars[..at]
                    .iter()
                    .rposition(|c| *c == '\n')
                    .map_or(0, |i| i + 1);
                let end = chars[at..]
                    .iter()
                    .position(|c| *c == '\n')
                    .map_or(chars.len(), |i| at + i + 1);
                let line: Vec<char> = chars[start..end].to_vec();
                for _ in 0..times {
                    chars.splice(end..end, line.iter().copied());
                }
            }
            Edit::Char(at, c) => {
                let at = place(at, chars.len().saturating_sub(1));
                if at < chars.len() {
                    chars[at] = c;
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Runs `check` on [`CASES`] mutants of the target's corpus.
fn smoke(target: &str, check: impl Fn(&str)) {
    let seeds = corpus(target);
    let tokens = dictionary(target);
    let inputs = (0..seeds.len(), prop::collection::vec(edit(), 0..8));
    runner()
        .run(&inputs, |(seed, edits)| {
            check(&mutate(&seeds[seed], &edits, &tokens));
            Ok(())
        })
        .unwrap();
}

#[test]
fn flow_files() {
    smoke("flow", oracles::flow::check);
}

#[test]
fn templates() {
    smoke("template", oracles::template::check);
}

#[test]
fn expect_and_save() {
    smoke("expect", |text| {
        let (step, response) = oracles::expect::split(text);
        oracles::expect::check(step, response);
    });
}

#[test]
fn callback_queries() {
    smoke("callback", oracles::callback::check);
}

#[test]
fn token_store_files() {
    smoke("store", |text| oracles::store::check(text.as_bytes()));
}

/// Names as flows may write them, some of them secret.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_]{0,12}",
        Just("ACCESS_TOKEN".to_string()),
        Just("CLIENT_SECRET".to_string()),
    ]
}

/// Strings with what shells, dotenv readers and the Actions runner treat specially.
fn texts() -> impl Strategy<Value = String> {
    let tricky = prop::sample::select(vec![
        "'",
        "\"",
        "`id`",
        "$(id)",
        "${HOME}",
        "$HOME",
        "\\",
        "\n",
        "\r",
        "\t",
        "#",
        "=",
        "-",
        " ",
        "::",
        "<<",
        "DMFLOW_EOF",
        "é",
        "😀",
        "\u{1b}[2J",
    ]);
    prop::collection::vec(
        prop_oneof![tricky.prop_map(str::to_string), any::<String>()],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => texts().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

#[test]
fn exports() {
    let maps = prop::collection::vec((names(), values()), 0..6)
        .prop_map(|entries| entries.into_iter().collect::<IndexMap<String, Value>>());
    runner()
        .run(&maps, |values| {
            oracles::export::check(&values);
            Ok(())
        })
        .unwrap();
}
