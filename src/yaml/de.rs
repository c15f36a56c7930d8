//! Typed values from a node tree: a serde `Deserializer` over [`Node`] whose every error knows
//! the line and column of the value it is about.
//!
//! Unknown fields of a struct do not stop it: each is recorded (with "did you mean" among the
//! struct's fields) and skipped, so one misspelt key reports itself and nothing else. Scalars
//! are read leniently where a string is wanted (`client_id: 12345` is the text `12345`).

use super::node::{Entry, Node, NodeKind};
use super::spanned::{FIELD_COL, FIELD_LEN, FIELD_LINE, FIELD_VALUE, SPANNED};
use crate::diagnostic::{Pos, did_you_mean};
use serde::de::value::{BorrowedStrDeserializer, U32Deserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use std::cell::RefCell;
use std::fmt;

/// A problem with a value, at its position.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    pub message: String,
    pub pos: Pos,
    pub label: Option<String>,
    pub help: Option<String>,
}

impl DeError {
    pub fn new(message: impl Into<String>, pos: Pos) -> DeError {
        DeError {
            message: message.into(),
            pos,
            label: None,
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> DeError {
        self.help = Some(help.into());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> DeError {
        self.label = Some(label.into());
        self
    }

    /// Gives the error a position when it has none yet.
    fn at(mut self, pos: Pos) -> DeError {
        if !self.pos.is_known() {
            self.pos = pos;
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string(), Pos::UNKNOWN)
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError::new(
            format!("expected {exp}, found {}", unexpected(&unexp)),
            Pos::UNKNOWN,
        )
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError::new(
            format!("expected {exp}, found {}", unexpected(&unexp)),
            Pos::UNKNOWN,
        )
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(format!("missing field `{field}`"), Pos::UNKNOWN)
            .label("in this mapping")
            .help(format!("add `{field}:`"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut help = format!("expected one of: {}", expected.join(", "));
        if let Some(close) = did_you_mean(variant, expected.iter().copied()) {
            help = format!("did you mean `{close}`? {help}");
        }
        DeError::new(format!("unknown value `{variant}`"), Pos::UNKNOWN).help(help)
    }
}

fn unexpected(unexp: &de::Unexpected) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("the string {s:?}"),
        de::Unexpected::Unit => "nothing".into(),
        de::Unexpected::Seq => "a list".into(),
        de::Unexpected::Map => "a mapping".into(),
        other => other.to_string(),
    }
}

/// Where non-fatal problems (unknown fields) go while a value is read.
pub type Problems = RefCell<Vec<DeError>>;

/// Reads `T` from a node; unknown fields are added to `problems` and skipped.
pub fn from_node<'a, T: de::Deserialize<'a>>(
    node: &'a Node,
    problems: &Problems,
) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, problems })
}

/// The deserializer over one node.
#[derive(Clone, Copy)]
pub struct NodeDe<'a, 'p> {
    node: &'a Node,
    problems: &'p Problems,
}

impl<'a, 'p> NodeDe<'a, 'p> {
    fn wrong(&self, expected: &str) -> DeError {
        DeError::new(
            format!("expected {expected}, found {}", self.node.describe()),
            self.node.pos,
        )
    }

    fn map(self, entries: &'a [Entry], fields: Option<&'static [&'static str]>) -> MapDe<'a, 'p> {
        let kept = match fields {
            None => entries.iter().collect(),
            Some(fields) => {
                let mut kept = Vec::with_capacity(entries.len());
                for entry in entries {
                    if fields.contains(&entry.key.as_str()) {
                        kept.push(entry);
                    } else {
                        self.problems
                            .borrow_mut()
                            .push(unknown_field(entry, fields));
                    }
                }
                kept
            }
        };
        MapDe {
            entries: kept.into_iter(),
            value: None,
            problems: self.problems,
        }
    }
}

/// The problem of an unknown key, with the keys that would have fit.
pub fn unknown_field(entry: &Entry, fields: &[&str]) -> DeError {
    let mut help = format!("expected one of: {}", fields.join(", "));
    if let Some(close) = did_you_mean(&entry.key, fields.iter().copied()) {
        help = format!("did you mean `{close}`? {help}");
    }
    DeError::new(format!("unknown field `{}`", entry.key), entry.key_pos)
        .label("unknown field")
        .help(help)
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_any(visitor)
        })*
    };
}

