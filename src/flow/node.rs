//! YAML values that remember where they were written.
//!
//! [`Node`] is any YAML value (a JSON body, a `vars:` default, an expected value) whose every
//! leaf keeps its line and column, so a template error deep inside a body points at the right
//! character. [`Text`] is a string leaf that may hold templates.

use crate::diagnostic::Pos;
use crate::template::{TemplateError, Templates, Vars};
use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A string leaf (possibly a template) and where it was written.
pub type Text = Spanned<String>;

/// Position of a spanned value: where it is used (an alias points at its use).
pub fn pos_of<T>(spanned: &Spanned<T>) -> Pos {
    Pos::from_location(&spanned.referenced)
}

/// The shape of a YAML value.
#[derive(Debug, Clone)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Seq(Vec<Node>),
    Map(IndexMap<String, Node>),
}

/// Any YAML value with its position.
#[derive(Debug, Clone)]
pub struct Node(pub Spanned<NodeKind>);

impl Node {
    pub fn kind(&self) -> &NodeKind {
        &self.0.value
    }

    pub fn pos(&self) -> Pos {
        pos_of(&self.0)
    }

    /// Every string leaf, with its position, depth first.
    pub fn strings(&self) -> Vec<(&str, Pos)> {
        let mut out = Vec::new();
        self.collect_strings(&mut out);
        out
    }

    fn collect_strings<'a>(&'a self, out: &mut Vec<(&'a str, Pos)>) {
        match self.kind() {
            NodeKind::String(s) => out.push((s.as_str(), self.pos())),
            NodeKind::Seq(items) => items.iter().for_each(|n| n.collect_strings(out)),
            NodeKind::Map(map) => map.values().for_each(|n| n.collect_strings(out)),
            _ => {}
        }
    }

    /// The value as JSON, without rendering templates.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self.kind() {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Renders every string leaf; a leaf that is one `<< expr >>` keeps the expression's type.
    pub fn render(
        &self,
        templates: &Templates,
        vars: &Vars,
    ) -> Result<serde_json::Value, (TemplateError, Pos)> {
        use serde_json::Value;
        Ok(match self.kind() {
            NodeKind::String(s) => templates
                .render_value(s, vars)
                .map_err(|e| (e, self.pos()))?,
            NodeKind::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|n| n.render(templates, vars))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Map(map) => {
                let mut out = serde_json::Map::new();
                for (key, value) in map {
                    out.insert(key.clone(), value.render(templates, vars)?);
                }
                Value::Object(out)
            }
            _ => self.to_json(),
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<NodeKind>::deserialize(deserializer).map(Node)
    }
}

impl<'de> Deserialize<'de> for NodeKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = NodeKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_none<E>(self) -> Result<NodeKind, E> {
        Ok(NodeKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NodeKind, D::Error> {
        NodeKind::deserialize(d)
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
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<NodeKind, E> {
        serde_json::Number::from_f64(n)
            .map(NodeKind::Number)
            .ok_or_else(|| E::custom("numbers must be finite (no .nan or .inf)"))
    }
    fn visit_str<E>(self, s: &str) -> Result<NodeKind, E> {
        Ok(NodeKind::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<NodeKind, E> {
        Ok(NodeKind::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeKind, A::Error> {
        let mut out = IndexMap::new();
        while let Some((key, value)) = map.next_entry::<KeyString, Node>()? {
            out.insert(key.0, value);
        }
        Ok(NodeKind::Map(out))
    }
}

/// A mapping key: YAML allows numbers and booleans as keys; JSON objects want strings.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match NodeKind::deserialize(deserializer)? {
            NodeKind::String(s) => Ok(KeyString(s)),
            NodeKind::Number(n) => Ok(KeyString(n.to_string())),
            NodeKind::Bool(b) => Ok(KeyString(b.to_string())),
            NodeKind::Null => Ok(KeyString("null".into())),
            _ => Err(de::Error::custom("mapping keys must be scalars")),
        }
    }
}
