//! `dmflow mock`: serve the Dailymotion emulator on 127.0.0.1 until Ctrl-C.

use super::Failure;
use crate::cli::MockArgs;
use dmflow::Category;
use dmflow::mock::data::{DEMO_EMAIL, DEMO_PASSWORD};
use dmflow::mock::state::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Warn};
use std::sync::Arc;

pub async fn command(args: MockArgs) -> Result<Category, Failure> {
    let latency = match args.latency.as_deref() {
        Some(text) => dmflow::run::duration::parse(text)
            .map_err(|m| Failure::new(Category::Invalid, format!("--latency: {m}"), None))?,
        None => Default::default(),
    };
    let config = Config {
        token_ttl: args.token_ttl as i64,
        strict_redirect: args.strict_redirect,
        auto_approve: args.auto_approve,
        latency,
        state_file: args.state_file.clone(),
        warn: Warn(Arc::new(|m| eprintln!("dmflow mock: {m}"))),
    };
    let running = dmflow::mock::start(config, args.port).await?;
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
    eprintln!("  demo user: {DEMO_EMAIL} / {DEMO_PASSWORD}");
    eprintln!(
        "  token lifetime: {} s; fault injection: POST {base}/_mock/expire-tokens, /_mock/revoke, /_mock/fail-next-token, /_mock/latency",
        args.token_ttl
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("emulator stopped");
    drop(running);
    Ok(Category::Ok)
}
