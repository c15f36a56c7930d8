//! The template language: minijinja with `<< expr >>`, `<% block %>` and `<# comment #>`.
//!
//! Every string leaf of a flow is compiled once, when the flow is loaded, into a [`Template`]:
//! plain text stays text, a leaf that is exactly one `<< expr >>` becomes an expression that
//! keeps its JSON type (`<< 2 + 3 >>` is the number 5), anything else a minijinja template. The
//! compile step also knows which variables a template reads and refuses functions, filters and
//! tests the environment does not have, so a typo is a load error, not a failure in step 7.
//!
//! Rendering reads variables from a [`Vars`] map handed to minijinja as an object: only the
//! variables a template touches are converted, once each.

use crate::memo::Memo;
use crate::secret::{Redactor, is_secret_name};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use indexmap::IndexMap;
use minijinja::machinery::{CompiledTemplate, Instruction, Instructions, TemplateConfig};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Object, Serde};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, OnceLock};

/// The names of the functions dmflow adds.
pub const FUNCTIONS: &[&str] = &["env", "uuid", "now"];
/// The filters dmflow adds (besides minijinja's built-ins).
pub const FILTERS: &[&str] = &["b64encode", "b64url", "b64decode"];

/// What went wrong compiling or rendering one template.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A variable the template uses is not defined.
    #[error("undefined variable `{name}`")]
    Undefined { name: String },
    /// A function, filter or test the environment does not have.
    #[error("unknown {what} `{name}`")]
    Unknown {
        what: &'static str,
        name: String,
        suggestion: Option<String>,
    },
    /// The template itself is malformed, or an expression failed (`line` is 1-based within the
    /// template text).
    #[error("{message}")]
    Invalid {
        message: String,
        line: Option<usize>,
    },
}

/// The hidden key under which the root context offers the run's environment to `env()`.
const ENV_KEY: &str = "$dmflow-env";

fn syntax() -> SyntaxConfig {
    SyntaxConfig::builder()
        .variable_delimiters("<<", ">>")
        .block_delimiters("<%", "%>")
        .comment_delimiters("<#", "#>")
        .keep_trailing_newline(true)
        .build()
        .expect("dmflow's delimiters are valid")
}

/// The one minijinja environment of the process: syntax, functions and filters. What differs
/// between runs (the environment variables `env()` reads) travels in the render context.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_syntax(syntax());
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_debug(false);
    env.set_fuel(Some(crate::limits::current().template_fuel));
    env.set_formatter(|out, _state, value| {
        out.write_str(&display(value).map_err(Shape::error)?)
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    env.add_function("env", env_function);
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
    env
});

/// The names the environment offers as globals (functions such as `range`, `dict`, `env`).
fn globals() -> &'static BTreeSet<String> {
    static GLOBALS: OnceLock<BTreeSet<String>> = OnceLock::new();
    GLOBALS.get_or_init(|| ENV.globals().map(|(name, _)| name.to_string()).collect())
}

/// Whether the environment has a filter (`test == false`) or a test of this name, found by
/// asking it once per name.
fn known(name: &str, test: bool) -> bool {
    // Only a name the probe below can hold (a test named in a string can be anything).
    let mut chars = name.chars();
    if !chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return false;
    }
    static FILTERS: Memo<bool> = Memo::new();
    static TESTS: Memo<bool> = Memo::new();
    let (memo, probe, unknown) = if test {
        (
            &TESTS,
            format!("<% if none is {name} %><% endif %>"),
            ErrorKind::UnknownTest,
        )
    } else {
        (
            &FILTERS,
            format!("<< none | {name} >>"),
            ErrorKind::UnknownFilter,
        )
    };
    memo.get_or(name, || match ENV.render_str(&probe, ()) {
        Err(e) => e.kind() != unknown,
        Ok(_) => true,
    })
}

/// How `env()` finds a variable.
type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where `env()` looks, and where it registers the secrets it hands out.
pub struct EnvAccess {
    lookup: Lookup,
    redactor: Redactor,
}

impl std::fmt::Debug for EnvAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvAccess")
    }
}

impl EnvAccess {
    pub fn new(
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
        redactor: Redactor,
    ) -> Arc<EnvAccess> {
        Arc::new(EnvAccess {
            lookup: Box::new(lookup),
            redactor,
        })
    }

    /// An environment where `env()` finds nothing (it then needs its default).
    pub fn empty() -> Arc<EnvAccess> {
        EnvAccess::new(|_| None, Redactor::new(false))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }
}

