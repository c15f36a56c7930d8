//! The commands that use stored tokens without a flow: `env`, `token`, `exec`, `status`,
//! `logout`. Each refreshes first when the access token is about to expire, through the same
//! coordinated refresh the engine uses.

use super::Failure;
use super::setup::store_failure;
use crate::cli::{EnvArgs, ExecArgs, ExportFormat, ProfileArgs, ProfileJsonArgs};
use dmflow::Category;
use dmflow::run::http::{Client, Prepared, Session as HttpSession};
use dmflow::secret::Redactor;
use dmflow::store::{MOCK_PROFILE, ProfileData, ProfileStore};
use dmflow::tokens::merge::{Origin, merge};
use dmflow::tokens::names::{ACCESS_TOKEN, REFRESH_TOKEN};
use dmflow::tokens::refresh::Source;

/// A profile opened for a command, with what a refresh or a revocation needs.
struct Session {
    store: ProfileStore,
    state_dir: std::path::PathBuf,
    mock: bool,
    running: Option<dmflow::mock::Running>,
    redactor: Redactor,
    client: Client,
    /// A refresh whose answer could not be stored: the command hands the tokens out, then
    /// fails with this.
    unstored: Option<Failure>,
}

fn runtime(message: impl Into<String>) -> Failure {
    Failure::new(Category::Runtime, message, None)
}

impl Session {
    /// Opens the profile; its store is checked first (see `dmflow::store::hygiene`).
    async fn open(profile_args: &ProfileArgs) -> Result<Session, Failure> {
        let (args, mock) = (&profile_args.store, profile_args.mock);
        let client = super::net::client(&profile_args.net)?;
        let state_dir = dmflow::paths::state_dir(args.state_dir.as_ref())?;
        let profile = args.profile.clone().unwrap_or_else(|| {
            if mock {
                MOCK_PROFILE
            } else {
                dmflow::store::DEFAULT_PROFILE
            }
            .to_string()
        });
        let store = ProfileStore::new(&state_dir, &profile)
            .map_err(|e| Failure::new(Category::Invalid, e.message, None))?;
        let terminal = super::ui::terminal(Redactor::new(false), false);
        super::setup::open_store(&store, false, &terminal).await?;
        dmflow::tokens::shield::set_handler(super::setup::on_signal);
        Ok(Session {
            store,
            state_dir,
            mock: mock || profile == MOCK_PROFILE,
            running: None,
            redactor: Redactor::new(false),
            client,
            unstored: None,
        })
    }

    async fn read(&self) -> Result<ProfileData, Failure> {
        self.store.read_async().await.map_err(store_failure)
    }

    /// The HTTP session: under the mock profile, an in-process emulator answers for Dailymotion.
    async fn http(&mut self) -> Result<HttpSession, Failure> {
        if !self.mock {
            return Ok(HttpSession::new(self.client.clone(), None));
        }
        if self.running.is_none() {
            let config = dmflow::mock::state::Config {
                state_file: Some(self.state_dir.join("mock").join("emulator.json")),
                ..Default::default()
            };
            self.running = Some(dmflow::mock::start(config, 0).await?);
        }
        Ok(HttpSession::new(
            self.client.clone(),
            self.running.as_ref().map(dmflow::mock::Running::rewrite),
        ))
    }

    /// How the command ends once it has handed the tokens out.
    fn finish(&mut self) -> Result<Category, Failure> {
        match self.unstored.take() {
            Some(failure) => Err(failure),
            None => Ok(Category::Ok),
        }
    }

    /// How to sign in: what the store recorded, else the usual login flow.
    fn sign_in(&self, data: &ProfileData) -> String {
        data.endpoint
            .as_ref()
            .and_then(|e| e.sign_in.clone())
            .unwrap_or_else(|| {
                format!(
                    "dmflow run {}flows/login.yaml",
                    if self.mock { "--mock " } else { "" }
                )
            })
    }

    fn nothing_stored(&self, data: &ProfileData, what: &str) -> Failure {
        Failure::new(
            Category::Invalid,
            format!(
                "{what} is stored for profile `{}` ({})",
                self.store.name,
                self.store.path.display()
            ),
            Some(&format!("sign in first: {}", self.sign_in(data))),
        )
    }

