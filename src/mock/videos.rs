//! The writing routes of the upload workflow: `POST /me/videos` (also `/user/<id>/videos` and
//! the older `/videos`) creates a video from an uploaded file's `url`, `POST /video/<id>`
//! edits it, `DELETE /video/<id>` deletes it (and its file). All need a user token with
//! `manage_videos`; fields come as a form, multipart or urlencoded, or in the query.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::catalogue::{CHANNELS, Video, new_id};
use super::data::{self, VIDEO_DEFAULT_FIELDS, VIDEO_FIELDS};
use super::reply::{api_error, invalid, missing, not_found, require_scope, select, signed_in};
use super::state::{Emulator, now};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

type Fields = HashMap<String, String>;

/// The request's parameters: the query, then the body's fields (multipart or urlencoded).
async fn fields(request: Request) -> Result<Fields, Response> {
    let mut fields: Fields = super::reply::query_pairs(request.uri())
        .into_iter()
        .collect();
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let unreadable = |e: &dyn std::fmt::Display| {
        api_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            &format!("Cannot read the request's fields: {e}"),
        )
    };
    if content_type.starts_with("multipart/form-data") {
        let mut multipart = Multipart::from_request(request, &())
            .await
            .map_err(|e| unreadable(&e))?;
        while let Some(field) = multipart.next_field().await.map_err(|e| unreadable(&e))? {
            let name = field.name().unwrap_or("").to_string();
            let value = field.text().await.map_err(|e| unreadable(&e))?;
            fields.insert(name, value);
        }
    } else {
        let body = axum::body::to_bytes(request.into_body(), 1024 * 1024)
            .await
            .map_err(|e| unreadable(&e))?;
        fields.extend(url::form_urlencoded::parse(&body).into_owned());
    }
    Ok(fields)
}

/// A boolean field: `true`/`1`/`yes` or `false`/`0`/`no` (Dailymotion's truth values).
fn boolean(fields: &Fields, name: &str) -> Result<Option<bool>, Response> {
    match fields.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(Some(true)),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(Some(false)),
        Some(_) => Err(invalid(name, "expected true or false.")),
    }
}

/// Applies the writable fields given, then checks what publishing needs.
fn apply(video: &mut Video, fields: &Fields) -> Result<(), Response> {
    if let Some(title) = fields.get("title") {
        if title.chars().count() > 255 {
            return Err(invalid("title", "at most 255 characters."));
        }
        video.title = title.trim().to_string();
    }
    if let Some(channel) = fields.get("channel") {
        if !CHANNELS.contains(&channel.as_str()) {
            return Err(invalid(
                "channel",
                &format!(
                    "`{channel}' is not a category; use one of {}.",
                    CHANNELS.join(", ")
                ),
            ));
        }
        video.channel = Some(channel.clone());
    }
    if let Some(description) = fields.get("description") {
        if description.chars().count() > 3000 {
            return Err(invalid("description", "at most 3000 characters."));
        }
        video.description = description.clone();
    }
    if let Some(tags) = fields.get("tags") {
        video.tags = tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
    }
    if let Some(value) = boolean(fields, "is_created_for_kids")? {
        video.is_created_for_kids = value;
    }
    if let Some(value) = boolean(fields, "private")? {
        video.private = value;
    }
    if let Some(value) = boolean(fields, "published")? {
        video.published = value;
    }
    if video.published {
        if video.title.is_empty() {
            return Err(missing("title"));
        }
        if video.channel.is_none() {
            return Err(missing("channel"));
        }
    }
    Ok(())
}

/// The request's fields and its caller, who must be a user whose token holds
/// `manage_videos` (`route` names the route in the 403).
async fn managed(
    emu: &Emulator,
    request: Request,
    route: &str,
) -> Result<(Fields, &'static data::User), Response> {
    let headers = request.headers().clone();
    let fields = fields(request).await?;
    let (claims, user) = signed_in(emu, &headers, &fields)?;
    require_scope(&claims, "manage_videos", route)?;
    Ok((fields, user))
}

