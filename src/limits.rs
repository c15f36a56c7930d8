//! What one run may cost, at most: render fuel and output size of templates, entries in
//! `vars:` and steps per flow, the size of the files dmflow reads (flows, `--env-file`,
//! `--cacert`) and of a response body kept in memory.
//!
//! Each limit has a default that real flows never come near and a name for the command line's
//! `--limit NAME=VALUE`. The limits are process-wide: the template engine is built once per
//! process, so the command line sets them ([`configure`]) before any flow is loaded; a library
//! that never configures them gets the defaults.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

/// The limits of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// minijinja's fuel for one render of one template: about one unit per instruction, and
    /// one per 64 bytes of data a template creates or walks through.
    pub template_fuel: u64,
    /// The largest value one template may produce, in bytes (as text or as JSON).
    pub template_output: u64,
    /// Entries under a flow's `vars:`.
    pub vars: usize,
    /// Steps in one flow file.
    pub steps: usize,
    /// Size of a flow file (the files given and every sub-flow), in bytes.
    pub flow_file: u64,
    /// Size of an `--env-file` (and of a `--cacert` file), in bytes.
    pub env_file: u64,
    /// The largest response body kept in memory, in bytes.
    pub response_body: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            template_fuel: 2_000_000,
            template_output: 16 * MIB,
            vars: 10_000,
            steps: 10_000,
            flow_file: 8 * MIB,
            env_file: MIB,
            response_body: 64 * MIB,
        }
    }
}

/// Each limit's name on the command line and what it bounds (for `--help` and errors).
pub const NAMES: &[(&str, &str)] = &[
    ("template-fuel", "work one template render may do"),
    ("template-output", "bytes one template may produce"),
    ("vars", "entries under a flow's `vars:`"),
    ("steps", "steps in one flow file"),
    ("flow-file", "bytes of a flow file"),
    ("env-file", "bytes of an --env-file or --cacert file"),
    ("response-body", "bytes of a response body kept in memory"),
];

impl Limits {
    /// Applies `NAME=VALUE` (`template-output=64MiB`, `vars=50000`).
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("`{assignment}` is not NAME=VALUE{}", names_help()))?;
        let name = name.trim();
        let count = || parse_count(value).map_err(|e| format!("{name}: {e}"));
        let size = || parse_size(value).map_err(|e| format!("{name}: {e}"));
        match name {
            "template-fuel" => self.template_fuel = count()?,
            "template-output" => self.template_output = size()?,
            "vars" => self.vars = usize::try_from(count()?).unwrap_or(usize::MAX),
            "steps" => self.steps = usize::try_from(count()?).unwrap_or(usize::MAX),
            "flow-file" => self.flow_file = size()?,
            "env-file" => self.env_file = size()?,
            "response-body" => self.response_body = size()?,
            _ => {
                let known = NAMES.iter().map(|(n, _)| *n);
                let close = crate::diagnostic::did_you_mean(name, known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(format!("`{name}` is not a limit{close}{}", names_help()));
            }
        }
        Ok(())
    }

    /// A limit's value as it is written on the command line (`16MiB`, `10000`).
    pub fn show(&self, name: &str) -> String {
        let size = |bytes: u64| show_size(bytes).replace(' ', "");
        match name {
            "template-fuel" => self.template_fuel.to_string(),
            "template-output" => size(self.template_output),
            "vars" => self.vars.to_string(),
            "steps" => self.steps.to_string(),
            "flow-file" => size(self.flow_file),
            "env-file" => size(self.env_file),
            "response-body" => size(self.response_body),
            _ => String::new(),
        }
    }

    /// The limits with every `NAME=VALUE` applied in order.
    pub fn with(assignments: &[String]) -> Result<Limits, String> {
        let mut limits = Limits::default();
        for assignment in assignments {
            limits.set(assignment)?;
        }
        Ok(limits)
    }
}

fn names_help() -> String {
    let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
    format!("; the limits are {}", names.join(", "))
}

static CURRENT: OnceLock<Limits> = OnceLock::new();

/// Sets the limits of the process; only before anything has read them (the command line
/// does it first thing). Setting the same limits again is fine.
pub fn configure(limits: Limits) -> Result<(), String> {
    let current = CURRENT.get_or_init(|| limits.clone());
    if *current == limits {
        Ok(())
    } else {
        Err("the limits were already in use; set them before loading any flow".into())
    }
}

/// The limits in force (the defaults unless [`configure`] set others).
pub fn current() -> &'static Limits {
    CURRENT.get_or_init(Limits::default)
}

/// How to raise a limit, for the help line of the error that hit it.
pub fn raise_hint(name: &str) -> String {
    format!("if this is intended, raise the limit: --limit {name}=VALUE")
}

/// A count as people write it: `50000`, `50_000`, `2M`, `10k`.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{}` is not a count: write it like 50000, 50k or 2M",
            text.trim()
        )
    };
    let cleaned = text.trim().replace('_', "");
    let (digits, factor) = match cleaned.char_indices().last() {
        Some((i, 'k' | 'K')) => (&cleaned[..i], 1_000),
        Some((i, 'm' | 'M')) => (&cleaned[..i], 1_000_000),
        _ => (cleaned.as_str(), 1),
    };
    let number: u64 = digits.parse().map_err(|_| bad())?;
    number.checked_mul(factor).ok_or_else(bad)
}

/// A size as people write it: `1048576`, `20MB`, `512MiB`, `2GB`, `64k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a size: write it like 20MB, 512MiB or 1048576");
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(bad()),
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    if !number.is_finite() || number < 0.0 {
        return Err(bad());
    }
    Ok((number * factor as f64) as u64)
}

