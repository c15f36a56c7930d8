//! Why a step could not complete, and how serious that is.

use crate::diagnostic::Pos;
use crate::exit::Category;
use crate::template::TemplateError;

/// Why a step (or the setup of a flow) could not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// A template could not be rendered (undefined variable, bad expression).
    #[error("{error}")]
    Template { error: TemplateError, pos: Pos },
    /// The step's configuration is wrong at run time (a URL that does not parse, ...).
    #[error("{message}")]
    Invalid {
        message: String,
        pos: Option<Pos>,
        help: Option<String>,
    },
    /// No response: connection refused, timeout, TLS.
    #[error("{0}")]
    Network(String),
    /// The provider refused (OAuth errors such as `invalid_grant`, `access_denied`).
    #[error("{message}")]
    Refused {
        message: String,
        help: Option<String>,
    },
    /// Something around the request failed (busy port, callback timeout, a store that cannot
    /// be written).
    #[error("{message}")]
    Runtime {
        message: String,
        help: Option<String>,
    },
    #[error("interrupted (Ctrl-C): nothing more was sent")]
    Interrupted,
}

impl StepError {
    pub fn invalid(message: impl Into<String>, pos: Option<Pos>, help: Option<&str>) -> StepError {
        StepError::Invalid {
            message: message.into(),
            pos,
            help: help.map(str::to_string),
        }
    }

    pub fn runtime(message: impl Into<String>, help: Option<&str>) -> StepError {
        StepError::Runtime {
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    pub fn refused(message: impl Into<String>, help: Option<&str>) -> StepError {
        StepError::Refused {
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    pub fn category(&self) -> Category {
        match self {
            StepError::Template { .. } | StepError::Invalid { .. } => Category::Invalid,
            StepError::Refused { .. } => Category::Failed,
            StepError::Network(_) | StepError::Runtime { .. } => Category::Runtime,
            StepError::Interrupted => Category::Interrupted,
        }
    }

    pub fn message(&self) -> String {
        self.to_string()
    }

    pub fn help(&self) -> Option<String> {
        match self {
            StepError::Invalid { help, .. }
            | StepError::Refused { help, .. }
            | StepError::Runtime { help, .. } => help.clone(),
            StepError::Template {
                error: TemplateError::Undefined { .. },
                ..
            } => Some(
                "define it under `vars:`, save it in an earlier step, pass --var NAME=VALUE, or declare it under `inputs:`"
                    .into(),
            ),
            _ => None,
        }
    }

    pub fn pos(&self) -> Option<Pos> {
        match self {
            StepError::Template { pos, .. } => Some(*pos),
            StepError::Invalid { pos, .. } => *pos,
            _ => None,
        }
        .filter(Pos::is_known)
    }
}

impl From<(TemplateError, Pos)> for StepError {
    fn from((error, pos): (TemplateError, Pos)) -> StepError {
        StepError::Template { error, pos }
    }
}
