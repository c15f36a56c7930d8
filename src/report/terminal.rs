//! Live progress for a person: a header per flow, one line per step (name, method, URL,
//! status, time), the API's own error message, failures and errors under it with
//! `file:line:col`, snapshot verdicts and a summary, written to the writer it is given (the
//! command line gives stderr). Colour only when asked; notes hidden when quiet. Everything
//! passes through the redactor.

use crate::diagnostic::{Diagnostic, render};
use crate::flow::model::{Flow, Step};
use crate::run::duration::show as report_duration;
use crate::run::error::StepError;
use crate::run::observer::Observer;
use crate::run::result::{FlowResult, Outcome, StepResult};
use crate::secret::Redactor;
use crate::snapshot::Outcome as Snapshot;
use std::borrow::Cow;
use std::io::Write;
use std::sync::Mutex;

struct Paint(bool);

/// Text in a colour (when colour is on), written where it is formatted: no String of its own.
struct Painted<'t> {
    code: Option<&'static str>,
    text: &'t str,
}

impl std::fmt::Display for Painted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "\x1b[{code}m{}\x1b[0m", self.text),
            None => f.write_str(self.text),
        }
    }
}

impl Paint {
    fn wrap<'t>(&self, code: &'static str, text: &'t str) -> Painted<'t> {
        Painted {
            code: self.0.then_some(code),
            text,
        }
    }
    fn green<'t>(&self, t: &'t str) -> Painted<'t> {
        self.wrap("32", t)
    }
    fn red<'t>(&self, t: &'t str) -> Painted<'t> {
        self.wrap("31", t)
    }
    fn yellow<'t>(&self, t: &'t str) -> Painted<'t> {
        self.wrap("33", t)
    }
    fn dim<'t>(&self, t: &'t str) -> Painted<'t> {
        self.wrap("2", t)
    }
    fn bold<'t>(&self, t: &'t str) -> Painted<'t> {
        self.wrap("1", t)
    }
}

/// A writer whose bytes can be taken later (a flow's output while others run).
#[derive(Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    pub fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Largest body `-v` prints, in characters.
const VERBOSE_BODY: usize = 4000;

/// Writes progress to stderr (or to a buffer, for tests and parallel runs).
pub struct Terminal {
    paint: Paint,
    verbose: bool,
    redactor: Redactor,
    out: Mutex<Box<dyn Write + Send>>,
    /// Writing to a real terminal: spinners are allowed.
    interactive: bool,
    /// How many flows are running inside each other (a sub-flow's lines are indented).
    depth: std::sync::atomic::AtomicUsize,
    /// `--quiet`: notes are not shown.
    quiet: bool,
    spinner: Mutex<Option<indicatif::ProgressBar>>,
}

impl Terminal {
    pub fn new(
        out: Box<dyn Write + Send>,
        color: bool,
        redactor: Redactor,
        verbose: bool,
    ) -> Terminal {
        Terminal {
            paint: Paint(color),
            verbose,
            redactor,
            out: Mutex::new(out),
            interactive: false,
            depth: Default::default(),
            quiet: false,
            spinner: Mutex::new(None),
        }
    }

    /// Whether notes (information, not problems) are left out.
    pub fn quiet(mut self, yes: bool) -> Terminal {
        self.quiet = yes;
        self
    }

    /// Whether `out` is a terminal a spinner may draw on.
    pub fn interactive(mut self, yes: bool) -> Terminal {
        self.interactive = yes;
        self
    }

    /// The one way out to the terminal: masked, then cleaned of anything that could act on
    /// the terminal (see [`for_terminal`]), and flushed (with any step lines still waiting).
    fn write(&self, text: &str) {
        self.emit(text, true);
    }

    /// [`Terminal::write`]; a step's lines are not flushed, so a writer that holds them
    /// ([`super::deferred::DeferredStderr`]) writes them in batches.
    fn emit(&self, text: &str, flush: bool) {
        let masked = self.redactor.masked(text);
        let masked = for_terminal(&masked, self.paint.0);
        let depth = self.depth.load(std::sync::atomic::Ordering::Relaxed);
        let masked = if depth > 1 {
            Cow::Owned(indent(&masked, &"  ".repeat(depth - 1)))
        } else {
            masked
        };
        let spinner = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let mut emit = || {
            let _ = out.write_all(masked.as_bytes());
            if flush {
                let _ = out.flush();
            }
        };
        match spinner.as_ref() {
            Some(bar) => bar.suspend(emit),
            None => emit(),
        }
    }

