//! The system calls a step costs, counted by strace: on a kept-alive connection to a loopback
//! server, a GET step sends once, waits on the I/O driver once and reads once, and its line
//! goes to a stderr that is not a terminal in batches, not with a write of its own. Speed
//! itself is measured by bench/speed.py; this keeps the per-step budget from creeping back up.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const STEPS: usize = 200;

/// `strace -f -c` of `dmflow run` on a flow of STEPS GETs: calls per system call, and how
/// long the run took.
fn counted_calls() -> (HashMap<String, usize>, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let steps: String = (1..=STEPS)
        .map(|i| {
            format!(
                "  - name: get{i}\n    http:\n      url: {}/items/{i}\n    expect:\n      status: 200\n",
                common::server()
            )
        })
        .collect();
    let flow = common::write_flow(
        dir.path(),
        "steps.yaml",
        &format!("name: steps\nsteps:\n{steps}"),
    );
    let counts = dir.path().join("counts");
    let dmflow = common::dmflow_process(&dir.path().join("state"));
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-c", "-o"])
        .arg(&counts)
        .arg(dmflow.get_program());
    strace.args(["run", "--no-store"]).arg(&flow);
    for (name, value) in dmflow.get_envs() {
        match value {
            Some(value) => strace.env(name, value),
            None => strace.env_remove(name),
        };
    }
    let started = Instant::now();
    let output = strace.output().expect("strace runs (.ci/run installs it)");
    let took = started.elapsed();
    assert!(output.status.success(), "{}", common::output_text(&output));
    let table = std::fs::read_to_string(&counts).expect("strace wrote its counts");
    // Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
    let calls = table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.last()?;
            let calls = fields.get(3)?.parse().ok()?;
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                .then(|| (name.to_string(), calls))
        })
        .collect();
    (calls, took)
}

#[test]
fn a_step_sends_once_waits_once_and_reads_once() {
    let (calls, took) = counted_calls();
    let per_step = |name: &str| calls.get(name).copied().unwrap_or(0) as f64 / STEPS as f64;
    // Start-up and the connection add a few calls of each: a tenth of a call a step of slack.
    assert!(per_step("writev") + per_step("sendto") <= 1.1, "{calls:?}");
    assert!(per_step("epoll_wait") <= 1.1, "{calls:?}");
    assert!(per_step("recvfrom") + per_step("read") <= 1.1, "{calls:?}");
    assert!(
        per_step("writev") + per_step("sendto") >= 1.0,
        "the steps did not run: {calls:?}"
    );
    // The step lines go out at most every 20 ms (dmflow::report::deferred::PACE), plus a few
    // writes at start-up and for the summary: far fewer than one a step.
    let batches = took.as_millis() as usize / 20 + 10;
    let writes = calls.get("write").copied().unwrap_or(0);
    assert!(
        writes <= batches && writes < STEPS / 2,
        "{writes} writes for {STEPS} step lines in {took:?}: {calls:?}"
    );
}
