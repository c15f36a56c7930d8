//! The shape of the code, checked: no import cycle between the files of `src/`, the engine
//! (`src/run/`) imports no step kind and no token, OAuth or provider code, the library never
//! prints, and token names and provider knowledge stay in their one place.
//!
//! `cargo test --test architecture -- --nocapture` also prints the file graph's summary.
//!
//! A file imports another when it names a path into it (`use crate::run::http::Session`,
//! `super::context::StepCx`, an inline `crate::x::y`); a path is charged to the deepest file it
//! reaches. `mod` declarations and test modules are not imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate of the package: its root file and its files by module path.
struct Crate {
    files: BTreeMap<Vec<String>, PathBuf>,
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module path of a file under `src/`.
fn module_of(path: &Path) -> Vec<String> {
    let relative = path.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The binary's files: `main.rs` and the modules it declares.
const BINARY: &[&str] = &["main.rs", "cli.rs", "cmd"];

fn crates() -> (Crate, Crate) {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut lib = Crate {
        files: BTreeMap::new(),
    };
    let mut bin = Crate {
        files: BTreeMap::new(),
    };
    for file in files {
        let first = file.strip_prefix(src()).unwrap().iter().next().unwrap();
        let target = if BINARY.contains(&first.to_string_lossy().as_ref()) {
            &mut bin
        } else {
            &mut lib
        };
        target.files.insert(module_of(&file), file);
    }
    (lib, bin)
}

/// The code of a file without comments and without its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands `use a::{b, c::{d, e}};` into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let close = tree.rfind('}').filter(|c| *c > open).unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&base, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap().trim();
        out.push(join(prefix, path));
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty() || path == "self") {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}::{path}"),
    }
}

/// Every path a file names that starts at `crate`, `super` or `self`.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let statement = regex::Regex::new(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);").unwrap();
    for found in statement.captures_iter(code) {
        expand("", &found[1], &mut out);
    }
    let inline = regex::Regex::new(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
    out.extend(inline.find_iter(code).map(|m| m.as_str().to_string()));
    out.retain(|p| p.starts_with("crate") || p.starts_with("super") || p.starts_with("self"));
    out
}

/// The file a path reaches: the deepest module along it that has a file.
fn resolve(krate: &Crate, from: &[String], is_dir_module: bool, path: &str) -> Option<PathBuf> {
    let mut segments: Vec<String> = Vec::new();
    let mut parts = path.split("::").peekable();
    match parts.next()? {
        "crate" => {}
        "self" => segments.extend(module_of_self(from, is_dir_module)),
        "super" => {
            let mut base = module_of_self(from, is_dir_module);
            base.pop();
            while parts.peek() == Some(&"super") {
                parts.next();
                base.pop();
            }
            segments.extend(base);
        }
        _ => return None,
    }
    let mut found = None;
    for part in std::iter::once(None).chain(parts.map(Some)) {
        if let Some(part) = part {
            segments.push(part.to_string());
        }
        if let Some(file) = krate.files.get(&segments) {
            found = Some(file.clone());
        } else if part.is_some() {
            break;
        }
    }
    found
}

/// The module a file's `self` is (a file's own module path).
fn module_of_self(from: &[String], _is_dir_module: bool) -> Vec<String> {
    from.to_vec()
}

fn graph(krate: &Crate) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut edges = BTreeMap::new();
    for (module, file) in &krate.files {
        let is_dir = file.ends_with("mod.rs");
        let mut targets = BTreeSet::new();
        for path in paths(&code(file)) {
            if let Some(target) = resolve(krate, module, is_dir, &path)
                && &target != file
            {
                targets.insert(target);
            }
        }
        edges.insert(file.clone(), targets);
    }
    edges
}

/// Groups of files that import each other, directly or not (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let Some((w, _)) = s.edges.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[w].min(s.low[v]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.index[w].min(s.low[v]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.clone());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                s.found.push(group);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn shown(path: &Path) -> String {
    path.strip_prefix(src()).unwrap().display().to_string()
}

#[test]
fn no_file_of_src_imports_itself_through_others() {
    let (lib, bin) = crates();
    for (name, krate) in [("library", &lib), ("binary", &bin)] {
        let edges = graph(krate);
        let count: usize = edges.values().map(BTreeSet::len).sum();
        println!(
            "{name}: {} files, {count} imports between them",
            edges.len()
        );
        let found = cycles(&edges);
        let described: Vec<String> = found
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|p| shown(p))
                    .collect::<Vec<_>>()
                    .join(" ⇄ ")
            })
            .collect();
        assert!(
            described.is_empty(),
            "import cycles in the {name}:\n{}",
            described.join("\n")
        );
        assert!(
            count > 50 || name == "binary",
            "the graph looks empty: {count} imports"
        );
    }
}

#[test]
fn the_checker_finds_a_cycle_when_there_is_one() {
    let a = PathBuf::from("a.rs");
    let b = PathBuf::from("b.rs");
    let c = PathBuf::from("c.rs");
    let mut edges = BTreeMap::new();
    edges.insert(a.clone(), BTreeSet::from([b.clone()]));
    edges.insert(b.clone(), BTreeSet::from([c.clone()]));
    edges.insert(c.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(cycles(&edges).len(), 1);
    edges.insert(c, BTreeSet::new());
    assert!(cycles(&edges).is_empty());
    let mut out = Vec::new();
    expand(
        "",
        "crate::run::{http::{Client, Session}, kind::Action as A, self}",
        &mut out,
    );
    assert_eq!(
        out,
        [
            "crate::run::http::Client",
            "crate::run::http::Session",
            "crate::run::kind::Action",
            "crate::run"
        ]
    );
}

#[test]
fn the_engine_knows_no_step_kind_token_or_provider() {
    let (lib, _) = crates();
    let edges = graph(&lib);
    let forbidden = [
        "steps", "tokens", "oauth", "provider", "store", "mock", "report",
    ];
    for (file, targets) in &edges {
        if !shown(file).starts_with("run/") {
            continue;
        }
        for target in targets {
            let top = shown(target)
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            assert!(
                !forbidden.contains(&top.as_str()),
                "{} imports {}",
                shown(file),
                shown(target)
            );
        }
        // Only flow/model.rs of the flow module: the compiled model the engine runs.
        for target in targets.iter().filter(|t| shown(t).starts_with("flow/")) {
            assert_eq!(
                shown(target),
                "flow/model.rs",
                "{} imports {}",
                shown(file),
                shown(target)
            );
        }
    }
}

#[test]
fn the_library_never_prints_and_keeps_its_knowledge_in_one_place() {
    let (lib, _) = crates();
    for file in lib.files.values() {
        let name = shown(file);
        let code = code(file);
        for printing in [
            "print!(",
            "println!(",
            "eprint!(",
            "eprintln!(",
            "dbg!(",
            "std::io::stdout()",
            "std::io::stderr()",
        ] {
            assert!(!code.contains(printing), "{name} prints ({printing})");
        }
        if !name.starts_with("tokens/names.rs") {
            for literal in ["\"ACCESS_TOKEN\"", "\"REFRESH_TOKEN\"", "\"EXPIRES_AT\""] {
                assert!(
                    !code.contains(literal),
                    "{name} spells {literal}: use tokens::names"
                );
            }
        }
        if !name.starts_with("provider/") && !name.starts_with("mock/") {
            for dailymotion in ["dailymotion.com", "DM_API_", "flows/login.yaml"] {
                assert!(
                    !code.contains(dailymotion),
                    "{name} holds provider knowledge ({dailymotion}): it belongs in src/provider/"
                );
            }
        }
    }
}
