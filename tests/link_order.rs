//! The list of hot functions the release build is linked with (link/symbol-order.txt, written
//! by bench/symbol_order.py, handed to the linker by build.rs): present, well-formed and about
//! the code people run. Whether it lowers the RSS is measured by bench/speed.py, not here.

use std::collections::HashSet;
use std::path::Path;

fn listed() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("link/symbol-order.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run bench/symbol_order.py", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_list_names_each_function_once_as_the_linker_spells_it() {
    let names = listed();
    assert!(names.len() > 1_000, "only {} functions listed", names.len());
    let mut seen = HashSet::new();
    for name in &names {
        assert!(seen.insert(name), "{name} is listed twice");
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'#'),
            "{name:?} is not a symbol name"
        );
    }
}

#[test]
fn the_list_covers_the_paths_of_a_run_and_of_the_emulator() {
    let names = listed();
    let has = |part: &str| names.iter().any(|name| name.contains(part));
    for part in [
        "6dmflow4yaml4fast",   // reading a flow
        "6dmflow3run6engine",  // running its steps
        "10hyper_util6client", // sending
        "4axum7routing",       // the emulator serving
    ] {
        assert!(has(part), "no function of `{part}` is listed");
    }
}
