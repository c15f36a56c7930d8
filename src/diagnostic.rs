//! One place that turns any problem in a flow file into what the user reads: the message,
//! `file:line:col`, the source line with a caret under the culprit, and a hint, in the style of
//! rustc (through annotate-snippets, the renderer rustc itself uses).
//!
//! Layers report [`Diagnostic`]s (a message, an optional position in a [`Source`], a label and
//! a help line); [`render`] draws them once, at the edge.

use annotate_snippets::renderer::DecorStyle;
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A file the user wrote, kept whole so diagnostics can quote it.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
        })
    }

    /// Byte offset of a 1-based line and 1-based character column, clamped to the text.
    pub fn offset(&self, line: u32, col: u32) -> usize {
        let Some(start) = self.line_start(line) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let line_text = rest.split('\n').next().unwrap_or("");
        let within = line_text
            .char_indices()
            .nth(col.saturating_sub(1) as usize)
            .map(|(i, _)| i)
            .unwrap_or(line_text.len());
        start + within
    }

    /// Byte offset where a 1-based line starts.
    fn line_start(&self, line: u32) -> Option<usize> {
        if line <= 1 {
            return Some(0);
        }
        let mut seen = 1;
        for (i, b) in self.text.bytes().enumerate() {
            if b == b'\n' {
                seen += 1;
                if seen == line {
                    return Some(i + 1);
                }
            }
        }
        None
    }

    /// The position of a byte offset (1-based line and character column).
    pub fn pos_at(&self, offset: usize, len: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &self.text[..offset];
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        Pos::new(line as u32, col as u32, len as u32)
    }

    /// Narrows a position to the first occurrence of `needle` at or after it (within a few
    /// lines), so a caret can sit under a variable inside a longer template.
    pub fn find_from(&self, pos: Pos, needle: &str) -> Pos {
        let start = self.offset(pos.line, pos.col);
        let mut end = (start + 4096).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        match self.text.get(start..end).and_then(|w| w.find(needle)) {
            Some(found) => self.pos_at(start + found, needle.chars().count()),
            None => pos,
        }
    }
}

/// A position in a source: 1-based line and column, and a length in characters. Line 0 means
/// "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos {
        line: 0,
        col: 0,
        len: 0,
    };

    pub fn new(line: u32, col: u32, len: u32) -> Pos {
        Pos { line, col, len }
    }

    pub fn is_known(&self) -> bool {
        self.line > 0
    }

    /// This position, or `other` when this one is unknown.
    pub fn or(self, other: Pos) -> Pos {
        if self.is_known() { self } else { other }
    }
}

