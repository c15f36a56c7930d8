//! The commands that use stored tokens without a flow: `env`, `token`, `exec`, `status`,
//! `logout`. Each refreshes first when the access token is about to expire (under the
//! store's lock, re-reading it, so concurrent refreshes never lose a rotated token).

use crate::cli::StoreArgs;
use crate::exit;
use crate::oauth::token::{Client, refresh_grant};
use crate::run::http::{HostRewrite, Http};
use crate::secret::Redactor;
use crate::store::{MOCK_PROFILE, ProfileData, ProfileStore, merge_tokens};

/// An error with the exit code it deserves.
pub struct Failure {
    pub message: String,
    pub help: Option<String>,
    pub code: i32,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>, help: Option<&str>) -> Failure {
        Failure {
            message: message.into(),
            help: help.map(str::to_string),
            code,
        }
    }

    pub fn report(&self) -> i32 {
        eprintln!("error: {}", self.message);
        if let Some(help) = &self.help {
            eprintln!("  help: {help}");
        }
        self.code
    }
}

/// A profile opened for a command, with what a refresh or a revocation needs.
pub struct Session {
    pub store: ProfileStore,
    state_dir: std::path::PathBuf,
    mock: bool,
    running: Option<crate::mock::Running>,
    pub redactor: Redactor,
}

impl Session {
    pub fn open(args: &StoreArgs, mock: bool) -> Result<Session, Failure> {
        let state_dir = crate::paths::state_dir(args.state_dir.as_ref())
            .map_err(|m| Failure::new(exit::RUNTIME, m, None))?;
        let profile = args.profile.clone().unwrap_or_else(|| {
            if mock {
                MOCK_PROFILE
            } else {
                crate::store::DEFAULT_PROFILE
            }
            .to_string()
        });
        let store = ProfileStore::new(&state_dir, &profile)
            .map_err(|e| Failure::new(exit::INVALID, e.0, None))?;
        let mock = mock || profile == MOCK_PROFILE;
        Ok(Session {
            store,
            state_dir,
            mock,
            running: None,
            redactor: Redactor::new(false),
        })
    }

    pub fn read(&self) -> Result<ProfileData, Failure> {
        self.store
            .read()
            .map_err(|e| Failure::new(exit::RUNTIME, e.0, None))
    }

    /// The HTTP stack: under the mock profile, an in-process emulator answers for Dailymotion.
    async fn http(&mut self) -> Result<Http, Failure> {
        if !self.mock {
            return Ok(Http::new(None));
        }
        if self.running.is_none() {
            let config = crate::mock::state::Config {
                state_file: Some(self.state_dir.join("mock").join("emulator.json")),
                ..Default::default()
            };
            self.running = Some(
                crate::mock::start(config, 0)
                    .await
                    .map_err(|m| Failure::new(exit::RUNTIME, m, None))?,
            );
        }
        let base = self
            .running
            .as_ref()
            .map(|r| r.base_url())
            .unwrap_or_default();
        let target =
            url::Url::parse(&base).map_err(|e| Failure::new(exit::RUNTIME, e.to_string(), None))?;
        Ok(Http::new(Some(HostRewrite {
            hosts: crate::mock::DAILYMOTION_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            target,
        })))
    }

    fn no_token(&self) -> Failure {
        let login = if self.mock {
            "dmflow run --mock flows/login.yaml"
        } else {
            "dmflow run flows/login.yaml"
        };
        Failure::new(
            exit::INVALID,
            format!(
                "no access token is stored for profile `{}` ({})",
                self.store.name,
                self.store.path.display()
            ),
            Some(&format!("sign in first: {login}")),
        )
    }

    /// The profile with a valid access token, refreshed first if it expires within the skew.
    pub async fn fresh(&mut self) -> Result<ProfileData, Failure> {
        let data = self.read()?;
        if data.text("ACCESS_TOKEN").is_none() {
            return Err(self.no_token());
        }
        let now = jiff::Timestamp::now().as_second();
        if !data.needs_refresh(now) {
            return Ok(data);
        }
        let store = self.store.clone();
        let lock = tokio::task::spawn_blocking(move || store.lock())
            .await
            .map_err(|e| Failure::new(exit::RUNTIME, e.to_string(), None))?
            .map_err(|e| Failure::new(exit::RUNTIME, e.0, None))?;
        let mut data = self.read()?;
        if !data.needs_refresh(jiff::Timestamp::now().as_second()) {
            return Ok(data);
        }
        let (Some(refresh_token), Some(endpoint)) =
            (data.text("REFRESH_TOKEN"), data.endpoint.clone())
        else {
            return Err(Failure::new(
                exit::FAILED,
                format!(
                    "the access token of profile `{}` has expired and cannot be refreshed (no refresh token or token endpoint stored)",
                    self.store.name
                ),
                Some("sign in again with flows/login.yaml"),
            ));
        };
        let secret = endpoint
            .client_secret
            .clone()
            .or_else(|| {
                self.mock
                    .then(|| crate::mock::state::DEMO_CLIENT_SECRET.to_string())
            })
            .or_else(|| std::env::var("DM_API_SECRET").ok());
        let client = Client {
            token_url: url::Url::parse(&endpoint.token_url)
                .map_err(|e| Failure::new(exit::RUNTIME, format!("stored token URL: {e}"), None))?,
            client_id: endpoint.client_id.clone(),
            client_secret: secret,
            basic: endpoint.client_auth == "basic",
        };
        let http = self.http().await?;
        match refresh_grant(&http, &self.redactor, &client, &refresh_token, None).await {
            Ok(tokens) => {
                merge_tokens(&mut data, &tokens, crate::store::Origin::Refresh);
                self.store
                    .write_locked(&data)
                    .map_err(|e| Failure::new(exit::RUNTIME, e.0, None))?;
                drop(lock);
                eprintln!(
                    "dmflow: refreshed the access token of profile `{}`",
                    self.store.name
                );
                Ok(data)
            }
            Err(error) => Err(Failure {
                message: self.redactor.mask(&error.message()),
                help: error.help(),
                code: error.exit_code(),
            }),
        }
    }

