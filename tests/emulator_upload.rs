//! The emulator's upload workflow, driven with a plain HTTP client (reqwest, multipart) as the
//! official SDKs drive Dailymotion's: `GET /file/upload`, the file POSTed to `upload_url`,
//! `POST /me/videos` with the returned `url`, processing polled until published, edit, delete;
//! and each documented error.

mod emu;

use dmflow::mock::state::{Config, Encoding};
use emu::{Emu, auto, emulator, read, runtime};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// `len` bytes of deterministic noise (a video file stand-in that does not compress).
fn file_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// `GET /file/upload` with the token: (upload_url, progress_url).
async fn upload_urls(emu: &Emu, token: &str) -> (String, String) {
    let (status, body, _) = emu.get("/file/upload", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    (
        body["upload_url"].as_str().unwrap().to_string(),
        body["progress_url"].as_str().unwrap().to_string(),
    )
}

/// POSTs `bytes` to `upload_url` as the SDKs do: multipart, one part named `file`.
async fn send_file(emu: &Emu, upload_url: &str, bytes: Vec<u8>) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("holiday.mp4")
        .mime_str("video/mp4")
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = emu
        .client
        .post(upload_url)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body, _) = read(response).await;
    (status, body)
}

/// Files (not the lock) in the emulator's upload directory.
fn stored_files(emu: &Emu) -> Vec<String> {
    let dir = emu.running.emulator.uploads().file("x");
    let dir = dir.parent().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect()
}

fn with_polls(polls: u32) -> Config {
    Config {
        encoding: Encoding::Polls(polls),
        ..auto()
    }
}

