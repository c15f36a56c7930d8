//! Request bodies and how they travel: bytes encoded once (JSON, form, raw text), or files
//! streamed from disk (`body: { file }`, `multipart:` file parts), opened afresh for every send
//! so a redirect or a retry sends them again. Memory stays bounded whatever a file's size; a
//! [`Transfer`] counts the bytes on the way for progress.

use bytes::Bytes;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// Bytes already encoded.
    Bytes {
        bytes: Bytes,
        content_type: Option<&'static str>,
    },
    /// A file, streamed.
    File {
        path: PathBuf,
        content_type: Option<String>,
        len: u64,
    },
    /// `multipart/form-data`: text fields and streamed files.
    Multipart(Vec<Part>),
}

/// A part of a multipart body.
#[derive(Debug, Clone)]
pub enum Part {
    Text {
        name: String,
        value: String,
    },
    File {
        name: String,
        path: PathBuf,
        filename: String,
        content_type: String,
        len: u64,
    },
}

/// Bytes moved so far, for progress.
#[derive(Debug, Default)]
pub struct Transfer {
    pub sent: AtomicU64,
    pub received: AtomicU64,
    /// Bytes to send (0 when unknown).
    pub to_send: AtomicU64,
    /// Bytes to receive, from Content-Length (0 when unknown).
    pub to_receive: AtomicU64,
}

impl Transfer {
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Body {
    pub fn json(value: &serde_json::Value) -> Body {
        Body::Bytes {
            bytes: Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
            content_type: Some("application/json"),
        }
    }

    pub fn form(fields: &[(String, String)]) -> Body {
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        Body::Bytes {
            bytes: Bytes::from(encoded),
            content_type: Some("application/x-www-form-urlencoded"),
        }
    }

    pub fn raw(text: String) -> Body {
        Body::Bytes {
            bytes: Bytes::from(text),
            content_type: None,
        }
    }

    /// How many bytes the body has (files and parts included, multipart framing not).
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes { bytes, .. } => bytes.len() as u64,
            Body::File { len, .. } => *len,
            Body::Multipart(parts) => parts
                .iter()
                .map(|p| match p {
                    Part::Text { value, .. } => value.len() as u64,
                    Part::File { len, .. } => *len,
                })
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What a report shows of the body: the bytes when it has them in memory, else a summary.
    pub fn record(&self) -> (Option<Bytes>, Option<String>) {
        match self {
            Body::Bytes { bytes, .. } => (Some(bytes.clone()), None),
            // The file's name: the same on every machine (snapshots), and no home directory.
            Body::File { path, len, .. } => (
                None,
                Some(format!(
                    "[file {}, {len} bytes]",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )),
            ),
            Body::Multipart(parts) => {
                let shown: Vec<String> = parts
                    .iter()
                    .map(|p| match p {
                        Part::Text { name, value } => format!("{name}={value}"),
                        Part::File {
                            name,
                            filename,
                            content_type,
                            len,
                            ..
                        } => format!("{name}=[file {filename}, {content_type}, {len} bytes]"),
                    })
                    .collect();
                (None, Some(format!("[multipart {}]", shown.join("; "))))
            }
        }
    }

    /// Puts the body on a request: bytes as they are, files opened now and streamed.
    pub async fn apply(
        &self,
        request: reqwest::RequestBuilder,
        transfer: Option<&Arc<Transfer>>,
    ) -> std::io::Result<reqwest::RequestBuilder> {
        Ok(match self {
            Body::Bytes { bytes, .. } => request.body(bytes.clone()),
            Body::File { path, len, .. } => request
                .header(reqwest::header::CONTENT_LENGTH, *len)
                .body(stream(path, transfer).await?),
            Body::Multipart(parts) => {
                let mut form = reqwest::multipart::Form::new();
                for part in parts {
                    form = match part {
                        Part::Text { name, value } => form.text(name.clone(), value.clone()),
                        Part::File {
                            name,
                            path,
                            filename,
                            content_type,
                            len,
                        } => {
                            let body = stream(path, transfer).await?;
                            let part = reqwest::multipart::Part::stream_with_length(body, *len)
                                .file_name(filename.clone())
                                .mime_str(content_type)
                                .map_err(std::io::Error::other)?;
                            form.part(name.clone(), part)
                        }
                    };
                }
                request.multipart(form)
            }
        })
    }

    /// The content type to send unless the request sets one (multipart sets its own).
    pub fn content_type(&self) -> Option<&str> {
        match self {
            Body::Bytes { content_type, .. } => *content_type,
            Body::File { content_type, .. } => content_type.as_deref(),
            Body::Multipart(_) => None,
        }
    }
}

/// A file as a body stream, counted.
async fn stream(
    path: &std::path::Path,
    transfer: Option<&Arc<Transfer>>,
) -> std::io::Result<reqwest::Body> {
    let file = tokio::fs::File::open(path).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
    })?;
    let counter = transfer.cloned();
    let chunks =
        tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).inspect(move |chunk| {
            if let (Some(counter), Ok(chunk)) = (&counter, chunk) {
                counter
                    .sent
                    .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        });
    Ok(reqwest::Body::wrap_stream(chunks))
}

/// The content type of a file, from its extension.
pub fn guess_content_type(path: &std::path::Path) -> &'static str {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "json" => "application/json",
        "txt" => "text/plain",
        "srt" => "application/x-subrip",
        "vtt" => "text/vtt",
        _ => "application/octet-stream",
    }
}
