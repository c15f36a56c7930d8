//! The quick reader against the general parser: wherever it gives a tree, the tree (positions
//! included) must be the parser's; and it must give one for the YAML flow files are made of.

use super::parse;
use crate::yaml::events;
use crate::yaml::node::{Node, NodeKind};
use std::path::Path;

/// The quick reader's tree for `text`, checked against the parser's; `None` when it gave up.
fn checked(text: &str) -> Option<Node> {
    let fast = parse(text)?;
    assert_eq!(
        Ok(&fast),
        events::parse(text).as_ref(),
        "the quick reader and the parser disagree on:\n{text}"
    );
    Some(fast)
}

#[test]
fn reads_the_block_yaml_of_flow_files_as_the_parser_does() {
    let texts = [
        "name: steps\nsteps:\n  - name: get1\n    http:\n      url: http://127.0.0.1:9/echo?message=m1\n    expect:\n      status: 200\n",
        "# a comment\n\nname: x # trailing\nsteps:\n- name: a\n  http:\n    url: <<api>>/echo\n-   name: b\n    if: << n > 1 >>\n",
        "a: 'it''s'\nb: \"double\"   # c\nc: -5\nd: 1.5e3\ne: ~\nf: true\ng:\nh: 0x1F\ni: a#b\nj: x, y [z]\n",
        "body: |\n  line1\n\n    indented\n  line3\n\nstrip: |-\n  x\n  # not a comment\nnext: 1\n",
        "café: naïve é\nlist:\n  - é\n  - 'ü'\n  -\n    k: v\n",
        "a:\n  b:\n    c:\n      - x\n      - y: 1\n        z: 2\n",
        "last: x",
        "a: [-x, -1, x-]\n",
        "a: { display: page }\nb: {}\nc: [A, B]\nd: []\ne: {x: 1, y: \"q\", z: [1, 2]}\nf: [ a , b ]  # c\ng: { $.x: { type: string } }\nh: [a,b]\n",
        "steps:\n  - name: s\n    callback: {}\n    expect: { status: 200, json: { $.a: { matches: \"(?i)^x$\" } } }\n",
    ];
    for text in texts {
        assert!(
            checked(text).is_some(),
            "the quick reader gave up on:\n{text}"
        );
    }
    let long = format!(
        "a: {}\nb: ['{}', {}]\n",
        "x".repeat(2000),
        "y".repeat(2000),
        "z".repeat(1500)
    );
    assert!(checked(&long).is_some(), "long scalars are read quickly");
    let tree = checked("name: x\nsteps:\n- a: 1\n").unwrap();
    assert_eq!(tree.get("steps").unwrap().as_seq().unwrap().len(), 1);
}

#[test]
fn leaves_everything_else_to_the_parser() {
    let texts = [
        "a: &x 1\nb: *x\n",       // anchors
        "a: !!str 1\n",           // tags
        "a: { b: 1,\n  c: 2 }\n", // a flow collection on two lines
        "a: [1, 2,]\n",           // a trailing comma
        "a: {b: }\n",             // a null in a flow mapping
        "a: [x: 1]\n",            // a pair in a flow list
        "a: [-]\n",               // a dash before a flow indicator
        "a: {b: -}\n",            //
        "a: b\n  c\n",            // a plain scalar on two lines
        "a: 1\na: 2\n",           // a duplicate key (the parser words it)
        "base: 1\n<<: x\n",       // a merge key
        "a: >\n  folded\n",       // folded scalars
        "a: |2\n   x\n",          // an indentation indicator
        "a: |\n\n  x\n",          // a blank line before a literal's text
        "a:\tb\n",                // tabs
        "a: b\r\n",               // carriage returns
        "a: 'x\u{1b}y'\n",        // controls
        "a: x\u{85}y\n",          // a next-line character
        "a: x\u{feff}\n",         // a byte-order mark
        "---\na: 1\n",            // document markers
        "- a\n- b\n",             // a list at the top
        "a: \"esc\\n\"\n",        // escapes
        "a: 'two\n  lines'\n",    // a quoted scalar on two lines
        "a: b: c\n",              // a mapping where a scalar was expected
        "a: .inf\n",              // a value the tree refuses
        "a: |\n  x",              // a literal without its last newline
        "steps:\n-\n  a: 1\n",    // an empty first item of a list at its key's column
        "a:\n  - \n",             // an empty item
        "? a\n: b\n",             // explicit keys
        "'a': 1\n",               // quoted keys
        "a : 1\n",                // spaces before the colon
    ];
    for text in texts {
        assert!(
            parse(text).is_none(),
            "the quick reader should leave this to the parser:\n{text}"
        );
    }
}

