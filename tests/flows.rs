//! Every flow in `flows/` runs against the emulator, and its redacted transcript is a snapshot
//! in `snapshots/` (insta's glob: adding a flow file adds a snapshot, with no Rust written).
//! Under CI=true a changed transcript fails the build; `cargo insta review` or
//! `INSTA_UPDATE=always cargo test` accepts it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs every flow once (`dmflow test --mock --update` into a scratch directory) and keeps
/// the transcripts it wrote.
fn transcripts() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut flows: Vec<PathBuf> = std::fs::read_dir(repo().join("flows"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        flows.sort();
        let output = common::dmflow(&dir.path().join("state"))
            .current_dir(repo())
            .args(["test", "--mock", "--update", "--snapshots"])
            .arg(dir.path().join("transcripts"))
            .args(&flows)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
    .path()
}

#[test]
fn every_flow_matches_its_snapshot() {
    let mut settings = common::snapshot_settings();
    settings.set_input_file(repo().join("flows"));
    settings.bind(|| {
        insta::glob!("../flows", "*.yaml", |path| {
            let flow = dmflow::flow::load(path).expect("the flow parses");
            let file = dmflow::snapshot::path_for(&transcripts().join("transcripts"), &flow);
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("no transcript for {}: {e}", path.display()));
            let body: String = text
                .lines()
                .skip_while(|l| l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect();
            for secret in [dmflow::mock::state::DEMO_CLIENT_SECRET, "dma.", "dmr."] {
                assert!(
                    !body.contains(secret),
                    "{}: {secret} in the transcript",
                    path.display()
                );
            }
            insta::assert_snapshot!("transcript", body);
        });
    });
}
