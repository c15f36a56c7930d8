//! Target `flow`: any text as a flow file, through everything `dmflow check` (and `run`,
//! before sending) does with it: YAML → node tree → compile with the built-in step kinds
//! (sub-flows, templates, JSONPaths, regexes...), then each problem rendered for the terminal.
//!
//! Properties: no panic, hang or runaway memory; a file that does not compile always says
//! why; every problem's position lies in the file; every rendered problem is plain text (no
//! control character from the file reaches the terminal); where the quick reader of plain
//! block YAML gives a tree, it is the general parser's, positions included.

use dmflow::Loader;
use dmflow::diagnostic::{Source, render};

/// The name the text is compiled under (sub-flows it names are looked up beside it).
pub const FILE: &str = "fuzz.yaml";

pub fn fuzz(data: &[u8]) {
    if let Some(text) = super::text(data) {
        check(text);
    }
}

pub fn check(text: &str) {
    if let Some(quick) = dmflow::yaml::fast::parse(text) {
        assert_eq!(
            Ok(quick),
            dmflow::yaml::events::parse(text),
            "the quick YAML reader and the parser disagree on {text:?}"
        );
    }
    let source = Source::new(FILE, text);
    let (flow, problems) = Loader::new().compile_recovering(&source);
    assert!(
        flow.is_some() || !problems.is_empty(),
        "no flow and no problem for {text:?}"
    );
    // YAML breaks lines at CR LF, LF and a lone CR (YAML 1.2, 5.4), and so do the positions.
    let lines = text.replace("\r\n", "\n").split(['\r', '\n']).count();
    for problem in &problems {
        if let Some(pos) = problem.pos {
            assert!(
                pos.line as usize <= lines + 1 && pos.col >= 1,
                "{problem} points outside the file ({lines} lines)"
            );
        }
        super::assert_printable("a rendered problem", &render(problem, false));
    }
}
