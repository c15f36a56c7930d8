//! The bridge from serde-saphyr: a YAML value read with its positions (serde-saphyr's
//! `Spanned`), turned into our compact [`Node`].

use super::node::{Entry, Node, NodeKind};
use crate::diagnostic::Pos;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A node as serde-saphyr hands it over.
pub struct RawNode(Spanned<RawKind>);

enum RawKind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<RawNode>),
    Map(Vec<(Spanned<RawKey>, RawNode)>),
}

fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    let loc = &spanned.referenced;
    Pos::new(
        loc.line() as u32,
        loc.column() as u32,
        (loc.span().len() as u32).max(1),
    )
}

impl RawNode {
    pub fn into_node(self) -> Node {
        let pos = pos_of(&self.0);
        let kind = match self.0.value {
            RawKind::Null => NodeKind::Null,
            RawKind::Bool(b) => NodeKind::Bool(b),
            RawKind::Number(n) => NodeKind::Number(n),
            RawKind::String(s) => NodeKind::String(s),
            RawKind::Seq(items) => {
                NodeKind::Seq(items.into_iter().map(RawNode::into_node).collect())
            }
            RawKind::Map(entries) => NodeKind::Map(
                entries
                    .into_iter()
                    .map(|(key, value)| {
                        let key_pos = pos_of(&key);
                        let len = key.value_len().max(1);
                        Entry {
                            key: key.value.0,
                            key_pos: Pos::new(key_pos.line, key_pos.col, len),
                            value: value.into_node(),
                        }
                    })
                    .collect(),
            ),
        };
        Node { kind, pos }
    }
}

trait KeyLen {
    fn value_len(&self) -> u32;
}

impl KeyLen for Spanned<RawKey> {
    fn value_len(&self) -> u32 {
        self.value.0.chars().count() as u32
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<RawKind>::deserialize(deserializer).map(RawNode)
    }
}

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_none<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
        RawKind::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<RawKind, E> {
        Ok(RawKind::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<RawKind, E> {
        Ok(RawKind::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<RawKind, E> {
        Ok(RawKind::Number(n.into()))
    }
    fn visit_i128<E: de::Error>(self, n: i128) -> Result<RawKind, E> {
        i64::try_from(n)
            .map(|n| RawKind::Number(n.into()))
            .map_err(|_| E::custom("this number is too large (at most 64 bits)"))
    }
    fn visit_u128<E: de::Error>(self, n: u128) -> Result<RawKind, E> {
        u64::try_from(n)
            .map(|n| RawKind::Number(n.into()))
            .map_err(|_| E::custom("this number is too large (at most 64 bits)"))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<RawKind, E> {
        serde_json::Number::from_f64(n)
            .map(RawKind::Number)
            .ok_or_else(|| {
                E::custom(
                    "this number is not finite (too large, .inf or .nan): quote it if it is text",
                )
            })
    }
    fn visit_str<E>(self, s: &str) -> Result<RawKind, E> {
        Ok(RawKind::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<RawKind, E> {
        Ok(RawKind::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<RawKey>, RawNode>()? {
            entries.push(entry);
        }
        Ok(RawKind::Map(entries))
    }
}

/// A mapping key: YAML allows numbers and booleans as keys; we read them as their text.
struct RawKey(String);

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match RawKind::deserialize(deserializer)? {
            RawKind::String(s) => Ok(RawKey(s)),
            RawKind::Number(n) => Ok(RawKey(n.to_string())),
            RawKind::Bool(b) => Ok(RawKey(b.to_string())),
            RawKind::Null => Ok(RawKey("null".into())),
            _ => Err(de::Error::custom(
                "mapping keys must be plain values, not lists or mappings",
            )),
        }
    }
}
