//! The embedded Dailymotion emulator, served by `dmflow mock` and started in-process by
//! `dmflow run --mock` (which sends the Dailymotion hosts' requests to it, supplies the demo
//! app's key and secret, and lets `authorize` complete without a human).

pub mod api;
pub mod data;
pub mod oauth;
pub mod state;

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

/// The provider the emulator stands in for: `--mock` sends its hosts' requests here.
pub const PROVIDER: &crate::provider::Profile = &crate::provider::dailymotion::DAILYMOTION;

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
    emu.remember_async(move |p| p.expired_before = p.expired_before.max(at))
        .await;
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
            emu.remember_async(move |p| {
                p.revoked_grants.insert(claims.gid);
            })
            .await;
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

    /// What sends the provider's hosts' requests to this emulator.
    pub fn rewrite(&self) -> crate::run::http::HostRewrite {
        crate::run::http::HostRewrite {
            hosts: PROVIDER.hosts.iter().map(|h| h.to_string()).collect(),
            target: url::Url::parse(&self.base_url()).expect("the emulator's URL parses"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an emulator on 127.0.0.1:`port` (0 for any free port).
pub async fn start(config: Config, port: u16) -> Result<Running, crate::Error> {
    let emulator = Arc::new(Emulator::new(config).map_err(crate::Error::Emulator)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        crate::Error::Emulator(if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("port {port} on 127.0.0.1 is already in use; pick another with --port (0 picks a free one)")
        } else {
            format!("cannot listen on 127.0.0.1:{port}: {e}")
        })
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| crate::Error::Emulator(e.to_string()))?;
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
