//! The template language: minijinja with `<< expr >>`, `<% block %>` and `<# comment #>`.
//!
//! Templates live in the string leaves of a flow and are rendered after parsing, so YAML
//! errors always point into the file the user wrote. Undefined variables are errors (strict
//! undefined); we look them up ourselves before rendering so the error names the variable.
//! A leaf that is exactly one `<< expr >>` keeps the expression's JSON type: `<< 2 + 3 >>`
//! gives the number 5, `<< user >>` gives the whole captured object.

use crate::secret::{Redactor, is_secret_name};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use indexmap::IndexMap;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The names of the functions dmflow adds; they are not variables.
pub const FUNCTIONS: &[&str] = &["env", "uuid", "now"];

/// Variables visible to a template: name → JSON value.
pub type Vars = IndexMap<String, serde_json::Value>;

/// What went wrong rendering one template.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// A variable the template uses is not defined.
    Undefined { name: String },
    /// The template itself is malformed, or an expression failed (`line` is 1-based within the
    /// template text).
    Invalid {
        message: String,
        line: Option<usize>,
    },
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Undefined { name } => write!(f, "undefined variable `{name}`"),
            TemplateError::Invalid { message, .. } => f.write_str(message),
        }
    }
}

/// Where `env()` looks: the process environment first, then the `--env-file` entries.
#[derive(Debug, Default, Clone)]
pub struct EnvLookup {
    pub env_file: Arc<IndexMap<String, String>>,
}

impl EnvLookup {
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.env_file.get(name).cloned())
    }
}

/// The configured minijinja environment of one run.
pub struct Templates {
    env: Environment<'static>,
}

fn syntax() -> SyntaxConfig {
    SyntaxConfig::builder()
        .variable_delimiters("<<", ">>")
        .block_delimiters("<%", "%>")
        .comment_delimiters("<#", "#>")
        .keep_trailing_newline(true)
        .build()
        .expect("dmflow's delimiters are valid")
}

impl Templates {
    pub fn new(lookup: EnvLookup, redactor: Redactor) -> Templates {
        let mut env = Environment::new();
        env.set_syntax(syntax());
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        env.add_function(
            "env",
            move |name: String, default: Option<String>| -> Result<String, Error> {
                match lookup.get(&name).or(default) {
                    Some(value) => {
                        if is_secret_name(&name) {
                            redactor.add(&name, &value);
                        }
                        Ok(value)
                    }
                    None => Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!(
                            "environment variable `{name}` is not set (set it, put it in an --env-file, or give env() a default: env(\"{name}\", \"...\"))"
                        ),
                    )),
                }
            },
        );
        env.add_function("uuid", || uuid::Uuid::new_v4().to_string());
        env.add_function("now", |format: Option<String>| -> Result<Value, Error> {
            let now = jiff::Timestamp::now();
            match format.as_deref() {
                None | Some("iso") => Ok(Value::from(now.to_string())),
                Some("unix") => Ok(Value::from(now.as_second())),
                Some("unix_ms") => Ok(Value::from(now.as_millisecond())),
                Some(other) => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("now() takes \"iso\", \"unix\" or \"unix_ms\", not \"{other}\""),
                )),
            }
        });
        env.add_filter("b64encode", |s: String| STANDARD.encode(s));
        env.add_filter("b64url", |s: String| URL_SAFE_NO_PAD.encode(s));
        env.add_filter("b64decode", |s: String| -> Result<String, Error> {
            let bytes = STANDARD
                .decode(s.trim())
                .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim().trim_end_matches('=')))
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("b64decode: {e}")))?;
            String::from_utf8(bytes)
                .map_err(|_| Error::new(ErrorKind::InvalidOperation, "b64decode: not UTF-8 text"))
        });
        Templates { env }
    }

    /// Whether `text` contains template syntax at all (plain strings skip the engine).
    pub fn is_template(text: &str) -> bool {
        text.contains("<<") || text.contains("<%") || text.contains("<#")
    }

    /// The free variables `text` uses, minus dmflow's functions. Errors on bad syntax.
    pub fn variables(&self, text: &str) -> Result<BTreeSet<String>, TemplateError> {
        if !Self::is_template(text) {
            return Ok(BTreeSet::new());
        }
        let template = self.env.template_from_str(text).map_err(invalid)?;
        Ok(template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !FUNCTIONS.contains(&name.as_str()))
            .collect())
    }

    fn check_defined(&self, text: &str, vars: &Vars) -> Result<(), TemplateError> {
        for name in self.variables(text)? {
            if !vars.contains_key(&name) {
                return Err(TemplateError::Undefined { name });
            }
        }
        Ok(())
    }

    /// Renders `text` to a string.
    pub fn render(&self, text: &str, vars: &Vars) -> Result<String, TemplateError> {
        if !Self::is_template(text) {
            return Ok(text.to_string());
        }
        self.check_defined(text, vars)?;
        self.env
            .render_str(text, Value::from(minijinja::value::Serde(vars)))
            .map_err(invalid)
    }

    /// Renders a leaf keeping its JSON type when the leaf is exactly one `<< expr >>`.
    pub fn render_value(
        &self,
        text: &str,
        vars: &Vars,
    ) -> Result<serde_json::Value, TemplateError> {
        if let Some(expr) = single_expression(text) {
            self.check_defined(text, vars)?;
            let compiled = self.env.compile_expression(expr).map_err(invalid)?;
            let value = compiled
                .eval(Value::from(minijinja::value::Serde(vars)))
                .map_err(invalid)?;
            if value.is_undefined() {
                return Err(TemplateError::Invalid {
                    message: format!("`{}` is undefined", expr.trim()),
                    line: None,
                });
            }
            return serde_json::to_value(&value).map_err(|e| TemplateError::Invalid {
                message: format!("cannot use this value in a flow: {e}"),
                line: None,
            });
        }
        self.render(text, vars).map(serde_json::Value::String)
    }
}

