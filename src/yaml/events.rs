//! YAML text → [`Node`] tree, straight from the parser's events (granit-parser): no serde layer
//! in between, so a value costs one node. Scalars resolve by the YAML 1.2 core schema (`on`,
//! `yes`, `n` stay text); anchors and aliases, merge keys (`<<: *defaults`) and `!!str`-style
//! core tags work; a second document, duplicate keys, non-finite numbers, nesting past
//! [`MAX_DEPTH`] and more than [`MAX_NODES`] values (an alias bomb) are errors in our words.

use super::node::{Entry, Node, NodeKind};
use crate::diagnostic::Pos;
use granit_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, Tag};
use std::collections::{HashMap, HashSet};

/// The deepest nesting of collections a flow file may have.
pub const MAX_DEPTH: usize = 64;
/// The most values a flow file may hold, aliases counted each time they are used.
pub const MAX_NODES: usize = 4_000_000;

/// A YAML problem and where it is (line and column from 1; line 0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub message: String,
    pub line: u32,
    pub col: u32,
}

impl YamlError {
    fn at(marker: &Marker, message: impl Into<String>) -> YamlError {
        YamlError {
            message: message.into(),
            line: marker.line() as u32,
            col: marker.col() as u32 + 1,
        }
    }

    fn scan(err: &ScanError) -> YamlError {
        YamlError::at(err.marker(), err.info().to_string())
    }
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {}, column {}",
            self.message, self.line, self.col
        )
    }
}

/// Parses one YAML document (an empty text is null).
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    builder.document()
}

struct Builder<'input> {
    parser: Parser<'input, granit_parser::StrInput<'input>>,
    /// Anchored values by the parser's anchor id, with how many values each holds.
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
}

impl<'input> Builder<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(err)) => Err(YamlError::scan(&err)),
            None => Err(YamlError {
                message: "unexpected end of input".into(),
                line: 0,
                col: 0,
            }),
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart(..) if root.is_some() => {
                    return Err(YamlError::at(
                        &span.start,
                        "multiple YAML documents in one file",
                    ));
                }
                Event::DocumentStart(..) => {
                    let (event, span) = self.next()?;
                    let node = match event {
                        Event::DocumentEnd => Node::new(NodeKind::Null, pos(&span)),
                        event => {
                            let node = self.node(event, span, 0)?.0;
                            let (end, span) = self.next()?;
                            if !matches!(end, Event::DocumentEnd) {
                                return Err(YamlError::at(
                                    &span.start,
                                    "expected the end of the document",
                                ));
                            }
                            node
                        }
                    };
                    root = Some(node);
                }
                Event::StreamEnd => {
                    return Ok(root.unwrap_or_else(|| Node::new(NodeKind::Null, Pos::new(1, 1, 1))));
                }
                _ => return Err(YamlError::at(&span.start, "unexpected YAML content")),
            }
        }
    }

    /// Builds the value an event starts; gives it with the number of values it holds.
    fn node(
        &mut self,
        event: Event<'input>,
        span: Span,
        depth: usize,
    ) -> Result<(Node, usize), YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError::at(
                &span.start,
                format!("nested more than {MAX_DEPTH} levels deep here"),
            ));
        }
        self.count(1, &span)?;
        let (node, size, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let kind = scalar(&text, style, tag.as_deref())
                    .map_err(|m| YamlError::at(&span.start, m))?;
                (Node::new(kind, pos(&span)), 1, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                collection_tag(tag.as_deref(), "seq", &span)?;
                let mut items = Vec::new();
                let mut size = 1;
                loop {
                    let (event, item_span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let (item, n) = self.node(event, item_span, depth + 1)?;
                    size += n;
                    items.push(item);
                }
                // The tree lives until the flow is compiled: no growth slack in it.
                items.shrink_to_fit();
                (Node::new(NodeKind::Seq(items), pos(&span)), size, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                collection_tag(tag.as_deref(), "map", &span)?;
                let (entries, size) = self.mapping(depth)?;
                (Node::new(NodeKind::Map(entries), pos(&span)), size, anchor)
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, size)| *size)
                    .ok_or_else(|| YamlError::at(&span.start, "unknown anchor"))?;
                // The alias itself was counted once above; its copy counts in full, before
                // it is made.
                self.count(size.saturating_sub(1), &span)?;
                let node = self.anchors[&id].0.clone();
                return Ok((node, size));
            }
            _ => return Err(YamlError::at(&span.start, "unexpected YAML content")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok((node, size))
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError::at(
                &span.start,
                format!(
                    "more than {MAX_NODES} values by here (an alias counts each time it is used)"
                ),
            ));
        }
        Ok(())
    }

    /// A mapping's entries, up to its end; merge keys (`<<`) add the entries they bring that
    /// the mapping does not set itself.
    fn mapping(&mut self, depth: usize) -> Result<(Vec<Entry>, usize), YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut seen = Keys::default();
        let mut merged: Vec<Entry> = Vec::new();
        let mut size = 1;
        loop {
            let (event, key_span) = self.next()?;
            let key = match event {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, _) => (text.into_owned(), style),
                _ => {
                    return Err(YamlError::at(
                        &key_span.start,
                        "a mapping key must be plain text, not a list or a mapping",
                    ));
                }
            };
            self.count(1, &key_span)?;
            let (event, value_span) = self.next()?;
            let (value, n) = self.node(event, value_span, depth + 1)?;
            size += n + 1;
            if key.0 == "<<" && key.1 == ScalarStyle::Plain {
                merge_into(&mut merged, value, &key_span)?;
                continue;
            }
            if !seen.insert(&key.0, &entries) {
                return Err(YamlError::at(
                    &key_span.start,
                    format!("duplicate key `{}` in this mapping", key.0),
                ));
            }
            let length = key.0.chars().count().max(1) as u32;
            let start = &key_span.start;
            entries.push(Entry {
                key: key.0,
                key_pos: Pos::new(start.line() as u32, start.col() as u32 + 1, length),
                value,
            });
        }
        for entry in merged {
            if seen.insert(&entry.key, &entries) {
                entries.push(entry);
            }
        }
        entries.shrink_to_fit();
        Ok((entries, size))
    }
}