#[test]
fn every_yaml_file_of_the_repository_reads_the_same_either_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["flows", "tests", "examples"] {
        collect(&root.join(dir), &mut files);
    }
    // The fuzzers' flow corpus: files named by their hash.
    if let Ok(entries) = std::fs::read_dir(root.join("fuzz/corpus/flow")) {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    assert!(files.len() > 20, "found only {} YAML files", files.len());
    let mut quick = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        match checked(&text) {
            Some(_) => quick += 1,
            // The flows we ship are written as users write theirs: in the subset.
            None if file.starts_with(root.join("flows")) => {
                panic!("the quick reader gave up on {}", file.display())
            }
            None => {}
        }
    }
    assert!(
        quick > 0,
        "the quick reader read none of {} files",
        files.len()
    );
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
}

/// A small deterministic random source (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "name", "url", "a b", "é", "k1", "-x", "a#b", "x", "status", "h[0]", "x'y", "body", "if", "v2",
    "ünï", "json", "a.b", "$.x", "save", "expect", "headers", "query", "timeout", "k", "<<",
];
/// Scalars in the quick reader's subset, then (from [`ODD`] on) ones outside it or wrong.
const SCALARS: &[&str] = &[
    "get",
    "x y",
    "http://h:1/p?q=1#f",
    "<< token >>",
    "-5",
    "1.5",
    "0x1F",
    "true",
    "~",
    "null",
    "café é",
    "a#b",
    "x, y",
    "a [b] {c}",
    "'quoted'",
    "'it''s'",
    "\"dq\"",
    "",
    "x # comment",
    "'x' # c",
    "a:b",
    "|",
    "|-",
    "007",
    "+1",
    "0o17",
    "-x",
    "'a: b'",
    "\"#\"",
    "{}",
    "[]",
    "{ a: 1 }",
    "[1, 2]",
    "[ a , 'b' ]",
    "{x: [1, {y: z}], w: \"q\"}",
    "{ $.x: { type: string } }",
    // ODD
    "\"a \\\" b\"",
    "1e400",
    ".inf",
    "-",
    "- x",
    "a: b",
    ">",
    "&a x",
    "*a",
    "!!str 5",
    "'open",
    "\"open",
    "a:",
    "?x",
    "'x'y",
    "|+",
    "|2",
    "[a,]",
    "{a: }",
    "{a:1}",
    "[a: b]",
    "{a: 1, a: 2}",
    "[x] y",
    "{ a: b",
    "[&x a]",
    "[-]",
    "{a: -}",
    "{\"k\": 1}",
];
const ODD: usize = 36;

/// A scalar, now and then one outside the subset.
fn any_scalar(rng: &mut Rng) -> &'static str {
    if rng.below(30) == 0 {
        SCALARS[ODD + rng.below(SCALARS.len() - ODD)]
    } else {
        SCALARS[rng.below(ODD)]
    }
}

/// A random document in roughly the shape of a flow file, in random styles.
fn document(rng: &mut Rng) -> String {
    let mut out = String::new();
    mapping(rng, 0, 0, &mut out);
    out
}

fn mapping(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    for i in 0..1 + rng.below(4) {
        if i > 0 || indent == 0 {
            out.push_str(&" ".repeat(indent));
        }
        noise(rng, indent, out);
        out.push_str(rng.pick(KEYS));
        out.push(':');
        value(rng, indent, depth, out);
    }
}

fn value(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    match if depth > 3 { 0 } else { rng.below(6) } {
        0 | 1 => {
            let scalar = any_scalar(rng);
            if !scalar.is_empty() {
                out.push_str(&" ".repeat(1 + rng.below(2)));
                out.push_str(scalar);
            }
            out.push('\n');
            if scalar.starts_with('|') {
                let width = indent + 1 + rng.below(3);
                for _ in 0..1 + rng.below(3) {
                    if rng.below(4) == 0 {
                        out.push_str(&" ".repeat(rng.below(width + 2)));
                        out.push('\n');
                    }
                    out.push_str(&" ".repeat(width + rng.below(2) * rng.below(3)));
                    out.push_str(any_scalar(rng));
                    out.push('\n');
                }
            }
        }
        2 | 3 => mapping_below(rng, indent, 4, depth, out),
        _ => {
            out.push('\n');
            let inner = indent + rng.below(3) * 2;
            list(rng, inner, depth + 1, out);
        }
    }
}