/// A size for people: `16 MiB`, `1.5 KiB`, `300 bytes`.
pub fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= 1024 && b % 1024 == 0 => format!("{} KiB", b / 1024),
        b if b >= 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// Why an input file was not read.
#[derive(Debug)]
pub enum InputError {
    Io(std::io::Error),
    Directory,
    /// A device, a socket (or a pipe, where pipes are not taken).
    NotAFile,
    /// Larger than the limit (`size` when the file system says how large).
    TooLarge {
        size: Option<u64>,
        limit: u64,
    },
}

impl InputError {
    /// The problem in words: `name` is the path as given, `what` what the file is for
    /// ("a flow file"), `limit` the name of the limit that bounds it.
    pub fn describe(&self, name: &str, what: &str, limit: &str) -> (String, Option<String>) {
        match self {
            InputError::Io(e) => (format!("cannot read {name}: {e}"), None),
            InputError::Directory => (
                format!("cannot read {name}: it is a directory, not {what}"),
                None,
            ),
            InputError::NotAFile => (
                format!(
                    "cannot read {name}: it is not a regular file (a device, a socket or a pipe?), and {what} is read from a file"
                ),
                None,
            ),
            InputError::TooLarge { size, limit: max } => (
                format!(
                    "cannot read {name}: it is {}, and {what} may hold at most {}",
                    size.map(show_size)
                        .unwrap_or_else(|| format!("more than {}", show_size(*max))),
                    show_size(*max)
                ),
                Some(raise_hint(limit)),
            ),
        }
    }
}

/// Reads a file the user named, all of it but at most `max` bytes: a regular file, or a pipe
/// when `pipes` (a shell's `<(command)`); never a device, which may never end.
pub fn read_input(path: &Path, max: u64, pipes: bool) -> Result<Vec<u8>, InputError> {
    let allowed = |meta: &std::fs::Metadata| -> Result<(), InputError> {
        if meta.is_dir() {
            return Err(InputError::Directory);
        }
        #[cfg(unix)]
        let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type());
        #[cfg(not(unix))]
        let pipe = false;
        let readable = meta.is_file() || (pipes && pipe);
        if !readable {
            return Err(InputError::NotAFile);
        }
        if meta.is_file() && meta.len() > max {
            return Err(InputError::TooLarge {
                size: Some(meta.len()),
                limit: max,
            });
        }
        Ok(())
    };
    allowed(&std::fs::metadata(path).map_err(InputError::Io)?)?;
    let file = std::fs::File::open(path).map_err(InputError::Io)?;
    // The file opened may not be the one looked at: look again, then read no more than allowed.
    let meta = file.metadata().map_err(InputError::Io)?;
    allowed(&meta)?;
    // Sized from the file: reading a large flow does not double its buffer on the way.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(max)).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge {
            size: None,
            limit: max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_set_limits_by_name() {
        let limits = Limits::with(&[
            "template-output=64MiB".into(),
            "vars=50k".into(),
            "steps=20_000".into(),
            "env-file=2MB".into(),
            "template-fuel=5M".into(),
        ])
        .unwrap();
        assert_eq!(limits.template_output, 64 * MIB);
        assert_eq!(limits.vars, 50_000);
        assert_eq!(limits.steps, 20_000);
        assert_eq!(limits.env_file, 2_000_000);
        assert_eq!(limits.template_fuel, 5_000_000);
        assert_eq!(limits.flow_file, Limits::default().flow_file);
    }

    #[test]
    fn bad_assignments_say_what_is_expected() {
        let err = Limits::with(&["varz=3".into()]).unwrap_err();
        assert!(err.contains("did you mean `vars`"), "{err}");
        assert!(err.contains("template-fuel"), "{err}");
        let err = Limits::with(&["vars".into()]).unwrap_err();
        assert!(err.contains("NAME=VALUE"), "{err}");
        let err = Limits::with(&["vars=lots".into()]).unwrap_err();
        assert!(err.contains("not a count"), "{err}");
        let err = Limits::with(&["flow-file=-1MB".into()]).unwrap_err();
        assert!(err.contains("not a size"), "{err}");
        assert!(Limits::with(&["steps=99999999999999999999999".into()]).is_err());
    }

    #[test]
    fn input_files_are_regular_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(read_input(&file, 5, false).unwrap(), b"12345");
        assert!(matches!(
            read_input(&file, 4, false),
            Err(InputError::TooLarge { size: Some(5), .. })
        ));
        assert!(matches!(
            read_input(dir.path(), 4, false),
            Err(InputError::Directory)
        ));
        assert!(matches!(
            read_input(Path::new("/dev/zero"), 4, true),
            Err(InputError::NotAFile)
        ));
        let (message, help) = InputError::TooLarge {
            size: None,
            limit: 1 << 20,
        }
        .describe("x.env", "an env file", "env-file");
        assert_eq!(
            message,
            "cannot read x.env: it is more than 1 MiB, and an env file may hold at most 1 MiB"
        );
        assert!(help.unwrap().contains("--limit env-file="));
    }

    #[test]
    fn sizes_read_and_show_as_people_write_them() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert!(parse_size("lots").is_err() && parse_size("5 parsecs").is_err());
        assert_eq!(show_size(16 * MIB), "16 MiB");
        assert_eq!(show_size(1536), "1.5 KiB");
        assert_eq!(show_size(12), "12 bytes");
    }
}
