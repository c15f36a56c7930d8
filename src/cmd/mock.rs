//! `dmflow mock`: serve the Dailymotion emulator on 127.0.0.1 until Ctrl-C, on the state
//! directory's emulator state (the one `dmflow run --mock` uses) unless told otherwise.

use super::Failure;
use crate::cli::MockArgs;
use dmflow::Category;
use dmflow::mock::data::{DEMO_EMAIL, DEMO_PASSWORD};
use dmflow::mock::state::{
    Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Encoding, Warn,
    default_state_file,
};
use std::sync::Arc;
use std::time::Duration;

fn usage(option: &str, message: String) -> Failure {
    Failure::new(Category::Invalid, format!("{option}: {message}"), None)
}

fn duration(option: &str, text: &str) -> Result<Duration, Failure> {
    dmflow::run::duration::parse(text).map_err(|m| usage(option, m))
}

pub async fn command(args: MockArgs) -> Result<Category, Failure> {
    let latency = match args.latency.as_deref() {
        Some(text) => duration("--latency", text)?,
        None => Duration::ZERO,
    };
    let encoding = match args.encoding_polls {
        Some(polls) => Encoding::Polls(polls),
        None => Encoding::Time(duration("--encoding-time", &args.encoding_time)?),
    };
    let max_upload_bytes = dmflow::limits::parse_size(&args.max_upload_size)
        .map_err(|m| usage("--max-upload-size", m))?;
    let idle_timeout = duration("--idle-timeout", &args.idle_timeout)?;
    if idle_timeout.is_zero() {
        return Err(usage("--idle-timeout", "must be more than 0".into()));
    }
    let state_file = if args.ephemeral {
        None
    } else if let Some(file) = &args.state_file {
        Some(file.clone())
    } else {
        Some(default_state_file(&dmflow::paths::state_dir(
            args.state_dir.as_ref(),
        )?))
    };
    let config = Config {
        token_ttl: args.token_ttl as i64,
        strict_redirect: args.strict_redirect,
        auto_approve: args.auto_approve,
        latency,
        state_file: state_file.clone(),
        warn: Warn(Arc::new(|m| eprintln!("dmflow mock: {m}"))),
        encoding,
        max_upload_bytes,
        idle_timeout,
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
    match &state_file {
        Some(file) => eprintln!(
            "  state: {} (tokens shared with dmflow run --mock on this state directory)",
            file.display()
        ),
        None => eprintln!("  state: ephemeral (a new key; tokens die with this emulator)"),
    }
    let processing = match encoding {
        Encoding::Time(t) => format!("{} s", t.as_secs_f64()),
        Encoding::Polls(n) => format!("{n} reads of the video"),
    };
    eprintln!(
        "  token lifetime: {} s; uploads up to {max_upload_bytes} bytes, processed in {processing}",
        args.token_ttl
    );
    eprintln!(
        "  fault injection: POST {base}/_mock/expire-tokens, /_mock/revoke, /_mock/fail-next, /_mock/fail-next-token, /_mock/latency, /_mock/reset"
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("emulator stopped");
    drop(running);
    Ok(Category::Ok)
}
