//! The one scope parser of the emulator, used by every grant: names separated by spaces and/or
//! commas (the lesson's Express app sends `"email, feed, …"`), trimmed, de-duplicated in order,
//! each one checked against Dailymotion's list (current and legacy). An unknown name is
//! refused the same way everywhere: `invalid_scope`, "Unknown scope `NAME'.".

/// Scopes the emulator knows (Dailymotion's list, current and legacy).
pub const SCOPES: &[&str] = crate::provider::dailymotion::DAILYMOTION.scopes;

/// A requested scope, read: its clean names in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Reads a `scope` parameter; `Err` names the first unknown scope.
    pub fn parse(text: &str) -> Result<Scope, String> {
        let mut names: Vec<String> = Vec::new();
        for name in text.split([' ', ',', '\t', '\n', '\r']).map(str::trim) {
            if name.is_empty() || names.iter().any(|n| n == name) {
                continue;
            }
            if !SCOPES.contains(&name) {
                return Err(name.to_string());
            }
            names.push(name.to_string());
        }
        Ok(Scope(names))
    }

    /// The names, as the token response's `scope` carries them: one space between.
    pub fn joined(&self) -> String {
        self.0.join(" ")
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a granted scope string (space-separated) holds `name`.
    pub fn granted(scope: &str, name: &str) -> bool {
        scope.split(' ').any(|s| s == name)
    }
}

/// The error description for an unknown scope.
pub fn unknown(name: &str) -> String {
    format!("Unknown scope `{name}'.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_commas_separate_and_names_come_out_clean() {
        let scope = Scope::parse("email, userinfo,manage_videos  feed,,email").unwrap();
        assert_eq!(scope.joined(), "email userinfo manage_videos feed");
        assert_eq!(Scope::parse("").unwrap(), Scope::default());
        assert_eq!(Scope::parse("userinfo, bogus"), Err("bogus".to_string()));
        assert!(Scope::granted("userinfo manage_videos", "manage_videos"));
        assert!(!Scope::granted("userinfo manage_videos_x", "manage_videos"));
    }
}