/// The keys of a mapping being read, to refuse duplicates: compared one by one while the
/// mapping is small (most are), hashed once it grows.
#[derive(Default)]
pub(super) struct Keys(Option<HashSet<String>>);

impl Keys {
    /// Whether `key` is new among `entries` (the mapping so far); remembers it.
    pub(super) fn insert(&mut self, key: &str, entries: &[Entry]) -> bool {
        const HASHED_FROM: usize = 16;
        if self.0.is_none() && entries.len() >= HASHED_FROM {
            self.0 = Some(entries.iter().map(|e| e.key.clone()).collect());
        }
        match &mut self.0 {
            Some(set) => set.insert(key.to_string()),
            None => entries.iter().all(|e| e.key != key),
        }
    }
}

/// What a merge key brings: a mapping, or a list of mappings (the first one wins).
fn merge_into(merged: &mut Vec<Entry>, value: Node, span: &Span) -> Result<(), YamlError> {
    let maps = match value.kind {
        NodeKind::Map(entries) => vec![entries],
        NodeKind::Seq(items) => items
            .into_iter()
            .map(|item| match item.kind {
                NodeKind::Map(entries) => Ok(entries),
                _ => Err(()),
            })
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| {
                YamlError::at(
                    &span.start,
                    "`<<:` merges mappings: `<<: *defaults` or `<<: [*a, *b]`",
                )
            })?,
        _ => {
            return Err(YamlError::at(
                &span.start,
                "`<<:` merges mappings: `<<: *defaults` or `<<: [*a, *b]`",
            ));
        }
    };
    for entries in maps {
        for entry in entries {
            if !merged.iter().any(|m| m.key == entry.key) {
                merged.push(entry);
            }
        }
    }
    Ok(())
}

fn pos(span: &Span) -> Pos {
    let (start, end) = (&span.start, &span.end);
    let length = if end.line() == start.line() {
        end.col().saturating_sub(start.col())
    } else {
        1
    };
    Pos::new(
        start.line() as u32,
        start.col() as u32 + 1,
        length.max(1) as u32,
    )
}

/// A collection may carry its own core tag (`!!map`, `!!seq`), nothing else.
fn collection_tag(tag: Option<&Tag>, expected: &str, span: &Span) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.handle() == "tag:yaml.org,2002:" && tag.suffix() == expected => Ok(()),
        Some(tag) => Err(YamlError::at(&span.start, unsupported_tag(tag))),
    }
}

fn unsupported_tag(tag: &Tag) -> String {
    format!(
        "the YAML tag `{}{}` is not used in flow files",
        tag.original_handle(),
        tag.suffix()
    )
}

