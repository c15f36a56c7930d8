//! Everything before the first request of `run` and `test`: variables, flows loaded and
//! planned (order, providers, shard: see [`super::plan`]), the token store, `--mock`, the
//! browser, the HTTP client; then the options of each flow run, built from those.

use super::Failure;
use super::plan::Plan;
use crate::cli::RunCommon;
use dmflow::Category;
use dmflow::RunOptions;
use dmflow::flow::Flow;
use dmflow::flow::model::StepAction;
use dmflow::oauth::browser::Browser;
use dmflow::oauth::settings::OAuthRuntime;
use dmflow::report::terminal::Terminal;
use dmflow::run::http::{Client, HostRewrite};
use dmflow::secret::Redactor;
use dmflow::store::{ProfileStore, TokenEndpoint};
use dmflow::tokens::shield::{Moment, Signal};
use dmflow::tokens::{TokenHook, TokenSupport};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A prepared run: the plan, and what every flow run's options are made of.
pub struct Prepared {
    pub plan: Plan,
    /// Every listed flow, `(name, file)`, whatever the shard.
    pub listed: Vec<(String, String)>,
    pub terminal: Terminal,
    pub redactor: Redactor,
    /// Runs against the in-process emulator (nobody waits in a browser).
    pub mock: bool,
    base: Base,
    stored: Stored,
    _mock: Option<dmflow::mock::Running>,
}

/// The parts of a flow run's options that every run shares.
struct Base {
    cli_vars: IndexMap<String, String>,
    env_file: IndexMap<String, String>,
    env: Arc<HashMap<String, String>>,
    overrides: IndexMap<String, String>,
    client: Client,
    rewrite: Option<HostRewrite>,
    runtime: OAuthRuntime,
    support: TokenSupport,
}

/// What the token store holds, read again after each flow that passed.
#[derive(Default)]
struct Stored {
    values: IndexMap<String, Value>,
    endpoint: Option<TokenEndpoint>,
    sign_in: Option<String>,
    generation: u64,
}

/// The flow that signs in, when the project has the usual one.
const LOGIN_FLOW: &str = "flows/login.yaml";

impl Prepared {
    /// The options of one run of `flow`: the store's values with `inputs` (values from the
    /// flow's providers) over them.
    pub fn options(&self, flow: &Flow, inputs: IndexMap<String, Value>) -> RunOptions {
        let base = &self.base;
        let mut support = base.support.clone();
        support.stored_endpoint = self.stored.endpoint.clone();
        support.sign_in = self.stored.sign_in.clone();
        support.generation = self.stored.generation;
        support.hands_over = handed_over(flow);
        let mut stored = self.stored.values.clone();
        stored.extend(inputs);
        let mut options = RunOptions {
            cli_vars: base.cli_vars.clone(),
            env_file: base.env_file.clone(),
            env: base.env.clone(),
            stored,
            overrides: base.overrides.clone(),
            client: base.client.clone(),
            rewrite: base.rewrite.clone(),
            hooks: vec![Arc::new(TokenHook)],
            redactor: self.redactor.clone(),
            input_hint: support
                .sign_in
                .as_ref()
                .map(|command| format!("for tokens: {command}")),
            ..RunOptions::default()
        };
        options.extensions.insert(base.runtime.clone());
        options.extensions.insert(support);
        options
    }

    /// The process's HTTP client.
    pub fn client(&self) -> &Client {
        &self.base.client
    }

    /// The token store, unless `--no-store`.
    pub fn store(&self) -> Option<&ProfileStore> {
        self.base.support.store.as_ref()
    }

    /// Reads the token store again (after a flow wrote its outputs).
    pub async fn reload(&mut self) -> Result<(), Failure> {
        self.stored = read_stored(&self.base.support).await?;
        Ok(())
    }
}

/// The outputs a flow and its sub-flows hand to the token store.
fn handed_over(flow: &Flow) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = flow.output_names().map(str::to_string).collect();
    for step in &flow.steps {
        if let StepAction::Flow(sub) = &step.action {
            names.extend(handed_over(&sub.flow));
        }
    }
    names
}