    /// The profile with a valid access token, refreshed first if it expires within the skew.
    async fn fresh(&mut self) -> Result<ProfileData, Failure> {
        let data = self.read().await?;
        if data.text(ACCESS_TOKEN).is_none() {
            return Err(self.nothing_stored(&data, "no access token"));
        }
        self.refreshed(data).await
    }

    /// The profile, its access token refreshed first if it expires within the skew.
    async fn refreshed(&mut self, data: ProfileData) -> Result<ProfileData, Failure> {
        if !data.needs_refresh(jiff::Timestamp::now().as_second()) {
            return Ok(data);
        }
        let (Some(refresh_token), Some(endpoint)) =
            (data.text(REFRESH_TOKEN), data.endpoint.clone())
        else {
            return Err(Failure::new(
                Category::Failed,
                format!(
                    "the access token of profile `{}` has expired and cannot be refreshed (no refresh token or token endpoint stored)",
                    self.store.name
                ),
                Some(&format!("sign in again: {}", self.sign_in(&data))),
            ));
        };
        let provider = dmflow::provider::for_text(&endpoint.token_url);
        let secret = endpoint
            .client_secret
            .clone()
            .or_else(|| {
                self.mock
                    .then(|| dmflow::mock::state::DEMO_CLIENT_SECRET.to_string())
            })
            .or_else(|| provider.and_then(|p| std::env::var(p.secret_env).ok()));
        let client = dmflow::tokens::client::from_endpoint(&endpoint, secret)
            .map_err(|e| Failure::new(e.category(), e.to_string(), e.help().as_deref()))?;
        let sign_in = self.sign_in(&data);
        let advice = dmflow::oauth::errors::Advice {
            provider,
            sign_in: Some(&sign_in),
        };
        let http = self.http().await?;
        let grant = dmflow::oauth::grant::Refresh {
            session: &http,
            redactor: &self.redactor,
            client: &client,
            refresh_token: &refresh_token,
            scope: None,
            advice,
        };
        let refreshed =
            dmflow::tokens::refresh::under_lock(&self.store, grant, Source::Store, None).await;
        match refreshed {
            Ok(refreshed) => {
                if let Some(error) = refreshed.unstored {
                    // The new tokens exist only in this process now: the command hands them
                    // out, then fails.
                    let mut data = data;
                    merge(&mut data, &refreshed.tokens, Origin::Refresh);
                    self.unstored = Some(Failure::new(
                        Category::Runtime,
                        format!(
                            "the provider rotated the refresh token, but the token store could not be written ({error}): the new tokens were handed out by this command only"
                        ),
                        Some("keep them now; free space or fix the store, then sign in again"),
                    ));
                    return Ok(data);
                }
                super::ui::note(&format!(
                    "dmflow: refreshed the access token of profile `{}`",
                    self.store.name
                ));
                self.read().await
            }
            Err(error) => Err(Failure::new(
                error.category(),
                self.redactor.mask(&error.to_string()),
                error.help().as_deref(),
            )),
        }
    }

    /// Revokes the stored grant where the provider offers it (`/logout` on Dailymotion).
    async fn revoke(&mut self, data: &ProfileData) -> Result<Option<u16>, Failure> {
        let (Some(token), Some(endpoint)) = (data.text(ACCESS_TOKEN), data.endpoint.as_ref())
        else {
            return Ok(None);
        };
        let Some(path) =
            dmflow::provider::for_text(&endpoint.token_url).and_then(|p| p.logout_path)
        else {
            return Ok(None);
        };
        let mut url = url::Url::parse(&endpoint.token_url).map_err(|e| runtime(e.to_string()))?;
        url.set_path(path);
        url.set_query(None);
        let http = self.http().await?;
        let prepared = Prepared::new(reqwest::Method::POST, url)
            .header("Authorization", format!("Bearer {token}"));
        match http.send(&prepared).await {
            Ok(exchange) => Ok(Some(exchange.response.status)),
            Err(e) => Err(Failure::new(
                Category::Runtime,
                e.0,
                Some("the stored tokens were kept; run logout again when the network is back"),
            )),
        }
    }
}