    /// A line of information (order of flows, a snapshot written); not when quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.notice(text);
        }
    }

    /// A line of information that belongs to the summary (timings): shown even when quiet.
    pub fn notice(&self, text: &str) {
        self.write(&format!("{} {text}\n", self.paint.dim("note:")));
    }

    /// A warning, shown even when quiet.
    pub fn warning(&self, text: &str) {
        self.write(&format!("{} {text}\n", self.paint.yellow("warning:")));
    }

    /// A flow's snapshot verdict: a note when one was written, the diff when it differs.
    pub fn snapshot(&self, flow: &str, verdict: &Snapshot) {
        let failed = |what: &str| {
            format!(
                "{} {} {what}\n",
                self.paint.red("✗"),
                self.paint.bold(&format!("snapshot of {flow}"))
            )
        };
        match verdict {
            Snapshot::Matched(_) => {}
            Snapshot::Written(path) => self.note(&format!("wrote the snapshot {}", path.display())),
            Snapshot::Differs { path, diff } => {
                let mut text = failed(&format!(
                    "{} differs from this run (- snapshot, + this run):",
                    path.display()
                ));
                for line in diff.lines() {
                    let painted = match line.as_bytes().first() {
                        Some(b'-') => self.paint.red(line),
                        Some(b'+') => self.paint.green(line),
                        Some(b'@') => self.paint.dim(line),
                        _ => Painted {
                            code: None,
                            text: line,
                        },
                    };
                    text.push_str(&format!("{painted}\n"));
                }
                self.write(&text);
            }
            Snapshot::Missing(path) => self.write(&failed(&format!(
                "no snapshot at {} (CI=true: not writing it; run dmflow test --update)",
                path.display()
            ))),
        }
    }

    /// Text printed as it is (after masking): a finished flow's buffered output, a diff.
    pub fn raw(&self, text: &str) {
        self.write(text);
    }

    /// Prints a diagnostic (an invalid flow, a problem from `check`).
    pub fn diagnostic(&self, diag: &Diagnostic) {
        self.write(&render(diag, self.paint.0));
    }

    fn step_line(&self, result: &StepResult) -> String {
        use std::fmt::Write as _;
        let mark = match result.outcome() {
            Outcome::Passed => self.paint.green("✓"),
            Outcome::Failed => self.paint.red("✗"),
            Outcome::Errored => self.paint.red("!"),
            Outcome::Skipped => self.paint.dim("-"),
        };
        // Written in place, one String a step: this runs for every step, even under --quiet.
        let mut line = String::with_capacity(96);
        let _ = write!(line, "  {mark} {}", self.paint.bold(&result.name));
        if let Some(exchange) = result.exchanges.last() {
            let status = exchange.response.status;
            let status_text = status.to_string();
            let painted = if status < 400 {
                self.paint.green(&status_text)
            } else {
                self.paint.yellow(&status_text)
            };
            let _ = write!(
                line,
                "  {} {}  {painted}",
                exchange.request.method, exchange.request.url
            );
        } else if let Some(reason) = &result.skipped {
            let _ = write!(line, "  {}", self.paint.dim(&format!("skipped ({reason})")));
        } else if !result.iterations.is_empty() {
            let count = result.iterations.len();
            let _ = write!(
                line,
                "  {}",
                self.paint.dim(&format!(
                    "{} × {count} item{}",
                    result.kind,
                    if count == 1 { "" } else { "s" }
                ))
            );
        } else {
            let _ = write!(line, "  {}", self.paint.dim(result.kind));
        }
        let _ = writeln!(
            line,
            "  {}",
            self.paint.dim(&report_duration(result.duration))
        );
        line
    }

    fn verbose_exchanges(&self, result: &StepResult) -> String {
        let mut out = String::new();
        for exchange in &result.exchanges {
            let request = &exchange.request;
            out.push_str(&format!("      > {} {}\n", request.method, request.url));
            for (name, value) in &request.headers {
                out.push_str(&format!(
                    "      > {name}: {}\n",
                    self.redactor.mask_header(name, value)
                ));
            }
            if let Some(body) = request.body_text() {
                out.push_str(&format!("      > {}\n", clip(&body)));
            }
            let response = &exchange.response;
            out.push_str(&format!(
                "      < {} ({})\n",
                response.status,
                report_duration(response.elapsed)
            ));
            for (name, value) in &response.headers {
                out.push_str(&format!(
                    "      < {name}: {}\n",
                    self.redactor.mask_header(name, value)
                ));
            }
            if !response.body.is_empty() {
                out.push_str(&format!("      < {}\n", clip(&response.body)));
            }
        }
        out
    }

    fn error_text(&self, flow: &Flow, error: &StepError, step: Option<&str>) -> String {
        let context = step.map(|s| format!("step `{s}`: ")).unwrap_or_default();
        let mut diag =
            Diagnostic::new(format!("{context}{}", error.message())).help_opt(error.help());
        if let Some(pos) = error.pos().filter(|p| p.line > 0) {
            diag = diag.at(&flow.source, pos).label("here");
        }
        indent(&render(&diag, self.paint.0), "    ")
    }

    /// The closing summary of a run; `verdicts` are the snapshot verdicts of `dmflow test`, by
    /// result (a flow whose snapshot failed counts as failed).
    pub fn summary(&self, results: &[FlowResult], verdicts: &[Option<Snapshot>]) {
        let outcomes: Vec<Outcome> = results
            .iter()
            .enumerate()
            .map(|(i, r)| crate::snapshot::outcome(r, verdicts.get(i).and_then(Option::as_ref)))
            .collect();
        let count = |o: Outcome| outcomes.iter().filter(|x| **x == o).count();
        let steps: usize = results.iter().map(|r| r.steps.len()).sum();
        let total: std::time::Duration = results.iter().map(|r| r.duration).sum();
        let (passed, failed, errored) = (
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Errored),
        );
        let flows = if results.len() == 1 { "flow" } else { "flows" };
        let mut parts = vec![self.paint.green(&format!("{passed} passed")).to_string()];
        if failed > 0 {
            parts.push(self.paint.red(&format!("{failed} failed")).to_string());
        }
        if errored > 0 {
            parts.push(self.paint.red(&format!("{errored} errored")).to_string());
        }
        self.write(&format!(
            "{} {flows}: {}  ({steps} step{}, {})\n",
            results.len(),
            parts.join(", "),
            if steps == 1 { "" } else { "s" },
            report_duration(total)
        ));
    }

    /// Lines shown after a flow (setup errors, skipped steps, outputs).
    pub fn flow_finished(&self, flow: &Flow, result: &FlowResult) {
        let mut text = String::new();
        if let Some(error) = &result.setup_error {
            text.push_str(&self.error_text(flow, error, None));
        }
        if !result.skipped.is_empty() && result.setup_error.is_none() {
            text.push_str(&format!(
                "    {}\n",
                self.paint
                    .dim(&format!("skipped: {}", result.skipped.join(", ")))
            ));
        }
        if !result.outputs.is_empty() && result.outcome() == Outcome::Passed {
            let names: Vec<&str> = result.outputs.keys().map(String::as_str).collect();
            text.push_str(&format!(
                "    {}\n",
                self.paint.dim(&format!("outputs: {}", names.join(", ")))
            ));
        }
        if !text.is_empty() {
            self.write(&text);
        }
    }
}

