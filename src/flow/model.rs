//! The flow file as the user writes it: the serde model of the YAML.
//!
//! Every struct rejects unknown fields (with the list of expected ones), and everything that may
//! hold a template is a [`Text`] or a [`Node`], so it keeps its position for later errors.

use super::node::{Node, Text};
use crate::oauth::spec::{
    AuthorizeSpec, CallbackSpec, EchoSpec, OAuthSpec, RefreshSpec, TokenSpec,
};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

/// A whole flow file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDoc {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Variables the flow expects from outside (a login run, `--var`, the environment):
    /// `NAME` (required) or `{ name: NAME, optional: true, description: ... }`.
    #[serde(default)]
    pub inputs: Vec<Spanned<InputDoc>>,
    /// Default variables, rendered in order (a default may use the ones above it).
    #[serde(default)]
    pub vars: IndexMap<String, Node>,
    /// Names of variables to mask in all output, besides those whose names say so.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// The OAuth2 provider the flow's OAuth steps (and automatic refresh) use.
    pub oauth: Option<OAuthSpec>,
    pub steps: Vec<Spanned<StepDoc>>,
    /// Variables this flow hands on (to `--json`, the token store, env export).
    #[serde(default)]
    pub outputs: Vec<Spanned<String>>,
    /// Extra redactions for snapshot transcripts: `{ json: $.path }` or `{ regex: '...' }`,
    /// with an optional `with:` replacement.
    #[serde(default)]
    pub redact: Vec<Spanned<RedactDoc>>,
}

/// One `redact:` rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactDoc {
    pub json: Option<String>,
    pub regex: Option<String>,
    /// The replacement (default `[redacted]`).
    pub with: Option<String>,
}

/// A declared input.
#[derive(Debug, Clone)]
pub struct InputDoc {
    pub name: String,
    pub optional: bool,
    pub description: Option<String>,
}

pub const INPUT_FIELDS: &[&str] = &["name", "optional", "description"];

impl<'de> Deserialize<'de> for InputDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> Visitor<'de> for InputVisitor {
            type Value = InputDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a variable name, or { name: NAME, optional: true }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<InputDoc, E> {
                Ok(InputDoc {
                    name: s.to_string(),
                    optional: false,
                    description: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputDoc, A::Error> {
                let mut input = InputDoc {
                    name: String::new(),
                    optional: false,
                    description: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => input.name = map.next_value()?,
                        "optional" => input.optional = map.next_value()?,
                        "description" => input.description = Some(map.next_value()?),
                        other => return Err(de::Error::unknown_field(other, INPUT_FIELDS)),
                    }
                }
                if input.name.is_empty() {
                    return Err(de::Error::custom("an input needs a `name`"));
                }
                Ok(input)
            }
        }
        deserializer.deserialize_any(InputVisitor)
    }
}

/// One step: a name, exactly one action, then checks and captures.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDoc {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub http: Option<Spanned<HttpSpec>>,
    pub authorize: Option<Spanned<AuthorizeSpec>>,
    pub callback: Option<Spanned<CallbackSpec>>,
    pub token: Option<Spanned<TokenSpec>>,
    pub refresh: Option<Spanned<RefreshSpec>>,
    pub echo: Option<Spanned<EchoSpec>>,
    pub expect: Option<Expect>,
    #[serde(default)]
    pub save: IndexMap<String, Spanned<Capture>>,
}

/// The generic HTTP request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    pub method: Option<Text>,
    pub url: Text,
    #[serde(default)]
    pub query: IndexMap<String, Node>,
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// A JSON body (any YAML value).
    pub json: Option<Node>,
    /// An `application/x-www-form-urlencoded` body.
    pub form: Option<IndexMap<String, Text>>,
    /// A raw body.
    pub body: Option<Text>,
    pub auth: Option<Spanned<AuthSpec>>,
    /// `30s`, `500ms`, `2m`; default 30s.
    pub timeout: Option<Text>,
    /// Follow redirects (default true, at most 10).
    pub follow_redirects: Option<bool>,
    /// Fetch the following pages of a list while it says there are more.
    pub paginate: Option<Spanned<PaginateSpec>>,
}

/// Page through a list envelope (Dailymotion's: `page`, `has_more`, `list`). Checks and
/// captures see the last page with `list` holding the items of every page fetched.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaginateSpec {
    /// The query parameter that numbers pages (default `page`).
    pub param: Option<String>,
    /// The top-level boolean that says another page exists (default `has_more`).
    pub more: Option<String>,
    /// The top-level array holding each page's items (default `list`).
    pub list: Option<String>,
    /// At most this many pages (default 10).
    pub max_pages: Option<u32>,
}

/// `auth: { bearer: TOKEN }` or `auth: { basic: { username, password } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub bearer: Option<Text>,
    pub basic: Option<BasicAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: Text,
    pub password: Text,
}

/// What the response must look like.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `200`, `[200, 201]` or `2xx`.
    pub status: Option<Node>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<Predicate>>,
    /// JSONPath (RFC 9535) → predicate.
    #[serde(default)]
    pub json: IndexMap<String, Spanned<Predicate>>,
    /// A predicate on the whole body text.
    pub body: Option<Spanned<Predicate>>,
}

/// The predicate operators, as written in YAML.
pub const PREDICATE_OPS: &[&str] = &[
    "equals", "exists", "matches", "contains", "type", "lt", "le", "gt", "ge", "not",
];

/// A check on one value. A bare scalar means `equals`; several operators must all hold.
#[derive(Debug, Default)]
pub struct Predicate {
    pub equals: Option<Node>,
    pub exists: Option<bool>,
    pub matches: Option<Text>,
    pub contains: Option<Node>,
    pub type_: Option<Text>,
    pub lt: Option<Node>,
    pub le: Option<Node>,
    pub gt: Option<Node>,
    pub ge: Option<Node>,
    pub not: Option<Box<Predicate>>,
}

