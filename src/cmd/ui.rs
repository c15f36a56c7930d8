//! The command line's terminal: progress and diagnostics on stderr, colour as `--color` says
//! (auto: only on a terminal, never under `NO_COLOR` or `TERM=dumb`, always under
//! `CLICOLOR_FORCE`), `--quiet`, and a progress line for runs of many flows.

use crate::cli::{ColorChoice, OutputArgs};
use dmflow::report::deferred::DeferredStderr;
use dmflow::report::terminal::Terminal;
use dmflow::secret::Redactor;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// The process's output settings, decided once from the command line and the environment.
#[derive(Debug, Clone, Copy)]
struct Settings {
    color: bool,
    quiet: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Decides colour and quietness for the whole process (the first call wins).
pub fn init(args: &OutputArgs) {
    let color = decide_color(
        args.color,
        |name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()),
        std::io::stderr().is_terminal(),
    );
    let _ = SETTINGS.set(Settings {
        color,
        quiet: args.quiet,
    });
}

fn settings() -> Settings {
    *SETTINGS.get_or_init(|| Settings {
        color: false,
        quiet: false,
    })
}

/// `--color WHEN` with the environment's conventions: an explicit `always`/`never` wins; in
/// `auto`, a non-empty `NO_COLOR` turns colour off, then `CLICOLOR_FORCE` (not `0`) turns it
/// on, then `TERM=dumb` turns it off, else colour goes to a terminal only.
pub fn decide_color(
    choice: ColorChoice,
    var: impl Fn(&str) -> Option<String>,
    is_terminal: bool,
) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.is_empty());
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto
            if set("CLICOLOR_FORCE") && var("CLICOLOR_FORCE").as_deref() != Some("0") =>
        {
            true
        }
        ColorChoice::Auto if var("TERM").as_deref() == Some("dumb") => false,
        ColorChoice::Auto => is_terminal,
    }
}

/// Whether stderr gets colour.
pub fn stderr_color() -> bool {
    settings().color
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    settings().quiet
}

/// A note for a person on stderr (not under `--quiet`).
pub fn note(text: &str) {
    if !quiet() {
        dmflow::report::deferred::flush();
        eprintln!("{text}");
    }
}

/// Progress on stderr. When stderr is not a terminal, step lines are written in batches
/// (see [`dmflow::report::deferred`]).
pub fn terminal(redactor: Redactor, verbose: bool) -> Terminal {
    let interactive = std::io::stderr().is_terminal();
    let out: Box<dyn std::io::Write + Send> = match interactive {
        true => Box::new(std::io::stderr()),
        false => Box::new(DeferredStderr),
    };
    Terminal::new(out, stderr_color(), redactor, verbose)
        .interactive(interactive)
        .quiet(quiet())
}

/// A progress line for runs of many flows at once, drawn only on a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(total: usize, wanted: bool) -> Progress {
        if !wanted || quiet() || !std::io::stderr().is_terminal() || total < 2 {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        let style =
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} flows  {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress(Some(bar))
    }

    pub fn suspend(&self, f: impl FnOnce()) {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    pub fn advance(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn auto_follows_the_conventions() {
        use ColorChoice::*;
        assert!(decide_color(Auto, env(&[]), true));
        assert!(!decide_color(Auto, env(&[]), false));
        assert!(!decide_color(Auto, env(&[("NO_COLOR", "1")]), true));
        assert!(
            decide_color(Auto, env(&[("NO_COLOR", "")]), true),
            "empty NO_COLOR is unset"
        );
        assert!(decide_color(Auto, env(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!decide_color(Auto, env(&[("CLICOLOR_FORCE", "0")]), false));
        assert!(
            !decide_color(
                Auto,
                env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
                true
            ),
            "NO_COLOR wins over CLICOLOR_FORCE"
        );
        assert!(!decide_color(Auto, env(&[("TERM", "dumb")]), true));
        assert!(decide_color(
            Auto,
            env(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]),
            false
        ));
    }

    #[test]
    fn an_explicit_choice_wins_over_the_environment() {
        assert!(decide_color(
            ColorChoice::Always,
            env(&[("NO_COLOR", "1")]),
            false
        ));
        assert!(!decide_color(
            ColorChoice::Never,
            env(&[("CLICOLOR_FORCE", "1")]),
            true
        ));
    }
}
