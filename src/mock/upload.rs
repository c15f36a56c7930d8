//! The upload host of the emulator: `GET /file/upload` (a user token with `manage_videos`)
//! hands out an `upload_url` and a `progress_url` on the emulator itself (loopback); the file
//! goes to `upload_url` as a multipart POST with a `file` field, streamed to disk with a size
//! cap, and the answer's `url` is what `POST /me/videos` takes. `progress_url` tells how far
//! an upload is; `GET /files/<id>` gives the stored file back.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::reply::{api_error, require_scope, signed_in};
use super::state::{Emulator, now};
use super::uploads::Phase;
use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Params = Query<HashMap<String, String>>;

/// Bytes read and dropped after the cap before answering, so the client reads the error.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

const SEAL: &str = "upload";

/// `GET /file/upload`.
pub async fn file_upload(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let claims = match signed_in(&emu, &headers, &params) {
        Ok((claims, _)) => claims,
        Err(response) => return response,
    };
    if let Err(response) = require_scope(&claims, "manage_videos", "GET /file/upload") {
        return response;
    }
    let id = super::ids::random_id(12);
    let seal = emu.sealer().sign_text(SEAL, &id);
    let base = emu.base_url();
    Json(json!({
        "upload_url": format!("{base}/upload?uuid={id}&seal={seal}"),
        "progress_url": format!("{base}/progress?uuid={id}&seal={seal}"),
    }))
    .into_response()
}

/// The upload id of a request to `upload_url` or `progress_url`, when its seal holds.
fn sealed_id(emu: &Emulator, params: &HashMap<String, String>) -> Result<String, Response> {
    let (Some(id), Some(seal)) = (params.get("uuid"), params.get("seal")) else {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "This upload URL is incomplete: get a new one from GET /file/upload.",
        ));
    };
    if !emu.sealer().check_text(SEAL, id, seal) {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "access_forbidden",
            "This upload URL was not issued by this emulator: get a new one from GET /file/upload.",
        ));
    }
    Ok(id.clone())
}

fn too_large(limit: u64) -> Response {
    api_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        &format!("The file is larger than the upload limit ({limit} bytes)."),
    )
}

/// Runs blocking file work off the async runtime's threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

/// Why streaming a file stopped.
enum Stop {
    TooLarge,
    Broken(String),
}

/// Streams the `file` field to `path`; returns its size and SHA-256.
async fn stream_to(
    emu: &Emulator,
    id: &str,
    field: &mut axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
) -> Result<(u64, String), Stop> {
    let broken = |e: &dyn std::fmt::Display| Stop::Broken(e.to_string());
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| broken(&e))?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(|e| broken(&e))? {
        size += chunk.len() as u64;
        if size > emu.config.max_upload_bytes {
            return Err(Stop::TooLarge);
        }
        hash.update(&chunk);
        out.write_all(&chunk).await.map_err(|e| broken(&e))?;
        emu.uploads().received(id, size);
    }
    out.flush().await.map_err(|e| broken(&e))?;
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, digest))
}

/// Reads and drops the rest of a field; false once [`DRAIN_LIMIT`] is passed.
async fn drain_field(mut field: axum::extract::multipart::Field<'_>, dropped: &mut u64) -> bool {
    while let Ok(Some(chunk)) = field.chunk().await {
        *dropped += chunk.len() as u64;
        if *dropped > DRAIN_LIMIT {
            return false;
        }
    }
    true
}

/// Reads and drops what is left of the request (up to [`DRAIN_LIMIT`]), so that the client,
/// still sending, reads the answer.
async fn drain(multipart: &mut Multipart, mut dropped: u64) {
    while let Ok(Some(field)) = multipart.next_field().await {
        if !drain_field(field, &mut dropped).await {
            return;
        }
    }
}

/// `POST /upload?uuid=…&seal=…`: the file, multipart, in a field named `file`.
pub async fn upload(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Query(params): Params,
    mut multipart: Multipart,
) -> Response {
    let id = match sealed_id(&emu, &params) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let expected = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "missing_required_parameter",
                    "Missing required `file' field: POST the file as multipart/form-data in a field named `file'.",
                );
            }
            Err(e) => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_parameter",
                    &format!("Cannot read the multipart body: {e}"),
                );
            }
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload").to_string();
        let begun = {
            let (emu, id, name) = (emu.clone(), id.clone(), name.clone());
            blocking(move || emu.uploads().begin(&id, &name, expected, now())).await
        };
        if begun != Some(true) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "This upload URL was already used: get a new one from GET /file/upload.",
            );
        }
        let partial = emu.uploads().partial(&id);
        let streamed = stream_to(&emu, &id, &mut field, &partial).await;
        let outcome = match streamed {
            Ok((size, hash)) => {
                let (emu, id) = (emu.clone(), id.clone());
                blocking(move || emu.uploads().finish(&id, now()))
                    .await
                    .and_then(Result::ok)
                    .map(|()| (size, hash))
                    .ok_or_else(|| Stop::Broken("cannot keep the file".into()))
            }
            Err(stop) => Err(stop),
        };
        return match outcome {
            Ok((size, hash)) => Json(json!({
                "url": format!("{}/files/{id}", emu.base_url()),
                "name": name,
                "size": size,
                "hash": hash,
            }))
            .into_response(),
            Err(stop) => {
                {
                    let (emu, id) = (emu.clone(), id.clone());
                    blocking(move || emu.uploads().fail(&id, now())).await;
                }
                match stop {
                    Stop::TooLarge => {
                        let mut dropped = 0;
                        if drain_field(field, &mut dropped).await {
                            drain(&mut multipart, dropped).await;
                        }
                        too_large(emu.config.max_upload_bytes)
                    }
                    Stop::Broken(why) => api_error(
                        StatusCode::BAD_REQUEST,
                        "upload_failed",
                        &format!(
                            "The upload did not complete ({why}): get a new upload URL and send the file again."
                        ),
                    ),
                }
            }
        };
    }
}

/// `GET /progress?uuid=…&seal=…`: how far an upload is.
pub async fn progress(State(emu): State<Arc<Emulator>>, Query(params): Params) -> Response {
    let id = match sealed_id(&emu, &params) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let body = match emu.uploads().get(&id) {
        None => json!({"state": "waiting", "received": 0, "size": null, "progress": 0}),
        Some(upload) if upload.phase == Phase::Done => json!({
            "state": "done", "received": upload.received, "size": upload.received, "progress": 100,
        }),
        Some(upload) if upload.phase == Phase::Failed => json!({
            "state": "failed", "received": upload.received, "size": upload.expected, "progress": null,
        }),
        Some(upload) => {
            let progress = upload
                .expected
                .filter(|total| *total > 0)
                .map(|total| (upload.received * 100 / total).min(99));
            json!({
                "state": "uploading", "received": upload.received, "size": upload.expected,
                "progress": progress,
            })
        }
    };
    Json(body).into_response()
}

/// `GET /files/<id>`: the stored file, streamed.
pub async fn file(State(emu): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let done = emu
        .uploads()
        .get(&id)
        .is_some_and(|u| u.phase == Phase::Done);
    let opened = match done {
        true => tokio::fs::File::open(emu.uploads().file(&id)).await.ok(),
        false => None,
    };
    let Some(file) = opened else {
        return super::reply::not_found("file", &id);
    };
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buffer)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(chunks),
    )
        .into_response()
}