/// A problem found in a flow, to be rendered for the user.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub source: Option<Arc<Source>>,
    pub pos: Option<Pos>,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            source: None,
            pos: None,
            label: None,
            help: None,
        }
    }

    /// Places the diagnostic at `pos` in `source` (an unknown position keeps just the file).
    pub fn at(mut self, source: &Arc<Source>, pos: Pos) -> Diagnostic {
        self.source = Some(source.clone());
        self.pos = pos.is_known().then_some(pos);
        self
    }

    pub fn in_file(mut self, source: &Arc<Source>) -> Diagnostic {
        self.source = Some(source.clone());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// `file:line:col`, or just the file, or nothing.
    pub fn location(&self) -> Option<String> {
        match (&self.source, self.pos) {
            (Some(src), Some(pos)) => Some(format!("{}:{}:{}", src.name, pos.line, pos.col)),
            (Some(src), None) => Some(src.name.clone()),
            _ => None,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `file:line:col: message` (used in JSON reports and logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location() {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The lines quoted around a position: the text, the 1-based number of its first line, and the
/// byte range of the culprit within the text. Tabs and control characters become one visible
/// character each, so the caret stays where it belongs; the renderer cuts long lines around
/// the caret.
fn excerpt(src: &Source, pos: Pos) -> (String, usize, std::ops::Range<usize>) {
    let first = pos.line.saturating_sub(1).max(1);
    let mut text = String::new();
    let mut span = 0..0;
    for line in first..=pos.line + 1 {
        let Some(start) = src.line_start(line) else {
            break;
        };
        if start >= src.text.len() && line > pos.line {
            break;
        }
        let raw = src.text[start..].split('\n').next().unwrap_or("");
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let chars: Vec<char> = raw
            .chars()
            .map(|c| match c {
                '\t' => ' ',
                c if c.is_control() || c == '\u{feff}' => '\u{fffd}',
                c => c,
            })
            .collect();
        if line == pos.line {
            let col = (pos.col.max(1) as usize - 1).min(chars.len());
            let culprit = (pos.len.max(1) as usize).min(chars.len() - col);
            let lead: usize = chars[..col].iter().map(|c| c.len_utf8()).sum();
            let width: usize = chars[col..col + culprit].iter().map(|c| c.len_utf8()).sum();
            span = text.len() + lead..text.len() + lead + width;
        }
        text.extend(chars);
        text.push('\n');
    }
    (text, first as usize, span)
}

/// The most characters a message, label or help line shows on a terminal; a longer one (a
/// 1 MB key named in "unknown field") keeps its start and its end.
const SHOWN_CHARS: usize = 400;

/// A line cut to [`SHOWN_CHARS`] around an ellipsis that says how much was left out.
fn shorten(line: &str) -> String {
    let count = line.chars().count();
    if count <= SHOWN_CHARS {
        return line.to_string();
    }
    let head: String = line.chars().take(SHOWN_CHARS - 100).collect();
    let tail: String = line.chars().skip(count - 60).collect();
    format!(
        "{head}…[{} characters left out]…{tail}",
        count - (SHOWN_CHARS - 40)
    )
}

/// Text for a terminal: control characters made visible, every line shortened.
fn shown(text: &str) -> String {
    clean(text)
        .split('\n')
        .map(shorten)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a diagnostic for a terminal: colour only when asked.
pub fn render(diag: &Diagnostic, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    }
    .decor_style(DecorStyle::Ascii);
    let title = shown(&diag.message);
    let mut group = Group::with_title(Level::ERROR.primary_title(title.as_str()));
    let (text, first, span);
    let (path, label);
    if let (Some(src), Some(pos)) = (&diag.source, diag.pos) {
        (text, first, span) = excerpt(src, pos);
        path = src.name.clone();
        let mut annotation = AnnotationKind::Primary.span(span.clone());
        label = diag.label.as_deref().map(shown);
        if let Some(label) = &label {
            annotation = annotation.label(label.as_str());
        }
        group = group.element(
            Snippet::source(text.as_str())
                .line_start(first)
                .path(path.as_str())
                .fold(false)
                .annotation(annotation),
        );
    } else if let Some(src) = &diag.source {
        path = src.name.clone();
        group = group.element(annotate_snippets::Origin::path(path.as_str()));
    }
    let help = diag.help.as_deref().map(shown);
    if let Some(help) = &help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let mut out = renderer.render(&[group]);
    out.push('\n');
    out
}

/// Text shown on a terminal: everything that could act on the terminal instead of being shown
/// (escape sequences from a server's body, say) becomes a visible escape such as `\u{1b}`:
/// C0 and C1 control characters (ESC, BEL, backspace, CSI...), DEL, a CR that does not end a
/// line, and the invisible marks that reorder a line (bidirectional overrides and isolates).
/// Line feeds and tabs stay; CR LF becomes LF.
pub fn clean(text: &str) -> String {
    cleaned(text).into_owned()
}

/// [`clean`], without a copy when there is nothing to clean (the usual case: a step's line).
pub fn cleaned(text: &str) -> Cow<'_, str> {
    if !may_act_on_terminal(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if acts_on_terminal(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether `bytes` hold a character [`acts_on_terminal`] matches, read from their UTF-8 bytes:
/// printable ASCII is skipped in a tight loop, and the rest is matched without decoding
/// characters: an ASCII control other than a line break or tab, a C1 control (`C2 80`–`C2
/// 9F`), U+061C (`D8 9C`), or the marks U+200E/F, U+2028–U+202E (`E2 80 ..`) and
/// U+2066–U+2069 (`E2 81 ..`). `✓`, `·` or `—` pass.
fn may_act_on_terminal(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(skipped) = bytes[at..]
        .iter()
        .position(|&b| !(b' '..=b'~').contains(&b))
    {
        at += skipped;
        let next = |n: usize| bytes.get(at + n).copied();
        let acts = match bytes[at] {
            b'\n' | b'\t' => false,
            0..=0x1f | 0x7f => true,
            0xc2 => matches!(next(1), Some(0x80..=0x9f)),
            0xd8 => next(1) == Some(0x9c),
            0xe2 => matches!(
                (next(1), next(2)),
                (Some(0x80), Some(0x8e | 0x8f | 0xa8..=0xae)) | (Some(0x81), Some(0xa6..=0xa9))
            ),
            _ => false,
        };
        if acts {
            return true;
        }
        at += 1;
    }
    false
}

/// Whether a character does something on a terminal rather than show itself.
fn acts_on_terminal(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_escapes_whatever_acts_on_a_terminal() {
        assert_eq!(clean("plain\ttext\nnext"), "plain\ttext\nnext");
        assert_eq!(clean("\x1b[2Jcleared"), "\\u{1b}[2Jcleared");
        assert_eq!(clean("\x1b]0;title\x07"), "\\u{1b}]0;title\\u{7}");
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m", "C1 CSI");
        assert_eq!(clean("ok\rfake"), "ok\\rfake", "a bare CR");
        assert_eq!(clean("line\r\nnext"), "line\nnext", "CR LF ends a line");
        assert_eq!(clean("ab\x08\x08"), "ab\\u{8}\\u{8}");
        assert_eq!(clean("\x7f"), "\\u{7f}");
        assert_eq!(clean("a\u{202e}b"), "a\\u{202e}b", "bidi override");
        assert_eq!(clean("café 😀"), "café 😀");
        assert!(matches!(cleaned("plain ascii\tline\n"), Cow::Borrowed(_)));
        assert!(matches!(cleaned("café 😀"), Cow::Borrowed(_)));
        assert!(matches!(cleaned("a\u{202e}b"), Cow::Owned(_)));
        assert!(matches!(cleaned("✓ step · 12 ms — ok"), Cow::Borrowed(_)));
        let once = clean("\x1b[2J\r\u{9b}");
        assert_eq!(clean(&once), once, "cleaning twice changes nothing");
    }

    #[test]
    fn the_byte_scan_finds_exactly_the_characters_that_act_on_a_terminal() {
        let mut buf = [0; 4];
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            assert_eq!(may_act_on_terminal(bytes), acts_on_terminal(c), "{c:?}");
        }
    }

    #[test]
    fn offsets_count_characters() {
        let src = Source::new("f", "ab\nçd: x\n");
        assert_eq!(src.offset(1, 1), 0);
        assert_eq!(src.offset(2, 1), 3);
        assert_eq!(src.offset(2, 2), 5);
        assert_eq!(src.offset(9, 1), src.text.len());
        assert_eq!(src.pos_at(5, 1), Pos::new(2, 2, 1));
    }

    #[test]
    fn renders_location_caret_and_help() {
        let src = Source::new("flows/a.yaml", "name: a\nsteps:\n  - nme: x\n");
        let d = Diagnostic::new("unknown field `nme`")
            .at(&src, Pos::new(3, 5, 3))
            .label("not a step field")
            .help("did you mean `name`?");
        let out = render(&d, false);
        assert!(out.contains("error: unknown field `nme`"), "{out}");
        assert!(out.contains("--> flows/a.yaml:3:5"), "{out}");
        assert!(out.contains("^^^ not a step field"), "{out}");
        assert!(!out.contains('\x1b'), "no colour when not asked: {out}");
        assert!(out.contains("help: did you mean `name`?"), "{out}");
    }

    #[test]
    fn huge_lines_and_columns_render_a_window() {
        let line = format!("key: {}", "x".repeat(1_000_000));
        let src = Source::new("big.yaml", format!("a: 1\n{line}\nb: 2\n"));
        let d = Diagnostic::new("too long").at(&src, Pos::new(2, 900_000, 5));
        let out = render(&d, false);
        assert!(out.contains("big.yaml:2:900000"), "{out}");
        assert!(out.contains("^^^^^"), "{out}");
        assert!(
            out.len() < 2000,
            "a window, not the line: {} bytes",
            out.len()
        );
    }

    #[test]
    fn huge_messages_keep_their_start_and_end() {
        let key = "k".repeat(1_000_000);
        let src = Source::new("big.yaml", format!("{key}: 1\n"));
        let d = Diagnostic::new(format!("unknown field `{key}`"))
            .at(&src, Pos::new(1, 1, 1_000_000))
            .label(format!("`{key}` is not a field"))
            .help(format!("did you mean `{key}x`?"));
        let out = render(&d, false);
        assert!(out.len() < 4000, "{} bytes", out.len());
        assert!(out.contains("error: unknown field `kkk"), "{out}");
        assert!(out.contains("characters left out]…kkk"), "{out}");
        assert!(out.contains("kx`?"), "{out}");
        assert!(out.contains("big.yaml:1:1"), "{out}");
    }

    #[test]
    fn control_characters_are_made_visible() {
        assert_eq!(clean("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        let d = Diagnostic::new("got \x1b]0;owned\x07");
        assert!(!render(&d, false).contains('\x1b'));
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("ACESS_TOKEN", ["ACCESS_TOKEN", "API_KEY"]),
            Some("ACCESS_TOKEN")
        );
        assert_eq!(did_you_mean("zzz", ["ACCESS_TOKEN"]), None);
    }
}
