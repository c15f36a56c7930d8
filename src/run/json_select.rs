//! One value out of a JSON text without building the rest. A JSONPath made only of member
//! names and array indices (`$.list[0].id`, `$['a b']`), the usual capture or check, selects at
//! most one node: the text is walked once, everything off the path is skipped (its syntax still
//! checked), and only the selected value is built. A large body then costs its own bytes, not
//! the many times more of a whole `serde_json::Value` tree.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// One step of a simple path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Member(String),
    Index(usize),
}

/// The segments of `path` when it only names members and indices; `None` for anything else
/// (wildcards, filters, slices, negative indices, descendants, escapes), which needs the whole
/// document.
pub fn simple_path(path: &str) -> Option<Vec<Segment>> {
    let mut rest = path.strip_prefix('$')?;
    let mut segments = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            segments.push(Segment::Member(name.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            segments.push(bracketed(&after[..close])?);
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    Some(segments)
}

/// `0`, `12`, `'name'` or `"name"` (no escapes, no quote inside).
fn bracketed(inner: &str) -> Option<Segment> {
    let quoted = |q: char| {
        inner
            .strip_prefix(q)?
            .strip_suffix(q)
            .filter(|name| !name.contains(['\\', '\'', '"']))
    };
    if let Some(name) = quoted('\'').or_else(|| quoted('"')) {
        return Some(Segment::Member(name.to_string()));
    }
    let canonical = inner == "0" || (!inner.starts_with('0') && !inner.is_empty());
    if canonical && inner.bytes().all(|b| b.is_ascii_digit()) {
        return inner.parse().ok().map(Segment::Index);
    }
    None
}

/// The value at `path` in the JSON `text` (`Ok(None)`: nothing there); an error when `text` is
/// not one JSON document.
pub fn select(text: &str, path: &[Segment]) -> Result<Option<Value>, serde_json::Error> {
    let mut reader = serde_json::Deserializer::from_str(text);
    let found = At(path).deserialize(&mut reader)?;
    reader.end()?;
    Ok(found)
}

/// Reads the value at the rest of the path, skipping the others.
struct At<'p>(&'p [Segment]);

impl<'de> DeserializeSeed<'de> for At<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, reader: D) -> Result<Option<Value>, D::Error> {
        if self.0.is_empty() {
            serde::Deserialize::deserialize(reader).map(Some)
        } else {
            reader.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for At<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let (first, rest) = self.0.split_first().expect("a non-empty path");
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match first {
                // The last duplicate wins, as when the whole document is read.
                Segment::Member(name) if *name == key => found = map.next_value_seed(At(rest))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let (first, rest) = self.0.split_first().expect("a non-empty path");
        let wanted = match first {
            Segment::Index(i) => Some(*i),
            Segment::Member(_) => None,
        };
        let mut found = None;
        let mut index = 0;
        loop {
            if Some(index) == wanted {
                match seq.next_element_seed(At(rest))? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_paths_are_recognised_and_others_are_not() {
        use Segment::{Index, Member};
        assert_eq!(simple_path("$"), Some(vec![]));
        assert_eq!(
            simple_path("$.list[0].id"),
            Some(vec![Member("list".into()), Index(0), Member("id".into())])
        );
        assert_eq!(
            simple_path("$['a b'][\"c\"][12]"),
            Some(vec![Member("a b".into()), Member("c".into()), Index(12)])
        );
        for other in [
            "$.list[*]",
            "$..id",
            "$[-1]",
            "$[01]",
            "$[0:2]",
            "$[?@.a]",
            "$.1a",
            "$['a\\'b']",
            "list",
            "$.",
            "$[",
            "$['a','b']",
            "$.a b",
        ] {
            assert_eq!(simple_path(other), None, "{other}");
        }
    }

    /// The streamed selection agrees with serde_json_path on the whole document.
    #[test]
    fn selection_matches_the_full_query() {
        let doc = json!({
            "list": [{"id": "x1", "n": 1}, {"id": "x2", "deep": {"a": [true, null, 2.5]}}],
            "a b": "spaced", "last": "end", "n": -3, "e": {}, "z": []
        });
        let text = doc.to_string();
        for path in [
            "$",
            "$.list",
            "$.list[1].deep.a[2]",
            "$.list[1].deep.a[1]",
            "$['a b']",
            "$.last",
            "$.n",
            "$.e",
            "$.z",
            "$.list[5]",
            "$.missing",
            "$.last.x",
            "$.list.id",
            "$.n[0]",
        ] {
            let segments = simple_path(path).expect(path);
            let full = serde_json_path::JsonPath::parse(path)
                .expect(path)
                .query(&doc)
                .at_most_one()
                .expect(path)
                .cloned();
            assert_eq!(select(&text, &segments).expect(path), full, "{path}");
        }
    }

    #[test]
    fn the_last_duplicate_wins_and_bad_json_is_an_error() {
        let path = simple_path("$.a").unwrap();
        assert_eq!(select(r#"{"a":1,"a":2}"#, &path).unwrap(), Some(json!(2)));
        assert!(select(r#"{"a":1,"b":[}"#, &path).is_err());
        assert!(select(r#"{"a":1} trailing"#, &path).is_err());
        assert!(select("<html>", &path).is_err());
    }
}