impl<'a, 'p> Deserializer<'a> for NodeDe<'a, 'p> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        let result = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Bool(b) => visitor.visit_bool(*b),
            NodeKind::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            NodeKind::String(s) => visitor.visit_borrowed_str(s),
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                problems: self.problems,
            }),
            NodeKind::Map(entries) => visitor.visit_map(self.map(entries, None)),
        };
        result.map_err(|e: DeError| e.at(pos))
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        let result = match &self.node.kind {
            NodeKind::String(s) => visitor.visit_borrowed_str(s),
            NodeKind::Number(n) => visitor.visit_string(n.to_string()),
            NodeKind::Bool(b) => visitor.visit_string(b.to_string()),
            _ => return Err(self.wrong("a string")),
        };
        result.map_err(|e: DeError| e.at(pos))
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Bool(b) => visitor
                .visit_bool(*b)
                .map_err(|e: DeError| e.at(self.node.pos)),
            _ => Err(self.wrong("true or false")),
        }
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(self.node.pos))
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            _ => Err(self.wrong("nothing")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        if name == SPANNED {
            return visitor
                .visit_map(SpannedAccess::new(pos, self))
                .map_err(|e| e.at(pos));
        }
        visitor.visit_newtype_struct(self).map_err(|e| e.at(pos))
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Seq(items) => visitor
                .visit_seq(SeqDe {
                    items: items.iter(),
                    problems: self.problems,
                })
                .map_err(|e| e.at(self.node.pos)),
            _ => Err(self.wrong("a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.kind {
            NodeKind::Map(entries) => visitor
                .visit_map(self.map(entries, None))
                .map_err(|e| e.at(self.node.pos)),
            NodeKind::Null => visitor
                .visit_map(self.map(&[], None))
                .map_err(|e| e.at(self.node.pos)),
            _ => Err(self.wrong("a mapping")),
        }
    }

    /// A struct: unknown keys are reported and skipped; `key:` with nothing is an empty one.
    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let entries: &'a [Entry] = match &self.node.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => &[],
            _ => return Err(self.wrong("a mapping")),
        };
        visitor
            .visit_map(self.map(entries, Some(fields)))
            .map_err(|e| e.at(self.node.pos))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        match &self.node.kind {
            NodeKind::String(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: DeError| e.at(pos)),
            NodeKind::Map(entries) if entries.len() == 1 => visitor
                .visit_enum(EnumDe {
                    entry: &entries[0],
                    problems: self.problems,
                })
                .map_err(|e| e.at(pos)),
            _ => Err(self.wrong("one of the listed values")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_any! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    problems: &'p Problems,
}

impl<'a> SeqAccess<'a> for SeqDe<'a, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    problems: self.problems,
                })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    entries: std::vec::IntoIter<&'a Entry>,
    value: Option<&'a Node>,
    problems: &'p Problems,
}

impl<'a> MapAccess<'a> for MapDe<'a, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(&entry.value);
        seed.deserialize(KeyDe {
            key: &entry.key,
            pos: entry.key_pos,
        })
        .map(Some)
        .map_err(|e| e.at(entry.key_pos))
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| DeError::new("a value was asked for before its key", Pos::UNKNOWN))?;
        seed.deserialize(NodeDe {
            node,
            problems: self.problems,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A mapping key, readable as text or as `Spanned<String>`.
#[derive(Clone, Copy)]
struct KeyDe<'a> {
    key: &'a str,
    pos: Pos,
}

impl<'de> Deserializer<'de> for KeyDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.key)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedAccess::new(self.pos, self));
        }
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// The four entries of a spanned value: `$line`, `$col`, `$len`, `$value`.
struct SpannedAccess<D> {
    pos: Pos,
    value: D,
    step: u8,
}

