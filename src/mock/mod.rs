//! The embedded Dailymotion emulator, served by `dmflow mock` and started in-process by
//! `dmflow run --mock` (which sends the Dailymotion hosts' requests to it, supplies the demo
//! app's key and secret, and lets `authorize` complete without a human). Both use the state
//! directory's emulator state by default, so tokens of one are good with the other.

pub mod api;
pub mod authorize;
pub mod catalogue;
pub mod codes;
pub mod data;
pub mod faults;
pub mod ids;
pub mod ledger;
pub mod reply;
pub mod scope;
pub mod seal;
pub mod server;
pub mod spent;
pub mod state;
pub mod token;
pub mod upload;
pub mod uploads;
pub mod videos;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use state::{Config, Emulator};
use std::net::SocketAddr;
use std::sync::Arc;

/// The provider the emulator stands in for: `--mock` sends its hosts' requests here.
pub const PROVIDER: &crate::provider::Profile = &crate::provider::dailymotion::DAILYMOTION;

/// All routes of one emulator.
pub fn router(emu: Arc<Emulator>) -> Router {
    Router::new()
        .route(
            "/oauth/authorize",
            get(authorize::authorize).post(authorize::decide),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/v1/token", post(token::token))
        .route("/echo", get(api::echo))
        .route("/auth", get(api::auth))
        .route("/me", get(api::me))
        .route("/me/videos", get(api::me_videos).post(videos::create_mine))
        .route("/videos", post(videos::create_mine))
        .route("/user/{id}", get(api::user))
        .route(
            "/user/{id}/videos",
            get(api::user_videos).post(videos::create_for),
        )
        .route("/user/{id}/players", get(api::user_players))
        .route(
            "/video/{id}",
            get(api::video).post(videos::change).delete(videos::change),
        )
        .route("/file/upload", get(upload::file_upload))
        .route(
            "/upload",
            post(upload::upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/progress", get(upload::progress))
        .route("/files/{id}", get(upload::file))
        .route("/logout", get(api::logout).post(api::logout))
        .route("/_mock/app", get(faults::app_info))
        .route("/_mock/expire-tokens", post(faults::expire_tokens))
        .route("/_mock/revoke", post(faults::revoke))
        .route("/_mock/fail-next", post(faults::fail_next))
        .route("/_mock/fail-next-token", post(faults::fail_next_token))
        .route("/_mock/latency", post(faults::set_latency))
        .route("/_mock/reset", post(faults::reset))
        .fallback(api::unknown_route)
        .layer(middleware::from_fn_with_state(emu.clone(), faults::inject))
        .with_state(emu)
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
    emulator.set_addr(addr);
    let app = router(emulator.clone());
    let idle = emulator.config.idle_timeout;
    let task = tokio::spawn(server::serve(listener, app, idle));
    Ok(Running {
        addr,
        emulator,
        task,
    })
}
