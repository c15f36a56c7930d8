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
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Line => pos.line = map.next_value()?,
                Field::Col => pos.col = map.next_value()?,
                Field::Len => pos.len = map.next_value()?,
                Field::Value => {
                    let value = map.next_value()?;
                    return Ok(Spanned::new(value, pos));
                }
                Field::Other(other) => {
                    return Err(de::Error::custom(format!(
                        "unexpected `{other}` in a spanned value"
                    )));
                }
            }
        }
        Err(de::Error::custom("a spanned value without its value"))
    }
}

/// A key of the node deserializer's spanned map, read without copying it (there is one per
/// value of the flow file).
enum Field {
    Line,
    Col,
    Len,
    Value,
    Other(String),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field of a spanned value")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        Ok(match key {
            FIELD_LINE => Field::Line,
            FIELD_COL => Field::Col,
            FIELD_LEN => Field::Len,
            FIELD_VALUE => Field::Value,
            other => Field::Other(other.to_string()),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error, MapDeserializer};

    fn from_map(fields: Vec<(&'static str, u32)>) -> Result<Spanned<u32>, Error> {
        Spanned::deserialize(MapDeserializer::new(fields.into_iter()))
    }

    #[test]
    fn a_spanned_map_gives_the_value_and_its_position() {
        let spanned = from_map(vec![("$line", 3), ("$col", 4), ("$len", 5), ("$value", 7)]);
        assert_eq!(spanned.unwrap(), Spanned::new(7, Pos::new(3, 4, 5)));
    }

    #[test]
    fn an_unknown_or_missing_field_is_an_error() {
        let unknown = from_map(vec![("$line", 3), ("$bogus", 1)]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "unexpected `$bogus` in a spanned value"
        );
        let missing = from_map(vec![("$line", 3)]).unwrap_err();
        assert_eq!(missing.to_string(), "a spanned value without its value");
    }
}