#[test]
fn a_file_goes_up_becomes_a_video_is_processed_published_edited_and_deleted() {
    runtime().block_on(async {
        let emu = emulator(with_polls(3)).await;
        let token = emu.access_token("userinfo manage_videos").await;
        let (upload_url, progress_url) = upload_urls(&emu, &token).await;
        assert!(upload_url.starts_with(&format!("{}/upload?", emu.base)), "{upload_url}");
        assert!(progress_url.starts_with(&format!("{}/progress?", emu.base)));
        let (_, waiting, _) = emu.get(&progress_url[emu.base.len()..], None).await;
        assert_eq!(waiting["state"], "waiting");

        let bytes = file_bytes(3 * 1024 * 1024 + 17);
        let (status, uploaded) = send_file(&emu, &upload_url, bytes.clone()).await;
        assert_eq!(status, 200, "{uploaded}");
        let url = uploaded["url"].as_str().unwrap().to_string();
        assert_eq!(uploaded["size"], bytes.len());
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(uploaded["hash"], digest);
        let id = url.rsplit('/').next().unwrap();
        let stored = std::fs::read(emu.running.emulator.uploads().file(id)).unwrap();
        assert!(stored == bytes, "the stored file is byte-identical");
        let served = emu.client.get(&url).send().await.unwrap().bytes().await.unwrap();
        assert!(served == bytes, "and served back as sent");
        let (_, done, _) = emu.get(&progress_url[emu.base.len()..], None).await;
        assert_eq!((done["state"].as_str(), done["progress"].as_u64()), (Some("done"), Some(100)));

        let (status, created, _) = emu
            .post(
                "/me/videos",
                Some(&token),
                &[
                    ("url", &url),
                    ("title", "Holiday"),
                    ("channel", "travel"),
                    ("published", "true"),
                    ("is_created_for_kids", "false"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let video = created["id"].as_str().unwrap().to_string();
        assert_eq!(created, json!({"id": video, "title": "Holiday", "channel": "travel", "owner": "x7dmflw"}));

        let fields = "/video/{}?fields=status,encoding_progress,publishing_progress,title,published";
        let path = fields.replace("{}", &video);
        let mut seen = Vec::new();
        for _ in 0..10 {
            let (status, body, _) = emu.get(&path, Some(&token)).await;
            assert_eq!(status, 200, "{body}");
            seen.push(body.clone());
            if body["status"] == "published" {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                json!({"status": "processing", "encoding_progress": 41, "publishing_progress": 33, "title": "Holiday", "published": true}),
                json!({"status": "processing", "encoding_progress": 83, "publishing_progress": 66, "title": "Holiday", "published": true}),
                json!({"status": "published", "encoding_progress": -1, "publishing_progress": -1, "title": "Holiday", "published": true}),
            ]
        );

        let (_, mine, _) = emu.get("/me/videos?limit=100&fields=id,status", Some(&token)).await;
        assert_eq!(mine["total"], 58, "57 fixed videos and the new one");
        assert_eq!(mine["list"][57], json!({"id": video, "status": "published"}));
        let (_, public, _) = emu.get("/user/x7dmflw/videos?limit=1&page=58&fields=id", None).await;
        assert_eq!(public["list"], json!([{"id": video}]), "published: everyone sees it");
        let (_, me, _) = emu.get("/me?fields=videos_total", Some(&token)).await;
        assert_eq!(me["videos_total"], 58);

        let (status, edited, _) = emu
            .post(&format!("/video/{video}?fields=id,title,tags"), Some(&token), &[("title", "Holiday, edited"), ("tags", "sea, sun")])
            .await;
        assert_eq!((status, edited), (200, json!({"id": video, "title": "Holiday, edited", "tags": ["sea", "sun"]})));

        let deleted = emu.client.delete(emu.url(&format!("/video/{video}"))).bearer_auth(&token).send().await.unwrap();
        assert_eq!(read(deleted).await.0, 200);
        assert_eq!(emu.get(&format!("/video/{video}"), Some(&token)).await.0, 404);
        assert!(stored_files(&emu).is_empty(), "its file went with it");
        let (_, mine, _) = emu.get("/me/videos", Some(&token)).await;
        assert_eq!(mine["total"], 57);
    });
}

#[test]
fn an_unpublished_video_becomes_ready_and_only_its_owner_sees_it() {
    runtime().block_on(async {
        let emu = emulator(Config {
            encoding: Encoding::Time(Duration::from_millis(300)),
            ..auto()
        })
        .await;
        let token = emu.access_token("manage_videos").await;
        let (upload_url, _) = upload_urls(&emu, &token).await;
        let (_, uploaded) = send_file(&emu, &upload_url, file_bytes(1000)).await;
        let url = uploaded["url"].as_str().unwrap();
        let (status, created, _) = emu
            .post(
                "/user/x7dmflw/videos?fields=id,status,published",
                Some(&token),
                &[("url", url), ("is_created_for_kids", "0")],
            )
            .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(
            (created["status"].as_str(), created["published"].as_bool()),
            (Some("processing"), Some(false))
        );
        let video = created["id"].as_str().unwrap();
        assert_eq!(
            emu.get(&format!("/video/{video}"), None).await.0,
            404,
            "not public"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let (_, body, _) = emu
            .get(&format!("/video/{video}?fields=status"), Some(&token))
            .await;
        assert_eq!(body["status"], "ready", "processed, not published");
        let (_, public, _) = emu.get("/user/x7dmflw/videos", None).await;
        assert_eq!(public["total"], 57, "others do not list it");
        let (status, body, _) = emu
            .post(
                &format!("/video/{video}"),
                Some(&token),
                &[("published", "true")],
            )
            .await;
        assert_eq!(
            (status, body["error"]["message"].as_str()),
            (400, Some("Missing required `title' parameter.")),
            "publishing needs a title"
        );
        let (status, _, _) = emu
            .post(
                &format!("/video/{video}"),
                Some(&token),
                &[
                    ("published", "true"),
                    ("title", "Now public"),
                    ("channel", "news"),
                ],
            )
            .await;
        assert_eq!(status, 200);
        let (_, body, _) = emu
            .get(&format!("/video/{video}?fields=status,title"), None)
            .await;
        assert_eq!(body, json!({"status": "published", "title": "Now public"}));
    });
}

#[test]
fn scope_title_url_and_size_errors_are_dailymotion_shaped() {
    runtime().block_on(async {
        let emu = emulator(Config {
            max_upload_bytes: 1024 * 1024,
            ..with_polls(2)
        })
        .await;
        let reader = emu.access_token("userinfo").await;
        let (status, body, headers) = emu.get("/file/upload", Some(&reader)).await;
        assert_eq!(status, 403);
        assert_eq!(
            (
                body["error"]["type"].as_str(),
                body["error"]["message"].as_str()
            ),
            (
                Some("insufficient_scope"),
                Some("Insufficient rights for route GET /file/upload")
            )
        );
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(r#"scope="manage_videos""#)
        );
        assert_eq!(emu.get("/file/upload", None).await.0, 403, "no token");
        let (status, body, _) = emu.post("/me/videos", Some(&reader), &[("url", "x")]).await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (403, Some("insufficient_scope"))
        );

        let token = emu.access_token("manage_videos").await;
        let (upload_url, _) = upload_urls(&emu, &token).await;
        let (status, body) = send_file(&emu, &upload_url, file_bytes(3 * 1024 * 1024)).await;
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], 413);
        assert_eq!(body["error"]["type"], "file_too_large");
        assert!(
            stored_files(&emu).is_empty(),
            "the partial file is removed: {:?}",
            stored_files(&emu)
        );
        let (status, body) = send_file(&emu, &upload_url, file_bytes(10)).await;
        assert_eq!(
            (status, body["error"]["message"].as_str()),
            (
                400,
                Some("This upload URL was already used: get a new one from GET /file/upload.")
            )
        );
        let forged = upload_url.replace("seal=", "seal=x");
        assert_eq!(send_file(&emu, &forged, file_bytes(10)).await.0, 403);

        let (upload_url, _) = upload_urls(&emu, &token).await;
        let (_, uploaded) = send_file(&emu, &upload_url, file_bytes(2048)).await;
        let url = uploaded["url"].as_str().unwrap();
        let create = |form: Vec<(&'static str, String)>| {
            let request = emu
                .client
                .post(emu.url("/me/videos"))
                .bearer_auth(&token)
                .form(&form);
            async move { read(request.send().await.unwrap()).await }
        };
        let (status, body, _) = create(vec![
            ("title", "t".into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(
            (
                status,
                body["error"]["type"].as_str(),
                body["error"]["message"].as_str()
            ),
            (
                400,
                Some("missing_required_parameter"),
                Some("Missing required `url' parameter.")
            )
        );
        let (status, body, _) = create(vec![
            ("url", "https://example.test/v.mp4".into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (400, Some("invalid_parameter")),
            "an unknown url"
        );
        let (status, body, _) = create(vec![
            ("url", url.into()),
            ("published", "true".into()),
            ("channel", "news".into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(
            (status, body["error"]["message"].as_str()),
            (400, Some("Missing required `title' parameter.")),
            "publishing needs a title"
        );
        let (status, body, _) = create(vec![("url", url.into()), ("title", "t".into())]).await;
        assert_eq!(
            (status, body["error"]["message"].as_str()),
            (
                400,
                Some("Missing required `is_created_for_kids' parameter.")
            )
        );
        let (status, body, _) = create(vec![
            ("url", url.into()),
            ("channel", "cats".into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (400, Some("invalid_parameter")),
            "an unknown channel"
        );
        let (status, _, _) = create(vec![
            ("url", url.into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(status, 200, "a draft needs no title");
        let (status, body, _) = create(vec![
            ("url", url.into()),
            ("is_created_for_kids", "false".into()),
        ])
        .await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (400, Some("invalid_parameter")),
            "an upload makes one video"
        );

        let (status, body, _) = emu
            .post("/video/x7a00001", Some(&token), &[("title", "mine now")])
            .await;
        assert_eq!(
            (status, body["error"]["type"].as_str()),
            (403, Some("access_forbidden")),
            "the fixed data set is read-only"
        );
        let other = emu
            .post("/video/xnope12", Some(&token), &[("title", "t")])
            .await;
        assert_eq!(other.0, 404);
    });
}
