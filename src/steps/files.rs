//! Files in an `http` step: `body: { file, content_type }` and `multipart:` send them (streamed,
//! never held whole), `save_body_to:` writes the response into one. Paths are relative to the
//! flow file's directory; a path written literally must exist when the flow is compiled.

use crate::compiled::Text;
use crate::diagnostic::{Diagnostic, Pos};
use crate::run::body::{Body, Part, guess_content_type};
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::yaml::de::unknown_field;
use crate::yaml::{Node, NodeKind};
use std::path::{Path, PathBuf};

/// A body sent from files.
#[derive(Debug)]
pub enum FileBody {
    File {
        path: Text,
        content_type: Option<Text>,
    },
    Multipart(Vec<Field>),
}

/// A field of a multipart body.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub value: FieldValue,
}

#[derive(Debug)]
pub enum FieldValue {
    Text(Text),
    File {
        path: Text,
        filename: Option<Text>,
        content_type: Option<Text>,
    },
}

const FILE_FIELDS: &[&str] = &["file", "filename", "content_type"];

/// `multipart:` in the schema: text fields and file parts.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "MultipartField")]
pub enum MultipartShape {
    Text(crate::flow::shape::ScalarShape),
    File(FilePartShape),
}

/// A file part: `{ file: video.mp4, filename: clip.mp4, content_type: video/mp4 }`.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
#[schemars(rename = "FilePart")]
pub struct FilePartShape {
    /// The file to send, relative to the flow file (streamed, never held whole).
    file: String,
    /// The file name the server sees (default: the file's own).
    filename: Option<String>,
    /// Default: guessed from the file name's extension.
    content_type: Option<String>,
}

/// `body:` in the schema: raw text, or a file.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
#[schemars(rename = "Body")]
pub enum BodyShape {
    Text(String),
    File(FileBodyShape),
}

/// `body: { file: video.mp4, content_type: video/mp4 }`.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
#[schemars(rename = "FileBody")]
pub struct FileBodyShape {
    /// The file to send, relative to the flow file (streamed, never held whole).
    file: String,
    /// Default: guessed from the file name's extension.
    content_type: Option<String>,
}

/// `{ file: path, filename, content_type }`: the texts, the file checked when written literally.
fn file_fields(
    node: &Node,
    allowed: &[&str],
    cx: &mut CompileCx<'_>,
) -> Option<(Text, Option<Text>, Option<Text>)> {
    let mut path = None;
    let mut filename = None;
    let mut content_type = None;
    for entry in cx.entries(node, "file") {
        let text = || match &entry.value.kind {
            NodeKind::String(s) => Some(s.clone()),
            _ => None,
        };
        let compiled = match text() {
            Some(s) => cx.text_at(&s, entry.value.pos),
            None => {
                cx.problem(
                    Diagnostic::new(format!(
                        "`{}:` takes text, found {}",
                        entry.key,
                        entry.value.describe()
                    ))
                    .label("expected text"),
                    entry.value.pos,
                );
                continue;
            }
        };
        match entry.key.as_str() {
            "file" if allowed.contains(&"file") => path = Some(compiled),
            "filename" if allowed.contains(&"filename") => filename = Some(compiled),
            "content_type" if allowed.contains(&"content_type") => content_type = Some(compiled),
            _ => cx.de_problem(unknown_field(entry, allowed)),
        }
    }
    let Some(path) = path else {
        cx.problem(
            Diagnostic::new("this needs `file:`, the path of the file to send")
                .label("no file")
                .help("body: { file: video.mp4 } (relative to the flow file)"),
            node.pos,
        );
        return None;
    };
    check_exists(&path, cx);
    Some((path, filename, content_type))
}

/// A file written literally must exist.
fn check_exists(path: &Text, cx: &mut CompileCx<'_>) {
    if let Some(literal) = path.as_literal() {
        let full = resolve(cx.dir, literal);
        if !full.is_file() {
            cx.problem(
                Diagnostic::new(format!("there is no file at {}", full.display()))
                    .label("no such file")
                    .help("paths are relative to the flow file's directory"),
                path.pos,
            );
        }
    }
}

