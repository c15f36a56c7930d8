//! How things end, and the exit codes scripts can rely on (also in `--help` and README.md).
//!
//! Every error of the library has a [`Category`]; [`Category::exit_code`] is the one place that
//! turns it into a process exit code.

/// What kind of ending an error or a result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Everything passed.
    Ok,
    /// A check failed: an `expect:` did not hold, a capture found nothing, or the provider
    /// refused (OAuth errors such as `invalid_grant` or `access_denied`).
    Failed,
    /// The flow or the command line is invalid: YAML, schema, undefined variable, missing input.
    Invalid,
    /// No usable answer: network error, timeout, busy callback port, provider 5xx, a file that
    /// cannot be written.
    Runtime,
    /// Interrupted by Ctrl-C.
    Interrupted,
}

impl Category {
    /// The process exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Category::Ok => 0,
            Category::Failed => 1,
            Category::Invalid => 2,
            Category::Runtime => 3,
            Category::Interrupted => 130,
        }
    }

    /// The category of an exit code (for a child process's code, say).
    pub fn from_exit_code(code: i32) -> Category {
        match code {
            0 => Category::Ok,
            1 => Category::Failed,
            2 => Category::Invalid,
            130 => Category::Interrupted,
            _ => Category::Runtime,
        }
    }
}

/// The most serious of several categories (Ctrl-C > runtime > invalid > failed > ok).
pub fn worst(categories: impl IntoIterator<Item = Category>) -> Category {
    categories.into_iter().max().unwrap_or(Category::Ok)
}

/// The text `--help` shows.
pub const HELP: &str = "Exit codes:
  0    every flow passed
  1    a check failed (expect:, save:, or the provider refused, e.g. invalid_grant)
  2    invalid flow or usage (YAML, unknown field, undefined variable, missing input)
  3    network or runtime error (connection, timeout, busy port, provider 5xx)
  130  interrupted (Ctrl-C)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_serious_wins() {
        assert_eq!(
            worst([Category::Failed, Category::Runtime, Category::Invalid]),
            Category::Runtime
        );
        assert_eq!(worst([]), Category::Ok);
        assert_eq!(
            worst([Category::Runtime, Category::Interrupted]).exit_code(),
            130
        );
    }
}