/// A mapping that starts on the next line, 1 to `spread` columns deeper than `indent`.
fn mapping_below(rng: &mut Rng, indent: usize, spread: usize, depth: usize, out: &mut String) {
    out.push('\n');
    let inner = indent + 1 + rng.below(spread);
    out.push_str(&" ".repeat(inner));
    mapping(rng, inner, depth + 1, out);
}

fn list(rng: &mut Rng, indent: usize, depth: usize, out: &mut String) {
    for _ in 0..1 + rng.below(3) {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        noise(rng, indent, out);
        match if depth > 3 { 0 } else { rng.below(4) } {
            0 => {
                out.push_str(&" ".repeat(1 + rng.below(2)));
                out.push_str(any_scalar(rng));
                out.push('\n');
            }
            1 => {
                let spaces = 1 + rng.below(3);
                out.push_str(&" ".repeat(spaces));
                mapping(rng, indent + 1 + spaces, depth + 1, out);
            }
            2 => mapping_below(rng, indent, 3, depth, out),
            _ => {
                out.push('\n');
                list(rng, indent + 2, depth + 1, out);
            }
        }
    }
}

/// Now and then, a blank or comment line before what comes next (which stays on its line).
fn noise(rng: &mut Rng, indent: usize, out: &mut String) {
    if rng.below(8) == 0 && out.ends_with('\n') {
        let line = match rng.below(3) {
            0 => "\n".to_string(),
            1 => format!("{}# c\n", " ".repeat(rng.below(6))),
            _ => format!("{}\n", " ".repeat(rng.below(6))),
        };
        let at = out.len() - indent.min(out.len() - out.trim_end_matches(' ').len());
        out.insert_str(at, &line);
    }
}

/// `text` with a few random edits: characters that matter to YAML inserted, bytes removed,
/// lines repeated.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 => {
                let set = [
                    ' ', '-', ':', '#', '\'', '"', '|', '\n', 'é', 'a', '[', '&', '\u{1b}',
                    '\u{85}', '\t',
                ];
                let c = set[rng.below(set.len())];
                chars.insert(at, c);
            }
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => {
                let line: String = chars[..at]
                    .iter()
                    .rev()
                    .take_while(|c| **c != '\n')
                    .collect();
                let line: String = line.chars().rev().collect();
                chars.splice(at..at, line.chars().chain(['\n']));
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_and_broken_documents_read_the_same_either_way() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut quick, mut broken, total) = (0, 0, 4000);
    for _ in 0..total {
        let text = document(&mut rng);
        if checked(&text).is_some() {
            quick += 1;
        }
        if checked(&mutate(&mut rng, &text)).is_some() {
            broken += 1;
        }
    }
    // Some scalars above are outside the subset, and most edits break a document: still, enough
    // of both must be read quickly, or this test compares nothing.
    assert!(
        quick * 10 > total,
        "only {quick} of {total} documents were read quickly"
    );
    assert!(
        broken * 40 > total,
        "only {broken} of {total} edited documents were read quickly"
    );
}

#[test]
fn a_tree_keeps_null_and_typed_values() {
    let tree = checked("a:\nb: 7\nc: 'x'\n").unwrap();
    assert_eq!(tree.get("a").unwrap().kind, NodeKind::Null);
    assert_eq!(tree.get("b").unwrap().to_json(), serde_json::json!(7));
    assert_eq!(tree.get("c").unwrap().as_str(), Some("x"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

    /// Any text made of what matters to YAML: the reader never panics, and agrees when it reads.
    #[test]
    fn any_text_reads_the_same_either_way(text in "(a|b: |- |  |\n|#|:|'|\"|\\||\\[|\\]|\\{|\\}|,|é|ü: |x\n  |\u{1b}|\u{85}|\t|\r){0,40}") {
        checked(&text);
    }
}
