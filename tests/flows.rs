//! Every flow in `flows/` runs against the emulator through `dmflow test`, and its redacted
//! transcript is compared with dmflow's own snapshot file, `snapshots/<flow name>.snap`: the
//! files `dmflow test --mock flows/*.yaml` reads in this repository. Adding a flow writes its
//! snapshot (to commit); under CI=true a missing or changed snapshot fails the build;
//! `DMFLOW_UPDATE=1 cargo test --test flows` accepts a change.

mod common;

use common::{flow_files, repo};

#[test]
fn every_flow_matches_its_snapshot() {
    let state = tempfile::tempdir().unwrap();
    common::passes(
        common::dmflow(state.path())
            .current_dir(repo())
            .args(["test", "--mock"])
            .args(flow_files()),
    );
    for file in flow_files() {
        let flow = dmflow::flow::load(&repo().join(&file)).expect("the flow parses");
        let path = dmflow::snapshot::path_for(&repo().join("snapshots"), &flow);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no snapshot for {file} at {}: {e}", path.display()));
        assert!(
            text.contains(&format!("# flow file: {file}\n")),
            "{}",
            path.display()
        );
        for secret in [dmflow::mock::state::DEMO_CLIENT_SECRET, "dma.", "dmr."] {
            assert!(!text.contains(secret), "{file}: {secret} in the snapshot");
        }
    }
}
