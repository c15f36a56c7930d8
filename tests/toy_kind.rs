//! A step kind added from outside: one file (this one, standing for `src/steps/shout.rs`) and one
//! registration line (`Registry::builtin().with(&Shout)`), with no change to the engine.

use dmflow::diagnostic::{Pos, Source};
use dmflow::run::compile::CompileCx;
use dmflow::run::context::StepCx;
use dmflow::run::error::StepError;
use dmflow::run::kind::{Action, ActionOutput, StepKind};
use dmflow::steps::Registry;
use dmflow::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;

/// `shout: { text: ... }`: defines `SHOUTED`, the text in capitals.
struct Shout;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShoutDoc {
    text: Spanned<String>,
}

#[derive(Debug)]
struct ShoutAction {
    text: dmflow::compiled::Text,
}

impl StepKind for Shout {
    fn name(&self) -> &'static str {
        "shout"
    }

    fn compile(&self, spec: &Node, _step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: ShoutDoc = cx.spec(spec)?;
        cx.define("SHOUTED");
        Some(Box::new(ShoutAction {
            text: cx.text(&doc.text),
        }))
    }
}

impl Action for ShoutAction {
    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(async move {
            let mut output = ActionOutput::default();
            let text = cx.render(&self.text)?.to_uppercase();
            output.outputs.insert("SHOUTED".into(), text.into());
            Ok(output)
        })
    }
}

fn loader() -> dmflow::Loader {
    dmflow::Loader::new().registry(Registry::builtin().with(&Shout))
}

#[test]
fn a_new_kind_compiles_and_runs_through_the_unchanged_engine() {
    let source = Source::new(
        "shout.yaml",
        "vars:\n  who: world\nsteps:\n  - name: loud\n    shout: { text: 'hello <<who>>' }\noutputs: [SHOUTED]\n",
    );
    let flow = loader().compile_source(&source).expect("the flow compiles");
    assert_eq!(flow.steps[0].kind, "shout");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let options = dmflow::RunOptions::default();
    let result = runtime.block_on(dmflow::run_flow(
        &flow,
        &options,
        &dmflow::run::observer::Quiet,
    ));
    assert_eq!(result.outcome(), dmflow::run::Outcome::Passed);
    assert_eq!(result.outputs["SHOUTED"], "HELLO WORLD");
}

#[test]
fn the_new_kind_is_checked_like_the_others() {
    let source = Source::new(
        "shout.yaml",
        "steps:\n  - shout: { txt: a }\n  - shout: { text: '<<nope>>' }\n",
    );
    let problems = loader().compile_source(&source).unwrap_err();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(&"shout.yaml:2:14: unknown field `txt`".to_string()),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|p| p.starts_with("shout.yaml:3:23: undefined variable `nope`")),
        "{shown:?}"
    );
    let unknown = dmflow::Loader::new().compile_source(&source).unwrap_err();
    assert!(
        unknown[0].message.contains("unknown field `shout`"),
        "{unknown:?}"
    );
}
