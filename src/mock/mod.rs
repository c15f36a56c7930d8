//! The embedded Dailymotion emulator: `dmflow mock`, and `dmflow run --mock`, which starts it
//! in-process on a free port, sends the Dailymotion hosts' requests to it, supplies the demo
//! app's key and secret, and lets `authorize` complete without a human.

pub mod api;
pub mod data;
pub mod oauth;
pub mod state;

use crate::cli::MockArgs;
use crate::run::RunOptions;
use crate::run::http::HostRewrite;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use state::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Hosts whose requests `--mock` sends to the emulator.
pub const DAILYMOTION_HOSTS: &[&str] = &[
    "api.dailymotion.com",
    "www.dailymotion.com",
    "dailymotion.com",
    "graphql.api.dailymotion.com",
    "partner.api.dailymotion.com",
];

/// All routes of one emulator.
pub fn router(emu: Arc<Emulator>) -> Router {
    Router::new()
        .route(
            "/oauth/authorize",
            get(oauth::authorize).post(oauth::decide),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/v1/token", post(oauth::token))
        .route("/echo", get(api::echo))
        .route("/auth", get(api::auth))
        .route("/me", get(api::me))
        .route("/me/videos", get(api::me_videos))
        .route("/user/{id}", get(api::user))
        .route("/user/{id}/videos", get(api::user_videos))
        .route("/user/{id}/players", get(api::user_players))
        .route("/video/{id}", get(api::video))
        .route("/logout", get(api::logout).post(api::logout))
        .route("/_mock/app", get(app_info))
        .route("/_mock/expire-tokens", post(expire_tokens))
        .route("/_mock/revoke", post(revoke))
        .route("/_mock/fail-next-token", post(fail_next_token))
        .route("/_mock/latency", post(set_latency))
        .fallback(api::unknown_route)
        .layer(middleware::from_fn_with_state(emu.clone(), latency))
        .with_state(emu)
}

async fn latency(State(emu): State<Arc<Emulator>>, request: Request, next: Next) -> Response {
    let delay = emu.faults().latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

async fn app_info() -> Response {
    axum::Json(json!({
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": DEMO_REDIRECT_URI,
        "user": {"email": data::DEMO_EMAIL, "password": data::DEMO_PASSWORD, "id": data::DEMO_USER_ID},
    }))
    .into_response()
}

/// Fault injection: every token issued so far is expired from now on.
async fn expire_tokens(State(emu): State<Arc<Emulator>>) -> Response {
    let at = state::now() + 1;
    emu.remember(|p| p.expired_before = p.expired_before.max(at));
    axum::Json(json!({"expired_before": at})).into_response()
}

/// Fault injection: revoke the grant of a token (`token=...`, access or refresh).
async fn revoke(
    State(emu): State<Arc<Emulator>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let token = form.get("token").map(String::as_str).unwrap_or("");
    let claims = emu.verify(token, "r").or_else(|_| emu.verify(token, "a"));
    match claims {
        Ok(claims) => {
            emu.remember(|p| {
                p.revoked_grants.insert(claims.gid.clone());
            });
            axum::Json(json!({"revoked": true})).into_response()
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"revoked": false, "error": "unknown or invalid token"})),
        )
            .into_response(),
    }
}

/// Fault injection: the next token request (or `count`) gets an HTML 500 page.
async fn fail_next_token(
    State(emu): State<Arc<Emulator>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let count = form.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    emu.faults().fail_next_token = count;
    axum::Json(json!({"fail_next_token": count})).into_response()
}

/// Fault injection: delay every answer by `ms` milliseconds.
async fn set_latency(
    State(emu): State<Arc<Emulator>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let ms: u64 = form.get("ms").and_then(|c| c.parse().ok()).unwrap_or(0);
    emu.faults().latency = Duration::from_millis(ms);
    axum::Json(json!({"latency_ms": ms})).into_response()
}

/// A running emulator; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub emulator: Arc<Emulator>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an emulator on 127.0.0.1:`port` (0 for any free port).
pub async fn start(config: Config, port: u16) -> Result<Running, String> {
    let emulator = Arc::new(Emulator::new(config)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("port {port} on 127.0.0.1 is already in use; pick another with --port (0 picks a free one)")
        } else {
            format!("cannot listen on 127.0.0.1:{port}: {e}")
        }
    })?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = router(emulator.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Running {
        addr,
        emulator,
        task,
    })
}

/// `dmflow mock`: serve until Ctrl-C.
pub async fn serve_command(args: MockArgs) -> i32 {
    let latency = match args
        .latency
        .as_deref()
        .map(crate::run::duration::parse)
        .transpose()
    {
        Ok(l) => l.unwrap_or_default(),
        Err(message) => {
            eprintln!("error: --latency: {message}");
            return crate::exit::INVALID;
        }
    };
    let config = Config {
        token_ttl: args.token_ttl as i64,
        strict_redirect: args.strict_redirect,
        auto_approve: args.auto_approve,
        latency,
        state_file: args.state_file.clone(),
    };
    let running = match start(config, args.port).await {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {message}");
            return crate::exit::RUNTIME;
        }
    };
    let base = running.base_url();
    println!("{base}");
    eprintln!("Dailymotion emulator listening on {base} (Ctrl-C stops it)");
    eprintln!("  demo app: client_id={DEMO_CLIENT_ID} client_secret={DEMO_CLIENT_SECRET}");
    eprintln!(
        "  redirect URI: {DEMO_REDIRECT_URI}{}",
        if args.strict_redirect {
            ""
        } else {
            " (any loopback port accepted)"
        }
    );
    eprintln!(
        "  demo user: {} / {}",
        data::DEMO_EMAIL,
        data::DEMO_PASSWORD
    );
    eprintln!(
        "  token lifetime: {} s; fault injection: POST {base}/_mock/expire-tokens, /_mock/revoke, /_mock/fail-next-token, /_mock/latency",
        args.token_ttl
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("emulator stopped");
    drop(running);
    crate::exit::OK
}

/// `run --mock`: starts the emulator for this run and points the run at it.
pub async fn start_for_run(
    options: &mut RunOptions,
    state_dir: &std::path::Path,
    token_ttl: Option<u64>,
) -> Result<Running, String> {
    let config = Config {
        token_ttl: token_ttl.unwrap_or(36_000) as i64,
        auto_approve: true,
        state_file: Some(state_dir.join("mock").join("emulator.json")),
        ..Config::default()
    };
    let running = start(config, 0).await?;
    let target = url::Url::parse(&running.base_url()).map_err(|e| e.to_string())?;
    options.oauth.rewrite = Some(HostRewrite {
        hosts: DAILYMOTION_HOSTS.iter().map(|h| h.to_string()).collect(),
        target,
    });
    options.oauth.callback_any_port = true;
    for (name, value) in [
        ("API_KEY", DEMO_CLIENT_ID),
        ("API_SECRET", DEMO_CLIENT_SECRET),
        ("USERNAME", data::DEMO_EMAIL),
        ("PASSWORD", data::DEMO_PASSWORD),
    ] {
        options
            .overrides
            .insert(name.to_string(), value.to_string());
    }
    Ok(running)
}
