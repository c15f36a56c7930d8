//! `flows/upload.yaml` end to end against an emulator this test holds (so the stored file can
//! be read back): a few MB generated here go up through `multipart:`, the video is created,
//! polled with `retry.until` until published, and its id comes out; the emulator's copy is
//! byte-identical. A token without `manage_videos`, an empty title and a file over the size cap
//! each fail with the emulator's documented error.

mod common;
mod emu;

use serde_json::Value;
use std::path::Path;

struct Run {
    code: Option<i32>,
    json: Value,
    stderr: String,
}

fn run_upload(state: &Path, base: &str, token: &str, file: &Path, extra: &[&str]) -> Run {
    let output = common::dmflow(state)
        .current_dir(common::repo())
        .args(["run", "--no-store", "--json", "flows/upload.yaml"])
        .args(["--var", &format!("api={base}")])
        .args(["--var", &format!("ACCESS_TOKEN={token}")])
        .args(["--var", &format!("VIDEO_FILE={}", file.display())])
        .args(extra)
        .output()
        .unwrap();
    Run {
        code: output.status.code(),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn step<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["flows"][0]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {json:#}"))
}

fn video_bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = 7;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

#[test]
fn upload_yaml_publishes_a_file_and_the_emulator_keeps_it_whole() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let config = dmflow::mock::state::Config {
        max_upload_bytes: 4 * 1024 * 1024,
        ..emu::auto()
    };
    let emu = runtime.block_on(emu::emulator(config));
    let token = runtime.block_on(emu.access_token("userinfo manage_videos"));
    let narrow = runtime.block_on(emu.access_token("userinfo"));
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let bytes = video_bytes(3 * 1024 * 1024 + 17);
    std::fs::write(&clip, &bytes).unwrap();

    let ok = run_upload(state.path(), &emu.base, &token, &clip, &[]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let video_id = ok.json["flows"][0]["outputs"]["VIDEO_ID"]
        .as_str()
        .expect("VIDEO_ID is an output")
        .to_string();
    assert!(video_id.starts_with('x'), "{video_id}");
    let wait = step(&ok.json, "wait-published");
    assert!(wait["attempts"].as_u64().unwrap() >= 2, "{wait:#}");
    assert_eq!(wait["saved"]["STATUS"], "published");
    assert_eq!(step(&ok.json, "sign-in")["outcome"], "skipped");
    let file_url = step(&ok.json, "send-file")["saved"]["FILE_URL"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = runtime.block_on(async {
        let response = emu.client.get(&file_url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap()
    });
    assert!(
        stored.as_ref() == bytes.as_slice(),
        "the emulator's copy differs"
    );
    let (status, video, _) = runtime.block_on(emu.get(
        &format!("/video/{video_id}?fields=status,title"),
        Some(&token),
    ));
    assert_eq!((status, video["status"].as_str()), (200, Some("published")));

    let no_scope = run_upload(state.path(), &emu.base, &narrow, &clip, &[]);
    assert_eq!(no_scope.code, Some(1), "{}", no_scope.stderr);
    assert!(
        no_scope
            .stderr
            .contains("Insufficient rights for route GET /file/upload"),
        "{}",
        no_scope.stderr
    );
    assert!(no_scope.stderr.contains("lacks the scope `manage_videos`"));

    let untitled = run_upload(state.path(), &emu.base, &token, &clip, &["--var", "title="]);
    assert_eq!(untitled.code, Some(1), "{}", untitled.stderr);
    assert_eq!(step(&untitled.json, "create")["status"], 400);
    assert!(
        untitled
            .stderr
            .contains("Missing required `title' parameter."),
        "{}",
        untitled.stderr
    );

    let big = dir.path().join("big.mp4");
    std::fs::write(&big, video_bytes(4 * 1024 * 1024 + 1)).unwrap();
    let oversized = run_upload(state.path(), &emu.base, &token, &big, &[]);
    assert_eq!(oversized.code, Some(1), "{}", oversized.stderr);
    assert_eq!(step(&oversized.json, "send-file")["status"], 413);
    assert!(
        oversized
            .stderr
            .contains("The file is larger than the upload limit (4194304 bytes)."),
        "{}",
        oversized.stderr
    );
}