impl Object for EnvAccess {}

fn env_function(state: &State, name: String, default: Option<String>) -> Result<String, Error> {
    let access = state.lookup(ENV_KEY);
    let access = access
        .as_ref()
        .and_then(|v| v.downcast_object_ref::<EnvAccess>());
    let found = access.and_then(|a| a.get(&name));
    match found.or(default) {
        Some(value) => {
            if is_secret_name(&name)
                && let Some(access) = access
            {
                access.redactor.add(&name, &value);
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
}

/// One variable: its JSON value and, once a template has read it, the template engine's view.
#[derive(Debug, Clone)]
struct Var {
    json: serde_json::Value,
    seen: OnceLock<Value>,
}

/// Variables visible to templates: name → JSON value, in the order they were set.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: IndexMap<String, Var>,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.map.get(name).map(|v| &v.json)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn insert(&mut self, name: impl Into<String>, value: serde_json::Value) {
        self.map.insert(
            name.into(),
            Var {
                json: value,
                seen: OnceLock::new(),
            },
        );
    }

    pub fn remove(&mut self, name: &str) -> Option<serde_json::Value> {
        self.map.shift_remove(name).map(|v| v.json)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.map.iter().map(|(k, v)| (k.as_str(), &v.json))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn value(&self, name: &str) -> Option<Value> {
        let var = self.map.get(name)?;
        Some(
            var.seen
                .get_or_init(|| Value::from(Serde(&var.json)))
                .clone(),
        )
    }
}

/// What a render sees: the variables and the environment for `env()`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    pub vars: Arc<Vars>,
    pub env: Arc<EnvAccess>,
}

impl Context {
    pub fn new(vars: Vars, env: Arc<EnvAccess>) -> Context {
        Context {
            vars: Arc::new(vars),
            env,
        }
    }

    /// The variables, for changing (copied only if a render still holds them, which it never
    /// does past its end).
    pub fn vars_mut(&mut self) -> &mut Vars {
        Arc::make_mut(&mut self.vars)
    }

    fn root(&self) -> Value {
        Value::from_object(Root(self.clone()))
    }
}

/// The root object of a render: variables by name, and the hidden environment.
#[derive(Debug)]
struct Root(Context);

impl Object for Root {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if name == ENV_KEY {
            return Some(Value::from_dyn_object(self.0.env.clone()));
        }
        self.0.vars.value(name)
    }
}

self_cell::self_cell!(
    /// A minijinja template together with the text it was compiled from.
    struct OwnedTemplate {
        owner: String,
        #[covariant]
        dependent: BorrowedTemplate,
    }
);

type BorrowedTemplate<'a> = minijinja::Template<'a, 'a>;

/// The environment, seen with a shorter lifetime (it lives for the whole process).
fn env<'a>() -> &'a Environment<'a> {
    &ENV
}

impl std::fmt::Debug for OwnedTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Template({:?})", self.borrow_owner())
    }
}

#[derive(Debug)]
enum Kind {
    /// No template syntax: the text as it is.
    Literal(String),
    /// Exactly one `<< expr >>`: evaluated, keeping the value's type.
    Expr {
        expr: minijinja::Expression<'static, 'static>,
        source: String,
        /// The name, when the expression is only a variable's name (`<<TOKEN>>`): a string
        /// variable is then read without the engine, which would give the same string.
        variable: Option<String>,
    },
    /// Text with templates in it.
    Text(OwnedTemplate),
}

/// A compiled string leaf.
#[derive(Debug)]
pub struct Template {
    kind: Kind,
    /// The variables it reads (besides functions), sorted.
    variables: Vec<String>,
    /// Those it only tests (`X is defined`, `X | default(...)`): no error when they are missing.
    guarded: Vec<String>,
    /// Whether it assigns to a namespace (`<% set ns.x = ... %>`), the one way a render can
    /// build a value nested as deep as its fuel allows.
    accumulates: bool,
}

/// Whether `name` can be a variable: letters, digits and `_`, not starting with a digit (the
/// names every export format and shell accept).
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `text` contains template syntax at all (plain strings skip the engine).
pub fn is_template(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'<', bytes).any(|at| matches!(bytes.get(at + 1), Some(b'<' | b'%' | b'#')))
}

