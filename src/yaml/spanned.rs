//! [`Spanned<T>`]: a typed value and where it was written. Deserialized from a node tree (see
//! [`super::de`]), it carries the node's line and column; from any other deserializer, an
//! unknown position.

use crate::diagnostic::Pos;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The name of the newtype struct the node deserializer recognises.
pub(crate) const SPANNED: &str = "$dmflow::Spanned";
pub(crate) const FIELD_LINE: &str = "$line";
pub(crate) const FIELD_COL: &str = "$col";
pub(crate) const FIELD_LEN: &str = "$len";
pub(crate) const FIELD_VALUE: &str = "$value";

/// A value and its position in the flow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Spanned<T> {
    pub fn new(value: T, pos: Pos) -> Spanned<T> {
        Spanned { value, pos }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(SPANNED, SpannedVisitor(std::marker::PhantomData))
    }
}

struct SpannedVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    /// Another deserializer: the value, with no position.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Spanned<T>, D::Error> {
        T::deserialize(d).map(|value| Spanned::new(value, Pos::UNKNOWN))
    }

    /// The node deserializer: `$line`, `$col`, `$len`, then `$value`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spanned<T>, A::Error> {
        let mut pos = Pos::UNKNOWN;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                FIELD_LINE => pos.line = map.next_value()?,
                FIELD_COL => pos.col = map.next_value()?,
                FIELD_LEN => pos.len = map.next_value()?,
                FIELD_VALUE => {
                    let value = map.next_value()?;
                    return Ok(Spanned::new(value, pos));
                }
                other => {
                    return Err(de::Error::custom(format!(
                        "unexpected `{other}` in a spanned value"
                    )));
                }
            }
        }
        Err(de::Error::custom("a spanned value without its value"))
    }
}

/// In a schema, a spanned value is its value.
impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
