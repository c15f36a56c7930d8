//! YAML values that remember where they were written.
//!
//! A flow file is first read into a tree of [`Node`]s (any YAML value, every node and every
//! mapping key with its line and column), then typed from that tree. So a problem deep inside a
//! body points at the right character, and a problem in one step never hides the next.

use crate::diagnostic::Pos;
use serde_json::Value;

/// The shape of a YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// Any YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    pub fn new(kind: NodeKind, pos: Pos) -> Node {
        Node { kind, pos }
    }

    pub fn string(text: impl Into<String>, pos: Pos) -> Node {
        Node::new(NodeKind::String(text.into()), pos)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// What the value is, in words for messages: "a string", "a list"...
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing (null)",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Number(_) => "a number",
            NodeKind::String(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Every string leaf, with its position, depth first.
    pub fn strings(&self) -> Vec<(&str, Pos)> {
        let mut out = Vec::new();
        self.collect_strings(&mut out);
        out
    }

    fn collect_strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        match &self.kind {
            NodeKind::String(s) => out.push((s.as_str(), self.pos)),
            NodeKind::Seq(items) => items.iter().for_each(|n| n.collect_strings(out)),
            NodeKind::Map(entries) => entries.iter().for_each(|e| e.value.collect_strings(out)),
            _ => {}
        }
    }

    /// The value as JSON, without rendering templates.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A node read back from a node tree (a spec field that keeps a whole YAML value, such as a
/// JSON body), with every position kept.
impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = super::Spanned::<NodeKind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            pos: spanned.pos,
        })
    }
}

impl<'de> serde::Deserialize<'de> for NodeKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> serde::de::Visitor<'de> for KindVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<NodeKind, E> {
        Ok(NodeKind::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<NodeKind, E> {
        Ok(NodeKind::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<NodeKind, E> {
        Ok(NodeKind::Number(n.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<NodeKind, E> {
        serde_json::Number::from_f64(n)
            .map(NodeKind::Number)
            .ok_or_else(|| E::custom("numbers must be finite"))
    }
    fn visit_str<E>(self, s: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<NodeKind, E> {
        Ok(NodeKind::String(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<super::Spanned<String>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: key.value,
                key_pos: key.pos,
                value,
            });
        }
        Ok(NodeKind::Map(entries))
    }
}

/// In a schema, a node is any value.
impl schemars::JsonSchema for Node {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AnyValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::from(true)
    }
}
