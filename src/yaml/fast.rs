//! The plain block YAML most flow files are written in, read line by line without the general
//! parser: block mappings and lists, plain, quoted and `|` scalars, flow collections on one
//! line (`{ status: 200 }`, `[A, B]`), comments. At the first thing outside that subset
//! (anchors, tags, escapes, scalars or collections over several lines, a duplicate key,
//! anything malformed...) it gives up, and [`super::parse_text`] reads the file with the general
//! parser instead, which also words every error. A tree it gives equals that parser's,
//! positions included: the tests compare the two on generated, edited and arbitrary text.

use super::events::{Keys, MAX_DEPTH, MAX_NODES, resolve_plain};
use super::node::{Entry, Node, NodeKind};
use crate::diagnostic::Pos;

/// The tree of `text`, or `None` when the text is not in the subset this reader knows.
pub fn parse(text: &str) -> Option<Node> {
    if !printable(text) {
        return None;
    }
    let mut reader = Reader {
        text,
        at: 0,
        line: 1,
        nodes: 0,
        peeked: None,
        entries: Vec::new(),
        items: Vec::new(),
    };
    let first = reader.peek()?;
    if first.indent != 0 {
        return None;
    }
    let root = reader.mapping(first, 0, 0)?;
    reader.peek().is_none().then_some(root)
}

/// A line with content (not blank, not only a comment).
#[derive(Clone, Copy)]
struct Line<'a> {
    /// The line without its newline.
    text: &'a str,
    /// 1-based.
    number: u32,
    /// Leading spaces.
    indent: usize,
    /// The byte offset of the line after this one.
    next: usize,
}

struct Reader<'a> {
    text: &'a str,
    /// Byte offset of the next line to read.
    at: usize,
    /// Its 1-based number.
    line: u32,
    nodes: usize,
    /// The last line [`Reader::peek`] found, with the offset it starts at.
    peeked: Option<(usize, Line<'a>)>,
    /// The entries and items of the collections being read, innermost last: each collection
    /// takes its own off the top when it ends, into a vector of the right size.
    entries: Vec<Entry>,
    items: Vec<Node>,
}

impl<'a> Reader<'a> {
    /// The next raw line from `at`, with the offset after it; `None` at the end.
    fn raw(&self, at: usize) -> Option<(&'a str, usize)> {
        if at >= self.text.len() {
            return None;
        }
        let rest = &self.text[at..];
        Some(match memchr::memchr(b'\n', rest.as_bytes()) {
            Some(end) => (&rest[..end], at + end + 1),
            None => (rest, self.text.len()),
        })
    }

