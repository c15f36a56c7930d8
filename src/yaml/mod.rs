//! Reading YAML: text → a [`Node`] tree with positions ([`parse`]), and from that tree to typed
//! values with every problem located ([`de`], [`Spanned`]).
//!
//! The first step only knows YAML (syntax, anchors, budgets); the second only knows the shape
//! the flow format wants. Errors of the first kind are turned into words here, with the
//! position of the culprit.

pub mod de;
pub mod events;
pub mod fast;
pub mod node;
pub mod spanned;

pub use node::{Entry, Node, NodeKind};
pub use spanned::Spanned;

use crate::diagnostic::{Diagnostic, Pos, Source};
use std::sync::Arc;

/// Parses one YAML document into a node tree.
pub fn parse(source: &Arc<Source>) -> Result<Node, Diagnostic> {
    parse_text(&source.text).map_err(|e| yaml_error(source, &e))
}

/// Parses text (not necessarily a whole file) into a node tree: by the quick reader when the
/// text is plain block YAML, else by the general parser.
pub fn parse_text(text: &str) -> Result<Node, events::YamlError> {
    match fast::parse(text) {
        Some(node) => Ok(node),
        None => events::parse(text),
    }
}

/// Turns a YAML error into a diagnostic in the flow's terms.
pub fn yaml_error(source: &Arc<Source>, err: &events::YamlError) -> Diagnostic {
    let raw = strip_location(err.message.trim());
    let line = source_line(&source.text, err.line);
    let (message, label, help) = match mistake(&raw, line, err.col) {
        Some((message, label, help)) => (message, label.to_string(), Some(help)),
        None => humanize(&raw),
    };
    let diag = Diagnostic::new(message).label(label).help_opt(help);
    if err.line > 0 {
        diag.at(source, Pos::new(err.line, err.col, 1))
    } else {
        diag.in_file(source)
    }
}

/// Line `number` (1-based) of `text`, or "".
pub fn source_line(text: &str, number: u32) -> &str {
    let index = (number as usize).saturating_sub(1);
    text.split('\n')
        .nth(index)
        .unwrap_or("")
        .trim_end_matches('\r')
}

/// Mistakes people make in flow files, recognised from the parser's complaint and the line it
/// points at: (message, label, help) that say what to write instead.
fn mistake(raw: &str, line: &str, col: u32) -> Option<(String, &'static str, String)> {
    if line.contains("{{") {
        let fixed = line.trim().replace("{{", "<<").replace("}}", ">>");
        return Some((
            "`{{` starts a YAML mapping here: dmflow's placeholders are written `<< name >>`"
                .into(),
            "YAML reads a mapping from here",
            format!("write `{fixed}`"),
        ));
    }
    if raw.contains("flow mapping") || raw.contains("flow sequence") {
        let upto = line
            .char_indices()
            .nth(col.saturating_sub(1) as usize)
            .map_or(line.len(), |(i, _)| i);
        let key_end = line[..upto].rfind(": ")?;
        let key_start = line[..key_end]
            .rfind(['{', ',', ' ', '['])
            .map_or(0, |i| i + 1);
        let value = line[key_end + 2..]
            .trim_end()
            .trim_end_matches(['}', ']'])
            .trim_end()
            .trim_end_matches(',');
        let value = value.split(", ").next().unwrap_or(value).trim();
        return Some((
            "inside `{ }` or `[ ]`, this value needs quotes".into(),
            "the value ends here for YAML",
            format!(
                "`[`, `]`, `{{`, `}}` and `,` end a value there: write `{}: \"{}\"`",
                &line[key_start..key_end],
                value
            ),
        ));
    }
    if raw.contains("did not find expected key") {
        return Some((
            "this line is not indented like the keys around it".into(),
            "not a key of the mapping above",
            "line it up with the other keys of its mapping (spaces only); a value that starts \
             with `{`, `[`, `*`, `&`, `!`, `|`, `>`, `@` or a backtick must be quoted"
                .into(),
        ));
    }
    None
}

/// Drops a trailing " at line L, column C" (the position is shown separately).
fn strip_location(raw: &str) -> String {
    match raw.rfind(" at line ") {
        Some(i) if raw[i..].contains(", column ") => raw[..i].to_string(),
        _ => raw.to_string(),
    }
}

/// (message, label, help) for a raw YAML message.
fn humanize(raw: &str) -> (String, String, Option<String>) {
    let replacements: &[(&str, &str, &str)] = &[
        (
            "unexpected end of input",
            "the file ends too early",
            "is a value or closing bracket missing?",
        ),
        (
            "tabs disallowed",
            "YAML does not allow tabs for indentation",
            "indent with spaces",
        ),
        (
            "found a tab",
            "YAML does not allow tabs for indentation",
            "indent with spaces",
        ),
        (
            "mapping values are not allowed",
            "a `:` is not allowed here",
            "quote the value if it contains `: `",
        ),
        (
            "duplicate",
            "a key appears twice in the same mapping",
            "remove or rename one of them",
        ),
        (
            "multiple YAML documents",
            "the file holds several YAML documents",
            "a flow file is one document: remove the `---` separators (or split the flows into files)",
        ),
        (
            "values by here",
            "the file holds too many YAML values to be a flow",
            "aliases (`*name`) that repeat lists of aliases multiply: is this an alias bomb? \
             Otherwise split the flow into several files",
        ),
        (
            "Aliases",
            "too many YAML aliases (`*name`): is this an alias bomb?",
            "use fewer anchors and aliases",
        ),
        (
            "levels deep",
            "the YAML nests too deeply (more than 64 levels)",
            "flatten the structure",
        ),
    ];
    for (needle, message, help) in replacements {
        if raw.contains(needle) {
            return (message.to_string(), raw.to_string(), Some(help.to_string()));
        }
    }
    (raw.to_string(), "here".into(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Arc<Source> {
        Source::new("t.yaml", text)
    }

    #[test]
    fn nodes_keep_positions_of_values_and_keys() {
        let node = parse(&src("a: 1\nlist:\n  - x\n  - { b: \"y\" }\n")).unwrap();
        let entries = node.as_map().unwrap();
        assert_eq!(entries[0].key_pos, Pos::new(1, 1, 1));
        assert_eq!(entries[1].value.as_seq().unwrap()[0].pos.line, 3);
        let inner = &entries[1].value.as_seq().unwrap()[1];
        assert_eq!(inner.get("b").unwrap().pos, Pos::new(4, 10, 3));
    }

    #[test]
    fn hostile_inputs_are_refused_in_words() {
        let deep = "a: ".to_string() + &"[".repeat(5000);
        for text in [
            "a: [",
            "\u{0}\u{1}",
            &deep,
            "a: 1\n---\nb: 2\n",
            "a: &x [1]\nb: *y\n",
            "x: 1\nx: 2\n",
        ] {
            let err = parse(&src(text)).unwrap_err();
            assert!(!err.message.is_empty(), "{text:?}");
        }
        let multi = parse(&src("a: 1\n---\nb: 2\n")).unwrap_err();
        assert!(
            multi.message.contains("several YAML documents"),
            "{multi:?}"
        );
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        assert!(parse(&src("n: 1e400\n")).is_err());
    }
}