/// Whether running `flow` may write the token store: it hands outputs over, or gets tokens.
fn writes_store(flow: &Flow) -> bool {
    flow.output_names().next().is_some()
        || flow.steps.iter().any(|step| match &step.action {
            StepAction::Flow(sub) => writes_store(&sub.flow),
            StepAction::Kind(_) => matches!(step.kind, "token" | "refresh"),
        })
}

/// What a SIGINT or SIGTERM does once a token request has been shielded from it: held off
/// during the request (said once), then the process ends as the signal asks (130 or 143).
pub fn on_signal(signal: Signal, moment: Moment) {
    dmflow::report::deferred::flush();
    match moment {
        Moment::HeldOff => eprintln!(
            "dmflow: {} received during a token request: stopping as soon as its answer is stored",
            signal.name()
        ),
        Moment::Act => {
            eprintln!("dmflow: stopped by {}", signal.name());
            std::process::exit(signal.exit_code());
        }
    }
}

/// Checks the token store as ssh checks a key (warnings are shown; a store others can write
/// or another user owns is refused), and, when the run may write it, that it can be written
/// now: before a sign-in rather than after.
pub async fn open_store(
    store: &ProfileStore,
    writes: bool,
    terminal: &Terminal,
) -> Result<(), Failure> {
    let store = store.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let warnings = store.inspect()?;
        if writes {
            store.probe()?;
        }
        Ok::<_, dmflow::store::StoreError>(warnings)
    })
    .await
    .map_err(|e| Failure::new(Category::Runtime, e.to_string(), None))?;
    match checked {
        Ok(warnings) => {
            warnings.iter().for_each(|w| terminal.warning(w));
            Ok(())
        }
        Err(e) => Err(store_failure(e)),
    }
}

/// A store error as the failure of a command.
pub fn store_failure(e: dmflow::store::StoreError) -> Failure {
    Failure::new(Category::Runtime, e.message, e.help.as_deref())
}

/// Loads, plans and sets up; `Err` when the run cannot start (problems are printed, and kept
/// in the failure for `--json`).
pub async fn prepare(common: &RunCommon) -> Result<Prepared, Failure> {
    let redactor = Redactor::new(common.reveal);
    let terminal = super::ui::terminal(redactor.clone(), common.verbose);
    let invalid = |terminal: &Terminal, problems: Vec<dmflow::diagnostic::Diagnostic>| {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        Failure::new(
            Category::Invalid,
            "nothing was sent: fix the problems above first (dmflow check shows the same)",
            None,
        )
        .with_problems(problems)
    };
    let cli = super::vars::read(&common.vars).map_err(|p| invalid(&terminal, p))?;
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    let jobs = usize::from(common.jobs);
    for loaded in super::loading::load_flows(&common.flows, &cli.names(), jobs) {
        match loaded {
            Ok(flow) => flows.push(flow),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(&terminal, problems));
    }
    let client = super::net::client(&common.net)?;
    let listed = flows
        .iter()
        .map(|f| (f.name.clone(), f.source.name.clone()))
        .collect();
    let plan = Plan::new(flows, &cli.names(), common.shard);
    if plan.reordered {
        let names: Vec<&str> = plan.flows.iter().map(|f| f.source.name.as_str()).collect();
        terminal.note(&format!(
            "running in this order, so each flow comes after the flows that output its inputs: {}",
            names.join(", ")
        ));
    }
    if let Some((index, count)) = common.shard
        && plan.flows.is_empty()
    {
        terminal.note(&format!("shard {index}/{count} has no flows"));
    }
    let browser = if common.mock {
        Browser::Internal
    } else if common.no_browser {
        Browser::Off
    } else if let Some(cmd) = common.browser.clone().or_else(|| {
        std::env::var("DMFLOW_BROWSER")
            .ok()
            .filter(|c| !c.trim().is_empty())
    }) {
        Browser::Command(cmd)
    } else {
        Browser::System
    };
    let run_command = if common.mock {
        "dmflow run --mock"
    } else {
        "dmflow run"
    };
    let mut support = TokenSupport {
        store_client_secret: common.store_client_secret,
        run_command: run_command.into(),
        ..TokenSupport::default()
    };
    let state_dir = dmflow::paths::state_dir(common.store.state_dir.as_ref())?;
    if !common.no_store {
        let profile = common.store.profile.clone().unwrap_or_else(|| {
            if common.mock {
                dmflow::store::MOCK_PROFILE
            } else {
                dmflow::store::DEFAULT_PROFILE
            }
            .to_string()
        });
        let store = ProfileStore::new(&state_dir, &profile)
            .map_err(|e| Failure::new(Category::Invalid, e.message, None))?;
        open_store(&store, plan.flows.iter().any(writes_store), &terminal).await?;
        support.store = Some(store);
    }
    dmflow::tokens::shield::set_handler(on_signal);
    let mut runtime = OAuthRuntime {
        browser,
        paste: common.no_browser,
        store_client_secret: common.store_client_secret,
        ..OAuthRuntime::default()
    };
    let mut base = Base {
        cli_vars: cli.vars,
        env_file: cli.env_file,
        env: RunOptions::process_env(),
        overrides: IndexMap::new(),
        client,
        rewrite: None,
        runtime: OAuthRuntime::default(),
        support: TokenSupport::default(),
    };
    let mock = if common.mock {
        let running = start_mock(&mut base, &state_dir, common.token_ttl).await?;
        runtime.callback_any_port = true;
        support.secret_fallback = Some(dmflow::mock::state::DEMO_CLIENT_SECRET.into());
        Some(running)
    } else {
        None
    };
    base.runtime = runtime;
    base.support = support;
    let stored = read_stored(&base.support).await?;
    Ok(Prepared {
        plan,
        listed,
        terminal,
        redactor,
        mock: common.mock,
        base,
        stored,
        _mock: mock,
    })
}