impl Observer for Terminal {
    fn flow_started(&self, flow: &Flow) {
        let nested = self.depth.load(std::sync::atomic::Ordering::Relaxed) > 0;
        self.write(&format!(
            "{}{} {}\n",
            if nested { "  ↳ " } else { "" },
            self.paint.bold(&flow.name),
            self.paint.dim(&flow.source.name)
        ));
        self.depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn flow_ended(&self, _flow: &Flow, _result: &FlowResult) {
        self.depth
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn note(&self, _flow: &Flow, note: &str) {
        self.write(&format!("    {} {note}\n", self.paint.dim("·")));
    }

    fn wait_started(&self, _flow: &Flow, message: &str) {
        if !self.interactive {
            return;
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(for_terminal(&self.redactor.mask(message), false).into_owned());
        if let Ok(style) = indicatif::ProgressStyle::with_template("    {spinner} {msg}  {elapsed}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        *self.spinner.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn progress(&self, _flow: &Flow, label: &str, done: u64, total: Option<u64>) {
        if !self.interactive {
            return;
        }
        let mut slot = self.spinner.lock().unwrap_or_else(|e| e.into_inner());
        let bar = slot.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
            let template = "    {msg}  {bytes}/{total_bytes}  {bytes_per_sec}  {wide_bar}  {eta}";
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message(for_terminal(&self.redactor.mask(label), false).into_owned());
            bar
        });
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    }

    fn progress_finished(&self, flow: &Flow) {
        self.wait_finished(flow);
    }

    fn wait_finished(&self, _flow: &Flow) {
        if let Some(bar) = self
            .spinner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            bar.finish_and_clear();
        }
    }

    fn step_finished(&self, flow: &Flow, step: Option<&Step>, result: &StepResult) {
        self.emit(&self.step_text(flow, step, result), false);
    }
}

impl Terminal {
    /// A step's lines: its line, notes, failures and error, then its loop's items.
    fn step_text(&self, flow: &Flow, step: Option<&Step>, result: &StepResult) -> String {
        let mut text = self.step_line(result);
        for note in &result.notes {
            text.push_str(&format!("    {} {note}\n", self.paint.dim("·")));
        }
        if let Some((who, message)) = api_message(result) {
            text.push_str(&format!(
                "      {} {}\n",
                self.paint.yellow(&format!("{who} said:")),
                crate::diagnostic::clean(&message)
            ));
        }
        if self.verbose {
            text.push_str(&self.verbose_exchanges(result));
            for (name, value) in &result.saved {
                text.push_str(&format!(
                    "      saved {name} = {}\n",
                    clip(&value.to_string())
                ));
            }
        }
        for failure in &result.failures {
            let location = if failure.pos.line > 0 {
                format!(
                    "{}:{}:{}",
                    flow.source.name, failure.pos.line, failure.pos.col
                )
            } else if let Some(step) = step {
                format!("{}:{}:{}", flow.source.name, step.pos.line, step.pos.col)
            } else {
                flow.source.name.clone()
            };
            text.push_str(&format!(
                "      {} {}: {}\n        {} {location}\n",
                self.paint.red("expected"),
                failure.subject,
                failure.message,
                self.paint.dim("-->")
            ));
        }
        if let Some(error) = &result.error {
            text.push_str(&self.error_text(flow, error, Some(&result.name)));
        }
        let mut items = result.iterations.iter().enumerate().peekable();
        while let Some((first, item)) = items.next() {
            // A run of items skipped for the same reason takes one line.
            let mut last = first;
            if let Some(reason) = &item.skipped {
                while let Some((next, _)) =
                    items.next_if(|(_, other)| other.skipped.as_ref() == Some(reason))
                {
                    last = next;
                }
            }
            if last > first {
                let line = format!(
                    "  - {}[{first}..={last}]  {}\n",
                    step_base_name(&item.name),
                    self.paint.dim(&format!(
                        "{} items skipped ({})",
                        last - first + 1,
                        item.skipped.as_deref().unwrap_or_default()
                    ))
                );
                text.push_str(&indent(&line, "  "));
            } else {
                text.push_str(&indent(&self.step_text(flow, step, item), "  "));
            }
        }
        text
    }
}

/// `text` made safe for a terminal, whoever wrote it (a server's body, header or error message
/// included): every control character becomes a visible escape ([`crate::diagnostic::clean`]),
/// except, when colour is on, the colour sequences dmflow itself writes (SGR with the
/// parameters below: reset, bold, dim, italic, underline and the 16 foreground colours),
/// which can only colour text, never move the cursor, clear the screen, set a title or hide.
fn for_terminal(text: &str, colour: bool) -> Cow<'_, str> {
    if !colour {
        return crate::diagnostic::cleaned(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&crate::diagnostic::clean(&rest[..at]));
        let tail = &rest[at..];
        match colour_sequence(tail) {
            Some(len) => {
                out.push_str(&tail[..len]);
                rest = &tail[len..];
            }
            None => {
                out.push_str(&crate::diagnostic::clean("\x1b"));
                rest = &tail[1..];
            }
        }
    }
    out.push_str(&crate::diagnostic::clean(rest));
    Cow::Owned(out)
}

