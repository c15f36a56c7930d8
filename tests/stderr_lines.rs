//! Step lines on a stderr that is not a terminal (a CI log): written in batches, yet a step's
//! line shows while the next step waits on its server, and the lines keep their order.

mod common;

use common::gate::Gate;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn a_step_line_shows_while_the_next_step_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gate = Gate::start(|_| (200, "{}".into()));
    let flow = common::write_flow(
        dir.path(),
        "wait.yaml",
        &format!(
            "name: wait\nsteps:\n  - name: quick\n    http:\n      url: {}/items/1\n  - name: held\n    http:\n      url: {}/held\n",
            common::server(),
            gate.url
        ),
    );
    let mut child = common::dmflow_process(&dir.path().join("state"))
        .args(["run", "--no-store"])
        .arg(&flow)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dmflow starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    gate.next(); // the second step is waiting for its answer
    let shown = (0..100).find_map(|_| {
        let line = lines.recv_timeout(Duration::from_millis(100)).ok()?;
        line.contains("quick").then_some(line)
    });
    gate.release();
    let status = child.wait().expect("dmflow ends");
    reader.join().expect("the reader ends");
    let rest: Vec<String> = lines.try_iter().collect();
    assert!(
        shown.is_some(),
        "the first step's line was held while the second step waited; after: {rest:?}"
    );
    assert!(status.success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("held")), "{rest:?}");
    let summary = rest.iter().position(|l| l.contains("1 flow: 1 passed"));
    let held = rest.iter().position(|l| l.contains("held"));
    assert!(
        held < summary,
        "the step line comes before the summary: {rest:?}"
    );
}