/// `<< expr >>` with nothing else around it: the inner expression.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("<<")?.strip_suffix(">>")?;
    (!inner.contains("<<")
        && !inner.contains(">>")
        && !inner.contains("<%")
        && !inner.contains("<#"))
    .then_some(inner)
}

/// The name in `<< NAME >>` when the expression is only a variable's name, and not one of the
/// engine's constants (`true`, `none`...), which a variable cannot override.
fn bare_variable(expr: &str) -> Option<&str> {
    let name = expr.trim();
    let constant = ["true", "false", "none"]
        .iter()
        .any(|word| name.eq_ignore_ascii_case(word));
    (is_variable_name(name) && !constant).then_some(name)
}

impl Template {
    /// A template that is plain text.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            kind: Kind::Literal(text.into()),
            variables: Vec::new(),
            guarded: Vec::new(),
            accumulates: false,
        }
    }

    /// Compiles a leaf: syntax, unknown functions, filters and tests are errors here.
    pub fn compile(text: &str) -> Result<Template, TemplateError> {
        if !is_template(text) {
            return Ok(Template::literal(text));
        }
        let Checked {
            variables,
            guarded,
            accumulates,
        } = validate(text)?;
        let kind = match single_expression(text) {
            Some(expr) => Kind::Expr {
                expr: ENV
                    .compile_expression_owned(expr.to_string())
                    .map_err(invalid)?,
                source: text.to_string(),
                variable: bare_variable(expr).map(str::to_owned),
            },
            None => Kind::Text(
                OwnedTemplate::try_new(text.to_string(), |source| env().template_from_str(source))
                    .map_err(invalid)?,
            ),
        };
        Ok(Template {
            kind,
            variables,
            guarded,
            accumulates,
        })
    }

    /// Compiles a leaf once per process: a flow repeats its templates (`<<api>>/...`), and
    /// every repetition shares the first compilation.
    pub fn compile_shared(text: &str) -> Result<Arc<Template>, TemplateError> {
        static TEMPLATES: Memo<Result<Arc<Template>, TemplateError>> = Memo::new();
        TEMPLATES.get_or(text, || Template::compile(text).map(Arc::new))
    }

    /// The text the template was written as.
    pub fn source(&self) -> &str {
        match &self.kind {
            Kind::Literal(text) | Kind::Expr { source: text, .. } => text,
            Kind::Text(t) => t.borrow_owner(),
        }
    }

    /// The text, when there is no template in it.
    pub fn as_literal(&self) -> Option<&str> {
        match &self.kind {
            Kind::Literal(text) => Some(text),
            _ => None,
        }
    }

    /// The variables the template reads.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    fn check_defined(&self, cx: &Context) -> Result<(), TemplateError> {
        let missing = self
            .variables
            .iter()
            .find(|name| !cx.vars.contains(name) && !self.guarded.contains(name));
        match missing {
            Some(name) => Err(TemplateError::Undefined { name: name.clone() }),
            None => Ok(()),
        }
    }

    /// Renders to text.
    pub fn render(&self, cx: &Context) -> Result<String, TemplateError> {
        match &self.kind {
            Kind::Literal(text) => Ok(text.clone()),
            Kind::Expr { expr, variable, .. } => {
                if let Some(text) = self.string_variable(variable, cx)? {
                    return Ok(text.to_owned());
                }
                let value = self.eval(expr, cx)?;
                let text = display(&value).map_err(|shape| self.refused(shape))?;
                self.fits(text.len())?;
                Ok(text)
            }
            Kind::Text(template) => {
                self.check_defined(cx)?;
                let render = || self.render_text(template.borrow_dependent(), cx);
                if self.accumulates {
                    on_deep_stack(render)
                } else {
                    render()
                }
            }
        }
    }

    /// Renders keeping the value's type when the leaf is exactly one `<< expr >>`.
    pub fn render_value(&self, cx: &Context) -> Result<serde_json::Value, TemplateError> {
        match &self.kind {
            Kind::Expr { expr, variable, .. } => {
                if let Some(text) = self.string_variable(variable, cx)? {
                    return Ok(serde_json::Value::String(text.to_owned()));
                }
                let value = self.eval(expr, cx)?;
                if let Some(text) = value.as_str() {
                    self.fits(text.len())?;
                    return Ok(serde_json::Value::String(text.to_string()));
                }
                to_json(&value)
                    .map_err(|shape| self.refused(shape))?
                    .map_err(|e| TemplateError::Invalid {
                        message: format!("cannot use this value in a flow: {e}"),
                        line: None,
                    })
            }
            _ => self.render(cx).map(serde_json::Value::String),
        }
    }

    /// The value of a bare variable (see [`bare_variable`]) when it is a string, within the
    /// output limit. The engine looks a name up in the variables before its globals, so this is
    /// the string it would produce.
    fn string_variable<'c>(
        &self,
        variable: &Option<String>,
        cx: &'c Context,
    ) -> Result<Option<&'c str>, TemplateError> {
        let text = variable
            .as_deref()
            .and_then(|name| cx.vars.get(name))
            .and_then(serde_json::Value::as_str);
        if let Some(text) = text {
            self.fits(text.len())?;
        }
        Ok(text)
    }

    fn eval(
        &self,
        expr: &minijinja::Expression<'static, 'static>,
        cx: &Context,
    ) -> Result<Value, TemplateError> {
        self.check_defined(cx)?;
        let value = expr.eval(cx.root()).map_err(|e| self.failed(e))?;
        if value.is_undefined() {
            return Err(undefined_result(self.source()));
        }
        Ok(value)
    }

    /// Renders a text template into a buffer that refuses to grow past the output limit.
    fn render_text(
        &self,
        template: &BorrowedTemplate<'_>,
        cx: &Context,
    ) -> Result<String, TemplateError> {
        let mut out = Capped::new(crate::limits::current().template_output);
        let rendered = template.render_captured_to(cx.root(), &mut out);
        // The render's state (and any value it built) is dropped here, on this stack.
        match rendered.map(drop) {
            Ok(()) => Ok(String::from_utf8(out.bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())),
            Err(_) if out.over => Err(self.too_large()),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// Refuses a result longer than the output limit.
    fn fits(&self, len: usize) -> Result<(), TemplateError> {
        if len as u64 > crate::limits::current().template_output {
            return Err(self.too_large());
        }
        Ok(())
    }

    fn too_large(&self) -> TemplateError {
        self.refused(Shape::TooLarge)
    }

    fn refused(&self, shape: Shape) -> TemplateError {
        self.breach(&shape.what())
    }

    /// A limit this template hit: the template, and what it did.
    fn breach(&self, what: &str) -> TemplateError {
        TemplateError::Invalid {
            message: format!("the template `{}` {what}", excerpt(self.source())),
            line: None,
        }
    }

    /// A render error in the flow's words; a limit names the template and how to raise it.
    fn failed(&self, err: Error) -> TemplateError {
        match (err.kind(), err.detail()) {
            (ErrorKind::OutOfFuel, _) => self.breach(&format!(
                "does more work than one template may do ({} fuel): does it loop over something huge? (if this is intended: --limit template-fuel=...)",
                crate::limits::current().template_fuel
            )),
            (ErrorKind::BadSerialization, Some(what)) => self.breach(what),
            _ => invalid(err),
        }
    }
}

/// The start of a long template, for messages.
fn excerpt(source: &str) -> String {
    const SHOWN: usize = 80;
    let source = source.trim();
    match source.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &source[..end]),
        None => source.to_string(),
    }
}

