//! Reading a flow file: size and kind checked, text decoded, YAML parsed, its counts checked
//! (entries of `vars:`, steps), then compiled. Past a YAML syntax error the steps before the
//! one holding it are still compiled and checked (the rest of the file cannot be read
//! reliably, and the problem says so). Sub-flows are read the same way.

use super::compile::{Options, compile};
use super::model::Flow;
use crate::diagnostic::{Diagnostic, Source};
use crate::steps::Registry;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many times a YAML syntax error moves the cut one step earlier.
const MAX_CUTS: usize = 25;

/// Loads and compiles flows.
#[derive(Clone, Default)]
pub struct Loader {
    registry: Registry,
    external: BTreeSet<String>,
    /// Sub-flows compiled so far, by canonical path.
    included: RefCell<HashMap<PathBuf, Arc<Flow>>>,
    /// The files being compiled, outermost first (canonical path, path as shown).
    chain: RefCell<Vec<(PathBuf, String)>>,
}

impl Loader {
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Uses these step kinds instead of the built-in ones.
    pub fn registry(mut self, registry: Registry) -> Loader {
        self.registry = registry;
        self
    }

    /// Names given from outside the flow (`--var`, `--env-file`), defined for every flow.
    pub fn external(mut self, names: impl IntoIterator<Item = String>) -> Loader {
        self.external.extend(names);
        self
    }

    /// Reads and compiles a flow file; every problem comes back, each with its position.
    pub fn load(&self, path: &Path) -> Result<Flow, Vec<Diagnostic>> {
        let source = read(path).map_err(|d| vec![d])?;
        self.compile_source(&source)
    }

    /// A sub-flow a step includes: compiled once, refused when it includes itself.
    fn include(&self, path: &Path) -> Result<Arc<Flow>, Vec<Diagnostic>> {
        let shown = path.display().to_string();
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| vec![Diagnostic::new(format!("cannot read {shown}: {e}"))])?;
        if let Some(found) = self.included.borrow().get(&canonical) {
            return Ok(found.clone());
        }
        let chain = self.chain.borrow();
        if let Some(start) = chain.iter().position(|(p, _)| *p == canonical) {
            let names: Vec<&str> = chain[start..].iter().map(|(_, s)| s.as_str()).collect();
            return Err(vec![
                Diagnostic::new(format!("include cycle: {} → {shown}", names.join(" → ")))
                    .help("a flow cannot run itself, directly or through the flows it runs"),
            ]);
        }
        drop(chain);
        let source = read(path).map_err(|d| vec![d])?;
        let flow = Arc::new(self.compile_source(&source)?);
        self.included.borrow_mut().insert(canonical, flow.clone());
        Ok(flow)
    }

    /// Compiles a flow from text already read.
    pub fn compile_source(&self, source: &Arc<Source>) -> Result<Flow, Vec<Diagnostic>> {
        match self.compile_recovering(source) {
            (Some(flow), problems) if problems.is_empty() => Ok(flow),
            (_, problems) => Err(problems),
        }
    }

    /// Compiles as much as can be trusted, with all the problems found.
    pub fn compile_recovering(&self, source: &Arc<Source>) -> (Option<Flow>, Vec<Diagnostic>) {
        if is_blank(&source.text) {
            return (
                None,
                vec![
                    Diagnostic::new("the flow file is empty")
                        .in_file(source)
                        .help("a flow needs at least `steps:`, a list of steps; see README.md"),
                ],
            );
        }
        let canonical =
            std::fs::canonicalize(&source.name).unwrap_or_else(|_| PathBuf::from(&source.name));
        self.chain
            .borrow_mut()
            .push((canonical, source.name.clone()));
        let result = self.compile_text(source);
        self.chain.borrow_mut().pop();
        result
    }

    fn compile_with(
        &self,
        source: &Arc<Source>,
        root: &crate::yaml::Node,
        unreadable: &str,
    ) -> (Option<Flow>, Vec<Diagnostic>) {
        let too_many = too_many(source, root);
        if !too_many.is_empty() {
            return (None, too_many);
        }
        let include = |path: &Path| self.include(path);
        let options = Options {
            registry: &self.registry,
            external: &self.external,
            unreadable,
            include: &include,
        };
        compile(source, root, &options)
    }

    fn compile_text(&self, source: &Arc<Source>) -> (Option<Flow>, Vec<Diagnostic>) {
        let err = match crate::yaml::parse_text(&source.text) {
            Ok(root) => return self.compile_with(source, &root, ""),
            Err(err) => err,
        };
        let first = crate::yaml::yaml_error(source, &err);
        let unchecked = "the steps after this point were not checked: fix this first";
        let help = match &first.help {
            Some(help) => format!("{help}\n{unchecked}"),
            None => unchecked.to_string(),
        };
        let first = first.help(help);
        let lines: Vec<&str> = source.text.split('\n').collect();
        let mut cut = enclosing_step_start(&lines, first.pos.map(|p| p.line as usize).unwrap_or(1));
        for _ in 0..MAX_CUTS {
            let kept = lines[..cut.saturating_sub(1).min(lines.len())].join("\n");
            if let Ok(root) = crate::yaml::parse_text(&kept) {
                let unreadable = lines[cut.saturating_sub(1).min(lines.len())..].join("\n");
                let (flow, mut problems) = self.compile_with(source, &root, &unreadable);
                problems.retain(|p| p.message != "missing field `steps`");
                problems.push(first);
                return (flow.filter(|_| false), problems);
            }
            let earlier = enclosing_step_start(&lines, cut.saturating_sub(1));
            if earlier >= cut {
                break;
            }
            cut = earlier;
        }
        (None, vec![first])
    }
}