/// A scalar's value: quoted and block scalars are text; plain ones resolve by the YAML 1.2
/// core schema; a core tag (`!!str 123`) says which.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<NodeKind, String> {
    let plain = style == ScalarStyle::Plain;
    match tag {
        None if plain => resolve_plain(text),
        None => Ok(NodeKind::String(text.to_string())),
        Some(tag) if tag.handle() == "tag:yaml.org,2002:" => match tag.suffix() {
            "str" => Ok(NodeKind::String(text.to_string())),
            "null" | "bool" | "int" | "float" => {
                let kind = resolve_plain(text)?;
                let fits = matches!(
                    (tag.suffix(), &kind),
                    ("null", NodeKind::Null)
                        | ("bool", NodeKind::Bool(_))
                        | ("int" | "float", NodeKind::Number(_))
                );
                if fits {
                    Ok(kind)
                } else {
                    Err(format!("`{text}` is not a YAML {}", tag.suffix()))
                }
            }
            _ => Err(unsupported_tag(tag)),
        },
        // `!` alone forces text, as in YAML.
        Some(tag) if tag.handle() == "!" && tag.suffix().is_empty() => {
            Ok(NodeKind::String(text.to_string()))
        }
        Some(tag) => Err(unsupported_tag(tag)),
    }
}

/// The YAML 1.2 core schema: null, booleans, integers (decimal, `0o`, `0x`), floats.
pub(super) fn resolve_plain(text: &str) -> Result<NodeKind, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(NodeKind::Null),
        "true" | "True" | "TRUE" => return Ok(NodeKind::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(NodeKind::Bool(false)),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return Err(format!(
            "`{text}` is not a number JSON can hold: quote it if it is text"
        ));
    }
    let negative = text.starts_with('-');
    let radix = |digits: &str, base: u32| -> Option<NodeKind> {
        let value = u64::from_str_radix(digits, base).ok()?;
        if negative {
            None
        } else {
            Some(NodeKind::Number(value.into()))
        }
    };
    if unsigned.len() > 2 && text == unsigned {
        if let Some(hex) = unsigned.strip_prefix("0x") {
            if let Some(kind) = radix(hex, 16) {
                return Ok(kind);
            }
        } else if let Some(octal) = unsigned.strip_prefix("0o")
            && let Some(kind) = radix(octal, 8)
        {
            return Ok(kind);
        }
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Ok(NodeKind::Number(n.into()));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(NodeKind::Number(n.into()));
        }
    }
    if is_float(unsigned) {
        let value: f64 = text
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        return match serde_json::Number::from_f64(value) {
            Some(n) if value.is_finite() => Ok(NodeKind::Number(n)),
            _ => Err(format!(
                "`{text}` is too large for a number: quote it if it is text"
            )),
        };
    }
    Ok(NodeKind::String(text.to_string()))
}

/// `1.5`, `.5`, `1.`, `1e3`, `2.5E-3`: digits, at most one point, an optional exponent.
fn is_float(text: &str) -> bool {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let points = mantissa.bytes().filter(|b| *b == b'.').count();
    let mantissa_ok = digits > 0 && points <= 1 && digits + points == mantissa.len();
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json(text: &str) -> serde_json::Value {
        parse(text).unwrap().to_json()
    }

    #[test]
    fn the_core_schema_and_yaml_1_2_booleans() {
        assert_eq!(
            json(
                "a: on\nb: yes\nc: n\nd: true\ne: ~\nf: 0x1F\ng: 0o17\nh: -3\ni: 1.5e3\nj: '1'\nk: 1_000\nl: .5\nm: 007\n"
            ),
            json!({"a": "on", "b": "yes", "c": "n", "d": true, "e": null, "f": 31, "g": 15, "h": -3, "i": 1500.0, "j": "1", "k": "1_000", "l": 0.5, "m": 7})
        );
        assert_eq!(
            json("a: !!str 12\nb: !!int '7'\n"),
            json!({"a": "12", "b": 7})
        );
        assert!(parse("a: 1e400\n").is_err());
        assert!(parse("a: .nan\n").is_err());
        assert!(parse("a: !custom x\n").is_err());
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b { url: x, timeout: 5s }\nstep:\n  <<: *b\n  timeout: 9s\nlist: [*b]\n";
        assert_eq!(
            json(text),
            json!({"base": {"url": "x", "timeout": "5s"}, "step": {"timeout": "9s", "url": "x"}, "list": [{"url": "x", "timeout": "5s"}]})
        );
        let quoted = "'<<': 1\n";
        assert_eq!(json(quoted), json!({"<<": 1}), "a quoted `<<` is a key");
    }

    #[test]
    fn problems_in_words_with_positions() {
        let duplicate = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((duplicate.line, duplicate.col), (3, 1));
        assert!(duplicate.message.contains("duplicate key `a`"));
        let multi = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(multi.message.contains("multiple YAML documents"));
        let deep = format!("a: {}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("levels deep"));
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(parse(bomb).unwrap_err().message.contains("values by here"));
        assert_eq!(parse("").unwrap().kind, NodeKind::Null);
    }
}