/// Runs a render that may build deeply nested values (a namespace assigned in a loop) on a
/// stack large enough for the deepest value its fuel can build: dropping, printing or
/// comparing such a value recurses once per level.
fn on_deep_stack<T>(render: impl FnOnce() -> T) -> T {
    // Each level costs a render at least 8 fuel (a loop turn, two lookups, a list, an
    // assignment); this leaves a kilobyte of stack per level.
    let fuel = crate::limits::current().template_fuel;
    let size = usize::try_from(fuel.saturating_mul(128))
        .unwrap_or(usize::MAX)
        .clamp(8 << 20, 4 << 30);
    stacker::grow(size, render)
}

/// The buffer a text template renders into: past `limit` bytes, writes fail.
struct Capped {
    bytes: Vec<u8>,
    limit: u64,
    over: bool,
}

impl Capped {
    fn new(limit: u64) -> Capped {
        Capped {
            bytes: Vec::new(),
            limit,
            over: false,
        }
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            self.over = true;
            return Err(std::io::Error::other("the template output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts the bytes of a serialization, failing past `limit`.
struct Counter {
    left: u64,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.left = self
            .left
            .checked_sub(buf.len() as u64)
            .ok_or_else(|| std::io::Error::other("the template output limit"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The test a `select`, `reject`, `selectattr` or `rejectattr` filter names, when it is
/// written literally: `ids | select('odd')`, `videos | selectattr('n', 'gt', 3)`. `filter_at`
/// is the filter's instruction; `args` counts the value too. Unknown (`None`) when an
/// argument after the test's name is not a constant, which takes more than one instruction.
fn named_test<'s>(
    instructions: &'s Instructions<'s>,
    filter_at: u32,
    filter: &str,
    args: u16,
) -> Option<&'s str> {
    let position = match filter {
        "select" | "reject" => 1,
        "selectattr" | "rejectattr" => 2,
        _ => return None,
    };
    let after_name = u32::from(args).checked_sub(position + 1)?;
    let name_at = filter_at.checked_sub(after_name + 1)?;
    if !(name_at + 1..filter_at)
        .all(|i| matches!(instructions.get(i), Some(Instruction::LoadConst(_))))
    {
        return None;
    }
    match instructions.get(name_at)? {
        Instruction::LoadConst(value) => value.as_str(),
        _ => None,
    }
}

fn undefined_result(source: &str) -> TemplateError {
    TemplateError::Invalid {
        message: format!("`{}` is undefined", source.trim()),
        line: None,
    }
}

/// What compiling learns about a template besides its instructions.
struct Checked {
    /// The variables it reads.
    variables: Vec<String>,
    /// Those of them it only tests for being defined.
    guarded: Vec<String>,
    /// Whether it assigns to a namespace.
    accumulates: bool,
}

/// Checks a template's functions, filters and tests, and finds what it reads.
fn validate(text: &str) -> Result<Checked, TemplateError> {
    let config = TemplateConfig {
        syntax_config: syntax(),
        default_auto_escape: Arc::new(|_| minijinja::AutoEscape::None),
    };
    let compiled = CompiledTemplate::new("<template>", text, &config).map_err(invalid)?;
    let mut called = BTreeSet::new();
    let mut accumulates = false;
    let mut index = 0;
    while let Some(instruction) = compiled.instructions.get(index) {
        index += 1;
        let (what, name) = match instruction {
            Instruction::SetAttr(_) => {
                accumulates = true;
                continue;
            }
            Instruction::ApplyFilter(name, _, _) if !known(name, false) => ("filter", *name),
            Instruction::ApplyFilter(name, Some(args), _) => {
                match named_test(&compiled.instructions, index - 1, name, *args) {
                    Some(test) if !known(test, true) => ("test", test),
                    _ => continue,
                }
            }
            Instruction::PerformTest(name, _, _) if !known(name, true) => ("test", *name),
            Instruction::CallFunction(name, _) => {
                called.insert(name.to_string());
                if globals().contains(*name) {
                    continue;
                }
                ("function", *name)
            }
            _ => continue,
        };
        return Err(TemplateError::Unknown {
            what,
            name: name.to_string(),
            suggestion: suggest(what, name),
        });
    }
    let template = ENV.template_from_str(text).map_err(invalid)?;
    let variables: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| !globals().contains(name) && !called.contains(name))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let guarded = variables
        .iter()
        .filter(|name| only_tested(&compiled.instructions, name))
        .cloned()
        .collect();
    Ok(Checked {
        variables,
        guarded,
        accumulates,
    })
}

/// Whether every read of `name` is a test for it being there: `name is defined`,
/// `name is undefined`, `name | default(...)` (`d`), which strict undefined allows.
fn only_tested(instructions: &Instructions<'_>, name: &str) -> bool {
    let mut index = 0;
    let mut reads = 0;
    while let Some(instruction) = instructions.get(index) {
        index += 1;
        if !matches!(instruction, Instruction::Lookup(n) if *n == name) {
            continue;
        }
        reads += 1;
        // What consumes the value, past the constants of a filter's arguments.
        let mut next = index;
        while let Some(Instruction::LoadConst(_)) = instructions.get(next) {
            next += 1;
        }
        let tested = match instructions.get(next) {
            Some(Instruction::PerformTest(test, _, _)) => {
                next == index && matches!(*test, "defined" | "undefined")
            }
            Some(Instruction::ApplyFilter(filter, _, _)) => matches!(*filter, "default" | "d"),
            _ => false,
        };
        if !tested {
            return false;
        }
    }
    reads > 0
}

/// A close known name for an unknown function or filter.
fn suggest(what: &str, name: &str) -> Option<String> {
    let candidates: Vec<String> = match what {
        "function" => globals().iter().cloned().collect(),
        "filter" => COMMON_FILTERS
            .iter()
            .chain(FILTERS)
            .map(|s| s.to_string())
            .collect(),
        _ => Vec::new(),
    };
    crate::diagnostic::did_you_mean(name, candidates.iter().map(String::as_str)).map(str::to_string)
}

/// Filters people reach for, for "did you mean".
const COMMON_FILTERS: &[&str] = &[
    "default",
    "lower",
    "upper",
    "trim",
    "join",
    "split",
    "length",
    "first",
    "last",
    "tojson",
    "urlencode",
    "replace",
    "int",
    "float",
    "string",
    "list",
    "map",
    "select",
    "sort",
    "unique",
    "title",
    "capitalize",
    "round",
    "abs",
    "items",
    "dictsort",
    "reverse",
    "format",
];

fn invalid(err: Error) -> TemplateError {
    let message = match (err.kind(), err.detail()) {
        (ErrorKind::InvalidOperation, Some(detail)) => detail.to_string(),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    TemplateError::Invalid {
        message,
        line: err.line(),
    }
}

/// How deep a value may nest: serde_json's own limit when it parses a body.
pub const MAX_DEPTH: usize = 128;

/// A value written into text the way JSON and HTTP expect it: `true`, not Python's `True`;
/// nothing for none; lists and maps as JSON.
fn display(value: &Value) -> Result<String, Shape> {
    use minijinja::value::ValueKind;
    Ok(match value.kind() {
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::None => String::new(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Plain => {
            match to_json(value)? {
                Ok(json) => json.to_string(),
                Err(_) => value.to_string(),
            }
        }
        _ => value.to_string(),
    })
}

/// Why a value a template produced is refused.
#[derive(Debug, Clone, Copy)]
enum Shape {
    TooDeep,
    TooLarge,
}

impl Shape {
    /// What the template did, with how to raise the limit when there is a flag for it.
    fn what(self) -> String {
        match self {
            Shape::TooDeep => format!(
                "builds a value nested deeper than {MAX_DEPTH} levels, more than JSON allows here"
            ),
            Shape::TooLarge => format!(
                "produces more than {}, the most one template may produce (if this is intended: --limit template-output=...)",
                crate::limits::show_size(crate::limits::current().template_output)
            ),
        }
    }

    /// The same, as a render error (from inside the engine's formatter).
    fn error(self) -> Error {
        Error::new(ErrorKind::BadSerialization, self.what())
    }
}

/// A value as JSON: `Err` when it nests too deeply or is larger than a template may produce
/// (both checked first, without recursion), `Ok(Err)` when it has no JSON form.
fn to_json(value: &Value) -> Result<Result<serde_json::Value, serde_json::Error>, Shape> {
    if nests_deeper(value, MAX_DEPTH) {
        return Err(Shape::TooDeep);
    }
    let left = crate::limits::current().template_output;
    if serde_json::to_writer(Counter { left }, value).is_err_and(|e| e.is_io()) {
        return Err(Shape::TooLarge);
    }
    Ok(serde_json::to_value(value))
}

/// Whether lists and maps nest more than `max` levels deep, found without recursion.
fn nests_deeper(value: &Value, max: usize) -> bool {
    use minijinja::value::ValueKind;
    let mut pending = vec![(value.clone(), 1)];
    while let Some((value, depth)) = pending.pop() {
        let is_map = match value.kind() {
            ValueKind::Seq | ValueKind::Iterable => false,
            ValueKind::Map => true,
            _ => continue,
        };
        if depth > max {
            return true;
        }
        let Ok(items) = value.try_iter() else {
            continue;
        };
        for item in items {
            let child = if is_map {
                value.get_item(&item).unwrap_or_default()
            } else {
                item
            };
            pending.push((child, depth + 1));
        }
    }
    false
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

    #[test]
    fn template_syntax_is_found_anywhere_and_only_where_it_is() {
        for text in [
            "<<A>>",
            "x <<A>>",
            "a<b <% if x %>",
            "<#c#>",
            "<<",
            "a < b <<",
        ] {
            assert!(is_template(text), "{text:?}");
        }
        for text in [
            "",
            "<",
            "a < b",
            "a <b> c",
            "http://h/x?a=<",
            "<>",
            "< <",
            ">>",
        ] {
            assert!(!is_template(text), "{text:?}");
        }
    }

    fn cx(v: serde_json::Value) -> Context {
        let mut vars = Vars::new();
        for (k, v) in v.as_object().unwrap() {
            vars.insert(k.clone(), v.clone());
        }
        let mut file = IndexMap::new();
        file.insert("FROM_FILE".to_string(), "filed".to_string());
        Context::new(
            vars,
            EnvAccess::new(move |name| file.get(name).cloned(), Redactor::new(false)),
        )
    }

    fn render(text: &str, v: serde_json::Value) -> Result<String, TemplateError> {
        Template::compile(text)?.render(&cx(v))
    }

    fn value(text: &str, v: serde_json::Value) -> serde_json::Value {
        Template::compile(text)
            .unwrap()
            .render_value(&cx(v))
            .unwrap()
    }

    #[test]
    fn a_bare_string_variable_is_read_without_the_engine_and_gives_what_it_gives() {
        let fast = |text: &str| match Template::compile(text).unwrap().kind {
            Kind::Expr { variable, .. } => variable,
            _ => None,
        };
        assert_eq!(fast("<< TOKEN >>").as_deref(), Some("TOKEN"));
        for text in [
            "<<true>>",
            "<<None>>",
            "<<a.b>>",
            "<<a | upper>>",
            "x<<a>>",
            "<<env('A')>>",
        ] {
            assert_eq!(fast(text), None, "{text}");
        }
        let v = json!({"TOKEN": "abc", "n": 3, "list": [1, 2], "true": "mine", "range": "mine"});
        assert_eq!(value("<< TOKEN >>", v.clone()), json!("abc"));
        assert_eq!(render("<<TOKEN>>", v.clone()).unwrap(), "abc");
        // Other values go through the engine, keeping their type.
        assert_eq!(value("<<n>>", v.clone()), json!(3));
        assert_eq!(value("<<list>>", v.clone()), json!([1, 2]));
        // A constant stays the constant; a global the flow defines as a variable is the flow's.
        assert_eq!(value("<<true>>", v.clone()), json!(true));
        assert_eq!(value("<<range>>", v.clone()), json!("mine"));
        assert!(matches!(
            render("<<MISSING>>", v),
            Err(TemplateError::Undefined { name }) if name == "MISSING"
        ));
    }

    #[test]
    fn renders_with_angle_delimiters() {
        let v = json!({"api": "http://x", "n": 3});
        assert_eq!(
            render("<<api>>/me?n=<<n>>", v.clone()).unwrap(),
            "http://x/me?n=3"
        );
        assert_eq!(
            render("<% if n > 2 %>big<% endif %><# note #>", v.clone()).unwrap(),
            "big"
        );
        assert_eq!(render("{{ api }}", v).unwrap(), "{{ api }}");
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let v = json!({"n": 3, "user": {"id": "x1"}});
        assert_eq!(value("<< n >>", v.clone()), json!(3));
        assert_eq!(value("<<user>>", v.clone()), json!({"id": "x1"}));
        assert_eq!(value("<<n>>px", v.clone()), json!("3px"));
        assert_eq!(value("plain", v), json!("plain"));
    }

    #[test]
    fn values_in_text_read_as_json_and_http_expect() {
        let v = json!({"t": true, "ids": ["x1", "x2"], "user": {"id": 1}, "nothing": null});
        assert_eq!(
            render("a=<<t>>&b=<<1 > 2>>", v.clone()).unwrap(),
            "a=true&b=false"
        );
        assert_eq!(render("<<t>>", v.clone()).unwrap(), "true");
        assert_eq!(
            render("ids=<<ids>>", v.clone()).unwrap(),
            r#"ids=["x1","x2"]"#
        );
        assert_eq!(render("<<user>>!", v.clone()).unwrap(), r#"{"id":1}!"#);
        assert_eq!(render("[<<nothing>>]", v).unwrap(), "[]");
    }

    #[test]
    fn a_missing_variable_may_be_tested_for() {
        let none = json!({});
        assert_eq!(render("<<X is defined>>", none.clone()).unwrap(), "false");
        assert_eq!(
            render("<<X is not defined>>", none.clone()).unwrap(),
            "true"
        );
        assert_eq!(render("<<X is undefined>>", none.clone()).unwrap(), "true");
        assert_eq!(render("<<X | default('a')>>", none.clone()).unwrap(), "a");
        assert_eq!(render("<<X|d(1) + 1>>", none.clone()).unwrap(), "2");
        assert_eq!(
            render("<% if X is defined %><<X>><% endif %>", none.clone()).unwrap_err(),
            TemplateError::Undefined { name: "X".into() },
            "a read besides the test still needs it"
        );
        assert_eq!(
            render("<<X.y is defined>>", none).unwrap_err(),
            TemplateError::Undefined { name: "X".into() }
        );
        assert_eq!(render("<<X is defined>>", json!({"X": 1})).unwrap(), "true");
    }

    #[test]
    fn undefined_variables_are_named() {
        let err = render("Bearer <<ACESS_TOKEN>>", json!({})).unwrap_err();
        assert_eq!(
            err,
            TemplateError::Undefined {
                name: "ACESS_TOKEN".into()
            }
        );
    }

    #[test]
    fn variables_ignore_functions_globals_and_locals() {
        let t = Template::compile(
            "<<env('X')>> <% for i in range(3) %><<i>><% endfor %><% for j in items %><% endfor %> <<uuid()>> <<a.b>> <<dict(x=1)>>",
        )
        .unwrap();
        assert_eq!(t.variables(), ["a", "items"]);
    }

    #[test]
    fn unknown_filters_functions_and_tests_are_compile_errors() {
        for (text, what, name) in [
            ("<<api | nosuchfilter>>", "filter", "nosuchfilter"),
            ("x <<nosuchfn(1)>>", "function", "nosuchfn"),
            ("<% if a is nosuchtest %><% endif %>", "test", "nosuchtest"),
            (
                "<<ids | select('nosuchtest') | list>>",
                "test",
                "nosuchtest",
            ),
            (
                "<<ids | reject('nosuchtest', 2, 'x') | list>>",
                "test",
                "nosuchtest",
            ),
            (
                "<<v | selectattr('n', 'nosuchtest', 3) | list>>",
                "test",
                "nosuchtest",
            ),
            (
                "<<v | rejectattr('n', 'nosuchtest') | list>>",
                "test",
                "nosuchtest",
            ),
            ("<<ids | select('no test') | list>>", "test", "no test"),
        ] {
            match Template::compile(text) {
                Err(TemplateError::Unknown {
                    what: w, name: n, ..
                }) => {
                    assert_eq!((w, n.as_str()), (what, name), "{text}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        match Template::compile("<<a | uper>>") {
            Err(TemplateError::Unknown { suggestion, .. }) => {
                assert_eq!(suggestion.as_deref(), Some("upper"))
            }
            other => panic!("{other:?}"),
        }
        assert!(Template::compile("<<a | upper | urlencode | tojson | b64url>>").is_ok());
        // Tests named by filters are known when written literally.
        for text in [
            "<<ids | select('odd') | list>>",
            "<<ids | select('divisibleby', 3) | list>>",
            "<<v | selectattr('n', 'gt', 3) | list>>",
            "<<v | rejectattr('n') | list>>",
            "<<ids | select(name) | list>>",
            "<<ids | select('divisibleby', n) | list>>",
        ] {
            assert!(Template::compile(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn filters_and_functions() {
        let v = json!({});
        assert_eq!(render("<<'a:b'|b64encode>>", v.clone()).unwrap(), "YTpi");
        assert_eq!(render("<<'??>'|b64url>>", v.clone()).unwrap(), "Pz8-");
        assert_eq!(render("<<'YTpi'|b64decode>>", v.clone()).unwrap(), "a:b");
        assert_eq!(
            render("<<'a b&c'|urlencode>>", v.clone()).unwrap(),
            "a%20b%26c"
        );
        assert_eq!(value("<<{'a': 1}|tojson>>", v.clone()), json!("{\"a\": 1}"));
        assert_eq!(render("<<env('FROM_FILE')>>", v.clone()).unwrap(), "filed");
        assert_eq!(
            render("<<env('UNSET_X', 'dflt')>>", v.clone()).unwrap(),
            "dflt"
        );
        let err = render("<<env('UNSET_X')>>", v.clone()).unwrap_err();
        assert!(err.to_string().contains("UNSET_X"), "{err}");
        assert_eq!(render("<<uuid()>>", v.clone()).unwrap().len(), 36);
        assert!(value("<<now('unix')>>", v.clone()).is_i64());
        assert_eq!(render("<<range(3)|join(',')>>", v).unwrap(), "0,1,2");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(
            Template::compile("<< a | >>"),
            Err(TemplateError::Invalid { .. })
        ));
        assert!(matches!(
            Template::compile("<<a"),
            Err(TemplateError::Invalid { .. })
        ));
    }
}