/// Reads and compiles a flow file with the built-in step kinds.
pub fn load(path: &Path) -> Result<Flow, Vec<Diagnostic>> {
    Loader::new().load(path)
}

fn is_blank(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// Reads a flow file: a regular file, at most the `flow-file` limit, UTF-8.
pub fn read(path: &Path) -> Result<Arc<Source>, Diagnostic> {
    let name = path.display().to_string();
    let limits = crate::limits::current();
    let bytes = crate::limits::read_input(path, limits.flow_file, false).map_err(|e| {
        let (message, help) = e.describe(&name, "a flow file", "flow-file");
        Diagnostic::new(message)
            .help_opt(help.map(|h| format!("split it into several flow files, or {h}")))
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = Source::new(name, lossy);
            let pos = source.pos_at(at, 1);
            Err(Diagnostic::new("the file is not UTF-8 text")
                .at(&source, pos)
                .label("this byte is not UTF-8")
                .help("save the flow as UTF-8"))
        }
    }
}

/// More `vars:` entries or steps than the limits allow, each reported at its key: such a
/// flow is refused before anything in it is compiled.
fn too_many(source: &Arc<Source>, root: &crate::yaml::Node) -> Vec<Diagnostic> {
    let limits = crate::limits::current();
    let mut problems = Vec::new();
    for entry in root.as_map().unwrap_or_default() {
        let (count, max, what, limit) = match (entry.key.as_str(), &entry.value.kind) {
            ("vars", crate::yaml::NodeKind::Map(vars)) => {
                (vars.len(), limits.vars, "entries", "vars")
            }
            ("steps", crate::yaml::NodeKind::Seq(steps)) => {
                (steps.len(), limits.steps, "steps", "steps")
            }
            _ => continue,
        };
        if count > max {
            problems.push(
                Diagnostic::new(format!(
                    "`{}:` has {count} {what}; a flow may have at most {max}",
                    entry.key
                ))
                .at(source, entry.key_pos)
                .label(format!("too many {what}"))
                .help(format!(
                    "split the flow into sub-flows (`flow:` steps), or {}",
                    crate::limits::raise_hint(limit)
                )),
            );
        }
    }
    problems
}

/// The line where the step holding `line` starts (a `- ` item at the indentation of the first
/// step), so a cut there keeps whole steps only.
fn enclosing_step_start(lines: &[&str], line: usize) -> usize {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(steps) = lines
        .iter()
        .position(|l| l.trim_end() == "steps:" && indent(l) == 0)
    else {
        return line;
    };
    let Some(item_indent) = lines
        .iter()
        .skip(steps + 1)
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| indent(l))
    else {
        return line;
    };
    (steps + 1..line.min(lines.len()))
        .rev()
        .find(|&i| indent(lines[i]) == item_indent && lines[i].trim_start().starts_with("- "))
        .map(|i| i + 1)
        .unwrap_or(line)
}
