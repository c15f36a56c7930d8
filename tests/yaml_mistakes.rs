//! The YAML mistakes people make, each a file under tests/yaml_mistakes/: `dmflow check` must
//! refuse it (exit 2) with file:line:col and words that say what to write instead. The whole
//! stderr of each is a golden file (snapshots/yaml_mistake@NAME.yaml.snap): a worse message fails
//! the build, a better one is accepted with `cargo insta review`.

mod common;

use common::{dmflow, repo, snapshot_settings};

#[test]
fn each_yaml_mistake_gets_a_message_that_says_what_to_do() {
    let state = tempfile::tempdir().expect("temp dir");
    snapshot_settings().bind(|| {
        insta::glob!(repo().join("tests/yaml_mistakes"), "*.yaml", |path| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let output = dmflow(state.path())
                .current_dir(path.parent().unwrap())
                .args(["check", &name])
                .output()
                .expect("dmflow runs");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
            assert!(
                stderr.contains(&format!("{name}:")),
                "{name}: the message names the file, line and column:\n{stderr}"
            );
            insta::assert_snapshot!("yaml_mistake", stderr);
        });
    });
}
