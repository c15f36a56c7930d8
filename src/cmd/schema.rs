//! `dmflow schema`: the JSON Schema of flow files, with the built-in step kinds.

use super::Failure;
use dmflow::Category;
use dmflow::steps::Registry;

pub fn command() -> Result<Category, Failure> {
    super::manual::write_stdout(dmflow::schema::flow_schema_text(&Registry::builtin()).as_bytes())
}