fn rendered(emu: &Emulator, video: &Video, fields: &Fields) -> Response {
    select(
        &video.fields(emu.config.encoding),
        fields,
        VIDEO_FIELDS,
        VIDEO_DEFAULT_FIELDS,
    )
    .map(|v| Json(v).into_response())
    .unwrap_or_else(|r| r)
}

/// The upload id of a `url` an upload of this emulator answered with.
fn upload_of(emu: &Emulator, url: &str) -> Option<String> {
    let id = url
        .strip_prefix(&emu.base_url())?
        .strip_prefix("/files/")?
        .split(['/', '?', '#'])
        .next()?;
    emu.uploads().get(id).map(|_| id.to_string())
}

/// `POST /me/videos` and `/videos`: a video of the caller's from an uploaded file.
pub async fn create_mine(State(emu): State<Arc<Emulator>>, request: Request) -> Response {
    create(emu, None, request).await
}

/// `POST /user/<id>/videos`: the same, for the user named (who must be the caller).
pub async fn create_for(
    State(emu): State<Arc<Emulator>>,
    Path(owner): Path<String>,
    request: Request,
) -> Response {
    create(emu, Some(owner), request).await
}

async fn create(emu: Arc<Emulator>, owner: Option<String>, request: Request) -> Response {
    let route = format!("POST {}", request.uri().path());
    let (fields, user) = match managed(&emu, request, &route).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Some(owner) = owner
        && owner != user.id
    {
        return api_error(
            StatusCode::FORBIDDEN,
            "access_forbidden",
            &format!("You can only create videos for yourself ({}).", user.id),
        );
    }
    let Some(url) = fields.get("url").filter(|u| !u.trim().is_empty()) else {
        return missing("url");
    };
    let Some(upload) = upload_of(&emu, url.trim()) else {
        return invalid(
            "url",
            "not a file uploaded to this emulator (GET /file/upload, then POST the file to its upload_url).",
        );
    };
    if !fields.contains_key("is_created_for_kids") {
        return missing("is_created_for_kids");
    }
    let mut video = Video::new(new_id(), user.id.to_string(), upload.clone(), now());
    if let Err(response) = apply(&mut video, &fields) {
        return response;
    }
    if !emu.uploads().claim(&upload) {
        return invalid(
            "url",
            "this upload is not complete, or already makes another video.",
        );
    }
    let response = rendered(&emu, &video, &fields);
    emu.videos().insert(video);
    response
}

/// A video the caller may change: one of theirs among those uploaded.
fn owned<'a>(
    videos: &'a mut super::catalogue::Catalogue,
    id: &str,
    user: &str,
) -> Result<&'a mut Video, Response> {
    if data::video(id).is_some() {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "access_forbidden",
            "The emulator's fixed data set is read-only: upload a video to edit or delete it.",
        ));
    }
    match videos.get_mut(id) {
        Some(video) if video.owner == user => Ok(video),
        Some(_) => Err(api_error(
            StatusCode::FORBIDDEN,
            "access_forbidden",
            "This video belongs to another user.",
        )),
        None => Err(not_found("video", id)),
    }
}

/// `POST /video/<id>` edits, `DELETE /video/<id>` deletes.
pub async fn change(
    State(emu): State<Arc<Emulator>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let route = format!("{method} /video/{id}");
    let (fields, user) = match managed(&emu, request, &route).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut videos = emu.videos();
    let video = match owned(&mut videos, &id, user.id) {
        Ok(video) => video,
        Err(response) => return response,
    };
    if method == Method::DELETE {
        let upload = video.upload.clone();
        videos.remove(&id);
        drop(videos);
        emu.uploads().remove(&upload);
        return Json(json!({})).into_response();
    }
    let mut edited = video.clone();
    if let Err(response) = apply(&mut edited, &fields) {
        return response;
    }
    *video = edited;
    rendered(&emu, video, &fields)
}
