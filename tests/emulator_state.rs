//! One emulator state for `dmflow mock` and `dmflow run --mock`: tokens of either work with
//! the other and survive restarts, `--ephemeral` is a throwaway provider, a refresh appends to
//! the journal instead of rewriting the state file, two emulators never both rotate one
//! refresh token, and idle keep-alive connections are closed.

mod common;
mod emu;

use dmflow::mock::state::{Config, default_state_file};
use emu::{auto, client, emulator, runtime};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A standalone `dmflow mock --port 0` on a state directory; stopped (Ctrl-C) on drop.
struct Standalone {
    child: Child,
    base: String,
}

impl Standalone {
    fn start(state: &Path, extra: &[&str]) -> Standalone {
        let (child, base) = emu::spawn_mock(state, extra);
        Standalone { child, base }
    }

    /// `GET /me` with the token: the status.
    fn me(&self, token: &str) -> u16 {
        runtime().block_on(async {
            let response = client()
                .get(format!("{}/me", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    }

    /// The refresh_token grant.
    fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        let (status, body, _) = runtime().block_on(async {
            let response = client()
                .post(format!("{}/oauth/token", self.base))
                .form(&[
                    ("client_id", dmflow::mock::state::DEMO_CLIENT_ID),
                    ("client_secret", dmflow::mock::state::DEMO_CLIENT_SECRET),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ])
                .send()
                .await
                .unwrap();
            emu::read(response).await
        });
        (status, body)
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn run(state: &Path, args: &[&str]) -> std::process::Output {
    common::dmflow(state)
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

fn stored(state: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(state.join("profiles/mock.json")).unwrap();
    let data: Value = serde_json::from_str(&text).unwrap();
    data["values"][name].as_str().unwrap().to_string()
}

#[test]
fn tokens_of_run_mock_work_with_a_standalone_emulator_across_restarts_and_back() {
    let state = tempfile::tempdir().unwrap();
    let login = run(state.path(), &["run", "--mock", "flows/login.yaml"]);
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let access = stored(state.path(), "ACCESS_TOKEN");
    let refresh = stored(state.path(), "REFRESH_TOKEN");

    let first = Standalone::start(state.path(), &[]);
    assert_eq!(
        first.me(&access),
        200,
        "the standalone emulator accepts run --mock's token"
    );
    drop(first);
    let second = Standalone::start(state.path(), &[]);
    assert_eq!(second.me(&access), 200, "and still after a restart");
    let (status, rotated) = second.refresh(&refresh);
    assert_eq!(status, 200, "{rotated}");
    let (status, _) = second.refresh(&refresh);
    assert_eq!(status, 400, "a refresh token is rotated once");
    let ephemeral = Standalone::start(state.path(), &["--ephemeral"]);
    assert_eq!(
        ephemeral.me(&access),
        401,
        "an ephemeral emulator is another provider"
    );
    drop(ephemeral);

    let again = run(state.path(), &["run", "--mock", "flows/refresh.yaml"]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "run --mock knows the standalone emulator used it"
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("Invalid refresh token."));

    let new_access = rotated["access_token"].as_str().unwrap();
    let me = run(
        state.path(),
        &[
            "run",
            "--mock",
            "--no-store",
            "flows/me.yaml",
            "--var",
            &format!("ACCESS_TOKEN={new_access}"),
        ],
    );
    assert!(
        me.status.success(),
        "run --mock accepts the standalone emulator's token: {}",
        String::from_utf8_lossy(&me.stderr)
    );
    let file = default_state_file(state.path());
    assert!(file.exists() && file.with_extension("key").exists());
}

#[test]
fn a_refresh_appends_to_the_journal_and_leaves_the_state_file_alone() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("emulator.json");
        let emu = emulator(Config {
            state_file: Some(file.clone()),
            ..auto()
        })
        .await;
        let mut refresh = emu.sign_in().await["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, body) = emu.refresh(&refresh).await;
        assert_eq!(status, 200, "{body}");
        refresh = body["refresh_token"].as_str().unwrap().to_string();
        let snapshot = std::fs::read(&file).unwrap();
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let journal = file.with_extension("journal");
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        let before = lines(&journal);
        for _ in 0..20 {
            let (status, body) = emu.refresh(&refresh).await;
            assert_eq!(status, 200, "{body}");
            refresh = body["refresh_token"].as_str().unwrap().to_string();
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            snapshot,
            "the state file is not rewritten"
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            modified
        );
        assert_eq!(lines(&journal), before + 20, "one journal line per refresh");
    });
}

#[test]
fn two_emulators_on_one_state_never_both_rotate_a_refresh_token() {
    let threaded = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    threaded.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_file: Some(dir.path().join("emulator.json")),
            ..auto()
        };
        let a = emulator(config.clone()).await;
        let b = emulator(config).await;
        for _ in 0..15 {
            let refresh = a.sign_in().await["refresh_token"]
                .as_str()
                .unwrap()
                .to_string();
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ];
            let (first, second) = tokio::join!(a.token(&form), b.token(&form));
            let successes = [first.0, second.0].iter().filter(|s| **s == 200).count();
            assert_eq!(successes, 1, "{first:?} {second:?}");
        }
    });
}

/// Sends one request on `stream` and reads its whole answer.
async fn exchange(stream: &mut tokio::net::TcpStream) -> String {
    stream
        .write_all(b"GET /echo?message=hi HTTP/1.1\r\nHost: emulator\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("{\"message\":\"hi\"}") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    runtime().block_on(async {
        let emu = emulator(Config {
            idle_timeout: Duration::from_millis(300),
            ..Config::default()
        })
        .await;
        let mut stream = tokio::net::TcpStream::connect(emu.running.addr)
            .await
            .unwrap();
        assert!(exchange(&mut stream).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            exchange(&mut stream).await.starts_with("HTTP/1.1 200"),
            "kept alive while in use"
        );
        tokio::time::sleep(Duration::from_millis(900)).await;
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "closed once idle: {read:?}"
        );
    });
}