/// `body: { file, content_type }`.
pub fn compile_file_body(node: &Node, cx: &mut CompileCx<'_>) -> Option<FileBody> {
    let (path, _, content_type) = file_fields(node, &["file", "content_type"], cx)?;
    Some(FileBody::File { path, content_type })
}

/// `multipart:`: `name: text` fields and `name: { file, filename, content_type }` files.
pub fn compile_multipart(node: &Node, cx: &mut CompileCx<'_>) -> Option<FileBody> {
    let mut fields = Vec::new();
    for entry in cx.entries(node, "multipart") {
        let value = match &entry.value.kind {
            NodeKind::Map(_) => {
                let Some((path, filename, content_type)) =
                    file_fields(&entry.value, FILE_FIELDS, cx)
                else {
                    continue;
                };
                FieldValue::File {
                    path,
                    filename,
                    content_type,
                }
            }
            NodeKind::String(s) => FieldValue::Text(cx.text_at(s, entry.value.pos)),
            NodeKind::Number(_) | NodeKind::Bool(_) => FieldValue::Text(Text::literal(
                entry.value.to_json().to_string(),
                entry.value.pos,
            )),
            _ => {
                cx.problem(
                    Diagnostic::new(format!(
                        "a multipart field is text or {{ file: ... }}, and `{}` is {}",
                        entry.key,
                        entry.value.describe()
                    ))
                    .label("here"),
                    entry.value.pos,
                );
                continue;
            }
        };
        fields.push(Field {
            name: entry.key.clone(),
            value,
        });
    }
    Some(FileBody::Multipart(fields))
}

/// A path relative to a flow's directory.
pub fn resolve(dir: &Path, path: &str) -> PathBuf {
    let path = Path::new(path.trim());
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

/// The size of a file to send, or the error that names it.
fn size(path: &Path, pos: Pos) -> Result<u64, StepError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(meta.len()),
        Ok(_) => Err(StepError::invalid(
            format!("{} is not a file", path.display()),
            Some(pos),
            None,
        )),
        Err(e) => Err(StepError::invalid(
            format!("cannot read {}: {e}", path.display()),
            Some(pos),
            Some("paths are relative to the flow file's directory"),
        )),
    }
}

impl FileBody {
    /// Renders the paths and texts; files are opened when sent.
    pub fn render(&self, cx: &StepCx<'_>) -> Result<Body, StepError> {
        match self {
            FileBody::File { path, content_type } => {
                let full = resolve(cx.flow_dir, &cx.render(path)?);
                let len = size(&full, path.pos)?;
                let content_type = match content_type {
                    Some(t) => cx.render(t)?,
                    None => guess_content_type(&full).to_string(),
                };
                Ok(Body::File {
                    path: full,
                    content_type: Some(content_type),
                    len,
                })
            }
            FileBody::Multipart(fields) => {
                let mut parts = Vec::with_capacity(fields.len());
                for field in fields {
                    parts.push(match &field.value {
                        FieldValue::Text(text) => Part::Text {
                            name: field.name.clone(),
                            value: cx.render(text)?,
                        },
                        FieldValue::File {
                            path,
                            filename,
                            content_type,
                        } => {
                            let full = resolve(cx.flow_dir, &cx.render(path)?);
                            let len = size(&full, path.pos)?;
                            let filename = match filename {
                                Some(t) => cx.render(t)?,
                                None => full
                                    .file_name()
                                    .map(|n| n.to_string_lossy().into_owned())
                                    .unwrap_or_else(|| "file".into()),
                            };
                            let content_type = match content_type {
                                Some(t) => cx.render(t)?,
                                None => guess_content_type(&full).to_string(),
                            };
                            Part::File {
                                name: field.name.clone(),
                                path: full,
                                filename,
                                content_type,
                                len,
                            }
                        }
                    });
                }
                Ok(Body::Multipart(parts))
            }
        }
    }
}
