//! The command line's terminal: progress and diagnostics on stderr, colour only on a terminal
//! and never under `NO_COLOR`, a progress line for runs of many flows.

use dmflow::report::terminal::Terminal;
use dmflow::secret::Redactor;
use std::io::IsTerminal;

/// Whether stderr should get colour.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Progress on stderr.
pub fn terminal(redactor: Redactor, verbose: bool) -> Terminal {
    Terminal::new(
        Box::new(std::io::stderr()),
        stderr_color(),
        redactor,
        verbose,
    )
    .interactive(std::io::stderr().is_terminal())
}

/// A progress line for runs of many flows at once, drawn only on a terminal.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(total: usize, wanted: bool) -> Progress {
        if !wanted || !std::io::stderr().is_terminal() || total < 2 {
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