/// "in 9 h 59 min", "3 min ago".
pub fn relative(seconds_from_now: i64) -> String {
    if seconds_from_now.abs() < 5 {
        return "just now".into();
    }
    let magnitude = seconds_from_now.unsigned_abs();
    let text = if magnitude < 60 {
        format!("{magnitude} s")
    } else if magnitude < 3600 {
        format!("{} min", magnitude / 60)
    } else if magnitude < 86_400 {
        format!("{} h {} min", magnitude / 3600, magnitude % 3600 / 60)
    } else {
        format!("{} days", magnitude / 86_400)
    };
    if seconds_from_now >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// A token shown by `status`: its first characters and its length, never the whole value.
pub fn peek(value: &str) -> String {
    let head: String = value.chars().take(6).collect();
    format!("{head}… ({} characters)", value.chars().count())
}

/// `dmflow env`: whatever is stored; the access token, when there is one, refreshed first.
pub async fn env(args: EnvArgs) -> Result<Category, Failure> {
    if args.format == ExportFormat::Github && std::env::var_os("GITHUB_ENV").is_none() {
        return Err(Failure::new(
            Category::Invalid,
            "--format github appends to $GITHUB_ENV, which is not set (outside GitHub Actions?)",
            Some("use another format (sh, fish, dotenv, json), or set GITHUB_ENV=PATH"),
        ));
    }
    let mut session = Session::open(&args.profile).await?;
    let data = session.read().await?;
    if data.values.is_empty() {
        return Err(session.nothing_stored(&data, "nothing"));
    }
    let data = if data.text(ACCESS_TOKEN).is_some() {
        session.refreshed(data).await?
    } else {
        data
    };
    dmflow::export::emit(
        &data.values,
        args.format.into(),
        None,
        &mut std::io::stdout(),
    )?;
    session.finish()
}

/// `dmflow token`: the token alone, or with `--json` the token with its expiry and scope.
pub async fn token(args: ProfileJsonArgs) -> Result<Category, Failure> {
    let mut session = Session::open(&args.profile).await?;
    let data = session.fresh().await?;
    let token = data.text(ACCESS_TOKEN).unwrap_or_default();
    if args.json {
        let doc = serde_json::json!({
            "ok": true,
            "exit_code": 0,
            "profile": session.store.name,
            "access_token": token,
            "token_type": data.text(dmflow::tokens::names::TOKEN_TYPE),
            "scope": data.text(dmflow::tokens::names::SCOPE),
            "expires_at": data.expires_at().and_then(instant),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("{token}");
    }
    session.finish()
}

/// A Unix time as RFC 3339 text.
fn instant(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds)
        .ok()
        .map(|t| t.to_string())
}

/// `dmflow exec -- CMD ARGS...`: the child's exit code is ours (128 + signal if killed).
pub async fn exec(args: ExecArgs) -> Result<Category, Failure> {
    let mut session = Session::open(&args.profile).await?;
    let data = session.fresh().await?;
    let (program, rest) = args.command.split_first().ok_or_else(|| {
        Failure::new(
            Category::Invalid,
            "no command given",
            Some("dmflow exec -- CMD ARGS..."),
        )
    })?;
    if let Some(failure) = session.unstored.take() {
        failure.report();
    }
    // The same names and values every environment export accepts (a hand-edited store).
    dmflow::export::check(&data.values, dmflow::export::Format::Sh)?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest);
    for (name, value) in &data.values {
        command.env(name, dmflow::template::value_to_text(value));
    }
    dmflow::report::deferred::flush(); // our lines before the command's
    let status = command.status().await.map_err(|e| {
        Failure::new(
            Category::Runtime,
            format!("cannot run `{program}`: {e}"),
            Some("check the command name and your PATH"),
        )
    })?;
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        std::process::exit(128 + signal);
    }
    std::process::exit(status.code().unwrap_or(Category::Runtime.exit_code()));
}