/// The profile's stored values, and how to sign in again.
async fn read_stored(support: &TokenSupport) -> Result<Stored, Failure> {
    let data = match &support.store {
        Some(store) => Some(store.read_async().await.map_err(store_failure)?),
        None => None,
    };
    let recorded = data
        .as_ref()
        .and_then(|d| d.endpoint.as_ref())
        .and_then(|e| e.sign_in.clone());
    let usual = std::path::Path::new(LOGIN_FLOW)
        .is_file()
        .then(|| format!("{} {LOGIN_FLOW}", support.run_command));
    let mut stored = Stored {
        sign_in: recorded.or(usual),
        ..Stored::default()
    };
    if let Some(data) = data {
        stored.endpoint = data.endpoint;
        stored.values = data.values;
        stored.generation = data.generation;
    }
    Ok(stored)
}

/// Starts the emulator for this run and points the run at it.
async fn start_mock(
    base: &mut Base,
    state_dir: &std::path::Path,
    token_ttl: Option<u64>,
) -> Result<dmflow::mock::Running, Failure> {
    let config = dmflow::mock::state::Config {
        token_ttl: token_ttl.unwrap_or(36_000) as i64,
        auto_approve: true,
        state_file: Some(state_dir.join("mock").join("emulator.json")),
        warn: dmflow::mock::state::Warn(Arc::new(|m| {
            dmflow::report::deferred::flush();
            eprintln!("dmflow mock: {m}")
        })),
        ..Default::default()
    };
    let running = dmflow::mock::start(config, 0).await?;
    base.rewrite = Some(running.rewrite());
    for (name, value) in [
        ("API_KEY", dmflow::mock::state::DEMO_CLIENT_ID),
        ("API_SECRET", dmflow::mock::state::DEMO_CLIENT_SECRET),
        ("USERNAME", dmflow::mock::data::DEMO_EMAIL),
        ("PASSWORD", dmflow::mock::data::DEMO_PASSWORD),
    ] {
        base.overrides.insert(name.to_string(), value.to_string());
    }
    Ok(running)
}
