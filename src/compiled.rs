//! Compiled leaves of a flow: [`Text`] (a string template and where it was written) and
//! [`ValueTree`] (any YAML value whose string leaves are templates), both rendered against a
//! template [`Context`]. Parts with no template in them are kept as plain values and cost
//! nothing to render.

use crate::diagnostic::Pos;
use crate::template::{Context, Template, TemplateError};
use serde_json::Value;
use std::sync::Arc;

/// A string template and its position.
#[derive(Debug, Clone)]
pub struct Text {
    pub template: Arc<Template>,
    pub pos: Pos,
}

impl Text {
    pub fn literal(text: impl Into<String>, pos: Pos) -> Text {
        Text {
            template: Arc::new(Template::literal(text)),
            pos,
        }
    }

    /// The text, when it holds no template.
    pub fn as_literal(&self) -> Option<&str> {
        self.template.as_literal()
    }

    pub fn render(&self, cx: &Context) -> Result<String, (TemplateError, Pos)> {
        self.template.render(cx).map_err(|e| (e, self.pos))
    }

    pub fn render_value(&self, cx: &Context) -> Result<Value, (TemplateError, Pos)> {
        self.template.render_value(cx).map_err(|e| (e, self.pos))
    }
}

/// A YAML value with compiled templates in its string leaves.
#[derive(Debug, Clone)]
pub enum ValueTree {
    /// No template anywhere inside.
    Const(Value),
    Leaf(Text),
    Seq(Vec<ValueTree>),
    Map(Vec<(String, ValueTree)>),
}

impl ValueTree {
    /// Renders every leaf; a leaf that is one `<< expr >>` keeps the expression's type.
    pub fn render(&self, cx: &Context) -> Result<Value, (TemplateError, Pos)> {
        Ok(match self {
            ValueTree::Const(value) => value.clone(),
            ValueTree::Leaf(text) => text.render_value(cx)?,
            ValueTree::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|i| i.render(cx))
                    .collect::<Result<_, _>>()?,
            ),
            ValueTree::Map(entries) => {
                let mut out = serde_json::Map::with_capacity(entries.len());
                for (key, value) in entries {
                    out.insert(key.clone(), value.render(cx)?);
                }
                Value::Object(out)
            }
        })
    }

    /// The value, when it holds no template.
    pub fn as_const(&self) -> Option<&Value> {
        match self {
            ValueTree::Const(value) => Some(value),
            _ => None,
        }
    }

    /// Every template leaf.
    pub fn texts(&self) -> Vec<&Text> {
        let mut out = Vec::new();
        self.collect(&mut out);
        out
    }

    fn collect<'a>(&'a self, out: &mut Vec<&'a Text>) {
        match self {
            ValueTree::Const(_) => {}
            ValueTree::Leaf(text) => out.push(text),
            ValueTree::Seq(items) => items.iter().for_each(|i| i.collect(out)),
            ValueTree::Map(entries) => entries.iter().for_each(|(_, v)| v.collect(out)),
        }
    }
}
