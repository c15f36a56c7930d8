//! Everything before the first request of `run` and `test`: variables, flows loaded and ordered
//! (a flow runs after the listed flows that output its inputs), the token store, `--mock`, the
//! browser, the hooks.

use super::Failure;
use crate::cli::RunCommon;
use dmflow::Category;
use dmflow::flow::Flow;
use dmflow::oauth::browser::Browser;
use dmflow::oauth::settings::OAuthRuntime;
use dmflow::report::terminal::Terminal;
use dmflow::run::http::Client;
use dmflow::secret::Redactor;
use dmflow::store::ProfileStore;
use dmflow::tokens::{TokenHook, TokenSupport};
use dmflow::{Loader, RunOptions};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A prepared run: flows in running order, options, and what must outlive the run.
pub struct Prepared {
    pub flows: Vec<Flow>,
    pub options: RunOptions,
    pub terminal: Terminal,
    _mock: Option<dmflow::mock::Running>,
}

/// The flow that signs in, when the project has the usual one.
const LOGIN_FLOW: &str = "flows/login.yaml";

/// Loads, orders and sets up; `Err` when the run cannot start (problems are printed).
pub async fn prepare(common: &RunCommon) -> Result<Prepared, Failure> {
    let redactor = Redactor::new(common.reveal);
    let terminal = super::ui::terminal(redactor.clone(), common.verbose);
    let invalid = |terminal: &Terminal, problems: &[dmflow::diagnostic::Diagnostic]| {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        Failure::new(
            Category::Invalid,
            "nothing was sent: fix the problems above first (dmflow check shows the same)",
            None,
        )
    };
    let cli = super::vars::read(&common.vars).map_err(|p| invalid(&terminal, &p))?;
    let loader = Loader::new().external(cli.names());
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for path in &common.flows {
        match loader.load(path) {
            Ok(flow) => flows.push(flow),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(invalid(&terminal, &problems));
    }
    let mut flows = order_by_inputs(flows, &terminal);
    if let Some((index, count)) = common.shard {
        flows = flows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % count == index - 1)
            .map(|(_, f)| f)
            .collect();
        if flows.is_empty() {
            terminal.note(&format!("shard {index}/{count} has no flows"));
        }
    }
    let browser = if common.mock {
        Browser::Internal
    } else if common.no_browser {
        Browser::Off
    } else if let Some(cmd) = &common.browser {
        Browser::Command(cmd.clone())
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
    let mut options = RunOptions {
        cli_vars: cli.vars,
        env_file: cli.env_file,
        env: RunOptions::process_env(),
        client: Client::new(),
        hooks: vec![Arc::new(TokenHook)],
        redactor,
        ..RunOptions::default()
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
            .map_err(|e| Failure::new(Category::Invalid, e.0, None))?;
        support.store = Some(store);
    }
    let mut runtime = OAuthRuntime {
        browser,
        paste: common.no_browser,
        store_client_secret: common.store_client_secret,
        ..OAuthRuntime::default()
    };
    let mock = if common.mock {
        let running = start_mock(&mut options, &state_dir, common.token_ttl).await?;
        runtime.callback_any_port = true;
        support.secret_fallback = Some(dmflow::mock::state::DEMO_CLIENT_SECRET.into());
        Some(running)
    } else {
        None
    };
    options.extensions.insert(runtime);
    options.extensions.insert(support);
    load_stored(&mut options).await?;
    Ok(Prepared {
        flows,
        options,
        terminal,
        _mock: mock,
    })
}

/// Offers the profile's stored values to the run, and says how to sign in again.
pub async fn load_stored(options: &mut RunOptions) -> Result<(), Failure> {
    let support = options
        .extensions
        .get_mut::<TokenSupport>()
        .expect("the run has token support");
    let data = match &support.store {
        Some(store) => Some(
            store
                .read_async()
                .await
                .map_err(|e| Failure::new(Category::Runtime, e.0, None))?,
        ),
        None => None,
    };
    let recorded = data
        .as_ref()
        .and_then(|d| d.endpoint.as_ref())
        .and_then(|e| e.sign_in.clone());
    let usual = std::path::Path::new(LOGIN_FLOW)
        .is_file()
        .then(|| format!("{} {LOGIN_FLOW}", support.run_command));
    support.sign_in = recorded.or(usual);
    if let Some(data) = data {
        support.stored_endpoint = data.endpoint;
        options.stored = data.values;
    }
    options.input_hint = support
        .sign_in
        .as_ref()
        .map(|command| format!("for tokens: {command}"));
    Ok(())
}

/// Starts the emulator for this run and points the run at it.
async fn start_mock(
    options: &mut RunOptions,
    state_dir: &std::path::Path,
    token_ttl: Option<u64>,
) -> Result<dmflow::mock::Running, Failure> {
    let config = dmflow::mock::state::Config {
        token_ttl: token_ttl.unwrap_or(36_000) as i64,
        auto_approve: true,
        state_file: Some(state_dir.join("mock").join("emulator.json")),
        warn: dmflow::mock::state::Warn(Arc::new(|m| eprintln!("dmflow mock: {m}"))),
        ..Default::default()
    };
    let running = dmflow::mock::start(config, 0).await?;
    options.rewrite = Some(running.rewrite());
    for (name, value) in [
        ("API_KEY", dmflow::mock::state::DEMO_CLIENT_ID),
        ("API_SECRET", dmflow::mock::state::DEMO_CLIENT_SECRET),
        ("USERNAME", dmflow::mock::data::DEMO_EMAIL),
        ("PASSWORD", dmflow::mock::data::DEMO_PASSWORD),
    ] {
        options
            .overrides
            .insert(name.to_string(), value.to_string());
    }
    Ok(running)
}

/// Keeps the given order, except that a flow whose required input another listed flow
/// outputs runs after that flow.
pub fn order_by_inputs(flows: Vec<Flow>, terminal: &Terminal) -> Vec<Flow> {
    let required =
        |f: &Flow| -> BTreeSet<String> { f.required_inputs().map(str::to_string).collect() };
    let provided =
        |f: &Flow| -> BTreeSet<String> { f.output_names().map(str::to_string).collect() };
    let all_outputs: BTreeSet<String> = flows.iter().flat_map(provided).collect();
    let mut remaining: Vec<Option<Flow>> = flows.into_iter().map(Some).collect();
    let mut available = BTreeSet::new();
    let mut ordered = Vec::new();
    while ordered.len() < remaining.len() {
        let ready = remaining.iter().position(|slot| {
            slot.as_ref().is_some_and(|f| {
                required(f)
                    .iter()
                    .all(|n| available.contains(n) || !all_outputs.contains(n))
            })
        });
        let index = ready.unwrap_or_else(|| {
            remaining
                .iter()
                .position(Option::is_some)
                .expect("a flow remains")
        });
        let flow = remaining[index].take().expect("the slot is full");
        available.extend(provided(&flow));
        ordered.push((index, flow));
    }
    if ordered.windows(2).any(|w| w[0].0 > w[1].0) {
        let names: Vec<&str> = ordered
            .iter()
            .map(|(_, f)| f.source.name.as_str())
            .collect();
        terminal.note(&format!(
            "running in this order, so each flow comes after the flows that output its inputs: {}",
            names.join(", ")
        ));
    }
    ordered.into_iter().map(|(_, f)| f).collect()
}