    /// Revokes the stored grant where the provider offers it (`/logout` on Dailymotion).
    pub async fn revoke(&mut self, data: &ProfileData) -> Result<Option<u16>, Failure> {
        let (Some(token), Some(endpoint)) = (data.text("ACCESS_TOKEN"), data.endpoint.as_ref())
        else {
            return Ok(None);
        };
        let mut url = url::Url::parse(&endpoint.token_url)
            .map_err(|e| Failure::new(exit::RUNTIME, e.to_string(), None))?;
        url.set_path("/logout");
        url.set_query(None);
        let http = self.http().await?;
        let prepared = crate::run::http::Prepared::new(reqwest::Method::POST, url)
            .header("Authorization", format!("Bearer {token}"));
        match http.send(prepared).await {
            Ok(exchange) => Ok(Some(exchange.response.status)),
            Err(e) => Err(Failure::new(
                exit::RUNTIME,
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

/// `dmflow env`.
pub async fn env_command(args: crate::cli::EnvArgs) -> i32 {
    let run = async {
        let mut session = Session::open(&args.profile.store, args.profile.mock)?;
        let data = session.fresh().await?;
        crate::export::emit(&data.values, args.format, None)
            .map_err(|m| Failure::new(exit::RUNTIME, m, None))
    };
    match run.await {
        Ok(()) => exit::OK,
        Err(f) => f.report(),
    }
}

/// `dmflow token`.
pub async fn token_command(args: crate::cli::ProfileArgs) -> i32 {
    let run = async {
        let mut session = Session::open(&args.store, args.mock)?;
        let data = session.fresh().await?;
        println!("{}", data.text("ACCESS_TOKEN").unwrap_or_default());
        Ok::<(), Failure>(())
    };
    match run.await {
        Ok(()) => exit::OK,
        Err(f) => f.report(),
    }
}

/// `dmflow exec -- CMD ARGS...`: the child's exit code is ours (128 + signal if killed).
pub async fn exec_command(args: crate::cli::ExecArgs) -> i32 {
    let run = async {
        let mut session = Session::open(&args.profile.store, args.profile.mock)?;
        let data = session.fresh().await?;
        let (program, rest) = args.command.split_first().ok_or_else(|| {
            Failure::new(
                exit::INVALID,
                "no command given",
                Some("dmflow exec -- CMD ARGS..."),
            )
        })?;
        let mut command = std::process::Command::new(program);
        command.args(rest);
        for (name, value) in &data.values {
            command.env(name, crate::template::value_to_text(value));
        }
        let status = command.status().map_err(|e| {
            Failure::new(
                exit::RUNTIME,
                format!("cannot run `{program}`: {e}"),
                Some("check the command name and your PATH"),
            )
        })?;
        #[cfg(unix)]
        if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
            return Ok::<i32, Failure>(128 + signal);
        }
        Ok(status.code().unwrap_or(exit::RUNTIME))
    };
    match run.await {
        Ok(code) => code,
        Err(f) => f.report(),
    }
}

/// `dmflow status`.
pub async fn status_command(args: crate::cli::ProfileArgs) -> i32 {
    let session = match Session::open(&args.store, args.mock) {
        Ok(s) => s,
        Err(f) => return f.report(),
    };
    let data = match session.read() {
        Ok(d) => d,
        Err(f) => return f.report(),
    };
    let now = jiff::Timestamp::now().as_second();
    println!("profile  {}", session.store.name);
    println!("file     {}", session.store.path.display());
    if data.values.is_empty() {
        println!("nothing stored yet: sign in with flows/login.yaml");
        return exit::OK;
    }
    if let Some(at) = data.expires_at() {
        let state = if at <= now {
            "expired"
        } else if data.needs_refresh(now) {
            "expiring"
        } else {
            "valid"
        };
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
        let text = crate::template::value_to_text(value);
        let shown = if crate::secret::is_secret_name(name) {
            peek(&text)
        } else {
            text
        };
        let shown: String = if shown.chars().count() > 80 {
            shown.chars().take(79).collect::<String>() + "…"
        } else {
            shown
        };
        println!("  {name} = {shown}");
    }
    exit::OK
}

/// `dmflow logout`.
pub async fn logout_command(args: crate::cli::ProfileArgs) -> i32 {
    let run = async {
        let mut session = Session::open(&args.store, args.mock)?;
        let data = session.read()?;
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
        let deleted = session
            .store
            .delete()
            .map_err(|e| Failure::new(exit::RUNTIME, e.0, None))?;
        eprintln!(
            "{} profile `{}`",
            if deleted {
                "deleted the stored tokens of"
            } else {
                "nothing was stored for"
            },
            session.store.name
        );
        Ok::<(), Failure>(())
    };
    match run.await {
        Ok(()) => exit::OK,
        Err(f) => f.report(),
    }
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