impl Predicate {
    /// Every template-bearing leaf of the predicate.
    pub fn nodes(&self) -> Vec<&Node> {
        let mut out: Vec<&Node> = [
            &self.equals,
            &self.contains,
            &self.lt,
            &self.le,
            &self.gt,
            &self.ge,
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(not) = &self.not {
            out.extend(not.nodes());
        }
        out
    }

    /// Every regex of the predicate, with its position.
    pub fn patterns(&self) -> Vec<&Text> {
        let mut out: Vec<&Text> = self.matches.iter().collect();
        if let Some(not) = &self.not {
            out.extend(not.patterns());
        }
        out
    }

    pub fn types(&self) -> Vec<&Text> {
        let mut out: Vec<&Text> = self.type_.iter().collect();
        if let Some(not) = &self.not {
            out.extend(not.types());
        }
        out
    }
}

impl<'de> Deserialize<'de> for Predicate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PredicateVisitor)
    }
}

struct PredicateVisitor;

impl PredicateVisitor {
    fn scalar<E>(self, kind: super::node::NodeKind) -> Result<Predicate, E> {
        // A bare scalar is shorthand for `equals`; its position is not known here, so we keep
        // the value and let the caller's span (the predicate's) stand for it.
        let location = serde_saphyr::Location::UNKNOWN;
        Ok(Predicate {
            equals: Some(Node(Spanned::new(kind, location, location))),
            ..Predicate::default()
        })
    }
}

impl<'de> Visitor<'de> for PredicateVisitor {
    type Value = Predicate;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value to compare with, or a map of checks (equals, exists, matches, contains, type, lt, le, gt, ge, not)")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Predicate, E> {
        self.scalar(super::node::NodeKind::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Predicate, E> {
        self.scalar(super::node::NodeKind::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Predicate, E> {
        self.scalar(super::node::NodeKind::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Predicate, E> {
        let n =
            serde_json::Number::from_f64(n).ok_or_else(|| E::custom("numbers must be finite"))?;
        self.scalar(super::node::NodeKind::Number(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Predicate, E> {
        self.scalar(super::node::NodeKind::String(s.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Predicate, E> {
        self.scalar(super::node::NodeKind::Null)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Predicate, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        self.scalar(super::node::NodeKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Predicate, A::Error> {
        let mut p = Predicate::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "equals" => p.equals = Some(map.next_value()?),
                "exists" => p.exists = Some(map.next_value()?),
                "matches" => p.matches = Some(map.next_value()?),
                "contains" => p.contains = Some(map.next_value()?),
                "type" => p.type_ = Some(map.next_value()?),
                "lt" => p.lt = Some(map.next_value()?),
                "le" => p.le = Some(map.next_value()?),
                "gt" => p.gt = Some(map.next_value()?),
                "ge" => p.ge = Some(map.next_value()?),
                "not" => p.not = Some(Box::new(map.next_value()?)),
                other => return Err(de::Error::unknown_field(other, PREDICATE_OPS)),
            }
        }
        Ok(p)
    }
}

/// Where a saved value comes from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// JSONPath into the JSON body; one match gives the value, several give a list.
    Json(String),
    Header(String),
    /// First capture group (or the whole match) of a regex on the body text.
    Regex(String),
    Status,
    Body,
}

/// A `save:` entry: `$.id`, `status`, `body`, or `{ json|header|regex: ..., secret: true }`.
#[derive(Debug, Clone)]
pub struct Capture {
    pub source: CaptureSource,
    pub secret: bool,
}

pub const CAPTURE_FIELDS: &[&str] = &["json", "header", "regex", "status", "body", "secret"];

impl<'de> Deserialize<'de> for Capture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CaptureVisitor)
    }
}

struct CaptureVisitor;

impl<'de> Visitor<'de> for CaptureVisitor {
    type Value = Capture;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a JSONPath like `$.id`, `status`, `body`, or a map with one of json, header, regex",
        )
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Capture, E> {
        let source = if s.starts_with('$') {
            CaptureSource::Json(s.to_string())
        } else if s == "status" {
            CaptureSource::Status
        } else if s == "body" {
            CaptureSource::Body
        } else {
            return Err(E::custom(format!(
                "cannot save from `{s}`: write a JSONPath starting with `$` (like `$.id`), `status`, `body`, or a map such as {{ header: Location }}"
            )));
        };
        Ok(Capture {
            source,
            secret: false,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Capture, A::Error> {
        let mut sources = Vec::new();
        let mut secret = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "json" => sources.push(CaptureSource::Json(map.next_value()?)),
                "header" => sources.push(CaptureSource::Header(map.next_value()?)),
                "regex" => sources.push(CaptureSource::Regex(map.next_value()?)),
                "status" => {
                    if map.next_value::<bool>()? {
                        sources.push(CaptureSource::Status)
                    }
                }
                "body" => {
                    if map.next_value::<bool>()? {
                        sources.push(CaptureSource::Body)
                    }
                }
                "secret" => secret = map.next_value()?,
                other => return Err(de::Error::unknown_field(other, CAPTURE_FIELDS)),
            }
        }
        match sources.len() {
            1 => Ok(Capture {
                source: sources.remove(0),
                secret,
            }),
            0 => Err(de::Error::custom(
                "say where to save from: one of json, header, regex, status, body",
            )),
            _ => Err(de::Error::custom(
                "save from one place only: json, header, regex, status or body",
            )),
        }
    }
}