    /// The next line with content, without consuming it (blank and comment lines are skipped).
    fn peek(&mut self) -> Option<Line<'a>> {
        if let Some((at, line)) = self.peeked
            && at == self.at
        {
            return Some(line);
        }
        loop {
            let (text, next) = self.raw(self.at)?;
            let indent = leading_spaces(text);
            let content = &text[indent..];
            if !content.is_empty() && !content.starts_with('#') {
                let line = Line {
                    text,
                    number: self.line,
                    indent,
                    next,
                };
                self.peeked = Some((self.at, line));
                return Some(line);
            }
            self.at = next;
            self.line += 1;
        }
    }

    fn consume(&mut self, line: &Line) {
        self.at = line.next;
        self.line = line.number + 1;
    }

    fn count(&mut self, n: usize) -> Option<()> {
        self.nodes += n;
        (self.nodes <= MAX_NODES).then_some(())
    }

    /// A block mapping whose first key starts at byte `col` of `first` (its indentation);
    /// later keys must start at the same column.
    fn mapping(&mut self, first: Line<'a>, col: usize, depth: usize) -> Option<Node> {
        // The parser's own limit counts scalars too: stay clear of it.
        if depth + 2 > MAX_DEPTH {
            return None;
        }
        self.count(1)?;
        let pos = Pos::new(first.number, chars(&first.text[..col]) + 1, 1);
        let base = self.entries.len();
        let mut seen = Keys::default();
        let mut line = first;
        let mut at = col;
        loop {
            let (key, colon) = key(&line.text[at..], false)?;
            if key == "<<" || !seen.insert(key, &self.entries[base..]) {
                return None;
            }
            self.count(1)?;
            let key_pos = Pos::new(line.number, chars(&line.text[..at]) + 1, chars(key).max(1));
            let colon = at + colon;
            let value = self.value(line, colon, col, depth)?;
            self.entries.push(Entry {
                key: key.to_string(),
                key_pos,
                value,
            });
            match self.peek() {
                Some(next) if next.indent == col => {
                    if is_entry(&next.text[col..]) {
                        return None;
                    }
                    line = next;
                    at = col;
                }
                Some(next) if next.indent > col => return None,
                _ => break,
            }
        }
        let entries = self.entries.drain(base..).collect();
        Some(Node::new(NodeKind::Map(entries), pos))
    }

    /// The value after the `:` at byte `colon` of `line`, in a mapping indented `indent`.
    fn value(&mut self, line: Line<'a>, colon: usize, indent: usize, depth: usize) -> Option<Node> {
        let start = spaces_from(line.text, colon + 1);
        let content = &line.text[start..];
        if !content.is_empty() && !content.starts_with('#') {
            if content.starts_with('|') {
                return self.literal(line, start, indent);
            }
            let node = self.inline(line, start, depth + 1)?;
            self.consume(&line);
            return self.alone(node, indent);
        }
        self.consume(&line);
        match self.peek() {
            Some(next) if next.indent > indent => self.block(next, depth + 1),
            Some(next) if next.indent == indent && is_entry(&next.text[indent..]) => {
                self.list(next, indent, true, depth + 1)
            }
            _ => {
                self.count(1)?;
                Some(Node::new(
                    NodeKind::Null,
                    Pos::new(line.number, chars(&line.text[..colon]) + 1, 1),
                ))
            }
        }
    }

    /// `node`, if no more-indented line follows it (that would continue or contradict it).
    fn alone(&mut self, node: Node, indent: usize) -> Option<Node> {
        match self.peek() {
            Some(next) if next.indent > indent => None,
            _ => Some(node),
        }
    }

    /// A mapping or a list that starts at the indentation of `line`.
    fn block(&mut self, line: Line<'a>, depth: usize) -> Option<Node> {
        if is_entry(&line.text[line.indent..]) {
            self.list(line, line.indent, false, depth)
        } else {
            self.mapping(line, line.indent, depth)
        }
    }

    /// A block list whose dashes are at column `indent`; `flush` when it sits at its key's
    /// indentation (`steps:` then `- ...` under the `s`).
    fn list(&mut self, first: Line<'a>, indent: usize, flush: bool, depth: usize) -> Option<Node> {
        if depth + 2 > MAX_DEPTH {
            return None;
        }
        self.count(1)?;
        let base = self.items.len();
        let mut line = first;
        let mut pos = Pos::new(first.number, indent as u32 + 1, 1);
        loop {
            let start = spaces_from(line.text, indent + 1);
            let content = &line.text[start..];
            let item = if content.is_empty() || content.starts_with('#') {
                // What the parser says about an empty item, or the list's position when its
                // first item is on a later line, is not worth mimicking.
                if self.items.len() == base && flush {
                    return None;
                }
                self.consume(&line);
                match self.peek() {
                    Some(next) if next.indent > indent => self.block(next, depth + 1)?,
                    _ => return None,
                }
            } else {
                if is_entry(content) || content.starts_with('|') {
                    return None;
                }
                if self.items.len() == base && flush {
                    pos = Pos::new(line.number, chars(&line.text[..start]) + 1, 1);
                }
                if key(content, false).is_some() {
                    self.mapping(line, start, depth + 1)?
                } else {
                    let node = self.inline(line, start, depth + 1)?;
                    self.consume(&line);
                    self.alone(node, indent)?
                }
            };
            self.items.push(item);
            match self.peek() {
                Some(next) if next.indent == indent && is_entry(&next.text[indent..]) => {
                    line = next
                }
                Some(next) if next.indent > indent => return None,
                _ => break,
            }
        }
        let items = self.items.drain(base..).collect();
        Some(Node::new(NodeKind::Seq(items), pos))
    }

    /// A value that takes the rest of `line` from byte `start` (a comment may follow): a
    /// scalar, or a flow collection on this one line.
    fn inline(&mut self, line: Line<'a>, start: usize, depth: usize) -> Option<Node> {
        let content = &line.text[start..];
        let (node, end) = match content.as_bytes()[0] {
            b'[' | b'{' | b'\'' | b'"' => self.flow(&line, start, depth)?,
            _ => {
                self.count(1)?;
                let text = plain(content)?;
                let pos = Pos::new(
                    line.number,
                    chars(&line.text[..start]) + 1,
                    chars(text).max(1),
                );
                (
                    Node::new(resolve_plain(text).ok()?, pos),
                    start + text.len(),
                )
            }
        };
        ends_line(&line.text[end..]).then_some(node)
    }

    /// A flow collection, a quoted scalar or (inside a collection) a plain one, at byte `at`
    /// of `line`; with the offset after it.
    fn flow(&mut self, line: &Line<'a>, at: usize, depth: usize) -> Option<(Node, usize)> {
        if depth + 2 > MAX_DEPTH {
            return None;
        }
        self.count(1)?;
        let text = line.text;
        let bytes = text.as_bytes();
        if at >= bytes.len() {
            return None;
        }
        let pos = |from: usize, to: usize| {
            Pos::new(
                line.number,
                chars(&text[..from]) + 1,
                chars(&text[from..to]).max(1),
            )
        };
        let close = match bytes[at] {
            b'[' => b']',
            b'{' => b'}',
            b'\'' | b'"' => {
                let (value, end) = quoted(text, at)?;
                return Some((Node::new(NodeKind::String(value), pos(at, end)), end));
            }
            _ => {
                let len = flow_plain(&text[at..])?;
                let kind = resolve_plain(&text[at..at + len]).ok()?;
                return Some((Node::new(kind, pos(at, at + len)), at + len));
            }
        };
        let (items, entries) = (self.items.len(), self.entries.len());
        let mut seen = Keys::default();
        let mut i = spaces_from(text, at + 1);
        if bytes.get(i) != Some(&close) {
            loop {
                if close == b']' {
                    let (item, end) = self.flow(line, i, depth + 1)?;
                    self.items.push(item);
                    i = end;
                } else {
                    let (key, colon) = key(&text[i..], true)?;
                    if !seen.insert(key, &self.entries[entries..]) {
                        return None;
                    }
                    self.count(1)?;
                    let key_pos = pos(i, i + key.len());
                    let (value, end) =
                        self.flow(line, spaces_from(text, i + colon + 1), depth + 1)?;
                    self.entries.push(Entry {
                        key: key.to_string(),
                        key_pos,
                        value,
                    });
                    i = end;
                }
                i = spaces_from(text, i);
                match bytes.get(i) {
                    Some(b',') => i = spaces_from(text, i + 1),
                    Some(&b) if b == close => break,
                    _ => return None,
                }
                // A trailing comma is left to the parser.
                if bytes.get(i) == Some(&close) {
                    return None;
                }
            }
        }
        let kind = if close == b']' {
            NodeKind::Seq(self.items.drain(items..).collect())
        } else {
            NodeKind::Map(self.entries.drain(entries..).collect())
        };
        Some((Node::new(kind, pos(at, at + 1)), i + 1))
    }

    /// A `|` or `|-` scalar whose header is at byte `start` of `line`, owned by a key indented
    /// `indent`.
    fn literal(&mut self, line: Line<'a>, start: usize, indent: usize) -> Option<Node> {
        self.count(1)?;
        let header = &line.text[start..];
        let (strip, after) = match header.as_bytes().get(1) {
            Some(b'-') => (true, &header[2..]),
            _ => (false, &header[1..]),
        };
        if !ends_line(after) {
            return None;
        }
        // The first content line sets the indentation; a blank line before it is left to the
        // parser.
        let (first, mut at) = self.raw(line.next)?;
        let width = leading_spaces(first);
        if width <= indent || width == first.len() {
            return None;
        }
        let pos = Pos::new(line.number + 1, width as u32 + 1, 1);
        let mut value = String::new();
        value.push_str(&first[width..]);
        // The line number of `first`, then of each line read; where reading resumes.
        let mut number = line.number + 1;
        let mut blanks = 0;
        let mut end = (at, number + 1);
        while let Some((text, next)) = self.raw(at) {
            number += 1;
            let spaces = leading_spaces(text);
            if spaces == text.len() {
                if spaces > width {
                    return None;
                }
                blanks += 1;
            } else if spaces >= width {
                for _ in 0..=blanks {
                    value.push('\n');
                }
                blanks = 0;
                value.push_str(&text[width..]);
                end = (next, number + 1);
            } else {
                break;
            }
            at = next;
        }
        // The last content line must end with a newline.
        if !self.text[..end.0].ends_with('\n') {
            return None;
        }
        if !strip {
            value.push('\n');
        }
        self.at = end.0;
        self.line = end.1;
        self.alone(Node::new(NodeKind::String(value), pos), indent)
    }
}

