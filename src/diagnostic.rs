//! One place that turns any problem in a flow file into what the user reads: the message,
//! `file:line:col`, the source line with a caret under the culprit, and a hint.
//!
//! Layers report [`Diagnostic`]s (a message, an optional position in a [`Source`], a label and
//! a help line); [`render`] draws them once, at the edge, through miette.

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
    pub fn offset(&self, line: usize, col: usize) -> usize {
        let mut offset = 0;
        for (index, text_line) in self.text.split_inclusive('\n').enumerate() {
            if index + 1 == line {
                let within: usize = text_line
                    .char_indices()
                    .nth(col.saturating_sub(1))
                    .map(|(i, _)| i)
                    .unwrap_or(text_line.trim_end_matches('\n').len());
                return offset + within;
            }
            offset += text_line.len();
        }
        self.text.len()
    }
}

/// A position in a source: 1-based line and column, and a length in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
    pub len: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize, len: usize) -> Pos {
        Pos { line, col, len }
    }

    pub fn from_location(loc: &serde_saphyr::Location) -> Pos {
        Pos {
            line: loc.line() as usize,
            col: loc.column() as usize,
            len: (loc.span().len() as usize).max(1),
        }
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

    pub fn at(mut self, source: &Arc<Source>, pos: Pos) -> Diagnostic {
        self.source = Some(source.clone());
        self.pos = Some(pos);
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

/// The miette view of a [`Diagnostic`].
struct Report<'a> {
    diag: &'a Diagnostic,
    named: Option<miette::NamedSource<String>>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.named.as_ref().map(|n| n as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let (src, pos) = (self.diag.source.as_ref()?, self.diag.pos?);
        let start = src.offset(pos.line, pos.col);
        let end = src.offset(pos.line, pos.col + pos.len).max(start + 1);
        let end = end.min(src.text.len());
        let len = end.saturating_sub(start);
        let label = self.diag.label.clone();
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            label, start, len,
        ))))
    }
}

/// Renders a diagnostic for a terminal: colour only when asked, ASCII carets otherwise.
pub fn render(diag: &Diagnostic, color: bool) -> String {
    let named = match (&diag.source, diag.pos) {
        (Some(src), Some(_)) => {
            Some(miette::NamedSource::new(src.name.clone(), src.text.clone()).with_language("yaml"))
        }
        _ => None,
    };
    let report = Report { diag, named };
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme {
            characters: miette::ThemeCharacters::ascii(),
            styles: miette::ThemeStyles::none(),
        }
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .with_width(200)
        .with_wrap_lines(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!("error: {diag}\n");
    }
    if diag.pos.is_none()
        && let Some(loc) = diag.location()
    {
        out = format!("{}  in {loc}\n", out.trim_end_matches('\n')) + "\n";
    }
    out
}

/// Closest candidate to `name` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

impl Source {
    /// The position of a byte offset (1-based line and character column).
    pub fn pos_at(&self, offset: usize, len: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        Pos::new(line, col, len)
    }

    /// Narrows a position to the first occurrence of `needle` at or after it (within a few
    /// lines), so a caret can sit under a variable inside a longer template.
    pub fn find_from(&self, pos: Pos, needle: &str) -> Pos {
        let start = self.offset(pos.line, pos.col);
        let window_end = (start + 4096).min(self.text.len());
        let Some(window) = self.text.get(start..window_end) else {
            return pos;
        };
        match window.find(needle) {
            Some(found) => self.pos_at(start + found, needle.chars().count()),
            None => pos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        let src = Source::new("f", "ab\nçd: x\n");
        assert_eq!(src.offset(1, 1), 0);
        assert_eq!(src.offset(2, 1), 3);
        assert_eq!(src.offset(2, 2), 5);
        assert_eq!(src.offset(9, 1), src.text.len());
    }

    #[test]
    fn renders_location_caret_and_help() {
        let src = Source::new("flows/a.yaml", "name: a\nsteps:\n  - nme: x\n");
        let d = Diagnostic::new("unknown field `nme`")
            .at(&src, Pos::new(3, 5, 3))
            .label("not a step field")
            .help("did you mean `name`?");
        let out = render(&d, false);
        assert!(out.contains("flows/a.yaml:3:5"), "{out}");
        assert!(out.contains("^"), "{out}");
        assert!(!out.contains('\x1b'), "no colour when not asked: {out}");
        assert!(out.contains("did you mean `name`?"), "{out}");
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