/// `<< expr >>` with nothing else around it: the inner expression.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("<<")?.strip_suffix(">>")?;
    (!inner.contains("<<") && !inner.contains(">>") && !inner.contains("<%")).then_some(inner)
}

fn invalid(err: Error) -> TemplateError {
    let mut message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    if err.kind() == ErrorKind::InvalidOperation
        && let Some(detail) = err.detail()
    {
        message = detail.to_string();
    }
    TemplateError::Invalid {
        message,
        line: err.line(),
    }
}

/// Text of a JSON value as it appears inside a string (strings without quotes).
pub fn value_to_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Templates {
        let mut file = IndexMap::new();
        file.insert("FROM_FILE".to_string(), "filed".to_string());
        Templates::new(
            EnvLookup {
                env_file: Arc::new(file),
            },
            Redactor::new(false),
        )
    }

    fn vars(v: serde_json::Value) -> Vars {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn renders_with_angle_delimiters() {
        let t = templates();
        let v = vars(json!({"api": "http://x", "n": 3}));
        assert_eq!(
            t.render("<<api>>/me?n=<<n>>", &v).unwrap(),
            "http://x/me?n=3"
        );
        assert_eq!(
            t.render("<% if n > 2 %>big<% endif %><# note #>", &v)
                .unwrap(),
            "big"
        );
        assert_eq!(t.render("{{ api }}", &v).unwrap(), "{{ api }}");
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let t = templates();
        let v = vars(json!({"n": 3, "user": {"id": "x1"}}));
        assert_eq!(t.render_value("<< n >>", &v).unwrap(), json!(3));
        assert_eq!(t.render_value("<<user>>", &v).unwrap(), json!({"id": "x1"}));
        assert_eq!(t.render_value("<<n>>px", &v).unwrap(), json!("3px"));
        assert_eq!(t.render_value("plain", &v).unwrap(), json!("plain"));
    }

    #[test]
    fn undefined_variables_are_named() {
        let t = templates();
        let err = t
            .render("Bearer <<ACESS_TOKEN>>", &Vars::new())
            .unwrap_err();
        assert_eq!(
            err,
            TemplateError::Undefined {
                name: "ACESS_TOKEN".into()
            }
        );
    }

    #[test]
    fn variables_ignores_functions_and_locals() {
        let t = templates();
        let names = t
            .variables("<<env('X')>> <% for i in items %><<i>><% endfor %> <<uuid()>> <<a.b>>")
            .unwrap();
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["a", "items"]);
    }

    #[test]
    fn filters_and_functions() {
        let t = templates();
        let v = Vars::new();
        assert_eq!(t.render("<<'a:b'|b64encode>>", &v).unwrap(), "YTpi");
        assert_eq!(t.render("<<'??>'|b64url>>", &v).unwrap(), "Pz8-");
        assert_eq!(t.render("<<'YTpi'|b64decode>>", &v).unwrap(), "a:b");
        assert_eq!(t.render("<<'a b&c'|urlencode>>", &v).unwrap(), "a%20b%26c");
        assert_eq!(
            t.render_value("<<{'a': 1}|tojson>>", &v).unwrap(),
            json!("{\"a\": 1}")
        );
        assert_eq!(t.render("<<env('FROM_FILE')>>", &v).unwrap(), "filed");
        assert_eq!(
            t.render("<<env('DMFLOW_SURELY_UNSET', 'dflt')>>", &v)
                .unwrap(),
            "dflt"
        );
        let err = t.render("<<env('DMFLOW_SURELY_UNSET')>>", &v).unwrap_err();
        assert!(err.to_string().contains("DMFLOW_SURELY_UNSET"), "{err}");
        assert_eq!(t.render("<<uuid()>>", &v).unwrap().len(), 36);
        assert!(t.render_value("<<now('unix')>>", &v).unwrap().is_i64());
    }

    #[test]
    fn syntax_errors_are_reported() {
        let t = templates();
        assert!(matches!(
            t.variables("<< a | >>"),
            Err(TemplateError::Invalid { .. })
        ));
        assert!(matches!(
            t.variables("<<a"),
            Err(TemplateError::Invalid { .. })
        ));
    }
}
