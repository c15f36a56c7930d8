//! Videos created through the upload workflow: their fields, and the processing they go
//! through after creation (`status` `processing` with `encoding_progress` and
//! `publishing_progress` climbing, then `published`, or `ready` when not published), driven
//! by time or by the number of times the video is read, as the emulator is configured.
//! They live as long as the emulator that holds them.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// How processing advances after a video is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Done this long after creation.
    Time(Duration),
    /// Done at the N-th read of the video (`GET /video/<id>`): deterministic, for snapshots.
    Polls(u32),
}

/// The categories a video's `channel` takes (Dailymotion's list).
pub const CHANNELS: &[&str] = &[
    "animals",
    "auto",
    "creation",
    "fun",
    "kids",
    "lifestyle",
    "music",
    "news",
    "people",
    "school",
    "shortfilms",
    "sport",
    "tech",
    "travel",
    "tv",
    "videogames",
    "webcam",
];

/// A video created from an upload.
#[derive(Debug, Clone)]
pub struct Video {
    pub id: String,
    pub owner: String,
    pub title: String,
    pub channel: Option<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub published: bool,
    pub private: bool,
    pub is_created_for_kids: bool,
    pub created_time: i64,
    /// The upload its file came from.
    pub upload: String,
    created: Instant,
    reads: u32,
}

impl Video {
    pub fn new(id: String, owner: String, upload: String, created_time: i64) -> Video {
        Video {
            id,
            owner,
            title: String::new(),
            channel: None,
            description: String::new(),
            tags: Vec::new(),
            published: false,
            private: false,
            is_created_for_kids: false,
            created_time,
            upload,
            created: Instant::now(),
            reads: 0,
        }
    }

    /// How far processing is, from 0 to 1.
    fn done(&self, encoding: Encoding) -> f64 {
        match encoding {
            Encoding::Time(total) if total.is_zero() => 1.0,
            Encoding::Time(total) => self.created.elapsed().as_secs_f64() / total.as_secs_f64(),
            Encoding::Polls(0) => 1.0,
            Encoding::Polls(n) => f64::from(self.reads) / f64::from(n),
        }
        .min(1.0)
    }

    /// Counts a read of the video (what advances processing under [`Encoding::Polls`]).
    pub fn read(&mut self) {
        self.reads = self.reads.saturating_add(1);
    }

    pub fn processed(&self, encoding: Encoding) -> bool {
        self.done(encoding) >= 1.0
    }

    /// Every field the emulator offers for the video, as it is now.
    pub fn fields(&self, encoding: Encoding) -> Map<String, Value> {
        let done = self.done(encoding);
        let (status, encoding_progress, publishing_progress) = if done >= 1.0 {
            let status = if self.published { "published" } else { "ready" };
            (status, -1, -1)
        } else {
            let encoded = ((done * 1.25).min(1.0) * 100.0).floor() as i64;
            ("processing", encoded, (done * 100.0).floor() as i64)
        };
        let object = json!({
            "id": self.id,
            "title": self.title,
            "channel": self.channel,
            "owner": self.owner,
            "description": self.description,
            "duration": 0,
            "created_time": self.created_time,
            "views_total": 0,
            "url": format!("https://www.dailymotion.com/video/{}", self.id),
            "thumbnail_url": format!("https://s1.dmcdn.net/v/{}/x240", self.id),
            "tags": self.tags,
            "status": status,
            "encoding_progress": encoding_progress,
            "publishing_progress": publishing_progress,
            "published": self.published,
            "private": self.private,
            "is_created_for_kids": self.is_created_for_kids,
        });
        object.as_object().cloned().unwrap_or_default()
    }

    /// Whether someone other than the owner sees it in lists.
    pub fn public(&self, encoding: Encoding) -> bool {
        self.published && !self.private && self.processed(encoding)
    }
}

/// The uploaded videos of one emulator, in creation order.
#[derive(Default)]
pub struct Catalogue {
    videos: IndexMap<String, Video>,
}

impl Catalogue {
    pub fn insert(&mut self, video: Video) {
        self.videos.insert(video.id.clone(), video);
    }

    pub fn get(&self, id: &str) -> Option<&Video> {
        self.videos.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Video> {
        self.videos.get_mut(id)
    }

    pub fn remove(&mut self, id: &str) -> Option<Video> {
        self.videos.shift_remove(id)
    }

    /// A user's videos, oldest first.
    pub fn of(&self, owner: &str) -> impl Iterator<Item = &Video> {
        self.videos.values().filter(move |v| v.owner == owner)
    }

    /// Whether an upload already backs a video.
    pub fn uses(&self, upload: &str) -> bool {
        self.videos.values().any(|v| v.upload == upload)
    }
}

/// A new video id: `x` and 6 lowercase letters and digits (the fixed data set's ids have 8
/// characters, so the two never meet).
pub fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = crate::oauth::pkce::random_bytes(6);
    let tail: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("x{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_advances_with_reads_then_settles() {
        let mut video = Video::new("xabc123".into(), "u".into(), "up".into(), 0);
        video.published = true;
        let polls = Encoding::Polls(2);
        let at = |v: &Video| {
            let f = v.fields(polls);
            (
                f["status"].clone(),
                f["encoding_progress"].clone(),
                f["publishing_progress"].clone(),
            )
        };
        assert_eq!(at(&video), (json!("processing"), json!(0), json!(0)));
        video.read();
        assert_eq!(at(&video), (json!("processing"), json!(62), json!(50)));
        video.read();
        assert_eq!(at(&video), (json!("published"), json!(-1), json!(-1)));
        video.published = false;
        assert_eq!(at(&video).0, json!("ready"));
        let timed = Video::new("xdef456".into(), "u".into(), "up".into(), 0);
        assert!(!timed.processed(Encoding::Time(Duration::from_secs(60))));
        assert!(timed.processed(Encoding::Time(Duration::ZERO)));
        assert_eq!(new_id().len(), 7);
    }
}
