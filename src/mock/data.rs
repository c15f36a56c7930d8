//! The emulator's deterministic data set: a few users and their videos, generated from a fixed
//! seed so that every run, snapshot and test sees the same objects.

use serde_json::{Map, Value, json};

/// The demo user who signs in (password grant: this email and password).
pub const DEMO_USER_ID: &str = "x7dmflw";
pub const DEMO_EMAIL: &str = "demo@dmflow.test";
pub const DEMO_PASSWORD: &str = "demo-password";

pub struct User {
    pub id: &'static str,
    pub username: &'static str,
    pub screenname: &'static str,
    pub email: &'static str,
    pub videos: usize,
}

pub const USERS: &[User] = &[
    User {
        id: DEMO_USER_ID,
        username: "dmflow-demo",
        screenname: "dmflow Demo",
        email: DEMO_EMAIL,
        videos: 57,
    },
    User {
        id: "x2cooks",
        username: "cookingclub",
        screenname: "Cooking Club",
        email: "club@cooking.test",
        videos: 12,
    },
    User {
        id: "x3empty",
        username: "newcomer",
        screenname: "New Comer",
        email: "new@comer.test",
        videos: 0,
    },
];

pub fn user(id: &str) -> Option<&'static User> {
    USERS.iter().find(|u| u.id == id)
}

/// Fields a user object offers, and the default ones.
pub const USER_FIELDS: &[&str] = &[
    "id",
    "screenname",
    "username",
    "url",
    "videos_total",
    "created_time",
    "avatar_120_url",
    "email",
];
pub const USER_DEFAULT_FIELDS: &[&str] = &["id", "screenname"];

/// Fields a video object offers, and the default ones (Dailymotion: id, title, channel, owner).
pub const VIDEO_FIELDS: &[&str] = &[
    "id",
    "title",
    "channel",
    "owner",
    "description",
    "duration",
    "created_time",
    "views_total",
    "url",
    "thumbnail_url",
    "tags",
    "status",
    "encoding_progress",
    "publishing_progress",
    "published",
    "private",
    "is_created_for_kids",
];
pub const VIDEO_DEFAULT_FIELDS: &[&str] = &["id", "title", "channel", "owner"];

const CHANNELS: &[&str] = &[
    "news", "music", "sport", "fun", "tech", "travel", "kids", "auto",
];
const TOPICS: &[&str] = &[
    "Morning", "Harbour", "Mountain", "City", "Garden", "Kitchen", "Studio", "Market", "Station",
    "River",
];
const THINGS: &[&str] = &[
    "walk",
    "session",
    "recipe",
    "tour",
    "review",
    "timelapse",
    "interview",
    "highlights",
    "tutorial",
    "live",
];

/// A small deterministic generator (SplitMix64), so the data never depends on a crate's RNG.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Video ids are `x` + owner initial + a 5-digit serial: `x7a00012`.
pub fn video_id(owner: &User, index: usize) -> String {
    format!("x{}a{:05}", &owner.id[1..2], index + 1)
}

pub fn full_user(u: &User) -> Map<String, Value> {
    let created = 1_500_000_000 + (mix(u.id.len() as u64 * 7919) % 100_000_000) as i64;
    let obj = json!({
        "id": u.id,
        "screenname": u.screenname,
        "username": u.username,
        "url": format!("https://www.dailymotion.com/{}", u.username),
        "videos_total": u.videos,
        "created_time": created,
        "avatar_120_url": format!("https://s2.dmcdn.net/u/{}/120x120.jpg", u.id),
        "email": u.email,
    });
    obj.as_object().cloned().unwrap_or_default()
}

pub fn full_video(owner: &User, index: usize) -> Map<String, Value> {
    let seed = mix(index as u64 ^ mix(owner.id.bytes().map(u64::from).sum()));
    let topic = TOPICS[(seed % TOPICS.len() as u64) as usize];
    let thing = THINGS[((seed >> 8) % THINGS.len() as u64) as usize];
    let channel = CHANNELS[((seed >> 16) % CHANNELS.len() as u64) as usize];
    let id = video_id(owner, index);
    let obj = json!({
        "id": id,
        "title": format!("{topic} {thing} #{}", index + 1),
        "channel": channel,
        "owner": owner.id,
        "description": format!("{topic} {thing}, episode {} by {}.", index + 1, owner.screenname),
        "duration": 30 + (seed >> 24) % 1800,
        "created_time": 1_600_000_000 + (index as i64) * 86_400,
        "views_total": (seed >> 32) % 250_000,
        "url": format!("https://www.dailymotion.com/video/{id}"),
        "thumbnail_url": format!("https://s1.dmcdn.net/v/{id}/x240"),
        "tags": [channel, topic.to_lowercase()],
        "status": "published",
        "encoding_progress": -1,
        "publishing_progress": -1,
        "published": true,
        "private": false,
        "is_created_for_kids": false,
    });
    obj.as_object().cloned().unwrap_or_default()
}

/// Finds a video by id.
pub fn video(id: &str) -> Option<Map<String, Value>> {
    let serial: usize = id.get(3..)?.parse().ok()?;
    USERS
        .iter()
        .find(|u| {
            id.len() == 8
                && id.starts_with('x')
                && id.get(1..2) == u.id.get(1..2)
                && id.get(2..3) == Some("a")
                && serial >= 1
                && serial <= u.videos
        })
        .map(|u| full_video(u, serial - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_deterministic_and_addressable() {
        let demo = user(DEMO_USER_ID).unwrap();
        let v = full_video(demo, 11);
        assert_eq!(v, full_video(demo, 11));
        assert_eq!(video(v["id"].as_str().unwrap()).unwrap(), v);
        assert!(video("x7a99999").is_none());
        assert!(video("nope").is_none());
    }
}