/// Whether `text` has only characters that are simply text to YAML: not tabs, carriage returns
/// or other controls (which the parser refuses or reads as line breaks), nor byte-order marks
/// and Unicode's own line separators.
fn printable(text: &str) -> bool {
    let control = |b: u8| (b < b' ' && b != b'\n') | (b == 0x7f);
    // No early exit inside a chunk, so that the compiler tests many bytes at once.
    let clean = |chunk: &[u8]| !chunk.iter().fold(false, |seen, &b| seen | control(b));
    if !text.as_bytes().chunks(64).all(clean) {
        return false;
    }
    text.is_ascii()
        || !text.chars().any(|c| {
            matches!(
                c,
                '\u{80}'
                    ..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            )
        })
}

/// Whether `content` starts a list item (`- ...` or a lone `-`).
fn is_entry(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// The plain key at the start of `content` (in a flow collection if `flow`) and the offset of
/// its `:`, if the line is a `key: value` or `key:` line this reader knows.
fn key(content: &str, flow: bool) -> Option<(&str, usize)> {
    match scan(content, flow)? {
        // A key with trailing spaces, or longer than the parser allows, is left to it.
        Stop::Colon(i) if !content[..i].ends_with(' ') && i <= 1000 => Some((&content[..i], i)),
        _ => None,
    }
}

/// A plain scalar that takes the rest of a line from the start of `content`, up to a comment,
/// without trailing spaces; `None` if it is not one (or holds a `: ` or ends with `:`).
fn plain(content: &str) -> Option<&str> {
    match scan(content, false)? {
        Stop::End(end) => Some(content[..end].trim_end_matches(' ')),
        Stop::Colon(_) => None,
    }
}

/// The length of the plain scalar inside a flow collection at the start of `content`, without
/// trailing spaces: it ends at `,`, `]` or `}`. `None` when it is not one this reader knows.
fn flow_plain(content: &str) -> Option<usize> {
    match scan(content, true)? {
        Stop::End(end) => {
            let len = content[..end].trim_end_matches(' ').len();
            (len > 0).then_some(len)
        }
        Stop::Colon(_) => None,
    }
}

/// Where a plain scalar at the start of `content` stops.
enum Stop {
    /// At the end of the line or a comment, or in a flow collection at `,`, `]` or `}`.
    End(usize),
    /// At a `:` that starts a value.
    Colon(usize),
}

/// Reads the plain scalar at the start of `content`, in a flow collection if `flow`; `None`
/// when it is not one this reader knows (in a flow collection: a comment, a `[` or `{`, or a
/// `:` before a flow indicator).
fn scan(content: &str, flow: bool) -> Option<Stop> {
    let bytes = content.as_bytes();
    if starts_special(bytes, flow) {
        return None;
    }
    let mut previous = b' ';
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'#' if previous == b' ' => return (!flow).then_some(Stop::End(i)),
            b':' => match bytes.get(i + 1) {
                None | Some(b' ') => return Some(Stop::Colon(i)),
                Some(b',' | b']' | b'}') if flow => return None,
                _ => {}
            },
            b',' | b']' | b'}' if flow => return Some(Stop::End(i)),
            b'[' | b'{' if flow => return None,
            _ => {}
        }
        previous = b;
    }
    (!flow).then_some(Stop::End(bytes.len()))
}

