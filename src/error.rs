//! The library's errors that are not about a flow file (those are
//! [`Diagnostic`](crate::diagnostic::Diagnostic)s) or a step (those are
//! [`StepError`](crate::run::StepError)s): files that cannot be read or written, the token
//! store, the emulator. Each has a [`Category`], which gives the exit code.

use crate::exit::Category;
use std::path::PathBuf;

/// An error outside flows and steps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// No state directory can be found (no home directory).
    #[error("cannot find a home directory for dmflow's state ({0}); set DMFLOW_STATE_DIR")]
    StateDir(String),
    /// The emulator could not start.
    #[error("{0}")]
    Emulator(String),
    /// An export that cannot be made (no `$GITHUB_ENV` for the github format).
    #[error("{0}")]
    Export(String),
    #[error("cannot write JUnit XML: {0}")]
    Report(String),
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Error::Export(_) => Category::Invalid,
            _ => Category::Runtime,
        }
    }

    /// A file error.
    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }
}