impl<D> SpannedAccess<D> {
    fn new(pos: Pos, value: D) -> SpannedAccess<D> {
        SpannedAccess {
            pos,
            value,
            step: 0,
        }
    }
}

impl<'a, D: Deserializer<'a, Error = DeError> + Copy> MapAccess<'a> for SpannedAccess<D> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let name = match self.step {
            0 => FIELD_LINE,
            1 => FIELD_COL,
            2 => FIELD_LEN,
            3 => FIELD_VALUE,
            _ => return Ok(None),
        };
        seed.deserialize(BorrowedStrDeserializer::new(name))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let step = self.step;
        self.step += 1;
        match step {
            0 => seed.deserialize(U32Deserializer::new(self.pos.line)),
            1 => seed.deserialize(U32Deserializer::new(self.pos.col)),
            2 => seed.deserialize(U32Deserializer::new(self.pos.len)),
            _ => seed.deserialize(self.value),
        }
    }
}

/// `{ variant: value }` for externally tagged enums.
struct EnumDe<'a, 'p> {
    entry: &'a Entry,
    problems: &'p Problems,
}

impl<'a, 'p> de::EnumAccess<'a> for EnumDe<'a, 'p> {
    type Error = DeError;
    type Variant = NodeDe<'a, 'p>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'a, 'p>), DeError> {
        let variant = seed
            .deserialize(KeyDe {
                key: &self.entry.key,
                pos: self.entry.key_pos,
            })
            .map_err(|e| e.at(self.entry.key_pos))?;
        Ok((
            variant,
            NodeDe {
                node: &self.entry.value,
                problems: self.problems,
            },
        ))
    }
}

impl<'a> de::VariantAccess<'a> for NodeDe<'a, '_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_struct("", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Source;
    use crate::yaml::{Spanned, parse};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Http {
        url: Spanned<String>,
        method: Option<String>,
        #[serde(default)]
        headers: indexmap::IndexMap<String, Spanned<String>>,
        timeout: Option<u32>,
    }

    fn node(text: &str) -> Node {
        parse(&Source::new("t.yaml", text)).unwrap()
    }

    #[test]
    fn typed_values_keep_positions() {
        let n = node("url: http://x\nheaders: { A: b }\n");
        let problems = Problems::default();
        let http: Http = from_node(&n, &problems).unwrap();
        assert_eq!(http.url.pos, Pos::new(1, 6, 8));
        assert_eq!(http.headers["A"].pos.line, 2);
        assert!(problems.borrow().is_empty());
    }

    #[test]
    fn every_unknown_field_is_reported_and_skipped() {
        let n = node("url: x\nmethd: GET\nheaders: {}\ntimout: 3\n");
        let problems = Problems::default();
        let http: Http = from_node(&n, &problems).unwrap();
        assert_eq!(http.url.value, "x");
        assert_eq!((http.method, http.timeout), (None, None));
        let problems = problems.into_inner();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].message, "unknown field `methd`");
        assert_eq!(problems[0].pos, Pos::new(2, 1, 5));
        assert!(
            problems[0]
                .help
                .as_ref()
                .unwrap()
                .starts_with("did you mean `method`?")
        );
        assert_eq!(problems[1].pos.line, 4);
    }

    #[test]
    fn type_errors_point_at_the_value() {
        let n = node("url: x\ntimeout: [1]\n");
        let err = from_node::<Http>(&n, &Problems::default()).unwrap_err();
        assert_eq!(err.pos.line, 2, "{err:?}");
        assert!(err.message.contains("found a list"), "{err:?}");
        let missing = from_node::<Http>(&node("method: GET\n"), &Problems::default()).unwrap_err();
        assert_eq!(missing.message, "missing field `url`");
        assert_eq!(missing.pos.line, 1);
    }
}
