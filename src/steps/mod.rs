//! The step kinds, one file each, and the registry that names them. Adding a kind is one file
//! implementing [`StepKind`] and one line in [`Registry::builtin`] (or one `.with(&Kind)` in a
//! program that embeds dmflow); the engine does not change.

pub mod authorize;
pub mod callback;
pub mod echo;
pub mod files;
pub mod http;
pub mod refresh;
pub mod token;

use crate::run::kind::StepKind;

/// The step kinds a flow may use, by YAML key.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<&'static dyn StepKind>,
}

impl Registry {
    /// dmflow's own kinds.
    pub fn builtin() -> Registry {
        Registry {
            kinds: vec![
                &http::Http,
                &authorize::Authorize,
                &callback::Callback,
                &token::Token,
                &refresh::Refresh,
                &echo::Echo,
            ],
        }
    }

    /// This registry with one more kind.
    pub fn with(mut self, kind: &'static dyn StepKind) -> Registry {
        self.kinds.push(kind);
        self
    }

    pub fn get(&self, name: &str) -> Option<&'static dyn StepKind> {
        self.kinds.iter().copied().find(|k| k.name() == name)
    }

    /// The kinds, in the order they were added.
    pub fn kinds(&self) -> impl Iterator<Item = &'static dyn StepKind> + '_ {
        self.kinds.iter().copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::builtin()
    }
}
