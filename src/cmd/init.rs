//! `dmflow init [DIR]`: a new project with the sign-in flow, a flow that calls the API with
//! its token, the flow schema for editors, `.env.example`, and the `.gitignore` lines that keep
//! secrets out of git. A file that exists is never overwritten; `.gitignore` only gains the
//! lines it lacks.

use super::Failure;
use crate::cli::InitArgs;
use dmflow::Category;
use dmflow::steps::Registry;
use std::path::Path;

const ENV_EXAMPLE: &str = "\
# Copy to .env and fill in (.env stays out of git); then: dmflow run --env-file .env flows/login.yaml
# Your Dailymotion API key and secret:
DM_API_KEY=
DM_API_SECRET=
# The Callback URL registered with the API key (Dailymotion compares it byte for byte):
DM_REDIRECT_URI=http://127.0.0.1:8080/callback
";

/// Lines `.gitignore` must have: secrets and token exports never reach git.
const GITIGNORE: &[&str] = &[".env", ".env.*", "!.env.example", "*.tokens"];

pub fn command(args: InitArgs) -> Result<Category, Failure> {
    let dir = &args.dir;
    let schema = dmflow::schema::flow_schema_text(&Registry::builtin());
    let files: [(&str, &str); 4] = [
        ("flows/login.yaml", include_str!("../../flows/login.yaml")),
        ("flows/me.yaml", include_str!("../../flows/me.yaml")),
        ("schemas/flow.schema.json", &schema),
        (".env.example", ENV_EXAMPLE),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        if path.exists() {
            super::ui::note(&format!("{} exists, left alone", path.display()));
            continue;
        }
        write_new(&path, text)?;
        super::ui::note(&format!("wrote {}", path.display()));
    }
    add_gitignore_lines(&dir.join(".gitignore"))?;
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", shell_quote(&dir.display().to_string()))
    };
    eprintln!(
        "\nnext:\n  {cd}dmflow run --mock flows/login.yaml flows/me.yaml     # on the built-in emulator\n  cp .env.example .env                                   # then fill in your API key\n  dmflow run --env-file .env flows/login.yaml flows/me.yaml"
    );
    Ok(Category::Ok)
}

/// Creates a file that must not exist yet (and its directory).
fn write_new(path: &Path, text: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(
            Category::Runtime,
            format!("cannot write {}: {e}", path.display()),
            None,
        )
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(fail)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(fail)
}

/// Appends the lines `.gitignore` lacks, creating it if needed.
fn add_gitignore_lines(path: &Path) -> Result<(), Failure> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::new(
                Category::Runtime,
                format!("cannot read {}: {e}", path.display()),
                None,
            ));
        }
    };
    let present: Vec<&str> = existing.lines().map(str::trim).collect();
    let missing: Vec<&str> = GITIGNORE
        .iter()
        .copied()
        .filter(|line| !present.contains(line))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# dmflow: secrets and exported tokens stay out of git\n");
    for line in &missing {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| {
        Failure::new(
            Category::Runtime,
            format!("cannot write {}: {e}", path.display()),
            None,
        )
    })?;
    super::ui::note(&format!(
        "{} {}: {}",
        if existing.is_empty() {
            "wrote"
        } else {
            "added to"
        },
        path.display(),
        missing.join(" ")
    ));
    Ok(())
}

/// Quotes a path for the shell when it needs it.
fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
