//! dmflow as another Rust program uses it: load flows, run them against the embedded emulator
//! with an observer, read the results. No command line involved.

use dmflow::mock::state::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use dmflow::oauth::browser::Browser;
use dmflow::oauth::settings::OAuthRuntime;
use dmflow::run::observer::Observer;
use dmflow::run::result::StepResult;
use dmflow::{Flow, RunOptions};
use std::path::Path;
use std::sync::Mutex;

/// Remembers what it was told.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Observer for Recorder {
    fn flow_started(&self, flow: &Flow) {
        self.0.lock().unwrap().push(format!("flow {}", flow.name));
    }
    fn note(&self, _flow: &Flow, note: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("note {}", note.split(':').next().unwrap_or("")));
    }
    fn step_finished(&self, _flow: &Flow, _step: Option<&dmflow::flow::Step>, result: &StepResult) {
        self.0.lock().unwrap().push(format!(
            "{} {:?} {:?}",
            result.name,
            result.outcome(),
            result.status()
        ));
    }
}

fn load(name: &str) -> Flow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("flows")
        .join(name);
    dmflow::flow::load(&path).unwrap_or_else(|problems| panic!("{problems:?}"))
}

#[tokio::test]
async fn sign_in_then_read_the_profile_through_the_library() {
    let emulator = dmflow::mock::start(
        Config {
            auto_approve: true,
            ..Config::default()
        },
        0,
    )
    .await
    .unwrap();
    let mut options = RunOptions {
        rewrite: Some(emulator.rewrite()),
        ..RunOptions::default()
    };
    for (name, value) in [
        ("API_KEY", DEMO_CLIENT_ID),
        ("API_SECRET", DEMO_CLIENT_SECRET),
    ] {
        options.overrides.insert(name.into(), value.into());
    }
    options.extensions.insert(OAuthRuntime {
        browser: Browser::Internal,
        callback_any_port: true,
        ..OAuthRuntime::default()
    });
    let recorder = Recorder::default();

    let login = dmflow::run_flow(&load("login.yaml"), &options, &recorder).await;
    assert_eq!(login.outcome(), dmflow::run::Outcome::Passed, "{login:?}");
    assert_eq!(login.outputs["USER_ID"], "x7dmflw");
    let token = login.outputs["ACCESS_TOKEN"].as_str().unwrap().to_string();
    assert!(token.starts_with("dma."), "an emulator token");

    options.stored = login.outputs.clone();
    let me = dmflow::run_flow(&load("me.yaml"), &options, &recorder).await;
    assert_eq!(me.outcome(), dmflow::run::Outcome::Passed, "{me:?}");
    assert_eq!(me.outputs["SCREEN_NAME"], "dmflow Demo");
    let sent = &me.steps[0].exchanges[0].request;
    assert!(
        sent.url.starts_with("https://api.dailymotion.com/me?"),
        "{}",
        sent.url
    );

    let seen = recorder.0.into_inner().unwrap();
    assert_eq!(
        seen,
        [
            "flow login",
            "note sign in at",
            "authorize Passed None",
            "callback Passed None",
            "token Passed Some(200)",
            "echo Passed Some(200)",
            "flow me",
            "profile Passed Some(200)",
        ]
    );
    assert!(
        !options.redactor.mask(&token).contains(&token),
        "the run registered the token as a secret"
    );
}