/// Whether text starting with these bytes is not a plain scalar this reader knows: YAML's
/// indicators; `?` and `:`; `-` followed by a space, nothing, or (in a flow collection) a flow
/// indicator.
fn starts_special(bytes: &[u8], flow: bool) -> bool {
    match bytes.first() {
        None | Some(b'?' | b':') => true,
        Some(b'-') => match bytes.get(1) {
            None | Some(b' ') => true,
            Some(b',' | b'[' | b']' | b'{' | b'}') => flow,
            Some(_) => false,
        },
        Some(first) => b"[]{},#&*!|>'\"%@`".contains(first),
    }
}

/// The quoted scalar that starts at byte `at` of `text`, if it closes on this line: its value
/// and the offset after the closing quote. In single quotes `''` is a quote; a double-quoted
/// scalar with an escape is left to the parser.
fn quoted(text: &str, at: usize) -> Option<(String, usize)> {
    if text.as_bytes()[at] == b'"' {
        let close = at + 1 + text[at + 1..].find(['"', '\\'])?;
        if text.as_bytes()[close] != b'"' {
            return None;
        }
        return Some((text[at + 1..close].to_string(), close + 1));
    }
    let mut value = String::new();
    let mut from = at + 1;
    loop {
        let quote = from + text[from..].find('\'')?;
        value.push_str(&text[from..quote]);
        if text.as_bytes().get(quote + 1) == Some(&b'\'') {
            value.push('\'');
            from = quote + 2;
        } else {
            return Some((value, quote + 1));
        }
    }
}

/// The offset of the first byte from `at` that is not a space.
fn spaces_from(text: &str, at: usize) -> usize {
    at + leading_spaces(&text[at..])
}

/// The number of spaces `text` starts with.
fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// Whether `rest`, what follows a value on its line, is only spaces, then nothing or a comment.
fn ends_line(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || trimmed.starts_with('#') && trimmed.len() < rest.len()
}

/// The number of characters in `text`, as the parser counts columns.
fn chars(text: &str) -> u32 {
    if text.is_ascii() {
        text.len() as u32
    } else {
        text.chars().count() as u32
    }
}

#[cfg(test)]
mod tests;
