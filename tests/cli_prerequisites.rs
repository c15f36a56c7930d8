//! What `cargo test` needs besides Rust, checked out loud: the oidc-provider tests in
//! tests/oauth.rs return early when `tests/oidc/node_modules` is missing, which would make a
//! plain `cargo test` pass them without running them. This test fails instead, saying how to
//! install it, unless the skip is asked for by name (DMFLOW_SKIP_OIDC=1).

use std::path::Path;

#[test]
fn the_oidc_provider_tests_can_run() {
    if std::env::var_os("DMFLOW_SKIP_OIDC").is_some_and(|v| v == "1") {
        eprintln!(
            "SKIPPED ON REQUEST (DMFLOW_SKIP_OIDC=1): the five oidc-provider tests of tests/oauth.rs do not run"
        );
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider/package.json")
            .is_file(),
        "oidc-provider is not installed, so the five tests of tests/oauth.rs that sign in to it \
         would pass without running. Install it with `npm ci --prefix tests/oidc` (needs Node.js \
         and npm; .ci/run does both), or set DMFLOW_SKIP_OIDC=1 to skip them knowingly."
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` does not run ({node:?}): the oidc-provider tests need Node.js on PATH"
    );
}