/// The length of the colour sequence `text` starts with, if it starts with one dmflow writes:
/// `ESC [ n;n... m` with each `n` a harmless SGR parameter.
fn colour_sequence(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let end = body.find('m')?;
    let params = &body[..end];
    let harmless = |p: &str| {
        (1..=2).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && matches!(
                p.parse::<u8>(),
                Ok(0..=4 | 22..=24 | 30..=37 | 39 | 90..=97)
            )
    };
    (params.is_empty() || params.split(';').all(harmless)).then_some(2 + end + 1)
}

/// `details` of an item named `details[3]`.
fn step_base_name(name: &str) -> &str {
    name.rsplit_once('[').map_or(name, |(base, _)| base)
}

/// JSON pointers where APIs without a provider profile usually put an error's message.
const USUAL_ERROR_MESSAGES: &[&str] =
    &["/error/message", "/error_description", "/message", "/error"];

/// The API's own message for a step that did not pass on an error status (Dailymotion's
/// `{"error": {"message": ...}}`, OAuth's `error_description`...), with who said it, unless the
/// step's error already quotes it. Raw: the caller masks and cleans it.
pub fn api_message(result: &StepResult) -> Option<(String, String)> {
    if result.outcome() == Outcome::Passed {
        return None;
    }
    let exchange = result.exchanges.last()?;
    if exchange.response.status < 400 {
        return None;
    }
    let json = exchange.response.json()?;
    let provider = crate::provider::for_text(&exchange.request.url);
    let message = provider
        .map(|p| p.error_message_pointer)
        .into_iter()
        .chain(USUAL_ERROR_MESSAGES.iter().copied())
        .find_map(|pointer| {
            json.pointer(pointer)?
                .as_str()
                .map(str::trim)
                .filter(|m| !m.is_empty())
        })?;
    if result
        .error
        .as_ref()
        .is_some_and(|e| e.message().contains(message))
    {
        return None;
    }
    let who = provider.map(|p| p.name).unwrap_or("the server");
    Some((who.to_string(), message.to_string()))
}

