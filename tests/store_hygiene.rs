//! The token store kept like ssh keeps keys: a store or directory others can read is made
//! private with a warning; one others can write, or another user owns, is refused (exit 3)
//! and left as it is; a symlinked store is written through to its target, never replaced.

mod common;

use common::{output_text, run_in_repo};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn signed_in() -> (tempfile::TempDir, PathBuf) {
    let state = tempfile::tempdir().unwrap();
    let login = run_in_repo(state.path(), &["run", "--mock", "flows/login.yaml"]);
    assert!(login.status.success(), "{}", output_text(&login));
    let store = state.path().join("profiles/mock.json");
    (state, store)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_store_others_can_read_is_made_private_with_a_warning() {
    let (state, store) = signed_in();
    chmod(&store, 0o644);
    chmod(store.parent().unwrap(), 0o755);
    let output = run_in_repo(state.path(), &["status", "--mock"]);
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        out.contains("was readable by others (mode 0644): made it 0600"),
        "{out}"
    );
    assert!(out.contains("revoke them"), "{out}");
    assert!(
        out.contains("was open to others (mode 0755): made it 0700"),
        "{out}"
    );
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o700);
    let again = run_in_repo(state.path(), &["status", "--mock"]);
    assert!(
        !output_text(&again).contains("warning"),
        "{}",
        output_text(&again)
    );
}

#[test]
fn a_store_others_can_write_is_refused_and_left_alone() {
    let (state, store) = signed_in();
    let content = std::fs::read(&store).unwrap();
    chmod(&store, 0o660);
    for args in [
        vec!["token", "--mock"],
        vec!["run", "--mock", "flows/me.yaml"],
    ] {
        let output = run_in_repo(state.path(), &args);
        let out = output_text(&output);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {out}");
        assert!(
            out.contains("can be written by others (mode 0660)"),
            "{out}"
        );
        assert!(out.contains("chmod 600"), "{out}");
    }
    assert_eq!(mode(&store), 0o660, "left as it is");
    assert_eq!(std::fs::read(&store).unwrap(), content);
    chmod(&store, 0o600);
    chmod(store.parent().unwrap(), 0o777);
    let output = run_in_repo(state.path(), &["token", "--mock"]);
    assert_eq!(output.status.code(), Some(3), "{}", output_text(&output));
    assert!(
        output_text(&output).contains("chmod go-w"),
        "{}",
        output_text(&output)
    );
}

#[test]
fn a_store_another_user_owns_is_refused() {
    let (state, store) = signed_in();
    if std::fs::metadata(&store).unwrap().uid() != 0 {
        eprintln!("SKIPPED: giving a file to another user needs root");
        return;
    }
    std::os::unix::fs::chown(&store, Some(65534), None).unwrap();
    let output = run_in_repo(state.path(), &["status", "--mock"]);
    let out = output_text(&output);
    assert_eq!(output.status.code(), Some(3), "{out}");
    assert!(out.contains("belongs to another user (uid 65534"), "{out}");
}

#[test]
fn a_symlinked_store_is_written_through_to_its_target() {
    let state = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("dmflow-mock.json");
    let profiles = state.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    chmod(&profiles, 0o700);
    let link = profiles.join("mock.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let login = run_in_repo(state.path(), &["run", "--mock", "flows/login.yaml"]);
    assert!(login.status.success(), "{}", output_text(&login));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was not replaced by a file"
    );
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert!(data["values"]["REFRESH_TOKEN"].is_string(), "{data}");
    assert_eq!(mode(&target), 0o600);
    let refresh = run_in_repo(state.path(), &["run", "--mock", "flows/refresh.yaml"]);
    assert!(refresh.status.success(), "{}", output_text(&refresh));
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_ne!(
        after["values"]["REFRESH_TOKEN"],
        data["values"]["REFRESH_TOKEN"]
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
