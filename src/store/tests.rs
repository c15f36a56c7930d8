use super::*;
use crate::tokens::names::{ACCESS_TOKEN, EXPIRES_AT, EXPIRES_IN, REFRESH_TOKEN};
use serde_json::json;

#[test]
fn round_trip_and_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path(), "work").unwrap();
    assert!(store.read().unwrap().values.is_empty());
    store
        .update(|d| {
            d.values.insert(ACCESS_TOKEN.into(), json!("a1"));
        })
        .unwrap();
    let data = store.read().unwrap();
    assert_eq!(data.text(ACCESS_TOKEN).as_deref(), Some("a1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&store.path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let profiles = store.path.parent().unwrap();
        assert_eq!(
            std::fs::metadata(profiles).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let names: Vec<String> = std::fs::read_dir(store.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "no temp file is left: {names:?}"
    );
}

#[test]
fn corrupt_files_are_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path(), "default").unwrap();
    std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
    std::fs::write(&store.path, "{ not json").unwrap();
    let err = store.read().unwrap_err().message;
    assert!(err.contains(&store.path.display().to_string()), "{err}");
    assert!(store.update(|_| {}).is_err());
    assert_eq!(std::fs::read_to_string(&store.path).unwrap(), "{ not json");
}

#[test]
fn profile_names_are_checked() {
    assert!(ProfileStore::new(Path::new("/tmp"), "../etc").is_err());
    assert!(ProfileStore::new(Path::new("/tmp"), "ci-main_2").is_ok());
}

#[test]
fn refresh_skew() {
    let mut data = ProfileData::default();
    data.values.insert(EXPIRES_AT.into(), json!(1000 + 36000));
    data.values.insert(EXPIRES_IN.into(), json!(36000));
    assert!(!data.needs_refresh(1000));
    assert!(data.needs_refresh(1000 + 36000 - 3600));
    data.values.insert(EXPIRES_IN.into(), json!(100));
    data.values.insert(EXPIRES_AT.into(), json!(1100));
    assert!(!data.needs_refresh(1000));
    assert!(data.needs_refresh(1041));
}

/// A reservation spending the stored refresh token, left by a process that died, tells the
/// next reader under the lock why that token may be dead; the reader writes that into the
/// profile and removes the leftover.
#[test]
fn a_dead_writers_reservation_explains_the_stored_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path(), "p").unwrap();
    store
        .update(|d| {
            d.values.insert(REFRESH_TOKEN.into(), json!("r1"));
        })
        .unwrap();
    let locked = store.lock().unwrap();
    let reservation = locked.reserve(Some("r1")).unwrap();
    let leftover = reservation.path().to_path_buf();
    std::mem::forget(reservation);
    drop(locked);

    let locked = store.lock().unwrap();
    let data = locked.read().unwrap();
    let unanswered = data.unanswered_for("r1").expect("known").clone();
    assert_eq!(unanswered.pid, std::process::id());
    assert!(data.unanswered_for("r2").is_none());
    assert!(
        unanswered
            .explain()
            .contains("ended before it could store the answer")
    );
    assert!(!leftover.exists(), "cleared by the reader under the lock");
    drop(locked);
    assert!(
        store.read().unwrap().unanswered_for("r1").is_some(),
        "the knowledge outlives the leftover"
    );
}

/// A writer killed between writing the new profile and renaming it into place: the next
/// reader under the lock adopts that write (it is newer), so the rotation it holds is kept; a
/// deleted profile never comes back that way.
#[test]
fn a_write_that_was_never_renamed_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path(), "p").unwrap();
    let stored = store
        .update(|d| {
            d.values.insert(REFRESH_TOKEN.into(), json!("r1"));
            d.generation = 1;
        })
        .unwrap();
    let mut rotated = stored.clone();
    rotated.values.insert(REFRESH_TOKEN.into(), json!("r2"));
    rotated.generation += 1;
    let locked = store.lock().unwrap();
    let reservation = locked.reserve(Some("r1")).unwrap();
    std::fs::write(
        reservation.path(),
        serde_json::to_vec_pretty(&rotated).unwrap(),
    )
    .unwrap();
    std::mem::forget(reservation);
    drop(locked);

    let locked = store.lock().unwrap();
    let data = locked.read().unwrap();
    assert_eq!(data.text(REFRESH_TOKEN).as_deref(), Some("r2"));
    assert!(data.unanswered.is_none());
    drop(locked);
    assert_eq!(
        store.read().unwrap().text(REFRESH_TOKEN).as_deref(),
        Some("r2")
    );

    let locked = store.lock().unwrap();
    let reservation = locked.reserve(None).unwrap();
    rotated.generation += 1;
    std::fs::write(reservation.path(), serde_json::to_vec(&rotated).unwrap()).unwrap();
    std::mem::forget(reservation);
    assert!(locked.delete().unwrap());
    drop(locked);
    assert!(
        store.update(|_| {}).unwrap().values.is_empty(),
        "deleted stays deleted"
    );
}

#[test]
fn an_unwritable_store_is_found_when_reserving() {
    let dir = tempfile::tempdir().unwrap();
    // The state directory is a file: nothing can be created under it, whoever runs this.
    let state = dir.path().join("state");
    std::fs::write(&state, "").unwrap();
    let store = ProfileStore::new(&state, "p").unwrap();
    let error = store.probe().unwrap_err();
    assert!(error.message.contains("cannot create"), "{error}");
    assert!(error.help.unwrap().contains("--no-store"));
}

#[cfg(unix)]
#[test]
fn a_symlinked_store_is_written_through_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::new(dir.path(), "p").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("tokens.json");
    std::fs::write(
        &target,
        r#"{"version":1,"profile":"p","values":{},"updated_at":0}"#,
    )
    .unwrap();
    std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, &store.path).unwrap();
    store
        .update(|d| {
            d.values.insert("USER_ID".into(), json!("x1"));
        })
        .unwrap();
    assert!(
        std::fs::symlink_metadata(&store.path)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(written["values"]["USER_ID"], "x1");
    assert!(store.delete().unwrap());
    assert!(!target.exists(), "delete removes the target");
    store.update(|_| {}).unwrap();
    assert!(
        target.exists(),
        "and the next write creates it again, behind the link"
    );
    assert!(
        std::fs::symlink_metadata(&store.path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