fn clip(text: &str) -> String {
    let one_line = text.replace('\n', "\n        ");
    if one_line.chars().count() > VERBOSE_BODY {
        let cut: String = one_line.chars().take(VERBOSE_BODY).collect();
        format!("{cut}… ({} characters in all)", text.chars().count())
    } else {
        one_line
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("{prefix}{l}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmflows_own_colours_pass_and_nothing_else_does() {
        let paint = Paint(true);
        let ours = format!(
            "{} {} {} {} {}",
            paint.red("✗"),
            paint.green("✓"),
            paint.yellow("403"),
            paint.dim("note"),
            paint.bold("step")
        );
        assert_eq!(for_terminal(&ours, true), ours);
        let rendered = render(
            &Diagnostic::new("boom")
                .at(
                    &crate::diagnostic::Source::new("f.yaml", "a: b\n"),
                    crate::diagnostic::Pos::new(1, 1, 1),
                )
                .label("here")
                .help("do this"),
            true,
        );
        assert!(rendered.contains('\x1b'), "the renderer colours");
        assert_eq!(for_terminal(&rendered, true), rendered);
        assert_eq!(for_terminal("\x1b[1;91mred", true), "\x1b[1;91mred");

        for (hostile, shown) in [
            ("\x1b[2J", r"\u{1b}[2J"),
            ("\x1b]0;title\x07", r"\u{1b}]0;title\u{7}"),
            ("\x1b[8mhidden", r"\u{1b}[8mhidden"),
            ("\x1b[38;5;1m", r"\u{1b}[38;5;1m"),
            ("\x1b[+1m", r"\u{1b}[+1m"),
            ("\x1b[1;8m", r"\u{1b}[1;8m"),
            ("\x1b[3A", r"\u{1b}[3A"),
            ("\x1b", r"\u{1b}"),
        ] {
            assert_eq!(for_terminal(hostile, true), shown, "{hostile:?}");
        }
        assert_eq!(
            for_terminal("\x1b[31m", false),
            r"\u{1b}[31m",
            "no colour: all escaped"
        );
    }

    #[test]
    fn everything_written_goes_through_the_cleaning() {
        let buffer = SharedBuffer::default();
        let terminal = Terminal::new(Box::new(buffer.clone()), true, Redactor::new(false), false);
        terminal.warning("server said \x1b]0;owned\x07 and \u{9b}2J\rover");
        terminal.raw("\x08\x08 \u{202e}");
        let written = buffer.take();
        assert!(
            written.contains(r"\u{1b}]0;owned\u{7} and \u{9b}2J\rover"),
            "{written:?}"
        );
        assert!(written.contains(r"\u{8}\u{8} \u{202e}"), "{written:?}");
        assert!(
            written.starts_with("\x1b[33mwarning:\x1b[0m"),
            "{written:?}"
        );
    }
}