/// `dmflow status`.
pub async fn status(args: ProfileJsonArgs) -> Result<Category, Failure> {
    let session = Session::open(&args.profile).await?;
    let data = session.read().await?;
    let now = jiff::Timestamp::now().as_second();
    if args.json {
        let doc = status_json(&session, &data, now);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(Category::Ok);
    }
    println!("profile  {}", session.store.name);
    println!("file     {}", session.store.path.display());
    if data.values.is_empty() {
        println!(
            "nothing stored yet: sign in with {}",
            session.sign_in(&data)
        );
        return Ok(Category::Ok);
    }
    if let Some(at) = data.expires_at() {
        let state = expiry_state(&data, at, now);
        println!(
            "expiry   {state}: {} ({})",
            relative(at - now),
            jiff::Timestamp::from_second(at)
                .map(|t| t.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(endpoint) = &data.endpoint {
        println!(
            "endpoint {} (client {}, {} auth)",
            endpoint.token_url, endpoint.client_id, endpoint.client_auth
        );
    }
    if let Some(at) = data.obtained_at {
        println!("signed in {}", relative(at - now));
    }
    if let Some(at) = data.refreshed_at {
        println!("refreshed {}", relative(at - now));
    }
    println!("values:");
    for (name, value) in &data.values {
        let shown = shown(name, value);
        let shown: String = if shown.chars().count() > 80 {
            shown.chars().take(79).collect::<String>() + "…"
        } else {
            shown
        };
        println!(
            "  {} = {}",
            dmflow::diagnostic::clean(&name.escape_debug().to_string()),
            dmflow::diagnostic::clean(&shown)
        );
    }
    Ok(Category::Ok)
}

/// `dmflow logout`: the store is proven writable first, so that the tokens are never revoked
/// and then kept (dead) for want of a deletion.
pub async fn logout(args: ProfileArgs) -> Result<Category, Failure> {
    let mut session = Session::open(&args).await?;
    let unrevoked = |e: dmflow::store::StoreError| {
        Failure::new(
            Category::Runtime,
            format!("{}; nothing was revoked", e.message),
            e.help.as_deref(),
        )
    };
    let locked = session.store.lock_async().await.map_err(unrevoked)?;
    let (locked, data) = locked.read_async().await.map_err(store_failure)?;
    let (locked, ()) = locked.probe_async().await.map_err(unrevoked)?;
    match session.revoke(&data).await? {
        Some(status) if (200..300).contains(&status) => {
            eprintln!("revoked the tokens with the provider")
        }
        Some(401) => {
            eprintln!("the provider no longer knew the token (already expired or revoked)")
        }
        Some(status) => eprintln!("warning: the provider answered {status} to the revocation"),
        None => eprintln!("nothing to revoke with the provider"),
    }
    let deleted = tokio::task::spawn_blocking(move || locked.delete())
        .await
        .map_err(|e| runtime(e.to_string()))?
        .map_err(store_failure)?;
    eprintln!(
        "{} profile `{}`",
        if deleted {
            "deleted the stored tokens of"
        } else {
            "nothing was stored for"
        },
        session.store.name
    );
    Ok(Category::Ok)
}

/// Whether the stored access token is valid, about to expire, or expired.
fn expiry_state(data: &ProfileData, at: i64, now: i64) -> &'static str {
    if at <= now {
        "expired"
    } else if data.needs_refresh(now) {
        "expiring"
    } else {
        "valid"
    }
}

/// A stored value as `status` shows it: secrets by their first characters and length.
fn shown(name: &str, value: &serde_json::Value) -> String {
    let text = dmflow::template::value_to_text(value);
    if dmflow::secret::is_secret_name(name) {
        peek(&text)
    } else {
        text
    }
}

/// `status --json`.
fn status_json(session: &Session, data: &ProfileData, now: i64) -> serde_json::Value {
    let values: serde_json::Map<String, serde_json::Value> = data
        .values
        .iter()
        .map(|(name, value)| {
            let value = if dmflow::secret::is_secret_name(name) {
                serde_json::Value::String(shown(name, value))
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    serde_json::json!({
        "ok": true,
        "exit_code": 0,
        "profile": session.store.name,
        "file": session.store.path.display().to_string(),
        "stored": !data.values.is_empty(),
        "expiry": data.expires_at().map(|at| serde_json::json!({
            "state": expiry_state(data, at, now),
            "at": instant(at),
            "in_seconds": at - now,
        })),
        "endpoint": data.endpoint.as_ref().map(|e| serde_json::json!({
            "token_url": e.token_url,
            "client_id": e.client_id,
            "client_auth": e.client_auth,
        })),
        "signed_in_at": data.obtained_at.and_then(instant),
        "refreshed_at": data.refreshed_at.and_then(instant),
        "sign_in": session.sign_in(data),
        "values": values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative(30), "in 30 s");
        assert_eq!(relative(-180), "3 min ago");
        assert_eq!(relative(36_000 - 60), "in 9 h 59 min");
    }

    #[test]
    fn peek_hides_the_token() {
        let shown = peek("dma.eyJhbGciOiJIUzI1NiJ9.secretpart");
        assert!(!shown.contains("secretpart"));
        assert!(shown.starts_with("dma.ey…"));
    }
}
