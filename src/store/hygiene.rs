//! The token store kept like ssh keeps keys. Before a profile is read or written, its file and
//! the directories above it are checked:
//!
//! - **refused**: a file or directory owned by another user (root may own a directory, as ssh
//!   allows), or one that others (group or world) can write, except a sticky directory such as
//!   `/tmp`. Whoever can write there can plant tokens, or a token URL that would receive the
//!   client secret on the next refresh, or swap the file; and dmflow would write fresh tokens
//!   into a file they can read.
//! - **warned about, then tightened** (file 0600, directory 0700): a file or the profiles
//!   directory that others can read. Refusing would not un-read the tokens; the warning says to
//!   revoke them.
//! - a **symlinked store file** is followed: the file written (atomically, beside it) is its
//!   target, which is checked the same way; a dangling or looping link is refused with a
//!   message. The link itself is never replaced.

use super::StoreError;
use std::path::{Path, PathBuf};

/// What the check found: the file to read and write, and the warnings to show.
#[derive(Debug)]
pub struct Checked {
    pub target: PathBuf,
    pub warnings: Vec<String>,
}

#[cfg(unix)]
fn current_user() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn refuse(message: String, help: String) -> StoreError {
    StoreError::new(message).with_help(help)
}

/// Checks the store file `path` (see the module's documentation); with `tighten`, what others
/// can read is made private and reported in the warnings.
pub fn check(path: &Path, tighten: bool) -> Result<Checked, StoreError> {
    let target = target_of(path)?;
    let mut warnings = Vec::new();
    #[cfg(unix)]
    {
        let user = current_user();
        let profiles = path.parent().unwrap_or(Path::new("."));
        if let Some(state) = profiles.parent().filter(|p| !p.as_os_str().is_empty()) {
            check_dir(state, user, false, &mut warnings)?;
        }
        check_dir(profiles, user, tighten, &mut warnings)?;
        if target != path
            && let Some(dir) = target.parent()
        {
            check_dir(dir, user, false, &mut warnings)?;
        }
        check_file(path, &target, user, tighten, &mut warnings)?;
    }
    let _ = tighten;
    Ok(Checked { target, warnings })
}

/// The file a store path stands for: itself, or the end of its chain of symlinks (which may
/// not exist yet: it is then created there).
fn target_of(path: &Path) -> Result<PathBuf, StoreError> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        let is_link = std::fs::symlink_metadata(&current)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if !is_link {
            return Ok(current);
        }
        let next = std::fs::read_link(&current).map_err(|e| {
            StoreError::new(format!(
                "cannot read the symlink {}: {e}",
                current.display()
            ))
        })?;
        current = match current.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
    }
    Err(refuse(
        format!("the token store {} is a loop of symlinks", path.display()),
        "point the link at a file (or remove it: dmflow then writes a regular file)".into(),
    ))
}

/// A store file or directory owned by another user (`shown` names it), refused.
#[cfg(unix)]
fn foreign(shown: &str, owner: u32, user: u32, path: &Path) -> StoreError {
    refuse(
        format!(
            "the token store{shown} belongs to another user (uid {owner}, you are uid {user}): dmflow does not use it"
        ),
        format!(
            "a store must be yours alone: use your own state directory (--state-dir or DMFLOW_STATE_DIR), or take it over with chown {user} {}",
            path.display()
        ),
    )
}

#[cfg(unix)]
fn check_dir(
    dir: &Path,
    user: u32,
    tighten: bool,
    warnings: &mut Vec<String>,
) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    if meta.uid() != user && meta.uid() != 0 {
        let shown = format!("'s directory {}", dir.display());
        return Err(foreign(&shown, meta.uid(), user, dir));
    }
    let mode = meta.mode() & 0o7777;
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(refuse(
            format!(
                "the token store's directory {} can be written by others (mode {:04o}): they could replace the store, so dmflow does not use it",
                dir.display(),
                mode
            ),
            format!("make it yours alone: chmod go-w {}", dir.display()),
        ));
    }
    if tighten && mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StoreError::new(format!("cannot make {} private: {e}", dir.display())))?;
        warnings.push(format!(
            "the token store's directory {} was open to others (mode {:04o}): made it 0700",
            dir.display(),
            mode
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn check_file(
    path: &Path,
    target: &Path,
    user: u32,
    tighten: bool,
    warnings: &mut Vec<String>,
) -> Result<(), StoreError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(target) else {
        return Ok(());
    };
    let shown = if target == path {
        path.display().to_string()
    } else {
        format!("{} (the target of {})", target.display(), path.display())
    };
    if !meta.is_file() {
        return Err(refuse(
            format!("the token store {shown} is not a regular file"),
            "move it away; dmflow writes a new store when you sign in again".into(),
        ));
    }
    if meta.uid() != user {
        return Err(foreign(&format!(" {shown}"), meta.uid(), user, target));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(refuse(
            format!(
                "the token store {shown} can be written by others (mode {mode:04o}): they could have planted tokens or a token URL, so dmflow does not use it"
            ),
            format!(
                "check its content (or remove it and sign in again), then chmod 600 {}",
                target.display()
            ),
        ));
    }
    if tighten && mode & 0o044 != 0 {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            StoreError::new(format!("cannot make {} private: {e}", target.display()))
        })?;
        warnings.push(format!(
            "the token store {shown} was readable by others (mode {mode:04o}): made it 0600; if others use this machine, its tokens may have been read: revoke them (dmflow logout) and sign in again"
        ));
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn store_in(dir: &Path) -> PathBuf {
        let profiles = dir.join("profiles");
        std::fs::create_dir(&profiles).unwrap();
        std::fs::set_permissions(&profiles, std::fs::Permissions::from_mode(0o700)).unwrap();
        let file = profiles.join("p.json");
        std::fs::write(&file, "{}").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        file
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_private_store_passes_quietly() {
        let dir = tempfile::tempdir().unwrap();
        let file = store_in(dir.path());
        let checked = check(&file, true).unwrap();
        assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
        assert_eq!(checked.target, file);
    }

    #[test]
    fn readable_by_others_is_tightened_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let file = store_in(dir.path());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let profiles = file.parent().unwrap();
        std::fs::set_permissions(profiles, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check(&file, false).unwrap().warnings.is_empty());
        let warnings = check(&file, true).unwrap().warnings;
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[1].contains("mode 0644"), "{warnings:?}");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(profiles), 0o700);
    }

    #[test]
    fn writable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = store_in(dir.path());
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o620)).unwrap();
        let error = check(&file, true).unwrap_err();
        assert!(
            error.message.contains("can be written by others"),
            "{error}"
        );
        assert_eq!(mode(&file), 0o620, "left as it is");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let state = dir.path();
        std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            check(&file, true).is_err(),
            "a world-writable state directory"
        );
        std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check(&file, true).is_ok(), "unless sticky, as /tmp is");
    }

    #[test]
    fn a_symlink_is_followed_to_its_end_and_a_loop_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = store_in(dir.path());
        let link = file.with_file_name("link.json");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(check(&link, true).unwrap().target, file);
        let dangling = file.with_file_name("dangling.json");
        std::os::unix::fs::symlink("nowhere.json", &dangling).unwrap();
        assert_eq!(
            check(&dangling, true).unwrap().target,
            file.with_file_name("nowhere.json"),
            "a link to a file not there yet: the file is created there"
        );
        let looping = file.with_file_name("loop.json");
        std::os::unix::fs::symlink("loop.json", &looping).unwrap();
        let error = check(&looping, true).unwrap_err();
        assert!(error.message.contains("loop of symlinks"), "{error}");
    }
}
